// The refusal path: calls refused before they reach the provider (circuit open, suspended,
// queue full), floodgate beside the hand-written stack and the peers' own refusals
// (cockatiel's BrokenCircuitError, opossum's "Breaker is open"). Each row's call swallows the
// rejection with the same `.then(undefined, swallow)`, so every row pays that equally.
import { circuitBreaker, ConsecutiveBreaker, handleAll } from 'cockatiel';
import CircuitBreaker from 'opossum';
import { throttled } from '../../dist/index.js';
import { benchManager, decorate, OPEN_LIMITS } from './floodgate.mjs';
import { handCall, HandScope } from './handwritten.mjs';

const swallow = () => 0;
const DAY = 86_400_000;
const failing = () => Promise.reject(Object.assign(new Error('HTTP 503'), { status: 503 }));

/** A manager whose service's circuit is open for a day. */
async function openCircuit() {
  const { manager, service } = benchManager({ ...OPEN_LIMITS, circuitBreakerThreshold: 1, circuitBreakerResetMs: DAY, retryAttempts: 0 });
  await manager.execute(service, failing).catch(swallow);
  return { manager, service };
}

export const floodgateCircuitOpen = {
  name: 'floodgate `execute`, circuit open',
  group: 'floodgate',
  async create(target) {
    const { manager, service } = await openCircuit();
    return { call: () => manager.execute(service, target).then(undefined, swallow), close: () => manager.close() };
  },
};

export const floodgateThrottledCircuitOpen = {
  name: 'floodgate `@throttled` method, circuit open',
  group: 'floodgate',
  async create(target) {
    const { manager, service } = await openCircuit();
    const Client = decorate(class { call() { return target(); } }, 'call', throttled(service, { manager }));
    const client = new Client();
    return { call: () => client.call().then(undefined, swallow), close: () => manager.close() };
  },
};

export const floodgateSuspended = {
  name: 'floodgate `execute`, suspended',
  group: 'floodgate',
  create(target) {
    const { manager, service } = benchManager(OPEN_LIMITS);
    manager.suspend(service, { durationMs: DAY, reason: 'bench' });
    return { call: () => manager.execute(service, target).then(undefined, swallow), close: () => manager.close() };
  },
};

export const floodgateQueueFull = {
  name: 'floodgate `execute`, queue full (`maxQueue: 0`)',
  group: 'floodgate',
  async create(target) {
    const { manager, service } = benchManager({ ...OPEN_LIMITS, requestsPerSecond: 1 / 3600, burst: 1, requestsPerMinute: 1, maxQueue: 0 });
    await manager.execute(service, target); // takes the only token for an hour
    return { call: () => manager.execute(service, target).then(undefined, swallow), close: () => manager.close() };
  },
};

export const handwrittenCircuitOpen = {
  name: 'hand-written, circuit open',
  group: 'reference',
  create(target) {
    const scope = new HandScope({ threshold: 1, resetMs: DAY, retries: 0 });
    scope.state = 1; // OPEN
    scope.openedAt = Date.now();
    return { call: () => handCall(scope, target).then(undefined, swallow) };
  },
};

export const cockatielCircuitOpen = {
  name: 'cockatiel `circuitBreaker`, open (BrokenCircuitError)',
  group: 'peer',
  async create(target) {
    const breaker = circuitBreaker(handleAll, { halfOpenAfter: DAY, breaker: new ConsecutiveBreaker(1) });
    await breaker.execute(failing).catch(swallow);
    return { call: () => breaker.execute(target).then(undefined, swallow) };
  },
};

export const opossumOpen = {
  name: 'opossum `fire()`, open',
  group: 'peer',
  create(target) {
    const breaker = new CircuitBreaker(target, { resetTimeout: DAY });
    breaker.open();
    return { call: () => breaker.fire().then(undefined, swallow), close: () => breaker.shutdown() };
  },
};

export const REFUSAL_STACKS = [handwrittenCircuitOpen, floodgateCircuitOpen, floodgateThrottledCircuitOpen, floodgateSuspended, floodgateQueueFull, cockatielCircuitOpen, opossumOpen];
