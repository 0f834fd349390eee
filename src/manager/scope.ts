import { countsEveryCall } from '../breaker/breakers.js';
import { Circuit, type CircuitListener, type CircuitStateName } from '../breaker/circuit.js';
import type { ThrottleConfig } from '../config/types.js';
import { CallCancelledError, CircuitOpenError, PlatformSuspendedError, RateLimitedError } from '../errors/errors.js';
import { ContractBook, type ContractFigures, type ContractSpec } from '../governance/contracts.js';
import { refusalReason, WouldRefuseCounts, type WouldRefuseReason } from '../governance/observe.js';
import { AdmissionQueue, type AdmissionGate } from '../limiter/admission-queue.js';
import { compactTime } from '../limiter/compact-time.js';
import { LatencyHistogram } from '../status/latency.js';
import { meters, ScopeMeter } from '../spend/meter.js';
import type { AdmissionCost, ScopeLimiter, ThrottleStore } from '../stores/types.js';
import { DeadlineTimer } from '../timers/deadline-timer.js';

export interface Suspension {
  readonly until: number;
  readonly reason: string;
  /** Announces the expiry (unref'd: calls check the time themselves). */
  readonly timer: DeadlineTimer;
}

/**
 * What stays zero or empty while a scope is healthy: failures, refusals, retries, a provider's
 * pause, a suspension. Kept apart so that each of the many healthy scopes (one per user, say)
 * holds a single null instead of six fields.
 */
export class Incidents {
  /** The provider asked for quiet (Retry-After): nothing is admitted before this time. */
  pausedUntil = 0;
  suspension: Suspension | null = null;
  // How calls ended, one count per call (see CallOutcome in call.ts); with `successes` they add up to `requests`.
  /** Calls that ended with the provider's error, after their retries. */
  failed = 0;
  /** Calls refused for lack of capacity (RateLimitedError). */
  rateLimited = 0;
  /** Calls refused by an open circuit or a suspension (CircuitOpenError, PlatformSuspendedError). */
  rejected = 0;
  /** Calls cancelled: their AbortSignal fired, or the manager was reset or closed while they waited. */
  cancelled = 0;
  // Per attempt.
  /** Failed attempts (classified provider errors, retries included). */
  failures = 0;
  retries = 0;
  /** Calls answered by the response cache or an identical call in flight (kept here, not in the meter: a hit must not turn metering on). */
  cacheHits = 0;
  /** Observe mode: refusals let through, by reason. */
  wouldRefuse: WouldRefuseCounts | null = null;
}

/** Told of what happens to a scope, for the manager's events and the fleet. One serves every scope of a manager. */
export interface ScopeListener extends CircuitListener {
  /** A caller was refused for lack of capacity. */
  onRateLimited(scope: Scope, error: RateLimitedError): void;
  /** The scope was suspended until `until`; `fromFleet`: the shared store said so (do not publish it back). */
  onSuspended(scope: Scope, until: number, reason: string, fromFleet: boolean): void;
  /** A suspension (or provider pause) was lifted by resume() (`manual`) or ran out (`expired`). */
  onResumed(scope: Scope, cause: 'manual' | 'expired', fromFleet: boolean): void;
  /** Observe mode: a refusal was counted and the call let through. */
  onWouldRefuse(scope: Scope, reason: WouldRefuseReason): void;
  /** A contract's burn rate reached its `burnAlert`. */
  onBudgetBurn(scope: Scope, template: string, spec: Required<ContractSpec>, figures: ContractFigures): void;
}

/**
 * The optional features a scope may use: contracts and spend metering. Allocated when the first
 * is in use, so that each of the many scopes that use none (one per user, say) holds one null.
 */
class ScopeFeatures {
  contracts: ContractBook | null = null;
  meter: ScopeMeter | null = null;
}

/**
 * Everything floodgate knows about one scope (`service` or `service:platform`): limits,
 * circuit, suspension, counters. Plain fields, so the hot path reads and bumps numbers;
 * the queue and the latency histogram are created only when first needed.
 */
export class Scope implements AdmissionGate, CircuitListener {
  /** Created at the first failure that counts: a scope that never failed carries no circuit. */
  circuit: Circuit | null = null;
  readonly limiter: ScopeLimiter;
  queue: AdmissionQueue | null = null;
  latency: LatencyHistogram | null = null;
  /** Null until the scope uses an optional feature (see {@link ScopeFeatures}). */
  private features: ScopeFeatures | null = null;

  /** Calls in flight (admitted, not yet settled). */
  active = 0;
  requests = 0;
  successes = 0;
  /** Null until the first incident: a healthy scope carries one null here (see {@link Incidents}, {@link incidents}). */
  incidentsOrNull: Incidents | null = null;
  /** Compact time (see compactTime) of the last call, for evicting the least recently used. */
  lastUsed: number;

  constructor(
    readonly service: string,
    readonly platform: string | undefined,
    public config: ThrottleConfig,
    store: ThrottleStore,
    private readonly listener: ScopeListener,
    now: number,
  ) {
    this.limiter = store.createLimiter(this.key, config, now);
    this.useContracts(config);
    this.lastUsed = compactTime(now);
    // Fleet mode (`shareCircuit`): another process may open this circuit before any failure here.
    // A failure-rate breaker counts every call from the first.
    if (this.limiter.sharesCircuit === true || countsEveryCall(config.breaker)) this.ensureCircuit();
    this.limiter.wakeWith?.(() => this.queue?.drain());
  }

  /** Null unless the configuration has `contracts`: the call path's one check. */
  get contracts(): ContractBook | null {
    return this.features === null ? null : this.features.contracts;
  }

  /** Spend and budget: null until something meters this scope (README "LLM spend"); the call path checks it once. */
  get meter(): ScopeMeter | null {
    return this.features === null ? null : this.features.meter;
  }

  /** The scope's incidents, created at the first one. */
  incidents(): Incidents {
    return (this.incidentsOrNull ??= new Incidents());
  }

  get suspension(): Suspension | null {
    return this.incidentsOrNull === null ? null : this.incidentsOrNull.suspension;
  }

  /** Nothing is admitted before this time (a provider's Retry-After); 0 when not paused. */
  get pausedUntil(): number {
    return this.incidentsOrNull === null ? 0 : this.incidentsOrNull.pausedUntil;
  }

  /** Holds admissions until `until` (a provider's Retry-After); false when an equal or later pause is already on. */
  pauseUntil(until: number): boolean {
    if (until <= this.pausedUntil) return false;
    this.incidents().pausedUntil = until;
    return true;
  }

  /**
   * PlatformSuspendedError while suspended, CircuitOpenError while the circuit refuses calls
   * (see {@link Circuit.allow}: past its reset time this call becomes the probe), else null.
   */
  refusalNow(now: number): Error | null {
    if (this.incidentsOrNull !== null && this.incidentsOrNull.suspension !== null) {
      const refusal = this.suspensionRefusal(now);
      if (refusal !== null) return refusal;
    }
    if (this.circuit !== null && !this.circuit.allow(now)) return new CircuitOpenError(this.key, this.circuit.retryAt);
    return null;
  }

  /** Throws the {@link refusalNow} refusal, if any. */
  throwIfRefusing(now: number): void {
    const refusal = this.refusalNow(now);
    if (refusal !== null) throw refusal;
  }

  /** PlatformSuspendedError while suspended, else null; lifts a suspension whose time has come. */
  suspensionRefusal(now: number): Error | null {
    const suspension = this.suspension;
    if (suspension === null) return null;
    if (now < suspension.until) return new PlatformSuspendedError(this.key, suspension.until, suspension.reason);
    this.resume('expired', false);
    return null;
  }

  /** Throws PlatformSuspendedError while suspended; lifts a suspension whose time has come. */
  throwIfSuspended(now: number): void {
    const refusal = this.suspensionRefusal(now);
    if (refusal !== null) throw refusal;
  }

  // Suspension: refuses every call until `until`, announced to the listener (events, fleet).

  /** Suspends until `until`; false (nothing changes) when an equal or later suspension is on. */
  suspend(until: number, reason: string, fromFleet: boolean): boolean {
    const current = this.suspension;
    if (current !== null && until <= current.until) return false;
    const timer = current?.timer ?? new DeadlineTimer(() => this.expireSuspension(Date.now()));
    timer.keepAlive(false);
    timer.arm(until);
    this.incidents().suspension = { until, reason, timer };
    this.queue?.cancelAll(new PlatformSuspendedError(this.key, until, reason));
    this.listener.onSuspended(this, until, reason, fromFleet);
    return true;
  }

  /**
   * Lifts the suspension and the provider's pause (`manual`: resume() here or in the fleet),
   * or an expired suspension. Waiting callers are tried again at once.
   */
  resume(cause: 'manual' | 'expired', fromFleet: boolean): void {
    const incidents = this.incidentsOrNull;
    if (incidents !== null) {
      incidents.suspension?.timer.disarm();
      incidents.suspension = null;
      if (cause === 'manual') incidents.pausedUntil = 0;
    }
    this.listener.onResumed(this, cause, fromFleet);
    this.queue?.drain();
  }

  /** Lifts a suspension whose time has come (the timer, or a status report). */
  expireSuspension(now: number): void {
    const suspension = this.suspension;
    if (suspension !== null && now >= suspension.until) this.resume('expired', false);
  }

  /** Forgets timers and waiters (the scope is dropped): waiters reject with `error`. */
  dispose(error: unknown): void {
    this.queue?.cancelAll(error);
    this.suspension?.timer.disarm();
  }

  /** The circuit changed; an opened one refuses the callers waiting in line at once (README: "The circuit and its breaker"). */
  onCircuitChange(owner: unknown, from: CircuitStateName, to: CircuitStateName): void {
    if (to === 'open' && this.queue !== null && this.queue.size > 0) {
      this.queue.cancelWaiting(new CircuitOpenError(this.key, this.circuit!.retryAt));
    }
    this.listener.onCircuitChange(owner, from, to);
  }

  /** `service` or `service:platform`. Built when needed (errors, events, reports), not kept per scope. */
  get key(): string {
    return scopeKey(this.service, this.platform);
  }

  /** A failure that counts against the provider. */
  circuitFailure(now: number): void {
    this.ensureCircuit().failure(now);
  }

  /** The scope's meter, created now if need be. */
  ensureMeter(): ScopeMeter {
    return ((this.features ??= new ScopeFeatures()).meter ??= new ScopeMeter(this.config.budget));
  }

  /** Refuses a call whose cost alone exceeds a token cap: it could never be admitted (counted and announced like any refusal). */
  refuseCost(): RateLimitedError {
    const error = new RateLimitedError(this.key, Infinity, 'cost_exceeds_limit');
    this.listener.onRateLimited(this, error);
    return error;
  }

  /** The circuit, created now if need be (and linked to a store that shares circuits). */
  ensureCircuit(): Circuit {
    if (this.circuit !== null) return this.circuit;
    const circuit = new Circuit(this, this, this.config);
    this.circuit = circuit;
    this.limiter.linkCircuit?.(circuit);
    return circuit;
  }

  /** Admits without queueing when nobody is in line: 0 when admitted, else as {@link tryAdmit}. */
  admitNow(now: number, cost?: AdmissionCost): number | Promise<number> {
    if (this.queue !== null && this.queue.size > 0) return Infinity;
    return this.tryAdmit(now, cost);
  }

  /** The refusal of a caller that may not wait in line now, or null (see {@link AdmissionQueue.refusal}). */
  refusalToWait(now: number, signal: AbortSignal | undefined): Error | null {
    return (this.queue ??= new AdmissionQueue(this)).refusal(now, this.config.maxWaitMs, this.config.maxQueue, signal);
  }

  /** Waits in line for admission (FIFO), within `maxWaitMs` and `maxQueue`. */
  waitForAdmission(now: number, signal: AbortSignal | undefined, cost?: AdmissionCost): Promise<void> {
    this.queue ??= new AdmissionQueue(this);
    return this.queue.enqueue(now, this.config.maxWaitMs, this.config.maxQueue, signal, cost);
  }

  /** Sleeps a retry's backoff; ends early (rejecting) when the scope's waiters are cancelled. */
  sleepBeforeRetry(ms: number, signal: AbortSignal | undefined): Promise<void> {
    this.queue ??= new AdmissionQueue(this);
    return this.queue.hold(ms, signal, (reason) => new CallCancelledError(this.key, 'the caller aborted while waiting to retry', reason));
  }

  /** An admitted call settled: its concurrency slot goes to the next in line. */
  release(): void {
    this.active--;
    if (this.queue !== null && this.queue.size > 0) this.queue.drain();
  }

  /**
   * A successful attempt that started at `start` (compact time, see compactTime): counted, and
   * timed when the latency sample wants it. Returns the time it took (ms), or -1 when it was not timed.
   */
  succeeded(start: number): number {
    this.release();
    const latency = (this.latency ??= new LatencyHistogram());
    this.successes++;
    let tookMs = -1;
    if (latency.wantsSample()) latency.add((tookMs = compactTime(Date.now()) - start));
    this.circuit?.success();
    return tookMs;
  }

  reconfigure(config: ThrottleConfig, now: number): void {
    this.config = config;
    this.useContracts(config);
    // The circuit first: a store sharing circuits reads its reset period with the limits.
    if (this.circuit !== null) this.circuit.reconfigure(config);
    else if (countsEveryCall(config.breaker)) this.ensureCircuit();
    this.limiter.reconfigure(config, now);
    if (this.meter !== null || meters(config)) this.ensureMeter().setBudget(config.budget);
    this.queue?.drain();
  }

  /** Nothing here would behave differently in a fresh scope: safe to forget. */
  isIdle(now: number): boolean {
    return (
      this.active === 0 &&
      (this.queue === null || (this.queue.size === 0 && this.queue.holding === 0)) &&
      (this.suspension === null || this.suspension.until <= now) &&
      this.pausedUntil <= now &&
      (this.circuit === null || this.circuit.isIdle(now)) &&
      this.limiter.isIdle(now) &&
      // A budget in use must not be forgotten with the scope (its spend would start again from 0).
      (this.meter === null || this.meter.isIdle(now))
    );
  }

  // AdmissionGate: the queue's view of this scope.

  tryAdmit(now: number, cost?: AdmissionCost): number | Promise<number> {
    if (this.active >= this.config.maxConcurrent) return Infinity;
    if (this.pausedUntil > now) return this.pausedUntil - now;
    const wait = this.limiter.tryAcquire(now, cost);
    if (wait === 0) {
      this.active++;
      return 0;
    }
    if (typeof wait === 'number') return wait;
    // A shared store answers later; hold the concurrency slot until it does.
    this.active++;
    return wait.then(
      (ms) => {
        if (ms !== 0) this.active--;
        return ms;
      },
      (error: unknown) => {
        this.active--;
        throw error;
      },
    );
  }

  estimateWait(position: number, now: number): number {
    const pause = this.pausedUntil - now;
    const limits = this.limiter.estimateWait(position, now);
    return pause > limits ? pause : limits;
  }

  refuse(waitMs: number, reason: 'queue_full' | 'max_wait'): Error {
    const paused = reason === 'max_wait' && this.pausedUntil > Date.now();
    // The limiter's estimate cannot see the concurrency limit: with every slot busy it is 0,
    // which would tell the caller to come straight back. Hint the time a call takes instead.
    const error = new RateLimitedError(this.key, waitMs > 0 ? waitMs : this.slotWaitHint(), paused ? 'paused' : reason);
    // Observe mode decides a refusal it will not make: `letThrough` announces it (`wouldRefuse`).
    if (!decidingObserved) this.listener.onRateLimited(this, error);
    return error;
  }

  /** Observe mode: the refusal a caller that may not wait would get now (see {@link refusalToWait}), or null; not announced. */
  observedRefusal(now: number, signal: AbortSignal | undefined): Error | null {
    decidingObserved = true;
    try {
      return this.refusalToWait(now, signal);
    } finally {
      decidingObserved = false;
    }
  }

  /**
   * Observe mode: `error`, one of floodgate's refusals, is counted and announced instead of
   * thrown, and the caller runs at once. False (nothing counted) when `error` is no refusal.
   */
  letThrough(error: unknown): boolean {
    const reason = refusalReason(error);
    if (reason === null) return false;
    (this.incidents().wouldRefuse ??= new WouldRefuseCounts()).add(reason);
    this.listener.onWouldRefuse(this, reason);
    return true;
  }

  /** Contracts from `config`, keeping the windows when they are unchanged. */
  private useContracts(config: ThrottleConfig): void {
    const specs = config.contracts as Readonly<Record<string, Required<ContractSpec>>> | undefined;
    if (specs === this.contracts?.specs) return;
    if (specs === undefined) {
      if (this.features !== null) this.features.contracts = null;
      return;
    }
    (this.features ??= new ScopeFeatures()).contracts = new ContractBook(specs, (template, spec, figures) => this.listener.onBudgetBurn(this, template, spec, figures));
  }

  /** How long a concurrency slot likely stays busy: the mean call duration, or 1 s before any call finished. */
  private slotWaitHint(): number {
    const mean = this.latency === null ? 0 : this.latency.figures().meanMs;
    return mean >= 1 ? mean : 1_000;
  }

  aborted(reason: unknown): Error {
    return new CallCancelledError(this.key, 'the caller aborted while waiting for admission', reason);
  }

  unclaimed(): void {
    this.active--;
  }
}

/** True while {@link Scope.observedRefusal} decides (synchronously): its refusal is not announced as `rateLimited`. */
let decidingObserved = false;

export function scopeKey(service: string, platform: string | undefined): string {
  return platform === undefined ? service : `${service}:${platform}`;
}
