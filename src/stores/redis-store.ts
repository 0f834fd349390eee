import { createHash, randomBytes } from 'node:crypto';
// Types only: ioredis is an optional peer dependency, and the user passes the client in.
import type { Cluster, Redis } from 'ioredis';
import { PlatformSuspendedError } from '../errors/errors.js';
import { WINDOW_MS } from '../limiter/rolling-window.js';
import { capBinds, LocalLimiter } from './memory-store.js';
import { ADMIT_SCRIPT, PAUSE_SCRIPT, REFUND_SCRIPT, RESUME_SCRIPT, SUSPEND_SCRIPT } from './redis-scripts.js';
import type {
  LimiterLimits,
  LimiterSnapshot,
  ScopeLimiter,
  SharedState,
  SharedStateListener,
  StoreHealth,
  ThrottleStore,
} from './types.js';

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
  /** @internal The length of the strict window; tests shorten it. @default 60000 */
  readonly windowMs?: number;
}

/** A message on the store's channel. */
interface Message {
  readonly t: 's' | 'r' | 'p';
  /** The store instance that sent it (it ignores its own). */
  readonly o: string;
  readonly k: string;
  readonly ms?: number;
  readonly r?: string;
}

/** One admission sent to Redis, answered by Redis or by the fallback, whichever comes first. */
interface Request {
  readonly limiter: RedisLimiter;
  readonly deadline: number;
  readonly resolve: (ms: number) => void;
  readonly reject: (error: unknown) => void;
  /** Carries fallback starts to import into the shared window. */
  readonly imports: boolean;
  done: boolean;
  /** Already re-sent with EVAL after NOSCRIPT. */
  retried: boolean;
}

type Publication = { readonly kind: 'suspend'; readonly until: number; readonly reason: string } | { readonly kind: 'resume' };

const sha1 = (source: string): string => createHash('sha1').update(source).digest('hex');
const ADMIT_SHA = sha1(ADMIT_SCRIPT);

/** ioredis states in which a command would only wait in the offline queue. */
const DISCONNECTED = new Set(['reconnecting', 'close', 'end']);

/**
 * Limits, suspensions and provider pauses shared by every process that uses the same Redis
 * and prefix. One admission is one round trip (a Lua script run with EVALSHA, on the
 * server's clock). When Redis cannot answer within `timeoutMs`, admissions fall back to
 * `fallback` until Redis answers again.
 */
export class RedisStore implements ThrottleStore, SharedState {
  readonly name = 'redis';
  readonly shared: SharedState = this;

  /** @internal */
  readonly client: Redis | Cluster;
  /** @internal */
  readonly prefix: string;
  /** @internal */
  readonly windowMs: number;
  /** @internal */
  readonly fallback: RedisFallback;
  private readonly timeoutMs: number;
  /** @internal */
  readonly probeIntervalMs: number;
  private readonly subscribeEnabled: boolean;
  private readonly channel: string;
  private readonly origin = randomBytes(8).toString('hex');

  private healthy = true;
  private since: number | null = null;
  private lastError: string | null = null;
  private probeTimer: ReturnType<typeof setTimeout> | undefined;
  private probing = false;

  /** Admissions sent and not yet answered, oldest first (a connection answers in order). */
  private pending: Request[] = [];
  private pendingHead = 0;
  private outstanding = 0;
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;

  private readonly listeners = new Set<SharedStateListener>();
  private subscriber: Redis | Cluster | undefined;
  /** Suspensions and resumes made while Redis was down, sent when it answers again. */
  private readonly unsent = new Map<string, Publication>();
  private closed = false;

  /** @internal Round trips to Redis for admissions (EVALSHA, and EVAL after NOSCRIPT). */
  roundTrips = 0;
  /** @internal Admissions answered by Redis. */
  answered = 0;

  constructor(options: RedisStoreOptions) {
    if (options === null || typeof options !== 'object' || options.client === undefined || options.client === null) {
      throw new TypeError('RedisStore: `client` (an ioredis client) is required');
    }
    this.client = options.client;
    this.prefix = options.prefix ?? 'floodgate:';
    this.timeoutMs = positive('timeoutMs', options.timeoutMs ?? 250);
    this.probeIntervalMs = positive('probeIntervalMs', options.probeIntervalMs ?? 1_000);
    this.windowMs = positive('windowMs', options.windowMs ?? WINDOW_MS);
    this.subscribeEnabled = options.subscribe ?? true;
    const fallback = options.fallback ?? { mode: 'local', share: 1 };
    if (fallback.mode === 'local') {
      if (!(fallback.share > 0 && fallback.share <= 1)) throw new RangeError(`RedisStore: fallback.share must be in (0, 1], got ${String(fallback.share)}`);
    } else if (fallback.mode !== 'deny') {
      throw new RangeError(`RedisStore: fallback.mode must be 'local' or 'deny', got ${String((fallback as { mode: unknown }).mode)}`);
    }
    this.fallback = fallback;
    this.channel = `${this.prefix}events`;
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

  /** @internal The keys of one scope; the hash tag keeps them in one cluster slot. */
  keys(scope: string): readonly [starts: string, state: string] {
    const base = `${this.prefix}{${scope}}`;
    return [`${base}:w`, `${base}:x`];
  }

  /** @internal Whether admissions go to Redis now (false: the fallback answers). */
  get isHealthy(): boolean {
    return this.healthy;
  }

  // Admissions

  /** @internal Sends one admission; the promise never rejects except with PlatformSuspendedError. */
  admit(limiter: RedisLimiter, imports: readonly number[] | null): number | Promise<number> {
    if (DISCONNECTED.has(this.client.status)) {
      this.degrade(`connection ${this.client.status}`);
      limiter.importFailed(imports !== null);
      return limiter.fallbackAcquire(Date.now());
    }
    return new Promise<number>((resolve, reject) => {
      const request: Request = { limiter, deadline: Date.now() + this.timeoutMs, resolve, reject, imports: imports !== null, done: false, retried: false };
      this.pending.push(request);
      this.outstanding++;
      if (this.deadlineTimer === undefined) this.armDeadline(request.deadline);
      this.send(request, imports);
    });
  }

  private send(request: Request, imports: readonly number[] | null): void {
    const { limiter } = request;
    const k = limiter.keys;
    this.roundTrips++;
    const reply =
      imports === null && !request.retried
        ? this.client.evalsha(ADMIT_SHA, 2, k[0], k[1], limiter.argRate, limiter.argBurst, limiter.argLimit, limiter.argWindow)
        : request.retried
          ? this.client.eval(ADMIT_SCRIPT, 2, k[0], k[1], limiter.argRate, limiter.argBurst, limiter.argLimit, limiter.argWindow, ...(imports ?? []))
          : this.client.evalsha(ADMIT_SHA, 2, k[0], k[1], limiter.argRate, limiter.argBurst, limiter.argLimit, limiter.argWindow, ...imports!);
    reply.then(
      (answer) => this.answer(request, answer),
      (error: unknown) => {
        if (request.done) return;
        // Redis restarted (or ran SCRIPT FLUSH): EVAL loads the script again, once.
        if (!request.retried && isNoScript(error)) {
          request.retried = true;
          this.send(request, request.imports ? limiter.importAges(Date.now()) : null);
          return;
        }
        this.finish(request);
        this.degrade(describe(error));
        limiter.importFailed(request.imports);
        request.resolve(limiter.fallbackAcquire(Date.now()));
      },
    );
  }

  private answer(request: Request, answer: unknown): void {
    const reply = answer as [number, number, number | string, string?, number?];
    if (request.done) {
      // Answered after its deadline: the caller already had the fallback's answer, so a
      // start Redis counted is nobody's. Give it back.
      if (reply[0] === 0) this.refund(request.limiter, reply[3] ?? '');
      return;
    }
    this.finish(request);
    this.answered++;
    const { limiter } = request;
    if (request.imports) limiter.importDone();
    const code = reply[0];
    if (code >= 0) {
      limiter.record(code === 0 ? (reply[4] ?? 0) : code, reply[1], reply[2] as number);
      // Woken a little after the time Redis named, spread out: waiters across the fleet do
      // not all come back in the same millisecond, and none comes back a hair too early.
      request.resolve(code === 0 ? 0 : code + 1 + Math.random() * Math.min(25, code / 8));
    } else if (code === -1) {
      const reason = String(reply[2]);
      const until = Date.now() + reply[1];
      for (const listener of this.listeners) safely(() => listener.onSuspended(limiter.scope, reply[1], reason));
      request.reject(new PlatformSuspendedError(limiter.scope, until, reason));
    } else {
      for (const listener of this.listeners) safely(() => listener.onPaused(limiter.scope, reply[1]));
      request.resolve(reply[1]);
    }
  }

  private refund(limiter: RedisLimiter, stamp: string): void {
    // Only a start in the strict window is given back: with the bucket alone, one token
    // counted twice errs on the safe side. EVAL, not EVALSHA: a rare command that must reach
    // Redis before the ones sent after it.
    if (limiter.argLimit === '0' || stamp === '') return;
    this.client.eval(REFUND_SCRIPT, 1, limiter.keys[0], stamp).catch(() => {});
  }

  private finish(request: Request): void {
    request.done = true;
    if (--this.outstanding === 0) {
      // Nothing in flight: drop the bookkeeping and the deadline timer.
      this.pending = [];
      this.pendingHead = 0;
      if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
      this.deadlineTimer = undefined;
    }
  }

  /** One timer serves every request in flight: armed for the oldest one's deadline. */
  private armDeadline(at: number): void {
    this.deadlineTimer = setTimeout(() => this.expire(), Math.max(0, at - Date.now()));
  }

  private expire(): void {
    this.deadlineTimer = undefined;
    const now = Date.now();
    while (this.pendingHead < this.pending.length) {
      const request = this.pending[this.pendingHead]!;
      if (request.done) {
        this.pendingHead++;
        continue;
      }
      if (request.deadline > now) {
        this.armDeadline(request.deadline);
        break;
      }
      this.pendingHead++;
      this.finish(request);
      this.degrade(`no answer within ${this.timeoutMs} ms`);
      request.limiter.importFailed(request.imports);
      request.resolve(request.limiter.fallbackAcquire(now));
    }
    if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
  }

  // Health

  private degrade(reason: string): void {
    this.lastError = reason;
    if (!this.healthy) return;
    this.healthy = false;
    this.since = Date.now();
    // Whatever else is in flight is answered by the fallback now rather than at its deadline.
    const now = Date.now();
    const pending = this.pending;
    for (let i = this.pendingHead; i < pending.length; i++) {
      const request = pending[i]!;
      if (request.done) continue;
      this.finish(request);
      request.limiter.importFailed(request.imports);
      request.resolve(request.limiter.fallbackAcquire(now));
    }
    this.notifyHealth();
    this.scheduleProbe();
  }

  private recover(): void {
    if (this.healthy || this.closed) return;
    this.healthy = true;
    this.since = Date.now();
    this.notifyHealth();
    this.flushUnsent();
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

  private notifyHealth(): void {
    const health = this.health();
    for (const listener of this.listeners) safely(() => listener.onHealthChange(health));
  }

  // Shared state: suspensions, resumes, pauses

  attach(listener: SharedStateListener): () => void {
    this.listeners.add(listener);
    if (this.subscribeEnabled && this.subscriber === undefined && !this.closed) this.startSubscriber();
    return () => {
      this.listeners.delete(listener);
    };
  }

  publishSuspension(scope: string, durationMs: number, reason: string): void {
    if (!(durationMs > 0)) return;
    this.unsent.delete(scope);
    const until = Date.now() + durationMs;
    this.publish(
      scope,
      { kind: 'suspend', until, reason },
      () => this.client.eval(SUSPEND_SCRIPT, 1, this.keys(scope)[1], Math.ceil(durationMs), reason, this.channel, this.origin, scope),
    );
  }

  publishResume(scope: string): void {
    this.unsent.delete(scope);
    this.publish(
      scope,
      { kind: 'resume' },
      () => this.client.eval(RESUME_SCRIPT, 1, this.keys(scope)[1], this.channel, this.origin, scope),
    );
  }

  publishPause(scope: string, durationMs: number): void {
    if (!(durationMs > 0) || !this.healthy) return;
    const ms = Math.ceil(durationMs);
    // A pause is short-lived: one lost while Redis is down is not replayed.
    this.publish(
      scope,
      null,
      () => this.client.eval(PAUSE_SCRIPT, 1, this.keys(scope)[1], ms, this.channel, this.origin, scope),
    );
  }

  /**
   * Runs a publishing script (EVAL: rare, and ordered with the commands sent after it) with a
   * deadline; while Redis is down, keeps a suspension or resume to send when it is back.
   */
  private publish(scope: string, replay: Publication | null, run: () => Promise<unknown>): void {
    if (!this.healthy || DISCONNECTED.has(this.client.status)) {
      if (replay !== null) this.unsent.set(scope, replay);
      return;
    }
    let settled = false;
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (replay !== null) this.unsent.set(scope, replay);
      this.degrade(describe(error));
    };
    const timer = setTimeout(() => fail(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    const ok = (): void => {
      settled = true;
      clearTimeout(timer);
    };
    run().then(ok, fail);
  }

  private flushUnsent(): void {
    const now = Date.now();
    const entries = [...this.unsent];
    this.unsent.clear();
    for (const [scope, publication] of entries) {
      if (publication.kind === 'resume') this.publishResume(scope);
      else if (publication.until > now) this.publishSuspension(scope, publication.until - now, publication.reason);
    }
  }

  private startSubscriber(): void {
    const subscriber = this.client.duplicate();
    this.subscriber = subscriber;
    // The subscription never keeps a process alive by itself.
    const unref = (): void => (subscriber as { stream?: { unref?: () => void } }).stream?.unref?.();
    subscriber.on('connect', unref);
    subscriber.on('ready', () => {
      if (!this.healthy) this.probe();
    });
    // Errors are reported through health; an 'error' listener keeps ioredis from logging them.
    subscriber.on('error', () => {});
    subscriber.on('message', (channel: string, text: string) => {
      if (channel === this.channel) this.receive(text);
    });
    subscriber.subscribe(this.channel).catch(() => {
      // Reconnecting re-subscribes by itself; admissions still see the shared state.
    });
  }

  private receive(text: string): void {
    let message: Message;
    try {
      message = JSON.parse(text) as Message;
    } catch {
      return;
    }
    if (message.o === this.origin || typeof message.k !== 'string') return;
    for (const listener of this.listeners) {
      safely(() => {
        if (message.t === 's') listener.onSuspended(message.k, Number(message.ms), String(message.r ?? ''));
        else if (message.t === 'r') listener.onResumed(message.k);
        else if (message.t === 'p') listener.onPaused(message.k, Number(message.ms));
      });
    }
  }

  /** Closes the subscription connection this store opened; the client you passed stays open. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.probeTimer !== undefined) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    this.listeners.clear();
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    if (subscriber !== undefined) {
      try {
        await withDeadline(subscriber.quit(), this.timeoutMs);
      } catch {
        // Unreachable: drop the connection instead.
      }
      subscriber.disconnect();
    }
  }
}

/**
 * One scope's admissions through Redis. Remembers the figures of the last answer for the
 * status report and for quick refusals; holds a local fallback limiter only once Redis has
 * failed.
 */
export class RedisLimiter implements ScopeLimiter {
  readonly keys: readonly [string, string];
  argRate = '';
  argBurst = '';
  argLimit = '';
  readonly argWindow: string;

  private limits: LimiterLimits;
  private local: LocalLimiter | null = null;
  /** Starts admitted by the local fallback (epoch ms), to import into the shared window. */
  private fallbackStarts: number[] = [];
  private importing = false;

  // The last answer from Redis.
  private answeredAt = 0;
  private blockedUntil = 0;
  private tokens: number;
  private remaining: number | null;

  constructor(
    private readonly store: RedisStore,
    readonly scope: string,
    limits: LimiterLimits,
    _now: number,
  ) {
    this.keys = store.keys(scope);
    this.argWindow = String(store.windowMs);
    this.limits = limits;
    this.tokens = limits.burst;
    this.remaining = null;
    this.setArgs(limits);
  }

  tryAcquire(now: number): number | Promise<number> {
    const store = this.store;
    // The last answer named a time before which nothing can be admitted anywhere in the
    // fleet (others only take capacity): say so without a trip. The fallback honours it too.
    if (now < this.blockedUntil) return this.blockedUntil - now;
    if (!store.isHealthy) return this.fallbackAcquire(now);
    if (this.fallbackStarts.length > 0 && !this.importing) {
      this.importing = true;
      return store.admit(this, this.importAges(now));
    }
    return store.admit(this, null);
  }

  estimateWait(position: number, now: number): number {
    // A lower bound from the last answer: others in the fleet only make waits longer.
    const blocked = this.blockedUntil > now ? this.blockedUntil - now : 0;
    if (!this.store.isHealthy) {
      const local = this.fallbackWait(position, now);
      return local > blocked ? local : blocked;
    }
    const rate = this.limits.requestsPerSecond;
    if (rate === Infinity || this.answeredAt === 0) return blocked;
    const tokens = Math.min(this.limits.burst, this.tokens + ((now - this.answeredAt) * rate) / 1000);
    const need = position + 1 - tokens;
    const refill = need > 0 ? (need * 1000) / rate : 0;
    return refill > blocked ? refill : blocked;
  }

  reconfigure(limits: LimiterLimits, now: number): void {
    this.limits = limits;
    this.setArgs(limits);
    this.blockedUntil = 0;
    this.local?.reconfigure(shareOf(limits, this.store.fallback), now);
  }

  snapshot(now: number): LimiterSnapshot {
    if (!this.store.isHealthy && this.local !== null) return this.local.snapshot(now);
    const rate = this.limits.requestsPerSecond;
    const tokens = this.answeredAt === 0 || rate === Infinity ? this.limits.burst : Math.min(this.limits.burst, this.tokens + ((now - this.answeredAt) * rate) / 1000);
    return {
      tokens: Math.floor(tokens),
      minuteRemaining: capBinds(this.limits) ? (this.remaining ?? this.limits.requestsPerMinute) : null,
    };
  }

  isIdle(now: number): boolean {
    // The shared state lives in Redis; only fallback state would be lost by forgetting this.
    return this.fallbackStarts.length === 0 && (this.local === null || this.local.isIdle(now));
  }

  /** @internal Figures of an answer from Redis; `wait`: nothing can be admitted before then. */
  record(wait: number, tokens: number, remaining: number): void {
    const now = Date.now();
    this.answeredAt = now;
    this.tokens = tokens;
    this.remaining = remaining < 0 ? null : remaining;
    this.blockedUntil = wait > 0 ? now + wait : 0;
  }

  /** @internal The answer while Redis cannot give one. */
  fallbackAcquire(now: number): number {
    const fallback = this.store.fallback;
    // Fail closed: try again when the next probe may have brought Redis back.
    if (fallback.mode === 'deny') return this.store.probeIntervalMs;
    const local = (this.local ??= new LocalLimiter(shareOf(this.limits, fallback), now));
    const wait = local.tryAcquire(now);
    if (wait === 0 && capBinds(this.limits)) {
      const starts = this.fallbackStarts;
      starts.push(now);
      if (starts.length > this.limits.requestsPerMinute) starts.shift();
    }
    return wait;
  }

  /** @internal Ages (ms) of the fallback starts still inside the window, newest first. */
  importAges(now: number): number[] {
    const window = this.store.windowMs;
    const ages: number[] = [];
    for (let i = this.fallbackStarts.length - 1; i >= 0; i--) {
      const age = now - this.fallbackStarts[i]!;
      if (age >= window) break;
      ages.push(age < 0 ? 0 : age);
    }
    return ages;
  }

  /** @internal The shared window now counts the fallback starts. */
  importDone(): void {
    this.importing = false;
    this.fallbackStarts = [];
  }

  /** @internal The import did not reach Redis: try again with the next admission. */
  importFailed(imports: boolean): void {
    if (imports) this.importing = false;
  }

  private fallbackWait(position: number, now: number): number {
    if (this.store.fallback.mode === 'deny') return 0;
    return this.local === null ? 0 : this.local.estimateWait(position, now);
  }

  private setArgs(limits: LimiterLimits): void {
    this.argRate = limits.requestsPerSecond === Infinity ? '-1' : String(limits.requestsPerSecond);
    this.argBurst = String(limits.burst);
    this.argLimit = capBinds(limits) ? String(limits.requestsPerMinute) : '0';
  }
}

/** The limits a process keeps for itself while Redis is down. */
function shareOf(limits: LimiterLimits, fallback: RedisFallback): LimiterLimits {
  const share = fallback.mode === 'local' ? fallback.share : 1;
  if (share === 1) return limits;
  const burst = Math.max(1, Math.floor(limits.burst * share));
  return {
    requestsPerSecond: limits.requestsPerSecond * share,
    burst,
    requestsPerMinute: limits.requestsPerMinute === Infinity ? Infinity : Math.max(burst, Math.floor(limits.requestsPerMinute * share)),
  };
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A listener's failure must not break the store.
  }
}

function positive(field: string, value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`RedisStore: ${field} must be a finite number > 0, got ${String(value)}`);
  return value;
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timeout')), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
