import type { Circuit, CircuitSink } from '../breaker/circuit.js';
import { capBinds, LocalLimiter } from './memory-store.js';
import { type Batch, HINT_ARG } from './redis-admissions.js';
import { Credits } from './redis-credits.js';
import { ADMIT_SHA } from './redis-admit-script.js';
import type { RedisFallback, RedisStore } from './redis-store.js';
import type { LimiterLimits, LimiterSnapshot, ScopeLimiter } from './types.js';

/**
 * One scope's admissions through Redis. Remembers the figures of the last answer for the
 * status report and for quick refusals; holds a local fallback limiter only once Redis has
 * failed. With `shareCircuit`, also the link between the scope's circuit and the fleet's.
 */
export class RedisLimiter implements ScopeLimiter, CircuitSink {
  readonly key: string;
  /**
   * The EVALSHA command as sent (sha, 1, key, rate, burst, ring length, window, probe lock,
   * count, the two ring slots expected next, credits asked for, their lease), built when the
   * limits change rather than per call. See ADMIT_SCRIPT.
   */
  args: string[] = [];
  /** @internal Admissions asked for in this tick, not sent yet. */
  batch: Batch | null = null;

  private circuit: Circuit | null = null;
  /** The fleet chose this process's call as its probe, and the circuit has not settled since. */
  private probeHeld = false;

  private limits: LimiterLimits;
  /** The strict window's ring length in Redis (its cap); 0 when the cap does not bind. */
  private ringLength = 0;
  /** @internal Starts granted ahead of need (null: this scope gets none); see setArgs. */
  credits: Credits | null = null;
  private local: LocalLimiter | null = null;
  /** Starts admitted by the local fallback (epoch ms), to import into the shared window. */
  private fallbackStarts: number[] = [];
  private importing = false;

  /** @internal Batches of this scope sent and not answered yet. */
  inFlight = 0;
  /** Lets the scope's waiters try again (see ScopeLimiter.wakeWith). */
  private wake: (() => void) | null = null;

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
    this.key = store.key(scope);
    this.limits = limits;
    this.tokens = limits.burst;
    this.remaining = null;
    this.setArgs(limits);
  }

  tryAcquire(now: number): number | Promise<number> {
    const store = this.store;
    if (this.credits !== null && this.credits.take(performance.now())) {
      store.creditsUsed++;
      return 0;
    }
    // The last answer named a time before which nothing can be admitted anywhere in the
    // fleet (others only take capacity): say so without a trip. The fallback honours it too.
    if (now < this.blockedUntil) return this.blockedUntil - now;
    if (!store.isHealthy) return this.fallbackAcquire(now);
    if (this.fallbackStarts.length > 0 && !this.importing) {
      this.importing = true;
      return store.admissions.admit(this, this.importAges(now));
    }
    return store.admissions.admit(this, null);
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

  linkCircuit(circuit: Circuit): void {
    if (!this.store.shareCircuit) return;
    this.circuit = circuit;
    circuit.shareWith(this);
    this.setArgs(this.limits);
  }

  // CircuitSink: this process's own transitions, made fleet-wide.

  opened(resetMs: number): void {
    this.probeHeld = false;
    this.store.channel.publishCircuitOpen(this.scope, resetMs);
  }

  closed(): void {
    this.probeHeld = false;
    this.store.channel.publishCircuitClose(this.scope);
  }

  /** @internal The circuit's closings so far (see Circuit.closings), noted when an admission is asked for. */
  get circuitClosings(): number {
    return this.circuit === null ? 0 : this.circuit.closings;
  }

  /**
   * @internal Redis refused this admission for the shared circuit; returns until when (epoch ms).
   * `closingsWhenAsked`: {@link circuitClosings} when the admission was asked for.
   */
  circuitRefused(remainingMs: number, closingsWhenAsked: number): number {
    const until = Date.now() + remainingMs;
    const circuit = this.circuit;
    // While this process holds the probe, the refusal is its own lock's: the probe decides.
    // A refusal from before the fleet's latest closing is stale (the reply can arrive after the
    // closing's message): it still refuses its callers, but must not open the circuit again.
    if (circuit !== null && circuit.closings === closingsWhenAsked && !(this.probeHeld && circuit.stateName === 'half_open')) circuit.forceOpen(until);
    return until;
  }

  /** @internal Redis chose the call it just admitted as the fleet's half-open probe. */
  probeGranted(): void {
    if (this.circuit === null) return;
    this.probeHeld = true;
    this.circuit.beginProbe();
  }

  get sharesCircuit(): boolean {
    return this.store.shareCircuit;
  }

  /** @internal How long the fleet's probe is held (the circuit's reset period); 0: not shared. */
  get probeLockMs(): number {
    return this.circuit === null ? 0 : Math.max(1, Math.ceil(this.circuit.resetAfterMs));
  }

  /** @internal Figures of an answer from Redis; `wait`: nothing can be admitted before then. */
  record(wait: number, tokens: number, remaining: number): void {
    const now = Date.now();
    this.answeredAt = now;
    this.tokens = tokens;
    this.remaining = remaining < 0 ? null : remaining;
    this.blockedUntil = wait > 0 ? now + wait : 0;
  }

  /**
   * @internal Redis admitted starts up to ring slot `next - 1`: the next admission tells the
   * script which two slots it expects to reuse, so that they are read with the state (when
   * another process started in between, the script sees the hint is stale and reads them itself).
   */
  expectSlot(next: number): void {
    const length = this.ringLength;
    if (length === 0) return;
    const args = this.args;
    args[HINT_ARG] = String(next % length);
    args[HINT_ARG + 1] = String((next + 1) % length);
  }

  /** @internal Redis granted `n` credits with the admission sent at `sentAt` (see Credits.grant). */
  addCredits(n: number, sentAt: number, end: number, stamp: number): void {
    this.credits?.grant(n, sentAt, end, stamp);
    // Callers already waiting in line take them first (after the callers of this answer).
    if (this.wake !== null) queueMicrotask(this.wake);
  }

  wakeWith(wake: () => void): void {
    this.wake = wake;
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
    this.ringLength = capBinds(limits) ? limits.requestsPerMinute : 0;
    // Credits are recorded in the bucket at the end of their lease: a lease within half the
    // bucket's burst tolerance leaves room for the starts after them (see ADMIT_SCRIPT).
    const rate = limits.requestsPerSecond;
    const tolerance = rate === Infinity ? Infinity : ((limits.burst - 1) * 1000) / rate;
    const lease = Math.floor(Math.min(this.store.creditMs, tolerance / 2));
    // Credits granted under the old settings go back (in the window they count as any start).
    this.credits?.drop();
    this.credits = lease >= 1 && this.store.maxCredits > 0 ? new Credits(this.store, this.key, lease, this.ringLength, rate === Infinity ? 0 : 1000 / rate) : null;
    this.args = [
      ADMIT_SHA,
      '1',
      this.key,
      limits.requestsPerSecond === Infinity ? '-1' : String(limits.requestsPerSecond),
      String(limits.burst),
      String(this.ringLength),
      String(this.store.windowMs),
      String(this.probeLockMs),
      '1',
      '0',
      this.ringLength > 1 ? '1' : '0',
      '0',
      String(this.credits?.leaseMs ?? 0),
    ];
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
