import { describe, expect, it, vi } from 'vitest';
import { ThrottleManager, isConfigError, isRateLimitedError, type RateLimitedError, type RateLimitedEvent } from 'floodgate';
import { TokenWindows } from '../../src/tokens/token-windows.js';
import { SVC, configErrorOf, flush, roomy, track, useFakeManager } from '../helpers.js';

let manager: ThrottleManager;
useFakeManager((m) => (manager = m));

/** Largest sum of `cost` over starts within any 60-second window (a start at t counts in [t, t + 60 s)). */
function worstWindow(starts: { at: number; cost: number }[]): { cost: number; count: number } {
  let worst = { cost: 0, count: 0 };
  for (const first of starts) {
    const inside = starts.filter((s) => s.at >= first.at && s.at < first.at + 60_000);
    const cost = inside.reduce((sum, s) => sum + s.cost, 0);
    if (cost > worst.cost || inside.length > worst.count) worst = { cost: Math.max(cost, worst.cost), count: Math.max(inside.length, worst.count) };
  }
  return worst;
}

describe('weighted admission (tokensPerMinute)', () => {
  it('never lets the costs started in any rolling 60 s window pass tokensPerMinute, while requestsPerMinute also holds', async () => {
    roomy(manager, { tokensPerMinute: 10_000, requestsPerMinute: 12, burst: 4, requestsPerSecond: 1 });
    const starts: { at: number; cost: number }[] = [];
    // Costs that are not multiples of one another, so the token cap and the request cap each bind at times.
    const costs = Array.from({ length: 60 }, (_, i) => [300, 1_700, 2_500, 900, 4_000][i % 5]!);
    const calls = costs.map((cost) => track(manager.execute(SVC, () => void starts.push({ at: Date.now(), cost }), { cost })));
    await vi.advanceTimersByTimeAsync(20 * 60_000);
    expect(calls.every((c) => c.state === 'fulfilled')).toBe(true);
    expect(starts).toHaveLength(60);
    const worst = worstWindow(starts);
    expect(worst.cost).toBeLessThanOrEqual(10_000);
    expect(worst.count).toBeLessThanOrEqual(12);
    // The caps bound, not the bucket alone: the calls took well over the 60 s a 1 rps bucket needs.
    expect(starts.at(-1)!.at - starts[0]!.at).toBeGreaterThan(10 * 60_000);
  });

  it('admits FIFO: a large call at the head is not overtaken by small calls behind it', async () => {
    roomy(manager, { tokensPerMinute: 1_000 });
    const order: string[] = [];
    const first = track(manager.execute(SVC, () => void order.push('first'), { cost: 800 }));
    const big = track(manager.execute(SVC, () => void order.push('big'), { cost: 900 }));
    const small = track(manager.execute(SVC, () => void order.push('small'), { cost: 100 }));
    await flush();
    // 200 tokens are free: `small` would fit, but `big` is ahead of it.
    expect(order).toEqual(['first']);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(order).toEqual(['first', 'big', 'small']);
    expect([first.state, big.state, small.state]).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
  });

  it('a large call at the head waits no longer than maxWaitMs; the calls behind it then go', async () => {
    roomy(manager, { tokensPerMinute: 1_000, maxWaitMs: 10_000 });
    const order: string[] = [];
    track(manager.execute(SVC, () => void order.push('first'), { cost: 900 }));
    await flush();
    const big = track(manager.execute(SVC, () => void order.push('big'), { cost: 1_000 }));
    const small = track(manager.execute(SVC, () => void order.push('small'), { cost: 50 }));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(big.state).toBe('rejected');
    expect((big.error as RateLimitedError).reason).toBe('max_wait');
    expect(small.state).toBe('fulfilled');
    expect(order).toEqual(['first', 'small']);
  });

  it('refuses at once, with reason cost_exceeds_limit, a cost that can never fit', async () => {
    roomy(manager, { tokensPerMinute: 1_000, outputTokensPerMinute: 300 });
    const events: RateLimitedEvent[] = [];
    manager.on('rateLimited', (e) => events.push(e));
    let ran = false;
    const tooBig = track(manager.execute(SVC, () => void (ran = true), { cost: 1_001 }));
    const tooMuchOutput = track(manager.execute(SVC, () => void (ran = true), { cost: { input: 10, output: 301 } }));
    await flush();
    expect(tooBig.state).toBe('rejected');
    expect(isRateLimitedError(tooBig.error)).toBe(true);
    expect((tooBig.error as RateLimitedError).reason).toBe('cost_exceeds_limit');
    expect((tooMuchOutput.error as RateLimitedError).reason).toBe('cost_exceeds_limit');
    expect(ran).toBe(false);
    expect(events.map((e) => e.reason)).toEqual(['cost_exceeds_limit', 'cost_exceeds_limit']);
    expect(manager.getStatusReport().scopes[SVC]!.counters.rateLimited).toBe(2);
  });

  it('holds input and output caps apart', async () => {
    roomy(manager, { inputTokensPerMinute: 1_000, outputTokensPerMinute: 100 });
    const starts: number[] = [];
    const calls = [0, 1, 2].map(() => track(manager.execute(SVC, () => void starts.push(Date.now()), { cost: { input: 10, output: 60 } })));
    await flush();
    expect(starts).toHaveLength(1); // the output cap binds: 60 + 60 > 100
    await vi.advanceTimersByTimeAsync(120_000);
    expect(calls.every((c) => c.state === 'fulfilled')).toBe(true);
    expect(starts.map((t) => t - starts[0]!)).toEqual([0, 60_000, 120_000]);
    expect(manager.getStatusReport().scopes[SVC]!.limits.tokensRemaining).toEqual({ total: null, input: 990, output: 40 });
  });

  it('a bad cost is a ConfigError naming the field; a token cap is validated like any field', async () => {
    roomy(manager, { tokensPerMinute: 100 });
    const bad = track(manager.execute(SVC, () => 1, { cost: -1 }));
    const badOutput = track(manager.execute(SVC, () => 1, { cost: { input: 1, output: Number.NaN } }));
    await flush();
    expect(isConfigError(bad.error) && bad.error.field).toBe('cost');
    expect(isConfigError(badOutput.error) && badOutput.error.field).toBe('cost.output');
    expect(() => manager.configure(SVC, { tokensPerMinute: 0 })).toThrow(/tokensPerMinute.*integer >= 1/);
    expect(() => manager.configure(SVC, { inputTokensPerMinute: 1.5 })).toThrow(/inputTokensPerMinute/);
    expect(manager.getConfig(SVC).tokensPerMinute).toBe(100);
  });

  it('reads token caps from FLOODGATE_<SERVICE>_<FIELD> variables', () => {
    const fromEnv = new ThrottleManager({ env: { FLOODGATE_LLM_API_TOKENS_PER_MINUTE: '30000', FLOODGATE_LLM_API_INPUT_TOKENS_PER_MINUTE: '20000' } });
    expect(fromEnv.getConfig('llm_api')).toMatchObject({ tokensPerMinute: 30_000, inputTokensPerMinute: 20_000 });
    const bad = new ThrottleManager({ env: { FLOODGATE_LLM_API_OUTPUT_TOKENS_PER_MINUTE: 'lots' } });
    expect(() => bad.getConfig('llm_api')).toThrow(/FLOODGATE_LLM_API_OUTPUT_TOKENS_PER_MINUTE/);
  });
});

describe('estimate, then reconcile', () => {
  it('credits what a call did not use (its result usage is smaller than the estimate)', async () => {
    roomy(manager, { tokensPerMinute: 1_000 });
    const starts: number[] = [];
    const openAi = { usage: { prompt_tokens: 100, completion_tokens: 100 } };
    await manager.execute(SVC, () => openAi, { cost: 900 });
    // 200 used, 800 free now, though 900 were reserved.
    const next = track(manager.execute(SVC, () => void starts.push(Date.now()), { cost: 800 }));
    await flush();
    expect(next.state).toBe('fulfilled');
    expect(manager.getStatusReport().scopes[SVC]!.limits.tokensRemaining?.total).toBe(0);
  });

  it('charges what a call used beyond its estimate (Anthropic-shaped usage): the next call waits for it', async () => {
    roomy(manager, { tokensPerMinute: 1_000 });
    const anthropic = { usage: { input_tokens: 500, output_tokens: 400 } };
    const t0 = Date.now();
    await manager.execute(SVC, () => anthropic, { cost: 100 });
    let startedAt = -1;
    const next = track(manager.execute(SVC, () => void (startedAt = Date.now() - t0), { cost: 200 }));
    await flush();
    expect(next.state).toBe('pending'); // 900 used: 200 more do not fit
    await vi.advanceTimersByTimeAsync(60_000);
    expect(startedAt).toBe(60_000);
  });

  it('reportUsage replaces the estimate; a failed call gives back what it did not report using', async () => {
    roomy(manager, { tokensPerMinute: 1_000 });
    await manager.execute(SVC, (_signal, call) => {
      call.reportUsage({ input: 150, output: 50 });
      return 'ok';
    }, { cost: 700 });
    expect(manager.getStatusReport().scopes[SVC]!.limits.tokensRemaining?.total).toBe(800);
    await expect(manager.execute(SVC, () => Promise.reject(new Error('boom')), { cost: 600 })).rejects.toThrow('boom');
    expect(manager.getStatusReport().scopes[SVC]!.limits.tokensRemaining?.total).toBe(800);
    await expect(
      manager.execute(SVC, (_signal, call) => {
        call.reportUsage(300);
        throw new Error('late failure');
      }, { cost: 100 }),
    ).rejects.toThrow('late failure');
    expect(manager.getStatusReport().scopes[SVC]!.limits.tokensRemaining?.total).toBe(500);
  });

  it('reconciles a streamed result when the stream ends, from the usage its chunks carried (OpenAI and Anthropic)', async () => {
    roomy(manager, { tokensPerMinute: 10_000 });
    async function* openAiStream() {
      yield { choices: [{ delta: { content: 'Hel' } }], usage: null };
      yield { choices: [{ delta: { content: 'lo' } }], usage: null };
      yield { choices: [], usage: { prompt_tokens: 40, completion_tokens: 2 }, model: 'gpt-4o-mini-2024-07-18' };
    }
    const stream = await manager.execute(SVC, () => openAiStream(), { cost: 5_000 });
    // Until the stream ends, its estimate stands.
    expect(manager.getStatusReport().scopes[SVC]!.limits.tokensRemaining?.total).toBe(5_000);
    const text: string[] = [];
    for await (const chunk of stream) text.push(chunk.choices[0]?.delta.content ?? '');
    expect(text.join('')).toBe('Hello');
    expect(manager.getStatusReport().scopes[SVC]!.limits.tokensRemaining?.total).toBe(10_000 - 42);

    async function* anthropicStream() {
      yield { type: 'message_start', message: { model: 'claude-haiku-4-5', usage: { input_tokens: 25, output_tokens: 1 } } };
      yield { type: 'content_block_delta', delta: { text: 'Hi' } };
      yield { type: 'message_delta', usage: { output_tokens: 15 } };
    }
    const second = await manager.execute(SVC, () => anthropicStream(), { cost: 3_000 });
    for await (const _ of second) void _;
    expect(manager.getStatusReport().scopes[SVC]!.limits.tokensRemaining?.total).toBe(10_000 - 42 - 40);
    const costs = manager.getCostSummary().scopes[SVC]!;
    expect(costs.models['gpt-4o-mini-2024-07-18']).toMatchObject({ calls: 1, inputTokens: 40, outputTokens: 2 });
    expect(costs.models['claude-haiku-4-5']).toMatchObject({ calls: 1, inputTokens: 25, outputTokens: 15 });
  });

  it('a stream left early (break) reconciles with what it showed so far; its own methods still work', async () => {
    roomy(manager, { tokensPerMinute: 10_000 });
    class SdkStream {
      readonly #chunks = [{ usage: { prompt_tokens: 10, completion_tokens: 0 } }, { usage: { prompt_tokens: 10, completion_tokens: 5 } }, { usage: null }];
      controller = 'kept';
      describe(): string {
        return `${this.#chunks.length} chunks`;
      }
      async *[Symbol.asyncIterator]() {
        yield* this.#chunks;
      }
    }
    const stream = await manager.execute(SVC, () => new SdkStream(), { cost: 1_000 });
    expect(stream.describe()).toBe('3 chunks');
    expect(stream.controller).toBe('kept');
    let seen = 0;
    for await (const _ of stream) if (++seen === 2) break;
    expect(manager.getStatusReport().scopes[SVC]!.limits.tokensRemaining?.total).toBe(10_000 - 15);
  });

  it('the default estimator reads the text and max_tokens of a decorated method\'s request; it is replaceable', async () => {
    const { defaultEstimator } = await import('floodgate');
    expect(defaultEstimator([{ messages: [{ role: 'user', content: 'x'.repeat(400) }], max_tokens: 256 }])).toEqual({ input: 100, output: 256 });
    expect(defaultEstimator([])).toEqual({ input: 0, output: 0 });
    const own = new ThrottleManager({ env: {}, estimateCost: () => 700 });
    roomy(own, { tokensPerMinute: 1_000 });
    await own.execute(SVC, () => 'no usage in this result');
    // No usage known: the estimate stands.
    expect(own.getStatusReport().scopes[SVC]!.limits.tokensRemaining?.total).toBe(300);
    await own.close();
  });
});

describe('retries', () => {
  it('admits each attempt with the estimate and reconciles each: a failed attempt gives its estimate back', async () => {
    roomy(manager, { tokensPerMinute: 1_000, retryAttempts: 1, backoffBaseMs: 0, backoffMaxMs: 0 });
    let attempts = 0;
    const call = track(
      manager.execute(SVC, () => {
        attempts++;
        if (attempts === 1) throw Object.assign(new Error('HTTP 503'), { status: 503 });
        return { usage: { prompt_tokens: 80, completion_tokens: 20 } };
      }, { cost: 600 }),
    );
    await vi.advanceTimersByTimeAsync(1_000);
    expect(call.state).toBe('fulfilled');
    expect(attempts).toBe(2);
    expect(manager.getStatusReport().scopes[SVC]!.limits.tokensRemaining?.total).toBe(900);
    expect(manager.getCostSummary().scopes[SVC]).toMatchObject({ inputTokens: 80, outputTokens: 20 });
  });
});

describe('no reservation floor', () => {
  it('a call without a cost is admitted under a small cap (estimate 0), and its real usage then holds the next one back', async () => {
    roomy(manager, { tokensPerMinute: 10 });
    const t0 = Date.now();
    await manager.execute(SVC, () => ({ usage: { input_tokens: 40, output_tokens: 10 } }));
    let startedAt = -1;
    const next = track(manager.execute(SVC, () => void (startedAt = Date.now() - t0)));
    await flush();
    expect(next.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(startedAt).toBe(60_000);
  });

  it('a waiter whose signal aborts leaves nothing taken from the window', async () => {
    roomy(manager, { tokensPerMinute: 100 });
    await manager.execute(SVC, () => 1, { cost: 100 });
    const controller = new AbortController();
    const waiting = track(manager.execute(SVC, () => 2, { cost: 50, signal: controller.signal }));
    await flush();
    controller.abort();
    await flush();
    expect(waiting.state).toBe('rejected');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(manager.getStatusReport().scopes[SVC]!.limits.tokensRemaining?.total).toBe(100);
  });
});

describe('TokenWindows (unit)', () => {
  it('frees each start exactly 60 s after it, and amends by ticket', () => {
    const windows = new TokenWindows({ total: 100, input: Infinity, output: Infinity });
    const a = windows.add(0, 60, 0);
    windows.add(1_000, 40, 0);
    expect(windows.wait(1_000, 1, 0)).toBe(59_000);
    windows.amend(a, -50, 0);
    expect(windows.wait(1_000, 50, 0)).toBe(0);
    expect(windows.wait(1_000, 51, 0)).toBe(59_000);
    expect(windows.wait(60_000, 51, 0)).toBe(0);
    expect(windows.isEmpty(61_000)).toBe(true);
  });

  it('keeps one entry per millisecond: starts in the same ms share a ticket, and amending one amends only its part', () => {
    const windows = new TokenWindows({ total: 100, input: Infinity, output: Infinity });
    const a = windows.add(5, 30, 0);
    const b = windows.add(5, 50, 0);
    expect(b).toBe(a);
    windows.amend(b, -50, 0); // b used nothing: a's 30 still count
    expect(windows.remaining(5).total).toBe(70);
    expect(windows.wait(5, 71, 0)).toBe(60_000);
  });

  it('reads within one millisecond see what that millisecond recorded, and the next millisecond expires on time', () => {
    const windows = new TokenWindows({ total: 100, input: 70, output: 40 });
    expect(windows.wait(0, 30, 10)).toBe(0);
    windows.add(0, 30, 10);
    expect(windows.wait(59_999, 60, 0)).toBe(1); // input cap: 30 + 60 > 70
    windows.add(59_999, 40, 20);
    // Same millisecond as the last read: every cap sees both starts.
    expect(windows.wait(59_999, 0, 1)).toBe(1); // total: 100 full
    expect(windows.wait(59_999, 1, 0)).toBe(1); // input: 70 full
    expect(windows.wait(59_999, 0, 0)).toBe(1); // a zero cost waits for a full window too
    // One ms later the first start has left every window.
    expect(windows.wait(60_000, 30, 10)).toBe(0);
    expect(windows.wait(60_000, 31, 0)).toBe(59_999);
    expect(windows.remaining(60_000)).toEqual({ total: 40, input: 30, output: 20 });
  });
});

describe('stores that cannot hold token caps', () => {
  it('refuse them with a ConfigError that changes nothing', () => {
    const store = { name: 'shared-kv', createLimiter: () => { throw new Error('not used'); }, close: async () => {} };
    const fleet = new ThrottleManager({ env: {}, store: store as never });
    expect(configErrorOf(() => fleet.configure(SVC, { tokensPerMinute: 10_000 })).field).toBe('tokensPerMinute');
    expect(fleet.getConfig(SVC).tokensPerMinute).toBeUndefined();
  });
});



describe('hostile options', () => {
  it('an execute option whose getter throws rejects the call; it never throws out of execute()', async () => {
    roomy(manager, { tokensPerMinute: 1_000 });
    const hostile = Object.defineProperty({}, 'cost', { get() { throw new Error('getter'); }, enumerable: true });
    let promise: Promise<unknown> | undefined;
    expect(() => (promise = manager.execute(SVC, () => 1, hostile))).not.toThrow();
    await expect(promise).rejects.toThrow('getter');
    const throwingCost = manager.execute(SVC, () => 1, { cost: new Proxy({}, { get() { throw new Error('proxy'); } }) as never });
    await expect(throwingCost).rejects.toSatisfy(isConfigError);
    // Nothing was taken from the window by the refused calls.
    expect(manager.getStatusReport().scopes[SVC]!.limits.tokensRemaining?.total).toBe(1_000);
  });
});
