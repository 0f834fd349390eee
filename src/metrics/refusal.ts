import { BudgetExceededError, CircuitOpenError, DegradedError, PlatformSuspendedError, RateLimitedError } from '../errors/errors.js';
import { brandOf } from '../errors/floodgate-error.js';

/** Why floodgate refused a call, as a metric label and a log field. */
export type RefusalReason = 'queue_full' | 'max_wait' | 'paused' | 'cost_exceeds_limit' | 'circuit_open' | 'suspended' | 'budget_exceeded' | 'degraded';

/** The refusal `error` is, or null when it is something else (the provider's error, a cancellation). */
export function refusalOf(error: unknown): { readonly reason: RefusalReason; readonly retryAfterMs?: number } | null {
  switch (brandOf(error)) {
    case RateLimitedError.code: {
      // Ours (the brand says so): plain fields.
      const { reason, retryAfterMs } = error as RateLimitedError;
      return { reason, retryAfterMs };
    }
    case CircuitOpenError.code:
      return { reason: 'circuit_open' };
    case PlatformSuspendedError.code:
      return { reason: 'suspended' };
    case BudgetExceededError.code:
      return { reason: 'budget_exceeded' };
    case DegradedError.code:
      return { reason: 'degraded' };
    default:
      return null;
  }
}
