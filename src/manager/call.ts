import pRetry from 'p-retry';
import type { ErrorClassification } from '../classify/types.js';
import { compactTime } from '../limiter/compact-time.js';
import { retryDelay } from '../retry/backoff.js';
import type { AttemptTimeouts, DeadlineNode } from './attempt-timeouts.js';
import type { Scope } from './scope.js';

/** What the call path needs from its manager. */
export interface CallHost {
  /** Throws PlatformSuspendedError or CircuitOpenError when the scope refuses calls now. */
  ensureOpen(scope: Scope, now: number): void;
  /**
   * Classifies and records a failure once (however many layers see it) and returns the verdict.
   * `since`: the {@link nextSequence} taken when the failed attempt started.
   */
  recordFailure(scope: Scope, endpoint: string | undefined, error: unknown, since: number): ErrorClassification;
  /** The deadline list of attempts under this `timeoutMs` (one per distinct value, for the whole manager). */
  attemptTimeouts(timeoutMs: number): AttemptTimeouts;
  onRetry(scope: Scope, endpoint: string | undefined, retry: number, delayMs: number, classification: ErrorClassification, error: unknown): void;
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
): Promise<unknown> {
  scope.requests++;
  const now = Date.now();
  scope.lastUsed = compactTime(now);
  const call = new Call(host, scope, endpoint, signal, fn, thisArg, args);
  try {
    return call.begin(now);
  } catch (error) {
    return Promise.reject(error);
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
const always = (): boolean => true;

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
  /** When the current attempt started, and its place in the order of events (see nextSequence). */
  private start = 0;
  private since = 0;
  /** Inside p-retry: a failed attempt rejects with AttemptFailure instead of starting the retries. */
  private retrying = false;

  constructor(
    private readonly host: CallHost,
    readonly scope: Scope,
    private readonly endpoint: string | undefined,
    private readonly signal: AbortSignal | undefined,
    private readonly fn: Target,
    private readonly thisArg: unknown,
    private readonly args: ArrayLike<unknown> | undefined,
  ) {}

  /**
   * Starts an attempt, first or retry: throws PlatformSuspendedError or CircuitOpenError when
   * the scope refuses calls now, else runs it once admitted (at once, or after waiting).
   */
  begin(now: number): Promise<unknown> {
    this.host.ensureOpen(this.scope, now);
    const admitted = this.scope.admitNow(now);
    return admitted === 0 ? this.attempt(now) : this.admitThenAttempt(admitted);
  }

  /**
   * Runs an admitted attempt. Its promise resolves with the value; a failure starts the
   * retries (first attempt) or rejects with AttemptFailure (inside p-retry).
   */
  private attempt(start: number): Promise<unknown> {
    this.start = start;
    this.since = nextSequence();
    // A plain value, or a foreign thenable (whose then() may throw or call back twice), is
    // adopted first: the bookkeeping then always runs in a callback, where a throwing event
    // listener rejects the call instead of escaping from execute() or the method. Adopting a
    // hostile value (a revoked Proxy) throws: that is the attempt's failure, its slot released.
    let settles: Promise<unknown>;
    try {
      const result = this.args === undefined ? this.fn(this.signal) : this.fn.apply(this.thisArg, this.args as unknown[]);
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

  /** Waits for admission (queue, store or provider pause) before the attempt. */
  private async admitThenAttempt(first: number | Promise<number>): Promise<unknown> {
    await admitSlowly(this.scope, first, this.signal);
    return this.attempt(Date.now());
  }

  private succeeded(value: unknown): unknown {
    this.scope.succeeded(this.start);
    return value;
  }

  private failed(error: unknown): unknown {
    this.scope.release();
    const classification = this.host.recordFailure(this.scope, this.endpoint, error, this.since);
    if (this.retrying) throw new AttemptFailure(error, classification);
    return this.retryAfterFailure(error, classification);
  }

  private async retryAfterFailure(error: unknown, classification: ErrorClassification): Promise<unknown> {
    if (!(await this.prepareRetry(1, classification, error))) throw error;
    this.retrying = true;
    try {
      // Every option given: p-retry copies its options and fills in those missing on each call,
      // and a copy that grows field by field costs about 5 µs on Node 20 (this way, 0.2 µs).
      return await pRetry(() => this.begin(Date.now()), {
        retries: this.scope.config.retryAttempts - 1,
        factor: 1,
        minTimeout: 0,
        maxTimeout: Infinity,
        maxRetryTime: Infinity,
        randomize: false,
        onFailedAttempt: noop,
        shouldRetry: ({ error: failure, attemptNumber }) =>
          failure instanceof AttemptFailure && this.prepareRetry(attemptNumber + 1, failure.classification, failure.original),
        shouldConsumeRetry: always,
      });
    } catch (failure) {
      throw failure instanceof AttemptFailure ? failure.original : failure;
    }
  }

  /** Decides whether retry number `retry` happens, and waits its delay when it does. */
  private async prepareRetry(retry: number, classification: ErrorClassification, error: unknown): Promise<boolean> {
    const scope = this.scope;
    if (!classification.retryable || retry > scope.config.retryAttempts) return false;
    const delayMs = retryDelay(retry, scope.config, classification.backoffMultiplier, classification.retryAfterMs);
    if (delayMs < 0) return false;
    scope.record().retries++;
    this.host.onRetry(scope, this.endpoint, retry, delayMs, classification, error);
    // Through the scope, not a bare timer: close(), reset() and a suspension end the wait too.
    // A zero delay (backoffBaseMs: 0) must not become a 1 ms timer.
    if (delayMs > 0) await scope.sleepBeforeRetry(delayMs, this.signal);
    return true;
  }
}

async function admitSlowly(scope: Scope, first: number | Promise<number>, signal: AbortSignal | undefined): Promise<void> {
  try {
    if (typeof first !== 'number' && (await first) === 0) return;
    await scope.waitForAdmission(Date.now(), signal);
  } catch (error) {
    // This call was the half-open probe (nobody else passes a half-open circuit): let another probe.
    scope.circuit?.abandonProbe(Date.now());
    throw error;
  }
}

/** Carries an attempt's failure through p-retry, which would rewrap non-Errors and refuse to retry TypeErrors. */
class AttemptFailure extends Error {
  constructor(
    readonly original: unknown,
    readonly classification: ErrorClassification,
  ) {
    super('attempt failed');
  }
}
