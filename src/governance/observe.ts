/**
 * Observe mode (`configure(service, { mode: 'observe' })`): every decision is made as in enforce
 * mode, but a refusal is counted and announced instead of thrown, and the call runs at once.
 */
import { BudgetExceededError, CircuitOpenError, ConfigError, DegradedError, PlatformSuspendedError, RateLimitedError } from '../errors/errors.js';
import { brandOf } from '../errors/floodgate-error.js';

/** `enforce` (the default): limits hold and refuse calls. `observe`: they only count what they would do. */
export type ScopeMode = 'enforce' | 'observe';

/**
 * Why enforce mode would have refused a call: a RateLimitedError's `reason`, `circuit_open`,
 * `suspended`, `budget` (BudgetExceededError) or `degraded` (the outbound guard's DegradedError).
 */
export type WouldRefuseReason = RateLimitedError['reason'] | 'circuit_open' | 'suspended' | 'budget' | 'degraded';

/** The reason of one of floodgate's refusals, or null when `error` is none (a cancellation, a provider's error). */
export function refusalReason(error: unknown): WouldRefuseReason | null {
  switch (brandOf(error)) {
    case RateLimitedError.code:
      return (error as RateLimitedError).reason;
    case CircuitOpenError.code:
      return 'circuit_open';
    case PlatformSuspendedError.code:
      return 'suspended';
    case BudgetExceededError.code:
      return 'budget';
    case DegradedError.code:
      return 'degraded';
    default:
      return null;
  }
}

/** One scope's refusals that observe mode let through, by reason. Created at the first one. */
export class WouldRefuseCounts {
  total = 0;
  private readonly byReason: Record<string, number> = Object.create(null) as Record<string, number>;

  add(reason: WouldRefuseReason): void {
    this.total++;
    this.byReason[reason] = (this.byReason[reason] ?? 0) + 1;
  }

  /** A plain copy, for the report. */
  reasons(): Record<string, number> {
    return { ...this.byReason };
  }
}

export function checkMode(value: unknown): ScopeMode {
  if (value === 'enforce' || value === 'observe') return value;
  throw new ConfigError('mode', value, "must be 'enforce' or 'observe'");
}
