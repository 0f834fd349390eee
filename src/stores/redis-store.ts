import { randomBytes } from 'node:crypto';
// Types only: ioredis is an optional peer dependency, and the user passes the client in.
import type { Cluster, Redis } from 'ioredis';
import { WINDOW_MS } from '../limiter/rolling-window.js';
import { RedisAdmissions } from './redis-admissions.js';
import { DISCONNECTED, describe, RedisChannel } from './redis-channel.js';
import { RedisLimiter } from './redis-limiter.js';
import type { LimiterLimits, ScopeLimiter, SharedState, StoreHealth, ThrottleStore } from './types.js';

/** What admissions do while Redis is unreachable, slow or failing. */
export type RedisFallback =
  /** Admit through a limiter in this process holding `share` (0 < share <= 1) of each limit. */
  | { readonly mode: 'local'; readonly share: number }
  /** Admit nothing (fail closed): callers wait, up to `maxWaitMs`, for Redis to come back. */
  | { readonly mode: 'deny' };

export interface RedisStoreOptions {
  /** An ioredis client (or cluster) that you own: floodgate never closes it. */
  readonly client: Redis | Cluster;
  /** Prepended to every key and to the pub/sub channel. @default 'floodgate:' */
  readonly prefix?: string;
  /** Deadline of each store call; past it the call is answered by the fallback. @default 250 */
  readonly timeoutMs?: number;
  /**
   * While Redis is down. With N processes, `share: 1 / N` keeps the fleet within the limit.
   * @default { mode: 'local', share: 1 } (each process keeps the whole limit, as without Redis)
   */
  readonly fallback?: RedisFallback;
  /** While degraded, how often Redis is tried again. @default 1000 */
  readonly probeIntervalMs?: number;
  /**
   * Subscribe (on a second connection, `client.duplicate()`) to suspensions, resumes and
   * pauses made by other processes, so idle processes learn of them at once. Without it
   * they learn at their next admission (one round trip). @default true
   */
  readonly subscribe?: boolean;
  /**
   * Share circuit breakers across the fleet: a circuit that opens in one process opens the
   * scope in every process (until the circuit's `circuitBreakerResetMs` has passed), and then
   * exactly one process in the fleet sends the half-open probe; its success closes the circuit
   * everywhere, its failure opens it everywhere again. While Redis is down each process keeps
   * its own circuit. @default false (each process keeps its own circuit)
   */
  readonly shareCircuit?: boolean;
  /**
   * Credits: while a scope's limits have room to spare, an admission may bring up to this
   * many more starts, which this process then makes without a round trip, within `creditMs`.
   * Redis records each of them as if made at the end of that lease and checks it as if made
   * now, so the strict window and the token bucket hold exactly however they are used. A
   * scope asks for credits only after 8 admissions or more in the last `creditMs`, about half
   * as many as it asked for, and Redis grants at most a quarter of the room left in each limit;
   * with `subscribe: false` none are asked for (a ban elsewhere must reach the process first).
   * 0: every admission is its own round trip (or shares one with its tick). @default 16
   */
  readonly maxCredits?: number;
  /**
   * How long credits stay usable, at most (a scope's lease is at most half its bucket's burst
   * tolerance, `(burst - 1) / requestsPerSecond`, so that the starts after a grant are not held
   * back); those unused when it ends are given back to the fleet. @default 20
   */
  readonly creditMs?: number;
  /** @internal The length of the strict window; tests shorten it. @default 60000 */
  readonly windowMs?: number;
}

/**
 * Limits, suspensions, provider pauses (and with `shareCircuit`, circuits) shared by every
 * process that uses the same Redis and prefix. One admission is one round trip (a Lua script
 * run with EVALSHA, on the server's clock; see `RedisAdmissions`). When Redis cannot
 * answer within `timeoutMs`, admissions fall back to `fallback` until Redis answers again.
 * What one process decides for the fleet travels through `RedisChannel`.
 */
export class RedisStore implements ThrottleStore {
  readonly name = 'redis';
  readonly shared: SharedState;

  /** @internal */
  readonly client: Redis | Cluster;
  /** @internal */
  readonly prefix: string;
  /** @internal */
  readonly windowMs: number;
  /** @internal */
  readonly fallback: RedisFallback;
  /** @internal */
  readonly timeoutMs: number;
  /** @internal */
  readonly probeIntervalMs: number;
  /** @internal */
  readonly shareCircuit: boolean;
  /** @internal */
  readonly maxCredits: number;
  /** @internal */
  readonly creditMs: number;
  /** @internal The credits argument of an admission, as sent: '0' to String(maxCredits). */
  readonly creditArgs: readonly string[];
  /** @internal Tells this store's own messages from others'. */
  readonly origin = randomBytes(8).toString('hex');
  /** @internal */
  readonly admissions: RedisAdmissions;
  /** @internal */
  readonly channel: RedisChannel;

  private healthy = true;
  private since: number | null = null;
  private lastError: string | null = null;
  private probeTimer: ReturnType<typeof setTimeout> | undefined;
  private probing = false;
  private closed = false;

  /** @internal Round trips to Redis for admissions (EVALSHA, and EVAL after NOSCRIPT). */
  roundTrips = 0;
  /** @internal Admissions answered by Redis. */
  answered = 0;
  /** @internal Admissions made with credits (no round trip of their own). */
  creditsUsed = 0;

  constructor(options: RedisStoreOptions) {
    if (options === null || typeof options !== 'object' || options.client === undefined || options.client === null) {
      throw new TypeError('RedisStore: `client` (an ioredis client) is required');
    }
    this.client = options.client;
    this.prefix = options.prefix ?? 'floodgate:';
    this.timeoutMs = positive('timeoutMs', options.timeoutMs ?? 250);
    this.probeIntervalMs = positive('probeIntervalMs', options.probeIntervalMs ?? 1_000);
    this.windowMs = positive('windowMs', options.windowMs ?? WINDOW_MS);
    this.shareCircuit = options.shareCircuit ?? false;
    const maxCredits = options.maxCredits ?? 16;
    if (!Number.isInteger(maxCredits) || maxCredits < 0 || maxCredits > 256) {
      throw new RangeError(`RedisStore: maxCredits must be an integer from 0 to 256, got ${String(maxCredits)}`);
    }
    this.maxCredits = maxCredits;
    this.creditMs = positive('creditMs', options.creditMs ?? 20);
    this.creditArgs = Array.from({ length: maxCredits + 1 }, (_, n) => String(n));
    const fallback = options.fallback ?? { mode: 'local', share: 1 };
    if (fallback.mode === 'local') {
      if (!(fallback.share > 0 && fallback.share <= 1)) throw new RangeError(`RedisStore: fallback.share must be in (0, 1], got ${String(fallback.share)}`);
    } else if (fallback.mode !== 'deny') {
      throw new RangeError(`RedisStore: fallback.mode must be 'local' or 'deny', got ${String((fallback as { mode: unknown }).mode)}`);
    }
    this.fallback = fallback;
    this.admissions = new RedisAdmissions(this);
    this.channel = new RedisChannel(this, options.subscribe ?? true);
    this.shared = this.channel;
  }

  createLimiter(scope: string, limits: LimiterLimits, now: number): ScopeLimiter {
    return new RedisLimiter(this, scope, limits, now);
  }

  health(): StoreHealth {
    return {
      status: this.healthy ? 'ok' : 'degraded',
      mode: this.healthy ? 'shared' : this.fallback.mode === 'local' ? 'fallback_local' : 'fallback_deny',
      since: this.since,
      lastError: this.lastError,
    };
  }

  /** @internal The one key of a scope (a hash: see redis-scripts.ts); the hash tag names its cluster slot. */
  key(scope: string): string {
    return `${this.prefix}{${scope}}`;
  }

  /** @internal Whether admissions go to Redis now (false: the fallback answers). */
  get isHealthy(): boolean {
    return this.healthy;
  }

  /** Closes the subscription connection this store opened; the client you passed stays open. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.probeTimer !== undefined) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    await this.channel.close(this.timeoutMs);
  }

  // Health: degraded on the first failure, healthy again when a PING is answered.

  /** @internal Redis failed to answer (an error, a deadline, a dropped connection). */
  degrade(reason: string): void {
    this.lastError = reason;
    if (!this.healthy) return;
    this.healthy = false;
    this.since = Date.now();
    this.admissions.fallBackAll(Date.now());
    this.channel.notifyHealth(this.health());
    this.scheduleProbe();
  }

  /** @internal While degraded, tries Redis now rather than at the next probe. */
  probeNow(): void {
    if (!this.healthy) this.probe();
  }

  private recover(): void {
    if (this.healthy || this.closed) return;
    this.healthy = true;
    this.since = Date.now();
    this.channel.notifyHealth(this.health());
    this.channel.flushUnsent();
  }

  private scheduleProbe(): void {
    if (this.probeTimer !== undefined || this.closed) return;
    // Unref'd: probing never keeps a process alive.
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      this.probe();
    }, this.probeIntervalMs);
    this.probeTimer.unref?.();
  }

  /** While degraded: one PING with a deadline; an answer brings the shared state back. */
  private probe(): void {
    if (this.healthy || this.probing || this.closed) return;
    if (DISCONNECTED.has(this.client.status)) return this.scheduleProbe();
    this.probing = true;
    let settled = false;
    const done = (ok: boolean, error?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.probing = false;
      if (ok) this.recover();
      else {
        this.lastError = error === undefined ? `no answer to PING within ${this.timeoutMs} ms` : describe(error);
        this.scheduleProbe();
      }
    };
    const timer = setTimeout(() => done(false), this.timeoutMs);
    timer.unref?.();
    this.client.ping().then(
      () => done(true),
      (error: unknown) => done(false, error),
    );
  }
}

function positive(field: string, value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`RedisStore: ${field} must be a finite number > 0, got ${String(value)}`);
  return value;
}
