import pRetry from 'p-retry';
import type { ErrorClassification } from '../classify/types.js';
import { compactTime } from '../limiter/compact-time.js';
import { retryDelay } from '../retry/backoff.js';
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
  /** Settles like `result`, or rejects with CallTimeoutError once `timeoutMs` has passed since `start`. */
  watchTimeout<T>(result: PromiseLike<T>, timeoutMs: number, start: number, scope: Scope): Promise<T>;
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
 * One call through a scope. The first attempt runs inline with no allocation beyond the
 * async frame; only after a failure does the retry machinery (p-retry) come in.
 */
export async function runCall(
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
  host.ensureOpen(scope, now);
  const admitted = scope.admitNow(now);
  if (admitted !== 0) await admitSlowly(scope, admitted, signal);

  const start = admitted === 0 ? now : Date.now();
  const since = nextSequence();
  let value: unknown;
  try {
    value = await invoke(host, scope, fn, thisArg, args, signal, start);
  } catch (error) {
    scope.release();
    return retryAfterFailure(host, scope, endpoint, signal, fn, thisArg, args, error, since);
  }
  succeeded(scope, start);
  return value;
}

function succeeded(scope: Scope, start: number): void {
  scope.release();
  scope.successes++;
  scope.recordLatency(Date.now() - start);
  scope.circuit?.success();
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

function invoke(host: CallHost, scope: Scope, fn: Target, thisArg: unknown, args: ArrayLike<unknown> | undefined, signal: AbortSignal | undefined, start: number): unknown {
  const result = args === undefined ? fn(signal) : fn.apply(thisArg, args as unknown[]);
  const timeoutMs = scope.config.timeoutMs;
  if (timeoutMs === 0 || timeoutMs === Infinity || !isThenable(result)) return result;
  return host.watchTimeout(result, timeoutMs, start, scope);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
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

async function retryAfterFailure(
  host: CallHost,
  scope: Scope,
  endpoint: string | undefined,
  signal: AbortSignal | undefined,
  fn: Target,
  thisArg: unknown,
  args: ArrayLike<unknown> | undefined,
  error: unknown,
  since: number,
): Promise<unknown> {
  const classification = host.recordFailure(scope, endpoint, error, since);
  if (!(await prepareRetry(host, scope, endpoint, signal, 1, classification, error))) throw error;
  try {
    return await pRetry(() => attempt(host, scope, endpoint, signal, fn, thisArg, args), {
      retries: scope.config.retryAttempts - 1,
      minTimeout: 0,
      factor: 1,
      shouldRetry: ({ error: failure, attemptNumber }) =>
        failure instanceof AttemptFailure &&
        prepareRetry(host, scope, endpoint, signal, attemptNumber + 1, failure.classification, failure.original),
    });
  } catch (failure) {
    throw failure instanceof AttemptFailure ? failure.original : failure;
  }
}

/** Decides whether retry number `retry` happens, and waits its delay when it does. */
async function prepareRetry(
  host: CallHost,
  scope: Scope,
  endpoint: string | undefined,
  signal: AbortSignal | undefined,
  retry: number,
  classification: ErrorClassification,
  error: unknown,
): Promise<boolean> {
  if (!classification.retryable || retry > scope.config.retryAttempts) return false;
  const delayMs = retryDelay(retry, scope.config, classification.backoffMultiplier, classification.retryAfterMs);
  if (delayMs < 0) return false;
  scope.record().retries++;
  host.onRetry(scope, endpoint, retry, delayMs, classification, error);
  // Through the scope, not a bare timer: close(), reset() and a suspension end the wait too.
  // A zero delay (backoffBaseMs: 0) must not become a 1 ms timer.
  if (delayMs > 0) await scope.sleepBeforeRetry(delayMs, signal);
  return true;
}

/** A retry attempt: the same checks and admission as the first. */
async function attempt(
  host: CallHost,
  scope: Scope,
  endpoint: string | undefined,
  signal: AbortSignal | undefined,
  fn: Target,
  thisArg: unknown,
  args: ArrayLike<unknown> | undefined,
): Promise<unknown> {
  const now = Date.now();
  host.ensureOpen(scope, now);
  const admitted = scope.admitNow(now);
  if (admitted !== 0) await admitSlowly(scope, admitted, signal);
  const start = Date.now();
  const since = nextSequence();
  let value: unknown;
  try {
    value = await invoke(host, scope, fn, thisArg, args, signal, start);
  } catch (error) {
    scope.release();
    throw new AttemptFailure(error, host.recordFailure(scope, endpoint, error, since));
  }
  succeeded(scope, start);
  return value;
}
