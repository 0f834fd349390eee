// floodgate rows: manager.execute, a @throttled method, and @throttled stacked on
// @unifiedErrorHandling. Decorators are applied by hand in legacy form, exactly what
// TypeScript's `experimentalDecorators` emit does.
import { ThrottleManager, throttled, unifiedErrorHandling } from '../../dist/index.js';

/** Limits high enough never to bind; everything else stays at the custom-service defaults. */
export const OPEN_LIMITS = Object.freeze({
  requestsPerSecond: Infinity,
  burst: 1e9,
  requestsPerMinute: Infinity,
  maxConcurrent: Infinity,
  maxQueue: Infinity,
});

/** The failure path retries at once: no backoff. */
export const FAILURE_SETTINGS = Object.freeze({ ...OPEN_LIMITS, backoffBaseMs: 0 });

let serial = 0;

/** A fresh manager (environment ignored) with one custom service configured. */
export function benchManager(settings = OPEN_LIMITS, managerOptions = {}) {
  const manager = new ThrottleManager({ env: {}, ...managerOptions });
  const service = `bench_${++serial}`;
  manager.configure(service, settings);
  return { manager, service };
}

/** Applies method decorators the way `__decorate` does: the last listed runs first. */
export function decorate(Class, name, ...decorators) {
  let descriptor = Object.getOwnPropertyDescriptor(Class.prototype, name);
  for (const decorator of [...decorators].reverse()) descriptor = decorator(Class.prototype, name, descriptor) ?? descriptor;
  Object.defineProperty(Class.prototype, name, descriptor);
  return Class;
}

function makeClient(target) {
  return class Client {
    call() {
      return target();
    }
  };
}

const settingsFor = (failing) => (failing ? FAILURE_SETTINGS : OPEN_LIMITS);

export const floodgateExecute = {
  name: 'floodgate `manager.execute`',
  group: 'floodgate',
  create(target, { failing = false, settings } = {}) {
    const { manager, service } = benchManager(settings ?? settingsFor(failing));
    return { call: () => manager.execute(service, target), manager, service };
  },
};

export const floodgateThrottled = {
  name: 'floodgate `@throttled` method',
  group: 'floodgate',
  create(target, { failing = false, settings } = {}) {
    const { manager, service } = benchManager(settings ?? settingsFor(failing));
    const Client = decorate(makeClient(target), 'call', throttled(service, { manager }));
    const client = new Client();
    return { call: () => client.call(), manager, service };
  },
};

export const floodgateStacked = {
  name: 'floodgate `@throttled` + `@unifiedErrorHandling`',
  group: 'floodgate',
  create(target, { failing = false, settings } = {}) {
    const { manager, service } = benchManager(settings ?? settingsFor(failing));
    const Client = decorate(makeClient(target), 'call', throttled(service, { manager }), unifiedErrorHandling(service, { manager }));
    const client = new Client();
    return { call: () => client.call(), manager, service };
  },
};

/**
 * Diagnostic only (not a target row): the same `@throttled` method with an attempt timeout set
 * (off by default), to show what opting into one costs.
 */
export const floodgateThrottledTimed = {
  name: 'diagnostic: `@throttled`, `timeoutMs: 30000`',
  group: 'diagnostic',
  create(target, { failing = false } = {}) {
    return floodgateThrottled.create(target, { settings: { ...settingsFor(failing), timeoutMs: 30_000 } });
  },
};
