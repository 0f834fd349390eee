/** Small shared helpers for the core test suite. */
import { afterEach, beforeEach, expect, vi } from 'vitest';
import { isConfigError, MemoryStore, ThrottleManager, type ConfigError, type SharedStateListener, type ThrottleConfig, type ThrottleStore } from 'floodgate';

/** A custom service type used by most behaviour tests. */
export const SVC = 'svc';

/**
 * A configuration with nothing binding except what a test sets: roomy limits, no retries,
 * no per-attempt timeout (its timer would blur timer counts), a very patient queue.
 */
export const ROOMY: Partial<ThrottleConfig> = {
  requestsPerSecond: Infinity,
  burst: 1_000,
  requestsPerMinute: Infinity,
  maxConcurrent: Infinity,
  retryAttempts: 0,
  timeoutMs: 0,
  maxWaitMs: Infinity,
  maxQueue: 100_000,
  circuitBreakerThreshold: 1_000,
};

/**
 * For each test of the calling file: fake timers (`timers`: vi.useFakeTimers' options, e.g. `{ now }`)
 * and a fresh manager (environment ignored), handed to `setup` (which keeps it and prepares it);
 * afterwards the manager is closed and real timers are back.
 */
export function useFakeManager(setup: (manager: ThrottleManager) => void, timers?: Parameters<typeof vi.useFakeTimers>[0]): void {
  let manager: ThrottleManager | undefined;
  beforeEach(() => {
    vi.useFakeTimers(timers);
    manager = new ThrottleManager({ env: {} });
    setup(manager);
  });
  afterEach(async () => {
    await manager?.close();
    manager = undefined;
    vi.useRealTimers();
  });
}

/** Configures `service` on `manager` from ROOMY plus `overrides`. */
export function roomy(manager: ThrottleManager, overrides: Partial<ThrottleConfig> = {}, service = SVC): ThrottleConfig {
  return manager.configure(service, { ...ROOMY, ...overrides });
}

/** An error shaped like an HTTP client's failure (`status`, optional headers). A fresh object per call. */
export function httpError(status: number, headers?: Record<string, string>): Error & { status: number } {
  return Object.assign(new Error(`HTTP ${status}`), { status, ...(headers === undefined ? {} : { headers }) });
}

/** A connection reset, as Node's net stack reports it. */
export function networkError(): Error & { code: string } {
  return Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
}

/** A promise's outcome, readable synchronously once it has settled. */
export interface Tracked<T> {
  readonly promise: Promise<T>;
  state: 'pending' | 'fulfilled' | 'rejected';
  value?: T;
  error?: unknown;
}

/** Follows a promise without ever leaving its rejection unhandled. */
export function track<T>(promise: Promise<T>): Tracked<T> {
  const tracked: Tracked<T> = { promise, state: 'pending' };
  promise.then(
    (value) => {
      tracked.state = 'fulfilled';
      tracked.value = value;
    },
    (error: unknown) => {
      tracked.state = 'rejected';
      tracked.error = error;
    },
  );
  return tracked;
}

/** Lets pending promise callbacks run (no virtual time passes). */
export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** A promise with its resolve/reject exposed: a provider call the test answers by hand. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Resolves after `ms` of (fake) time. */
export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Asserts a value is plain JSON all the way down: only null, booleans, finite numbers,
 * strings, arrays and plain objects; no undefined, Map, Set, Date or class instance.
 */
export function expectPlainJson(value: unknown, path = '$'): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    expect(Number.isFinite(value), `${path} is a finite number`).toBe(true);
    return;
  }
  expect(typeof value, `${path} is an object`).toBe('object');
  if (Array.isArray(value)) {
    value.forEach((item, i) => expectPlainJson(item, `${path}[${i}]`));
    return;
  }
  expect(Object.getPrototypeOf(value), `${path} is a plain object`).toBe(Object.prototype);
  for (const [key, item] of Object.entries(value as object)) {
    expect(item, `${path}.${key} is defined`).not.toBeUndefined();
    expectPlainJson(item, `${path}.${key}`);
  }
}

/** Runs `fn` and returns the ConfigError it throws (failing the test if it throws anything else or nothing). */
export function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(isConfigError(error), `threw a ConfigError, got ${String(error)}`).toBe(true);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

/**
 * A fleet store as a user could write one: memory limiters, and a shared state that records what
 * the manager publishes and hands back the listener the manager attached (to play the fleet).
 */
export function sharedStoreDouble(): { store: ThrottleStore; published: string[]; listener: () => SharedStateListener | undefined } {
  let listener: SharedStateListener | undefined;
  const published: string[] = [];
  const memory = new MemoryStore();
  const store: ThrottleStore = {
    name: 'fleet-double',
    createLimiter: memory.createLimiter.bind(memory),
    close: async () => {},
    shared: {
      attach: (l) => ((listener = l), () => (listener = undefined)),
      publishSuspension: (scope) => void published.push(`suspend ${scope}`),
      publishResume: (scope) => void published.push(`resume ${scope}`),
      publishPause: (scope, ms) => void published.push(`pause ${scope} ${ms}`),
    },
  };
  return { store, published, listener: () => listener };
}
