/** Contracts and error budgets: per endpoint template, scored over a rolling window. */
import { describe, expect, it, vi } from 'vitest';
import { ThrottleManager, throttled, type BudgetBurnEvent } from 'floodgate';
import { configErrorOf, httpError, roomy, useFakeManager } from '../helpers.js';

let manager: ThrottleManager;
useFakeManager((m) => (manager = m), { now: 1_800_000_000_000 });

const REPO = 'GET /repos/{owner}/{repo}';
const ISSUES = 'GET /repos/{owner}/{repo}/issues';

/** One call that takes `ms` (fake time) and then resolves or rejects with `error`. */
async function call(endpoint: string | undefined, ms = 10, error?: unknown): Promise<void> {
  const done = manager.execute('svc', () => new Promise((resolve, reject) => setTimeout(() => (error === undefined ? resolve('ok') : reject(error)), ms)), endpoint === undefined ? {} : { endpoint });
  const settled = done.catch(() => undefined);
  await vi.advanceTimersByTimeAsync(ms);
  await settled;
}

describe('contracts', () => {
  it('scores each template: calls, failures, slow calls, success ratio, budget left, burn rate; the rest as unmatched', async () => {
    roomy(manager, { contracts: { [REPO]: { maxLatencyMs: 100, errorBudget: 0.25, windowMs: 60_000 }, [ISSUES]: { maxLatencyMs: 500, errorBudget: 0.1, windowMs: 60_000 } } });
    await call('GET /repos/a/b');
    await call('GET /repos/a/b', 150); // slow, successful
    await call('GET /repos/a/b?per_page=5', 10, httpError(500)); // query left out of the match
    await call('GET /repos/x/y', 10, httpError(404)); // the caller's mistake: an answer, not a failure
    await call('GET /repos/a/b/issues', 600, httpError(503)); // slow and failed, under the more specific template
    await call('POST /repos/a/b');
    await call(undefined);
    await call(REPO); // the HTTP edges pass the route template itself

    const scope = manager.getStatusReport().scopes.svc!;
    expect(scope.contracts[REPO]).toEqual({ calls: 5, failures: 1, slowCalls: 1, successRatio: 0.8, errorBudgetLeft: expect.closeTo(0.2, 10) as number, burnRate: 0.8 });
    expect(scope.contracts[ISSUES]).toEqual({ calls: 1, failures: 1, slowCalls: 1, successRatio: 0, errorBudgetLeft: 0, burnRate: 10 });
    expect(scope.unmatchedCalls).toBe(2);
  });

  it('counts every attempt that reached the provider, retries included', async () => {
    roomy(manager, { retryAttempts: 2, backoffBaseMs: 0, backoffMaxMs: 0, contracts: { [REPO]: { maxLatencyMs: 100, errorBudget: 0.5, windowMs: 60_000 } } });
    let attempts = 0;
    await manager.execute('svc', () => (++attempts < 3 ? Promise.reject(httpError(503)) : 'ok'), { endpoint: 'GET /repos/a/b' });
    expect(manager.getStatusReport().scopes.svc!.contracts[REPO]).toMatchObject({ calls: 3, failures: 2 });
  });

  it('keeps a rolling window: figures older than windowMs drop out, in tenths, without a timer', async () => {
    roomy(manager, { contracts: { [REPO]: { maxLatencyMs: 100, errorBudget: 0.5, windowMs: 10_000 } } });
    await call('GET /repos/a/b', 10, httpError(500));
    await vi.advanceTimersByTimeAsync(5_000);
    await call('GET /repos/a/b');
    expect(vi.getTimerCount()).toBe(0);
    expect(manager.getStatusReport().scopes.svc!.contracts[REPO]).toMatchObject({ calls: 2, failures: 1 });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(manager.getStatusReport().scopes.svc!.contracts[REPO]).toMatchObject({ calls: 1, failures: 0, burnRate: 0, errorBudgetLeft: 1 });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(manager.getStatusReport().scopes.svc!.contracts[REPO]).toEqual({ calls: 0, failures: 0, slowCalls: 0, successRatio: 1, errorBudgetLeft: 1, burnRate: 0 });
  });

  it('budgetBurn fires when the burn rate reaches burnAlert, once per crossing', async () => {
    roomy(manager, { contracts: { [REPO]: { maxLatencyMs: 100, errorBudget: 0.1, windowMs: 60_000, burnAlert: 3 } } });
    const burns: BudgetBurnEvent[] = [];
    manager.on('budgetBurn', (e) => burns.push(e));
    for (let i = 0; i < 9; i++) await call('GET /repos/a/b');
    await call('GET /repos/a/b', 10, httpError(500)); // 1 / 10 failed: burn 1
    await call('GET /repos/a/b', 10, httpError(500)); // 2 / 11: burn 1.8
    expect(burns).toEqual([]);
    await call('GET /repos/a/b', 10, httpError(500)); // 3 / 12: burn 2.5
    await call('GET /repos/a/b', 10, httpError(500)); // 4 / 13: burn 3.08: crossing
    await call('GET /repos/a/b', 10, httpError(500)); // still above: no second event
    expect(burns).toEqual([{ scope: 'svc', service: 'svc', contract: REPO, burnRate: expect.closeTo(4 / 13 / 0.1, 10) as number, burnAlert: 3, errorBudget: 0.1, windowMs: 60_000, calls: 13, failures: 4 }]);
    for (let i = 0; i < 4; i++) await call('GET /repos/a/b'); // 5 / 18: burn 2.8, below again
    await call('GET /repos/a/b', 10, httpError(500)); // 6 / 19: burn 3.2: crosses again
    expect(burns).toHaveLength(2);
    expect(burns[1]).toMatchObject({ calls: 19, failures: 6 });
  });

  it('the default burnAlert is 2', async () => {
    roomy(manager, { contracts: { [REPO]: { maxLatencyMs: 100, errorBudget: 0.5, windowMs: 60_000 } } });
    const burns: BudgetBurnEvent[] = [];
    manager.on('budgetBurn', (e) => burns.push(e));
    await call('GET /repos/a/b', 10, httpError(500)); // 1 / 1: burn 2
    expect(burns).toMatchObject([{ burnAlert: 2, burnRate: 2 }]);
  });

  it('decorated methods are matched by their endpoint option', async () => {
    vi.useRealTimers();
    roomy(manager, { contracts: { [REPO]: { maxLatencyMs: 1_000, errorBudget: 0.5, windowMs: 60_000 } } });
    class Client {
      @throttled('svc', { manager, endpoint: 'GET /repos/octo/cat' })
      async repo(): Promise<string> {
        return 'repo';
      }
    }
    await new Client().repo();
    expect(manager.getStatusReport().scopes.svc!.contracts[REPO]).toMatchObject({ calls: 1, failures: 0 });
  });

  it('a new contracts value starts afresh; an unchanged one keeps its window; {} removes them', async () => {
    roomy(manager, { contracts: { [REPO]: { maxLatencyMs: 100, errorBudget: 0.5, windowMs: 60_000 } } });
    await call('GET /repos/a/b');
    manager.configure('svc', { maxConcurrent: 5 });
    manager.configure('svc', { maxConcurrent: 6 }, { platform: 'p' });
    expect(manager.getStatusReport().scopes.svc!.contracts[REPO]).toMatchObject({ calls: 1 });
    manager.configure('svc', { contracts: { [REPO]: { maxLatencyMs: 200, errorBudget: 0.5, windowMs: 60_000 } } });
    expect(manager.getStatusReport().scopes.svc!.contracts[REPO]).toMatchObject({ calls: 0 });
    manager.configure('svc', { contracts: {} });
    expect(manager.getStatusReport().scopes.svc).toMatchObject({ contracts: {}, unmatchedCalls: 0 });
    expect(manager.getConfig('svc').contracts).toBeUndefined();
  });

  it('refuses bad contracts with the field, the value and the rule, changing nothing', () => {
    roomy(manager);
    const bad = (contracts: unknown) => configErrorOf(() => manager.configure('svc', { contracts } as never));
    expect(bad({ '/repos': { maxLatencyMs: 1, errorBudget: 0.1, windowMs: 1_000 } })).toMatchObject({ field: 'contracts["/repos"]', rule: expect.stringContaining('METHOD /path') });
    expect(bad({ [REPO]: { maxLatencyMs: 1, errorBudget: 0, windowMs: 1_000 } })).toMatchObject({ field: `contracts["${REPO}"].errorBudget`, value: 0 });
    expect(bad({ [REPO]: { maxLatencyMs: 1, errorBudget: 0.1 } })).toMatchObject({ field: `contracts["${REPO}"].windowMs`, value: undefined });
    expect(bad({ [REPO]: { maxLatencyMs: 1, errorBudget: 0.1, windowMs: 1_000, budget: 1 } })).toMatchObject({ field: `contracts["${REPO}"].budget` });
    expect(bad({ [REPO]: { maxLatencyMs: Number.NaN, errorBudget: 0.1, windowMs: 1_000 } })).toMatchObject({ field: `contracts["${REPO}"].maxLatencyMs` });
    expect(bad([])).toMatchObject({ field: 'contracts' });
    expect(manager.getConfig('svc').contracts).toBeUndefined();
  });

  it('a scope without contracts shows none', async () => {
    roomy(manager);
    await call('GET /repos/a/b');
    expect(manager.getStatusReport().scopes.svc).toMatchObject({ contracts: {}, unmatchedCalls: 0 });
  });
});
