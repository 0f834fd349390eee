import { describe, expect, it, vi } from 'vitest';
import { ThrottleManager, throttled } from 'floodgate';
import { SVC, configErrorOf, deferred, flush, roomy, track, useFakeManager } from '../helpers.js';

let manager: ThrottleManager;
useFakeManager((m) => {
  manager = m;
  roomy(manager);
});

describe('response cache and coalescing', () => {
  it('identical concurrent decorated calls share one provider call, and its result for ttlMs', async () => {
    let providerCalls = 0;
    const answer = deferred<{ text: string }>();
    class Llm {
      @throttled(SVC, { manager, cache: { ttlMs: 60_000, max: 10 } })
      async complete(prompt: string): Promise<{ text: string }> {
        providerCalls++;
        return prompt === 'hi' ? answer.promise : { text: prompt };
      }
    }
    const llm = new Llm();
    const calls = [llm.complete('hi'), llm.complete('hi'), llm.complete('hi')].map(track);
    await flush();
    expect(providerCalls).toBe(1);
    answer.resolve({ text: 'hello' });
    await flush();
    expect(calls.map((c) => c.value)).toEqual([{ text: 'hello' }, { text: 'hello' }, { text: 'hello' }]);
    // Kept: served without the provider until ttlMs has passed (lru-cache: an entry is stale once older than ttl).
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await llm.complete('hi')).toEqual({ text: 'hello' });
    expect(providerCalls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await llm.complete('hi');
    expect(providerCalls).toBe(2);
    // Different arguments, different key.
    expect(await llm.complete('other')).toEqual({ text: 'other' });
    expect(manager.getStatusReport().scopes[SVC]!.counters).toMatchObject({ requests: 3, successes: 3, cacheHits: 3 });
  });

  it('never caches a failure: the callers in flight share it, the next call tries again', async () => {
    let providerCalls = 0;
    const failure = deferred<string>();
    class Api {
      @throttled(SVC, { manager, cache: { ttlMs: 60_000, max: 10 } })
      async get(id: number): Promise<string> {
        providerCalls++;
        return providerCalls === 1 ? failure.promise : `item ${id}`;
      }
    }
    const api = new Api();
    const first = [api.get(1), api.get(1)].map(track);
    await flush();
    failure.reject(new Error('provider down'));
    await flush();
    expect(first.map((c) => (c.error as Error).message)).toEqual(['provider down', 'provider down']);
    expect(await api.get(1)).toBe('item 1');
    expect(providerCalls).toBe(2);
  });

  it('a cache hit spends no token and no budget', async () => {
    manager.setPrices({ m: { inputPerMTok: 1_000_000, outputPerMTok: 0 } });
    roomy(manager, { tokensPerMinute: 100, budget: { usd: 100, period: 'day' } });
    const cost = { input: 100, output: 0 };
    const first = await manager.execute(SVC, () => ({ usage: { prompt_tokens: 100, completion_tokens: 0 } }), { cost, model: 'm', cacheKey: 'q', cache: { ttlMs: 1_000, max: 5 } });
    // The window and the budget are full: only the cache can answer now.
    const again = await manager.execute(SVC, () => 'not called', { cost, model: 'm', cacheKey: 'q', cache: { ttlMs: 1_000, max: 5 } });
    expect(again).toBe(first);
    const scope = manager.getStatusReport().scopes[SVC]!;
    expect(scope.counters).toMatchObject({ requests: 1, cacheHits: 1 });
    expect(scope.costs!.budget!.spentUsd).toBe(100);
  });

  it('a cacheKey alone coalesces calls in flight but keeps nothing', async () => {
    let providerCalls = 0;
    const gate = deferred<string>();
    const calls = [0, 1].map(() => track(manager.execute(SVC, () => (providerCalls++, gate.promise), { cacheKey: 'k' })));
    await flush();
    gate.resolve('shared');
    await flush();
    expect(calls.map((c) => c.value)).toEqual(['shared', 'shared']);
    expect(await manager.execute(SVC, () => (providerCalls++, 'fresh'), { cacheKey: 'k' })).toBe('fresh');
    expect(providerCalls).toBe(2);
  });

  it('never shares or keeps a Response or a stream: each caller gets its own', async () => {
    let providerCalls = 0;
    const gate = deferred<Response>();
    const calls = [0, 1].map(() =>
      track(manager.execute(SVC, () => (providerCalls++ === 0 ? gate.promise : new Response('second')), { cacheKey: 'r', cache: { ttlMs: 60_000, max: 5 } })),
    );
    await flush();
    gate.resolve(new Response('first'));
    await flush();
    await flush();
    expect(providerCalls).toBe(2);
    expect(calls[0]!.value).not.toBe(calls[1]!.value);
    expect(await (calls[0]!.value as Response).text()).toBe('first');
    expect(await (calls[1]!.value as Response).text()).toBe('second');
    await manager.execute(SVC, () => (providerCalls++, new Response('third')), { cacheKey: 'r', cache: { ttlMs: 60_000, max: 5 } });
    expect(providerCalls).toBe(3);
  });

  it('is bounded by max (least recently used goes first); arguments that cannot be keyed skip the cache', async () => {
    let providerCalls = 0;
    class Api {
      @throttled(SVC, { manager, cache: { ttlMs: 60_000, max: 2 } })
      async get(id: unknown): Promise<number> {
        providerCalls++;
        return providerCalls;
      }
    }
    const api = new Api();
    await api.get(1);
    await api.get(2);
    await api.get(3); // evicts 1
    await api.get(1);
    expect(providerCalls).toBe(4);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await api.get(cyclic);
    await api.get(cyclic);
    expect(providerCalls).toBe(6);
  });

  it('validates the cache, a constant cost and the model when decorating', () => {
    expect(configErrorOf(() => throttled(SVC, { cache: { ttlMs: 0, max: 1 } })).field).toBe('cache.ttlMs');
    expect(() => throttled(SVC, { cost: -5 })).toThrow(/Invalid cost: -5/);
    expect(() => throttled(SVC, { model: '' })).toThrow(/Invalid model/);
  });
});

describe('cache hits and metering', () => {
  it('a cache hit does not turn metering on for an unpriced scope', async () => {
    await manager.execute(SVC, () => 'a', { cacheKey: 'x', cache: { ttlMs: 1_000, max: 1 } });
    await manager.execute(SVC, () => 'b', { cacheKey: 'x', cache: { ttlMs: 1_000, max: 1 } });
    const scope = manager.getStatusReport().scopes[SVC]!;
    expect(scope.counters.cacheHits).toBe(1);
    expect(scope.costs).toBeNull();
  });
});
