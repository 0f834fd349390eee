import { describe, expect, it } from 'vitest';
import { ConsecutiveBreaker, CountBreaker, SamplingBreaker, ThrottleManager, isCircuitOpenError, isConfigError } from 'floodgate';
import { Circuit, type CircuitSink } from '../../src/breaker/circuit.js';
import { SVC, httpError, roomy, useFakeManager } from '../helpers.js';

let manager: ThrottleManager;
useFakeManager((m) => (manager = m));

const failing = () => Promise.reject(httpError(503));
const ok = () => 'ok';
const outcome = (platform?: string, fn: () => unknown = failing) =>
  manager.execute(SVC, fn, platform === undefined ? {} : { platform }).then(
    () => 'ok',
    (error: unknown) => (isCircuitOpenError(error) ? 'open' : 'failed'),
  );
const circuitOf = (key = SVC) => manager.getStatusReport().scopes[key]!.circuit;

describe('pluggable breakers (cockatiel IBreaker strategies)', () => {
  it('a SamplingBreaker opens on the failure rate over its window, not on consecutive failures', async () => {
    // 50 % over 10 s, once the window has seen at least 1 call per second (10 calls).
    roomy(manager, { circuitBreakerThreshold: 3, breaker: new SamplingBreaker({ threshold: 0.5, duration: 10_000, minimumRps: 1 }) });
    for (let i = 0; i < 4; i++) expect(await outcome(undefined, ok)).toBe('ok');
    // Five failures in a row: a ConsecutiveBreaker(3) would have opened at the third.
    for (let i = 0; i < 5; i++) expect(await outcome()).toBe('failed');
    expect(circuitOf()).toMatchObject({ state: 'closed', consecutiveFailures: 5, breaker: { kind: 'sampling', threshold: 0.5, failureRate: 5 / 9, calls: 9 } });
    // The tenth call makes the window count: 6 of 10 failed.
    expect(await outcome()).toBe('failed');
    expect(circuitOf()).toMatchObject({ state: 'open', breaker: { kind: 'sampling', failureRate: 0.6, calls: 10 } });
    expect(await outcome(undefined, ok)).toBe('open');
  });

  it('circuitBreakerThreshold keeps meaning a ConsecutiveBreaker', async () => {
    roomy(manager, { circuitBreakerThreshold: 2 });
    await outcome();
    await outcome();
    expect(circuitOf()).toMatchObject({ state: 'open', breaker: { kind: 'consecutive', threshold: 2, failureRate: null } });
  });

  it('per platform: a declarative CountBreaker on one platform, the service keeps its own', async () => {
    roomy(manager, { circuitBreakerThreshold: 2 });
    manager.configure(SVC, { breaker: { kind: 'count', threshold: 0.5, size: 4 } }, { platform: 'eu' });
    await outcome('eu', ok);
    await outcome('eu', ok);
    await outcome('eu');
    await outcome('eu');
    // 2 of 4 is not above 50 %: closed, where the service's consecutive breaker (2) would be open.
    expect(circuitOf(`${SVC}:eu`)).toMatchObject({ state: 'closed', breaker: { kind: 'count', threshold: 0.5, failureRate: 0.5, calls: 4 } });
    await outcome('eu');
    expect(circuitOf(`${SVC}:eu`)).toMatchObject({ state: 'open', breaker: { failureRate: 0.75 } });
    await outcome();
    await outcome();
    expect(circuitOf()).toMatchObject({ state: 'open', breaker: { kind: 'consecutive' } });
  });

  it('the breaker given is a template: each scope counts its own calls', async () => {
    const template = new ConsecutiveBreaker(2);
    roomy(manager, { breaker: template });
    await outcome('a');
    await outcome('b');
    expect(circuitOf(`${SVC}:a`).state).toBe('closed');
    expect(circuitOf(`${SVC}:b`).state).toBe('closed');
    await outcome('a');
    expect(circuitOf(`${SVC}:a`).state).toBe('open');
    expect(circuitOf(`${SVC}:b`).state).toBe('closed');
    expect(template.state).toBe(0);
  });

  it('a new breaker applies to live scopes; the configuration shows it', async () => {
    roomy(manager);
    await outcome();
    const breaker = new CountBreaker({ threshold: 0.2, size: 5, minimumNumberOfCalls: 2 });
    expect(manager.configure(SVC, { breaker }).breaker).toBe(breaker);
    await outcome();
    await outcome();
    expect(circuitOf()).toMatchObject({ state: 'open', breaker: { kind: 'count' } });
  });

  it.each([
    [{ kind: 'sampling', threshold: 1.5, durationMs: 1_000 }, /failure rate between 0 and 1/],
    [{ kind: 'sampling', threshold: 0.5, durationMs: -1 }, /durationMs/],
    [{ kind: 'count', threshold: 0.5, size: 0 }, /size/],
    [{ kind: 'consecutive', threshold: 0 }, /integer >= 1/],
    [{ kind: 'rolling', threshold: 1 }, /kind must be/],
    [42, /cockatiel breaker/],
    [{ success: () => {}, failure: () => false, state: 0, helper: () => 1 }, /own fields are plain data/],
  ])('refuses a bad breaker with a ConfigError naming the field: %j', (breaker, rule) => {
    const before = manager.getConfig(SVC);
    const error = (() => {
      try {
        manager.configure(SVC, { breaker: breaker as never });
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(isConfigError(error)).toBe(true);
    expect(error).toMatchObject({ field: 'breaker', message: expect.stringMatching(rule) });
    expect(manager.getConfig(SVC)).toEqual(before);
  });

  it('a breaker whose reads throw is refused like any bad value', () => {
    const hostile = new Proxy({}, { get: () => { throw new Error('trap'); } });
    expect(() => manager.configure(SVC, { breaker: hostile as never })).toThrow(/Invalid breaker/);
  });
});

describe('a failure-rate breaker in a fleet (shareCircuit hooks)', () => {
  it('reports its own opening, and forgets its window when the fleet closes the circuit', () => {
    const told: string[] = [];
    const sink: CircuitSink = { opened: (ms) => told.push(`opened ${ms}`), closed: () => told.push('closed') };
    const circuit = new Circuit('scope', { onCircuitChange: () => {} }, { circuitBreakerThreshold: 3, circuitBreakerResetMs: 1_000, breaker: { kind: 'count', threshold: 0.5, size: 2 } });
    circuit.shareWith(sink);
    circuit.success();
    circuit.failure(0);
    expect(circuit.stateName).toBe('closed');
    circuit.failure(1);
    expect(told).toEqual(['opened 1000']);
    circuit.forceClose();
    expect(circuit.breakerFigures(2)).toMatchObject({ failureRate: 0, calls: 0 });
    circuit.forceOpen(5_000);
    expect(circuit.allow(4_999)).toBe(false);
    expect(circuit.retryAt).toBe(5_000);
  });
});
