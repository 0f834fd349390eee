import pRetry from 'p-retry';
import { countsAgainstProvider, type ErrorClassification } from '../classify/types.js';
import { brandOf } from '../errors/floodgate-error.js';
import { BudgetExceededError, CallCancelledError, CircuitOpenError, DegradedError, PlatformSuspendedError, RateLimitedError } from '../errors/errors.js';
import { compactTime, unboxed } from '../limiter/compact-time.js';
import { retryDelay } from '../retry/backoff.js';
import { UNMETERED_CALL, type Charge } from '../tokens/charge.js';
import type { MeterOptions } from '../tokens/metering.js';
import type { AttemptTimeouts, DeadlineNode } from './attempt-timeouts.js';
import type { ObserverSlot } from './call-observer.js';
import type { Scope } from './scope.js';
import { retryForbidden } from './unretryable.js';

/** What the call path needs from its manager. */
export interface CallHost {
  /**
   * Classifies and counts a failure once (however many layers see it), feeds it to the
   * breaker, and returns the verdict. `sequence`: the {@link nextSequence} taken when the
   * failed attempt started.
   */
  handleFailure(scope: Scope, endpoint: string | undefined, error: unknown, sequence: number): ErrorClassification;
  /** The deadline list of attempts under this `timeoutMs` (one per distinct value, for the whole manager). */
  attemptTimeouts(timeoutMs: number): AttemptTimeouts;
  onRetry(scope: Scope, endpoint: string | undefined, retry: number, delayMs: number, classification: ErrorClassification, error: unknown): void;
  /** Metrics and decision logs: `current` is null unless something is attached (one null check per attempt). */
  readonly observers: ObserverSlot;
  /**
   * The metering of a call (README "Calls that cost more than one"): its cost checked against the
   * token caps and its spend reserved in the budget, or the refusal thrown (RateLimitedError
   * `cost_exceeds_limit`, BudgetExceededError).
   */
  chargeFor(scope: Scope, metering: MeterOptions | undefined, args: ArrayLike<unknown> | undefined, now: number): Charge;
}

let sequence = 0;

/**
 * A point in the order of events. Each layer that may record a failure (an attempt here,
 * `@unifiedErrorHandling` around or inside it) takes one when it starts, so that the
 * manager can tell a failure recorded during this attempt by another layer (count it
 * once) from the same error object thrown again by a later attempt (count it again).
 */
export function nextSequence(): number {
  return ++sequence;
}

/** A call's target: `args === undefined` means a programmatic `fn(signal)`, else a method applied to `thisArg`. */
type Target = (...args: unknown[]) => unknown;

/**
 * One call through a scope: suspension, circuit and admission, then the attempt; retries
 * (p-retry) only after a failure. An admitted call that succeeds costs one object, its
 * promise and two callbacks; under a `timeoutMs`, one more object and promise per attempt.
 */
export function runCall(
  host: CallHost,
  scope: Scope,
  endpoint: string | undefined,
  signal: AbortSignal | undefined,
  fn: Target,
  thisArg: unknown,
  args: ArrayLike<unknown> | undefined,
  metering?: MeterOptions,
): Promise<unknown> {
  scope.requests++;
  const now = Date.now();
  scope.lastUsed = compactTime(now);
  let refusal: unknown;
  let charge: Charge | null = null;
  try {
    // Refused before anything is allocated for the call, the refusal returned rather than
    // thrown: a refusal must stay cheap, and a throw costs as much as the rest of it.
    refusal = scope.refusalNow(now);
    if (refusal === null) {
      // One check when nothing meters the scope or the call.
      if (metering !== undefined || scope.meter !== null) charge = host.chargeFor(scope, metering, args, now);
      if (charge !== null && charge.reserving !== null) return reservedThenRun(host, scope, endpoint, signal, fn, thisArg, args, charge, charge.reserving);
      return new Call(host, scope, endpoint, signal, fn, thisArg, args, charge).admitThenRun(now);
    }
  } catch (error) {
    // Thrown before any attempt started: a metering refusal, a store's error, a throwing listener.
    charge?.end();
    refusal = error;
  }
  return refusedBeforeAdmission(host, scope, endpoint, signal, fn, thisArg, args, refusal, now);
}

/** A call refused before admission: run unmetered when observe mode lets the refusal through, else counted and rejected. */
function refusedBeforeAdmission(host: CallHost, scope: Scope, endpoint: string | undefined, signal: AbortSignal | undefined, fn: Target, thisArg: unknown, args: ArrayLike<unknown> | undefined, refusal: unknown, now: number): Promise<unknown> {
  if (scope.config.mode === 'observe' && scope.letThrough(refusal)) return new Call(host, scope, endpoint, signal, fn, thisArg, args, null).runLetThrough(now);
  return rejectCall(host, scope, refusal);
}

/** A call that ends before any attempt of it started: counted (see {@link countEnd}), and its promise rejected. */
function rejectCall(host: CallHost, scope: Scope, error: unknown): Promise<never> {
  countEnd(host, scope, error);
  return Promise.reject(error);
}

/** Fleet budgets (RedisStore): the call goes on once the store reserved its spend, or is refused as any refusal before admission. */
function reservedThenRun(host: CallHost, scope: Scope, endpoint: string | undefined, signal: AbortSignal | undefined, fn: Target, thisArg: unknown, args: ArrayLike<unknown> | undefined, charge: Charge, reserving: Promise<void>): Promise<unknown> {
  return reserving.then(
    () => new Call(host, scope, endpoint, signal, fn, thisArg, args, charge).admitThenRun(Date.now()),
    (error: unknown) => {
      charge.end();
      return refusedBeforeAdmission(host, scope, endpoint, signal, fn, thisArg, args, error, Date.now());
    },
  );
}

/**
 * Counts how a call that did not succeed ended, once per call (successes are counted by the
 * scope): with `successes`, these add up to `requests` once nothing waits or runs.
 */
function countEnd(host: CallHost, scope: Scope, error: unknown): void {
  host.observers.current?.callFailed(scope, error);
  const incidents = scope.incidents();
  switch (brandOf(error)) {
    case RateLimitedError.code:
      incidents.rateLimited++;
      break;
    case CircuitOpenError.code:
    case PlatformSuspendedError.code:
    case BudgetExceededError.code:
    case DegradedError.code:
      incidents.rejected++;
      break;
    case CallCancelledError.code:
      incidents.cancelled++;
      break;
    default:
      incidents.failed++;
  }
}

/** The executor of the promises a timed attempt settles itself: no closure per promise. */
let capturedResolve: (value: unknown) => void = noop;
let capturedReject: (error: unknown) => void = noop;
function capture(resolve: (value: unknown) => void, reject: (error: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}
function noop(): void {}

/**
 * p-retry's own defaults, stated rather than left out: p-retry copies its options and fills in
 * each missing one, and that growing copy costs about 7 µs per retried call on Node 20 (stated:
 * under 0.5 µs; see docs/benchmarks.md). None of them changes what p-retry does.
 */
const P_RETRY_DEFAULTS = Object.freeze({
  factor: 2,
  maxTimeout: Infinity,
  maxRetryTime: Infinity,
  randomize: false,
  onFailedAttempt: noop,
  shouldConsumeRetry: (): boolean => true,
});

/** An attempt under a `timeoutMs`: its node in the manager's deadline list, and the resolvers of its promise. */
class TimedAttempt implements DeadlineNode {
  deadline = 0;
  prev: DeadlineNode | null = null;
  next: DeadlineNode | null = null;
  linked = false;

  constructor(
    private readonly call: Call,
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: unknown) => void,
  ) {}

  get scope(): Scope {
    return this.call.scope;
  }

  abandon(error: unknown): void {
    this.call.settleTimed(this, error);
  }
}

class Call {
  /**
   * The current attempt: when it started (compact time, see compactTime), how long it waited for
   * admission (ms), and its place in the order of events (see nextSequence).
   */
  private start = 0;
  private waitMs = 0;
  private sequence = 0;
  /** Inside p-retry: a failed attempt rejects with AttemptFailure instead of starting the retries. */
  private retrying = false;
  /** The wait before the next retry, planned when its failure was judged. */
  private nextDelayMs = 0;
  /** The latest failed attempt inside p-retry, recognised by identity: a thrown value may be a hostile Proxy, never read. */
  private lastFailure: AttemptFailure | null = null;

  constructor(
    private readonly host: CallHost,
    readonly scope: Scope,
    private readonly endpoint: string | undefined,
    private readonly signal: AbortSignal | undefined,
    private readonly fn: Target,
    private readonly thisArg: unknown,
    private readonly args: ArrayLike<unknown> | undefined,
    /** The call's metering; null when nothing meters it. */
    private readonly charge: Charge | null,
  ) {}

  /**
   * Starts a retry: throws PlatformSuspendedError or CircuitOpenError when the scope refuses
   * calls now, else runs it once admitted (at once, or after waiting).
   */
  beginRetry(now: number): Promise<unknown> {
    try {
      this.scope.throwIfRefusing(now);
    } catch (error) {
      if (this.scope.config.mode === 'observe' && this.scope.letThrough(error)) return this.runLetThrough(now);
      throw error;
    }
    return this.admitThenRun(now);
  }

  /** Observe mode: a refusal was let through (counted by the scope); the attempt runs now, on no token, in a slot. */
  runLetThrough(now: number): Promise<unknown> {
    this.scope.active++;
    return this.attempt(now, now);
  }

  /** Observe mode: the limits did not admit the call now. Enforce mode's refusal, if it makes one, is counted; the call runs at once. */
  private runUnadmitted(now: number): Promise<unknown> {
    const refusal = this.scope.observedRefusal(now, this.signal);
    if (refusal !== null && !this.scope.letThrough(refusal)) throw refusal;
    return this.runLetThrough(now);
  }

  /** The attempt, at once when the scope admits it now, else after waiting for admission. */
  admitThenRun(now: number): Promise<unknown> {
    const scope = this.scope;
    const admitted = scope.admitNow(now, this.charge ?? undefined);
    if (admitted === 0) return this.attempt(now, now);
    if (typeof admitted === 'number' && scope.config.mode === 'observe') return this.runUnadmitted(now);
    // The probe of a half-open circuit may have to wait in line; it stays the probe.
    const probe = scope.circuit !== null && scope.circuit.stateName === 'half_open';
    if (typeof admitted === 'number') {
      // A caller refused at once (queue full, a wait beyond maxWaitMs) is told synchronously.
      const refusal = scope.refusalToWait(now, this.signal);
      if (refusal !== null) {
        if (probe) scope.circuit!.abandonProbe(now);
        // Rejected, not thrown (see runCall); inside p-retry the retry loop counts how the call ends.
        if (this.retrying) return Promise.reject(refusal);
        this.charge?.end();
        return rejectCall(this.host, scope, refusal);
      }
    }
    return this.admitThenAttempt(admitted, probe, now);
  }

  /**
   * Runs an admitted attempt. Its promise resolves with the value; a failure starts the
   * retries (first attempt) or rejects with AttemptFailure (inside p-retry).
   */
  private attempt(start: number, asked: number): Promise<unknown> {
    // Small integers, not epoch times (see compactTime).
    this.start = compactTime(start);
    this.waitMs = start === asked ? 0 : unboxed(start - asked);
    this.sequence = nextSequence();
    // A plain value, or a foreign thenable (whose then() may throw or call back twice), is
    // adopted first: the bookkeeping then always runs in a callback, where a throwing event
    // listener rejects the call instead of escaping from execute() or the method. Adopting a
    // hostile value (a revoked Proxy) throws: that is the attempt's failure, its slot released.
    let settles: Promise<unknown>;
    try {
      const result = this.args === undefined ? this.fn(this.signal, this.charge ?? UNMETERED_CALL) : this.fn.apply(this.thisArg, this.args as unknown[]);
      settles = result instanceof Promise ? result : Promise.resolve(result);
    } catch (error) {
      settles = Promise.reject(error);
    }
    const timeoutMs = this.scope.config.timeoutMs;
    if (timeoutMs === 0 || timeoutMs === Infinity) {
      return settles.then(
        (value) => this.succeeded(value),
        (error: unknown) => this.failed(error),
      );
    }
    // Under a deadline the promise must settle at the deadline too, so it is one of ours.
    const promise = new Promise(capture);
    const timed = new TimedAttempt(this, capturedResolve, capturedReject);
    const timeouts = this.host.attemptTimeouts(timeoutMs);
    timeouts.add(timed, start);
    settles.then(
      (value) => {
        if (!timed.linked) return; // abandoned already: a late answer changes nothing
        timeouts.remove(timed);
        try {
          timed.resolve(this.succeeded(value));
        } catch (error) {
          // A listener of the circuit's change threw: the caller still gets an answer.
          timed.reject(error);
        }
      },
      (error: unknown) => {
        if (!timed.linked) return;
        timeouts.remove(timed);
        timed.abandon(error);
      },
    );
    return promise;
  }

  /** A timed attempt's failure, or its end without an answer in time: as for any failure. */
  settleTimed(timed: TimedAttempt, error: unknown): void {
    try {
      timed.resolve(this.failed(error));
    } catch (failure) {
      timed.reject(failure);
    }
  }

  /**
   * Waits for admission (queue, store or provider pause) before the attempt, then checks the
   * scope again: a circuit that opened or a suspension that began meanwhile refuses it (the
   * queue refuses its waiters then, but a caller admitted in that same instant is only told here).
   * `probe`: this call is the half-open circuit's probe; if it never starts, another may probe.
   */
  private async admitThenAttempt(first: number | Promise<number>, probe: boolean, asked: number): Promise<unknown> {
    const scope = this.scope;
    try {
      const admittedByStore = typeof first !== 'number' && (await first) === 0;
      if (!admittedByStore) {
        if (scope.config.mode === 'observe') return this.runUnadmitted(Date.now());
        await scope.waitForAdmission(Date.now(), this.signal, this.charge ?? undefined);
      }
      const now = Date.now();
      try {
        if (probe && scope.circuit !== null && scope.circuit.stateName === 'half_open') scope.throwIfSuspended(now);
        else scope.throwIfRefusing(now);
      } catch (error) {
        scope.release();
        throw error;
      }
      return this.attempt(now, asked);
    } catch (error) {
      if (probe) scope.circuit?.abandonProbe(Date.now());
      // Inside p-retry the retry loop counts how the call ends.
      if (!this.retrying) this.end(error);
      throw error;
    }
  }

  private succeeded(value: unknown): unknown {
    const tookMs = this.scope.succeeded(this.start);
    if (this.scope.contracts !== null) this.scoreContract(false);
    const observers = this.host.observers;
    if (observers.current !== null) observers.succeeded(this.scope, this.endpoint, this.waitMs, tookMs);
    return this.charge === null ? value : this.charge.succeeded(value);
  }

  /** The call ended without success: counted once, and its metering settled. */
  private end(error: unknown): void {
    countEnd(this.host, this.scope, error);
    this.charge?.end();
  }

  private failed(error: unknown): unknown {
    this.scope.release();
    const observer = this.host.observers.current;
    if (observer !== null) observer.attemptEnded(this.scope, this.endpoint, this.waitMs, compactTime(Date.now()) - this.start, false);
    this.charge?.attemptFailed();
    const classification = this.host.handleFailure(this.scope, this.endpoint, error, this.sequence);
    if (this.scope.contracts !== null) this.scoreContract(countsAgainstProvider(classification));
    if (this.retrying) throw (this.lastFailure = new AttemptFailure(error, classification));
    return this.retryAfterFailure(error, classification);
  }

  /**
   * The retries, after the first attempt failed. p-retry runs the loop: it counts attempts and
   * retries left, stops on the caller's `signal`, and asks {@link planRetry} (its `shouldRetry`)
   * whether each failure is worth another attempt. Each attempt is admitted like any call.
   */
  private async retryAfterFailure(error: unknown, classification: ErrorClassification): Promise<unknown> {
    try {
      if (!this.planRetry(1, classification, error)) {
        this.end(error);
        throw error;
      }
    } catch (aborted) {
      if (aborted !== error) this.end(aborted);
      throw aborted;
    }
    this.retrying = true;
    try {
      return await pRetry(() => this.retryAttempt(), {
        ...P_RETRY_DEFAULTS,
        retries: this.scope.config.retryAttempts - 1,
        // p-retry's delay is fixed by its options for the whole loop and drawn inside it; floodgate's
        // depends on each failure (multiplier, Retry-After) and is announced before the wait: it is planned here.
        minTimeout: 0,
        signal: this.signal,
        shouldRetry: ({ error: failure, attemptNumber }) => {
          const last = this.lastFailure;
          return last !== null && failure === last && this.planRetry(attemptNumber + 1, last.classification, last.original);
        },
      });
    } catch (failure) {
      const final = this.finalError(failure);
      this.end(final);
      throw final;
    }
  }

  /** The attempt that just ended, for the scope's contracts. */
  private scoreContract(failed: boolean): void {
    const now = Date.now();
    this.scope.contracts!.record(this.endpoint, now, compactTime(now) - this.start, failed);
  }

  /** What the caller gets when the retries end with `failure`. */
  private finalError(failure: unknown): unknown {
    if (failure === this.lastFailure && this.lastFailure !== null) return this.lastFailure.original;
    // p-retry stopped on the caller's signal: the same error as an abort anywhere else.
    if (this.signal !== undefined && this.signal.aborted && failure === this.signal.reason) return this.aborted(failure);
    return failure;
  }

  /** One retry: its planned wait (through the scope), then admission and the attempt. */
  private retryAttempt(): Promise<unknown> {
    // A zero delay (backoffBaseMs: 0) must not become a 1 ms timer.
    return this.nextDelayMs > 0 ? this.sleepThenBegin(this.nextDelayMs) : this.beginRetry(Date.now());
  }

  private async sleepThenBegin(delayMs: number): Promise<unknown> {
    // Through the scope, not a bare timer: close(), reset() and a suspension end the wait too.
    await this.scope.sleepBeforeRetry(delayMs, this.signal);
    return this.beginRetry(Date.now());
  }

  private aborted(reason: unknown): CallCancelledError {
    return new CallCancelledError(this.scope.key, 'the caller aborted while retrying', reason);
  }

  /** Whether retry number `retry` happens; when it does, its delay is planned and announced (`retry` event). */
  private planRetry(retry: number, classification: ErrorClassification, error: unknown): boolean {
    const scope = this.scope;
    if (!classification.retryable || retry > scope.config.retryAttempts || retryForbidden(error)) return false;
    // A caller who aborted gets no further retry (nor a `retry` event for one that never happens).
    if (this.signal !== undefined && this.signal.aborted) throw this.aborted(this.signal.reason);
    const delayMs = retryDelay(retry, scope.config, classification.backoffMultiplier, classification.retryAfterMs);
    if (delayMs < 0) return false;
    this.nextDelayMs = delayMs;
    scope.incidents().retries++;
    this.host.onRetry(scope, this.endpoint, retry, delayMs, classification, error);
    return true;
  }
}

/** Carries an attempt's failure through p-retry, which would rewrap non-Errors and refuse to retry TypeErrors. */
class AttemptFailure extends Error {
  readonly original: unknown;
  readonly classification: ErrorClassification;

  constructor(original: unknown, classification: ErrorClassification) {
    // Never shown to anyone: no stack to capture.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super('attempt failed');
    Error.stackTraceLimit = limit;
    this.original = original;
    this.classification = classification;
  }
}
