import type { CircuitStateName } from '../breaker/circuit.js';
import type { ErrorSummary } from '../classify/redact.js';
import type { ErrorClassification } from '../classify/types.js';
import type { WouldRefuseReason } from '../governance/observe.js';

/** Where an event happened. `platform` and `endpoint` are present when the call named them. */
export interface ScopeRef {
  /** `service` or `service:platform`. */
  readonly scope: string;
  readonly service: string;
  readonly platform?: string;
}

/** A failed call's error, with secrets redacted (what `summarizeError` returns). */
export type { ErrorSummary };

export interface RetryEvent extends ScopeRef {
  readonly endpoint?: string;
  /** 1 for the first retry. */
  readonly retry: number;
  readonly delayMs: number;
  readonly classification: ErrorClassification;
  readonly error: ErrorSummary;
}

export interface RateLimitedEvent extends ScopeRef {
  readonly reason: 'queue_full' | 'max_wait' | 'paused' | 'cost_exceeds_limit';
  readonly retryAfterMs: number;
}

export interface CircuitStateChangeEvent extends ScopeRef {
  readonly from: CircuitStateName;
  readonly to: CircuitStateName;
}

export interface ErrorClassifiedEvent extends ScopeRef {
  readonly endpoint?: string;
  readonly classification: ErrorClassification;
  readonly error: ErrorSummary;
}

export interface BanDetectedEvent extends ErrorClassifiedEvent {
  readonly suspendedUntil: number;
}

export interface SuspendedEvent extends ScopeRef {
  readonly until: number;
  readonly reason: string;
}

export interface ResumedEvent extends ScopeRef {
  /** `manual`: resume() was called; `expired`: the suspension ran out. */
  readonly cause: 'manual' | 'expired';
}

export interface PausedEvent extends ScopeRef {
  /** Nothing is admitted in the scope before this time (epoch ms). */
  readonly until: number;
  readonly classification: ErrorClassification;
}

/**
 * A shared store (Redis) became unreachable, slow or failing (`status: 'degraded'`: admissions
 * use its fallback), or answers again (`status: 'ok'`: the shared state is used again).
 */
export interface StoreHealthEvent {
  /** The store's name, e.g. `redis`. */
  readonly store: string;
  readonly status: 'ok' | 'degraded';
  readonly mode: 'local' | 'shared' | 'fallback_local' | 'fallback_deny';
  readonly since: number | null;
  readonly lastError: string | null;
}

/** Observe mode: enforce mode would have refused this call; it runs instead. */
export interface WouldRefuseEvent extends ScopeRef {
  readonly reason: WouldRefuseReason;
}

/** A contract's burn rate reached its `burnAlert` (once per crossing: again only after it fell below). */
export interface BudgetBurnEvent extends ScopeRef {
  /** The contract's endpoint template. */
  readonly contract: string;
  readonly burnRate: number;
  readonly burnAlert: number;
  readonly errorBudget: number;
  readonly windowMs: number;
  /** Attempts and failures in the window. */
  readonly calls: number;
  readonly failures: number;
}

/** The anti-loop guard tripped: every outbound call (createFetch) is refused with DegradedError until `until`. */
export interface DegradedEvent {
  readonly until: number;
  /** `max_per_minute`: too many outbound attempts in a minute; `failure_storm`: too many failed ones. */
  readonly reason: 'max_per_minute' | 'failure_storm';
}

/** Degraded mode ended: outbound calls go through again, counted afresh. */
export interface RecoveredEvent {
  /** When it ended (epoch ms). */
  readonly at: number;
}

/** `configure()` changed a service's (or a platform's) configuration. */
export interface ConfiguredEvent {
  readonly service: string;
  readonly platform?: string;
  /** The fields given (their values are in `getConfig()`). */
  readonly fields: readonly string[];
}

/** The manager's events, for `manager.on(name, listener)`. */
export interface FloodgateEvents {
  retry: [RetryEvent];
  rateLimited: [RateLimitedEvent];
  circuitStateChange: [CircuitStateChangeEvent];
  errorClassified: [ErrorClassifiedEvent];
  banDetected: [BanDetectedEvent];
  suspended: [SuspendedEvent];
  resumed: [ResumedEvent];
  paused: [PausedEvent];
  /** Fleet mode: the shared store's health changed. */
  storeHealth: [StoreHealthEvent];
  wouldRefuse: [WouldRefuseEvent];
  budgetBurn: [BudgetBurnEvent];
  /** The anti-loop guard tripped (see `configureGuard`). */
  degraded: [DegradedEvent];
  recovered: [RecoveredEvent];
  configured: [ConfiguredEvent];
}
