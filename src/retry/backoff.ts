import type { ThrottleConfig } from '../config/types.js';

/**
 * Delay before retry number `retry` (1 for the first): exponential from `backoffBaseMs`,
 * times the error's multiplier, with "equal jitter" (between half and all of it) so
 * that callers that failed together do not come back together; capped at `backoffMaxMs`.
 */
export function backoffDelay(
  retry: number,
  config: Pick<ThrottleConfig, 'backoffBaseMs' | 'backoffMaxMs'>,
  multiplier: number,
  random: () => number = Math.random,
): number {
  const exponential = config.backoffBaseMs * 2 ** (retry - 1) * multiplier;
  const jittered = exponential / 2 + (random() * exponential) / 2;
  return Math.min(config.backoffMaxMs, Math.round(jittered));
}

/**
 * The wait before the next retry, or -1 when retrying is pointless: a provider's
 * Retry-After (cut to `maxRetryAfterMs`) longer than the backoff wins, and one beyond
 * `backoffMaxMs` ends the retries.
 */
export function retryDelay(
  retry: number,
  config: Pick<ThrottleConfig, 'backoffBaseMs' | 'backoffMaxMs' | 'maxRetryAfterMs'>,
  multiplier: number,
  requestedMs: number | undefined,
): number {
  const retryAfterMs = requestedMs === undefined ? undefined : Math.min(requestedMs, config.maxRetryAfterMs);
  if (retryAfterMs !== undefined && retryAfterMs > config.backoffMaxMs) return -1;
  const backoff = backoffDelay(retry, config, multiplier);
  return retryAfterMs !== undefined && retryAfterMs > backoff ? retryAfterMs : backoff;
}
