import { describe, expect, it, vi } from 'vitest';
import {
  BudgetExceededError,
  DEFAULT_PRICES,
  DEFAULT_PRICES_DATE,
  ThrottleManager,
  isBudgetExceededError,
  retryAfterOf,
  throttled,
} from 'floodgate';
import { SVC, configErrorOf, deferred, flush, roomy, track, useFakeManager } from '../helpers.js';

let manager: ThrottleManager;
useFakeManager((m) => (manager = m), { now: Date.UTC(2026, 11, 3, 10, 0, 0) });

/** $1 per million input tokens, $2 per million output: 1,000,000 input tokens cost $1. */
const PRICES = { 'test-model': { inputPerMTok: 1, outputPerMTok: 2 } };

describe('budgets', () => {
  it('100 concurrent calls against a budget with room for 10 cannot overspend: 10 run, 90 are refused before they start', async () => {
    manager.setPrices(PRICES);
    roomy(manager, { budget: { usd: 1, period: 'day' } });
    const gates = Array.from({ length: 100 }, () => deferred<unknown>());
    let started = 0;
    // Each call costs exactly $0.10 (100,000 input tokens), as estimated.
    const calls = gates.map((gate) =>
      track(manager.execute(SVC, () => (started++, gate.promise), { cost: 100_000, model: 'test-model' })),
    );
    await flush();
    expect(started).toBe(10);
    const refused = calls.filter((c) => c.state === 'rejected');
    expect(refused).toHaveLength(90);
    const error = refused[0]!.error as BudgetExceededError;
    expect(isBudgetExceededError(error)).toBe(true);
    expect(error.budget).toEqual({ usd: 1, period: 'day' });
    expect(error.spentUsd).toBeCloseTo(1, 10);
    expect(error.resetsAt).toBe(Date.UTC(2026, 11, 4));
    expect(retryAfterOf(error)).toBe(14 * 3_600_000);
    for (const gate of gates) gate.resolve({ model: 'test-model', usage: { prompt_tokens: 100_000, completion_tokens: 0 } });
    await flush();
    const summary = manager.getCostSummary();
    expect(summary.scopes[SVC]!.usd).toBeCloseTo(1, 10);
    expect(summary.scopes[SVC]!.budget).toEqual({ usd: 1, period: 'day', spentUsd: expect.closeTo(1, 10), leftUsd: expect.closeTo(0, 10), resetsAt: Date.UTC(2026, 11, 4) });
    expect(manager.getStatusReport().scopes[SVC]!.counters.rejected).toBe(90);
  });

  it('reconciles the reservation with the real cost: a call that used less leaves room for more', async () => {
    manager.setPrices(PRICES);
    roomy(manager, { budget: { usd: 0.5, period: 'day' } });
    // Estimated at $0.40, really cost $0.10.
    await manager.execute(SVC, () => ({ usage: { prompt_tokens: 100_000, completion_tokens: 0 } }), { cost: 400_000, model: 'test-model' });
    await expect(manager.execute(SVC, () => 'ok', { cost: 300_000, model: 'test-model' })).resolves.toBe('ok');
    // No usage in that result: its estimate ($0.30) stands. $0.40 spent; $0.20 more would overspend.
    await expect(manager.execute(SVC, () => 'no', { cost: 200_000, model: 'test-model' })).rejects.toSatisfy(isBudgetExceededError);
  });

  it('a failed call spends what it reported, not its estimate; the budget resets with its period', async () => {
    manager.setPrices(PRICES);
    roomy(manager, { budget: { usd: 0.3, period: 60_000 } });
    await expect(manager.execute(SVC, () => Promise.reject(new Error('down')), { cost: 250_000, model: 'test-model' })).rejects.toThrow('down');
    expect(manager.getCostSummary().scopes[SVC]!.budget!.spentUsd).toBe(0);
    await manager.execute(SVC, () => 'x', { cost: 250_000, model: 'test-model' });
    await expect(manager.execute(SVC, () => 'x', { cost: 100_000, model: 'test-model' })).rejects.toSatisfy(isBudgetExceededError);
    await vi.advanceTimersByTimeAsync(60_000);
    await expect(manager.execute(SVC, () => 'again', { cost: 100_000, model: 'test-model' })).resolves.toBe('again');
  });

  it('applies per platform, and the month period ends at the first of the next month (UTC)', async () => {
    manager.setPrices(PRICES);
    manager.configure(SVC, { budget: { usd: 0.1, period: 'month' } }, { platform: 'a' });
    await manager.execute(SVC, () => 1, { platform: 'a', cost: 100_000, model: 'test-model' });
    await expect(manager.execute(SVC, () => 2, { platform: 'a', cost: 1, model: 'test-model' })).rejects.toSatisfy(isBudgetExceededError);
    await expect(manager.execute(SVC, () => 3, { platform: 'b', cost: 1_000_000, model: 'test-model' })).resolves.toBe(3);
    expect(manager.getCostSummary().scopes[`${SVC}:a`]!.budget!.resetsAt).toBe(Date.UTC(2027, 0, 1));
  });

  it('validates a budget like any field (ConfigError naming it), and null removes it', () => {
    for (const [budget, field] of [
      [{ usd: -1, period: 'day' }, 'budget.usd'],
      [{ usd: 1, period: 'week' }, 'budget.period'],
      [{ usd: 1, period: 10 }, 'budget.period'],
      ['lots', 'budget'],
    ] as const) {
      expect(configErrorOf(() => manager.configure(SVC, { budget: budget as never })).field).toBe(field);
    }
    manager.configure(SVC, { budget: { usd: 5, period: 'day' } });
    expect(manager.getConfig(SVC).budget).toEqual({ usd: 5, period: 'day' });
    manager.configure(SVC, { budget: null });
    expect(manager.getConfig(SVC).budget).toBeNull();
  });
});

describe('prices and the cost summary', () => {
  it('has dated defaults for current OpenAI and Anthropic models; setPrices merges, or replaces with { replace: true }', async () => {
    expect(DEFAULT_PRICES_DATE).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(Object.keys(DEFAULT_PRICES)).toEqual(expect.arrayContaining(['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-5', 'claude-haiku-4-5']));
    roomy(manager);
    // gpt-4o at its default price, by prefix: $2.50 per million input, $10 per million output.
    await manager.execute(SVC, () => ({ model: 'gpt-4o-2024-08-06', usage: { prompt_tokens: 1_000_000, completion_tokens: 100_000 } }), { model: 'gpt-4o' });
    expect(manager.getCostSummary().scopes[SVC]!.models['gpt-4o-2024-08-06']!.usd).toBeCloseTo(3.5, 10);
    manager.setPrices({ 'gpt-4o': { inputPerMTok: 1, outputPerMTok: 1 } });
    await manager.execute(SVC, () => ({ model: 'gpt-4o', usage: { prompt_tokens: 1_000_000, completion_tokens: 0 } }));
    expect(manager.getCostSummary().scopes[SVC]!.models['gpt-4o']!.usd).toBeCloseTo(1, 10);
    manager.setPrices(PRICES, { replace: true });
    await manager.execute(SVC, () => ({ model: 'claude-haiku-4-5', usage: { input_tokens: 1_000_000, output_tokens: 0 } }));
    expect(manager.getCostSummary().scopes[SVC]!.models['claude-haiku-4-5']!.usd).toBe(0);
    expect(() => manager.setPrices({ x: { inputPerMTok: -1, outputPerMTok: 1 } })).toThrow(/setPrices\.x\.inputPerMTok/);
  });

  it('prices cached input apart (OpenAI cached_tokens, Anthropic cache reads)', async () => {
    manager.setPrices({ m: { inputPerMTok: 10, outputPerMTok: 0, cachedInputPerMTok: 1 } });
    roomy(manager);
    await manager.execute(SVC, () => ({ model: 'm', usage: { prompt_tokens: 1_000_000, completion_tokens: 0, prompt_tokens_details: { cached_tokens: 500_000 } } }));
    await manager.execute(SVC, () => ({ model: 'm', usage: { input_tokens: 0, cache_read_input_tokens: 1_000_000, output_tokens: 0 } }));
    expect(manager.getCostSummary().scopes[SVC]!.usd).toBeCloseTo(5.5 + 1, 10);
  });

  it("getCostSummary() is plain JSON in DESIGN.md's shape, and the status report shows the same under costs", async () => {
    manager.setPrices(PRICES);
    roomy(manager, { budget: { usd: 10, period: 'day' } });
    await manager.execute(SVC, () => ({ usage: { prompt_tokens: 1_000, completion_tokens: 500 } }), { model: 'test-model' });
    const summary = manager.getCostSummary();
    expect(JSON.parse(JSON.stringify(summary))).toEqual(summary);
    expect(summary).toEqual({
      generatedAt: Date.now(),
      scopes: {
        [SVC]: {
          usd: 0.002,
          inputTokens: 1_000,
          outputTokens: 500,
          models: { 'test-model': { calls: 1, inputTokens: 1_000, outputTokens: 500, usd: 0.002 } },
          budget: { usd: 10, period: 'day', spentUsd: 0.002, leftUsd: 9.998, resetsAt: Date.UTC(2026, 11, 4) },
        },
      },
      totals: { usd: 0.002, inputTokens: 1_000, outputTokens: 500 },
    });
    expect(manager.getStatusReport().scopes[SVC]!.costs).toEqual(summary.scopes[SVC]);
  });

  it('meters nothing while no price, budget or token cap is in use (the report shows costs: null)', async () => {
    await manager.execute(SVC, () => ({ usage: { prompt_tokens: 5, completion_tokens: 5 } }));
    expect(manager.getStatusReport().scopes[SVC]!.costs).toBeNull();
    expect(manager.getCostSummary().scopes).toEqual({});
  });

  it('decorated methods: model and cost are functions of the arguments; the result\'s model wins', async () => {
    manager.setPrices(PRICES);
    roomy(manager, { tokensPerMinute: 10_000 });
    class Llm {
      @throttled(SVC, { manager, model: (model: string) => model, cost: (_model: string, prompt: string) => ({ input: prompt.length, output: 10 }) })
      async complete(model: string, prompt: string): Promise<{ model: string; usage: { prompt_tokens: number; completion_tokens: number } }> {
        return { model: `${model}-2026`, usage: { prompt_tokens: prompt.length, completion_tokens: 3 } };
      }
    }
    await new Llm().complete('test-model', 'hello');
    expect(manager.getCostSummary().scopes[SVC]!.models).toEqual({ 'test-model-2026': { calls: 1, inputTokens: 5, outputTokens: 3, usd: (5 * 1 + 3 * 2) / 1e6 } });
  });
});

describe('eviction', () => {
  it('never forgets a scope whose budget has spend in its period; forgets it once the period is over', async () => {
    const small = new ThrottleManager({ env: {}, maxScopes: 2 });
    small.setPrices(PRICES);
    roomy(small, { budget: { usd: 1, period: 60_000 } });
    await small.execute(SVC, () => 1, { platform: 'a', cost: 900_000, model: 'test-model' });
    await small.execute(SVC, () => 1, { platform: 'b', cost: 1, model: 'test-model' });
    await small.execute(SVC, () => 1, { platform: 'c', cost: 1, model: 'test-model' });
    // 'a' was the least recently used, but its $0.90 must keep counting.
    await expect(small.execute(SVC, () => 1, { platform: 'a', cost: 200_000, model: 'test-model' })).rejects.toSatisfy(isBudgetExceededError);
    await vi.advanceTimersByTimeAsync(60_000);
    await small.execute(SVC, () => 1, { platform: 'd', cost: 1, model: 'test-model' });
    expect(Object.keys(small.getCostSummary().scopes)).not.toContain(`${SVC}:a`);
    await small.close();
  });
});
