import pRetry from 'p-retry';
import type { ErrorClassification } from '../classify/types.js';
import { CallCancelledError, CallTimeoutError } from '../errors/errors.js';
import { retryDelay, sleep } from '../retry/backoff.js';
import type { Scope } from './scope.js';

/** What the call path needs from its manager. */
export interface CallHost {
  /** Throws PlatformSuspendedError or CircuitOpenError when the scope refuses calls now. */
  ensureOpen(scope: Scope, now: number): void;
  /** Classifies and records a failure once (however many layers see it) and returns the verdict. */
  recordFailure(scope: Scope, endpoint: string | undefined, error: unknown): ErrorClassification;
  onRetry(scope: Scope, endpoint: string | undefined, retry: number, delayMs: number, classification: ErrorClassification, error: unknown): void;
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
  scope.lastUsed = now;
  host.ensureOpen(scope, now);
  const admitted = scope.admitNow(now);
  if (admitted !== 0) await admitSlowly(scope, admitted, signal);

  const start = admitted === 0 ? now : Date.now();
  let value: unknown;
  try {
    value = await invoke(scope, fn, thisArg, args, signal);
  } catch (error) {
    scope.release();
    return retryAfterFailure(host, scope, endpoint, signal, fn, thisArg, args, error);
  }
  succeeded(scope, start);
  return value;
}

function succeeded(scope: Scope, start: number): void {
  scope.release();
  scope.successes++;
  scope.recordLatency(Date.now() - start);
  scope.circuit.success();
}

async function admitSlowly(scope: Scope, first: number | Promise<number>, signal: AbortSignal | undefined): Promise<void> {
  try {
    if (typeof first !== 'number' && (await first) === 0) return;
    await scope.waitForAdmission(Date.now(), signal);
  } catch (error) {
    // This call was the half-open probe (nobody else passes a half-open circuit): let another probe.
    scope.circuit.abandonProbe(Date.now());
    throw error;
  }
}

function invoke(scope: Scope, fn: Target, thisArg: unknown, args: ArrayLike<unknown> | undefined, signal: AbortSignal | undefined): unknown {
  const result = args === undefined ? fn(signal) : fn.apply(thisArg, args as unknown[]);
  const timeoutMs = scope.config.timeoutMs;
  return timeoutMs > 0 && timeoutMs !== Infinity ? withTimeout(result, timeoutMs, scope.key) : result;
}

function withTimeout(result: unknown, timeoutMs: number, scopeKey: string): unknown {
  if (!(result instanceof Promise)) return result;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new CallTimeoutError(scopeKey, timeoutMs)), timeoutMs);
    result.then(
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
): Promise<unknown> {
  const classification = host.recordFailure(scope, endpoint, error);
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
  scope.retries++;
  host.onRetry(scope, endpoint, retry, delayMs, classification, error);
  try {
    await sleep(delayMs, signal);
  } catch (reason) {
    throw new CallCancelledError(scope.key, 'the caller aborted while waiting to retry', reason);
  }
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
  let value: unknown;
  try {
    value = await invoke(scope, fn, thisArg, args, signal);
  } catch (error) {
    scope.release();
    throw new AttemptFailure(error, host.recordFailure(scope, endpoint, error));
  }
  succeeded(scope, start);
  return value;
}
