/**
 * Failures that must not be retried whatever their classification: the attempt cannot be
 * replayed (createFetch: a POST without an idempotency key, a body that was a stream). Held by
 * identity in a WeakSet: a hostile thrown value is never read, and nothing outlives the error.
 */
const unretryable = new WeakSet<object>();

/** Marks `error` (an object) so that the call path does not retry after it. */
export function forbidRetry(error: unknown): void {
  if (error !== null && (typeof error === 'object' || typeof error === 'function')) unretryable.add(error);
}

/** Whether {@link forbidRetry} marked `error`. */
export function retryForbidden(error: unknown): boolean {
  return error !== null && (typeof error === 'object' || typeof error === 'function') && unretryable.has(error);
}
