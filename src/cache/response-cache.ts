import { LRUCache } from 'lru-cache';
import { ConfigError } from '../errors/errors.js';
import { isAsyncIterable } from '../tokens/charge.js';

/** `@throttled(service, { cache })` and `execute(..., { cache })`: results kept per key. */
export interface CacheOptions<Args extends unknown[] = any[]> {
  /** How long a result is served from the cache (ms, > 0). */
  readonly ttlMs: number;
  /** Most results kept (integer >= 1); the least recently used goes first. */
  readonly max: number;
  /**
   * The key of a call (decorator only). @default the canonical JSON (RFC 8785) of the arguments;
   * a call whose arguments cannot be serialised is not cached.
   */
  readonly key?: (...args: Args) => string;
}

/** Checks a cache configuration; returns it. */
export function checkCacheOptions(value: unknown): CacheOptions {
  if (typeof value !== 'object' || value === null) throw new ConfigError('cache', value, 'must be { ttlMs, max, key? }');
  const { ttlMs, max, key } = value as Record<string, unknown>;
  if (typeof ttlMs !== 'number' || !(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new ConfigError('cache.ttlMs', ttlMs, 'must be a finite number of ms > 0');
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) throw new ConfigError('cache.max', max, 'must be an integer >= 1');
  if (key !== undefined && typeof key !== 'function') throw new ConfigError('cache.key', key, 'must be a function of the arguments returning a string');
  return value as CacheOptions;
}

/**
 * A result may be shared when it is a plain value: never a fetch `Response`, a stream or an
 * async iterable (each can be read once, by one caller).
 */
function shareable(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (typeof Response === 'function' && value instanceof Response) return false;
  if (typeof ReadableStream === 'function' && value instanceof ReadableStream) return false;
  return !isAsyncIterable(value);
}

/**
 * Identical calls in flight share one provider call (coalescing); with `results` configured, a
 * successful result is also kept for `ttlMs`. A failure is never kept: the callers in flight with
 * it share it, the next call tries again. A result that cannot be shared (see {@link shareable})
 * is neither kept nor shared: each caller waiting on it makes its own call.
 */
export class ResponseCache {
  private readonly inFlight = new Map<string, Promise<unknown>>();
  private results: LRUCache<string, { readonly value: unknown }> | null = null;

  /** Keeps results from now on (the first configuration given wins). */
  keepResults(options: CacheOptions): void {
    // `perf` on Date.now: the cache ages by floodgate's clock (fake timers in tests); ttlResolution 0: no timer of its own.
    this.results ??= new LRUCache({ max: options.max, ttl: options.ttlMs, ttlResolution: 0, perf: { now: () => Date.now() } });
  }

  /** The cached or shared result for `key`, else `call()`'s; `onHit` counts a call served without reaching the provider. */
  run(key: string, call: () => Promise<unknown>, onHit: () => void): Promise<unknown> {
    const kept = this.results?.get(key);
    if (kept !== undefined) {
      onHit();
      return Promise.resolve(kept.value);
    }
    const shared = this.inFlight.get(key);
    if (shared !== undefined) {
      return shared.then((value) => {
        if (!shareable(value)) return call();
        onHit();
        return value;
      });
    }
    const promise = call();
    this.inFlight.set(key, promise);
    promise.then(
      (value) => {
        this.inFlight.delete(key);
        if (this.results !== null && shareable(value)) this.results.set(key, { value });
      },
      () => this.inFlight.delete(key),
    );
    return promise;
  }
}
