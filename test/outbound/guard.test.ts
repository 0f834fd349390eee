/**
 * The anti-loop guard over outbound calls: a cap per rolling minute and a failure storm trip
 * degraded mode, which refuses every createFetch call until the cooldown ends. Real server on
 * loopback; fake Date and timeouts for the cooldown.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createFetch,
  isConfigError,
  isDegradedError,
  retryAfterOf,
  ThrottleManager,
  type DegradedEvent,
  type GuardOptions,
  type RecoveredEvent,
} from 'floodgate';
import { ROOMY } from '../helpers.js';
import { useLoopback, type Loopback, type TestServer } from './http-server.js';

let loopback: Loopback;
let server: TestServer;
let manager: ThrottleManager;

useLoopback((fixture) => {
  loopback = fixture;
  server = fixture.server;
});

// Registered after the loopback's hooks, so the clock is real again before the manager closes.
afterEach(() => {
  vi.useRealTimers();
});

function outbound(guard: GuardOptions | undefined): { get: (path: string) => Promise<Response>; events: (DegradedEvent | RecoveredEvent)[] } {
  manager = loopback.manager({ guard });
  manager.configure('http', ROOMY);
  const events: (DegradedEvent | RecoveredEvent)[] = [];
  manager.on('degraded', (e) => events.push(e));
  manager.on('recovered', (e) => events.push(e));
  const a = createFetch({ provider: 'a', manager });
  const b = createFetch({ provider: 'b', manager });
  let n = 0;
  // Alternate providers: the cap is over every outbound scope of the manager, not per scope.
  const get = async (path: string): Promise<Response> => {
    const res = await (n++ % 2 === 0 ? a : b)(`${server.origin}${path}`);
    await res.arrayBuffer();
    return res;
  };
  return { get, events };
}

describe('anti-loop guard', () => {
  it('past maxPerMinute (across scopes) refuses every outbound call with DegradedError until the cooldown ends, then counts afresh', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    const start = Date.now();
    const { get, events } = outbound({ maxPerMinute: 3, cooldownMs: 30_000 });
    for (let i = 0; i < 3; i++) expect((await get('/ok')).status).toBe(200);
    const refused = await get('/ok').catch((e: unknown) => e);
    expect(isDegradedError(refused)).toBe(true);
    if (!isDegradedError(refused)) return;
    expect(refused).toMatchObject({ reason: 'max_per_minute', until: start + 30_000, scope: 'http:b' });
    expect(retryAfterOf(refused)).toBe(30_000);
    expect(server.seen).toHaveLength(3);
    expect(manager.getStatusReport().guard).toEqual({ state: 'degraded', until: start + 30_000, reason: 'max_per_minute', maxPerMinute: 3, count: 3 });
    expect(events).toEqual([{ until: start + 30_000, reason: 'max_per_minute' }]);

    // Still refused just before the end, in every outbound scope.
    vi.advanceTimersByTime(29_999);
    expect(isDegradedError(await get('/ok').catch((e: unknown) => e))).toBe(true);
    expect(isDegradedError(await get('/ok').catch((e: unknown) => e))).toBe(true);
    expect(manager.getStatusReport().scopes['http:a']?.counters.rejected).toBe(1);

    vi.advanceTimersByTime(1);
    expect(events[1]).toEqual({ at: start + 30_000 });
    expect(manager.getStatusReport().guard).toEqual({ state: 'ok', until: null, reason: null, maxPerMinute: 3, count: 0 });
    // Afresh: the three calls before the trip no longer count.
    for (let i = 0; i < 3; i++) expect((await get('/ok')).status).toBe(200);
    expect(server.seen).toHaveLength(6);
  });

  it('a storm of failures trips it (reason failure_storm) before the cap', async () => {
    server.handle = (_req, res) => {
      res.statusCode = 500;
      res.end();
    };
    const { get, events } = outbound({ maxFailuresPerMinute: 3, cooldownMs: 5_000 });
    for (let i = 0; i < 3; i++) expect((await get('/boom')).status).toBe(500);
    const refused = await get('/boom').catch((e: unknown) => e);
    expect(isDegradedError(refused) && refused.reason).toBe('failure_storm');
    expect(server.seen).toHaveLength(3);
    expect(events).toHaveLength(1);
  });

  it('counts retries: a retry loop trips it mid-call, and the call ends with DegradedError', async () => {
    server.handle = (_req, res) => {
      res.statusCode = 503;
      res.end();
    };
    const { events } = outbound({ maxPerMinute: 2 });
    manager.configure('http', { retryAttempts: 5, backoffBaseMs: 0 });
    const outcome = await createFetch({ provider: 'a', manager })(`${server.origin}/loop`).catch((e: unknown) => e);
    expect(isDegradedError(outcome)).toBe(true);
    expect(server.seen).toHaveLength(2);
    expect(events).toHaveLength(1);
  });

  it('does not count execute() calls (only outbound createFetch calls)', async () => {
    const { get } = outbound({ maxPerMinute: 1 });
    for (let i = 0; i < 5; i++) await manager.execute('http', () => 'not http');
    expect((await get('/ok')).status).toBe(200);
    expect(manager.getStatusReport().guard.state).toBe('ok');
  });

  it('is off by default; reset() ends degraded mode', async () => {
    const { get } = outbound(undefined);
    for (let i = 0; i < 5; i++) await get('/ok');
    expect(manager.getStatusReport().guard).toEqual({ state: 'ok', until: null, reason: null, maxPerMinute: null, count: null });
    manager.configureGuard({ maxPerMinute: 1 });
    await get('/ok');
    expect(isDegradedError(await get('/ok').catch((e: unknown) => e))).toBe(true);
    manager.reset();
    expect(manager.getStatusReport().guard.state).toBe('ok');
  });

  it('configureGuard refuses a bad value with a ConfigError naming the field, and changes nothing', async () => {
    const { get } = outbound({ maxPerMinute: 2 });
    const bad: [object, string][] = [
      [{ maxPerMinute: 0 }, 'guard.maxPerMinute'],
      [{ maxPerMinute: 1.5 }, 'guard.maxPerMinute'],
      [{ maxFailuresPerMinute: -1 }, 'guard.maxFailuresPerMinute'],
      [{ cooldownMs: Infinity }, 'guard.cooldownMs'],
      [{ cooldownMs: '5' }, 'guard.cooldownMs'],
      [{ maxPerMinuet: 5 }, 'guard.maxPerMinuet'],
    ];
    for (const [options, field] of bad) {
      let thrown: unknown;
      try {
        manager.configureGuard(options);
      } catch (error) {
        thrown = error;
      }
      expect(isConfigError(thrown) && thrown.field).toBe(field);
    }
    expect(() => new ThrottleManager({ guard: { cooldownMs: 0 } })).toThrow(/guard\.cooldownMs/);
    // Still the cap of 2.
    await get('/ok');
    await get('/ok');
    expect(isDegradedError(await get('/ok').catch((e: unknown) => e))).toBe(true);
  });
});

describe('anti-loop guard, fleet messages (unit)', () => {
  it('adopts a degraded mode another process announced, once, and ignores malformed or hostile messages', async () => {
    const { OutboundGuard } = await import('../../src/outbound/guard.js');
    const seen: [number, string, boolean][] = [];
    const guard = new OutboundGuard({ onDegraded: (until, reason, fromFleet) => seen.push([until, reason, fromFleet]), onRecovered: () => {} });
    for (const bad of ['', 'not json', 'null', '{"ms":-5,"reason":"max_per_minute"}', '{"ms":1000,"reason":"other"}', '{"ms":"1000","reason":"failure_storm"}', '[1,2]']) {
      guard.adopt(bad, 1_000);
    }
    expect(guard.status(1_000).state).toBe('ok');
    guard.adopt('{"ms":5000,"reason":"failure_storm"}', 1_000);
    guard.adopt('{"ms":4000,"reason":"failure_storm"}', 1_000); // ends sooner: changes nothing
    guard.adopt('{"ms":1e15,"reason":"max_per_minute"}', 1_000); // centuries: cut to a day
    expect(seen).toEqual([
      [6_000, 'failure_storm', true],
      [1_000 + 86_400_000, 'max_per_minute', true],
    ]);
    guard.reset();
  });
});
