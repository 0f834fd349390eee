import type { BreakerOption } from '../breaker/breakers.js';
import type { BudgetOption } from '../spend/budget.js';
import type { ContractSpec } from '../governance/contracts.js';
import type { ScopeMode } from '../governance/observe.js';

/** The built-in kinds of outside API. Any other non-empty string is a custom service type. */
export enum ServiceType {
  LLM_API = 'llm_api',
  SOCIAL_MEDIA = 'social_media',
  EXCHANGE_API = 'exchange_api',
  WEB_SCRAPER = 'web_scraper',
  INTERNAL_API = 'internal_api',
}

/** A built-in {@link ServiceType} or the name of a custom service type. */
export type ServiceName = ServiceType | (string & {});

/**
 * The limits and policies of one scope. All durations are in milliseconds.
 * `Infinity` is accepted where a field says "or Infinity" and means "no limit".
 */
export interface ThrottleConfig {
  /** Token-bucket refill rate, in calls per second (> 0, or Infinity). */
  readonly requestsPerSecond: number;
  /** Token-bucket capacity: calls that may start back to back after a quiet spell (integer >= 1). */
  readonly burst: number;
  /**
   * Hard cap: no more than this many calls start in any rolling 60-second window (integer >= burst, or
   * Infinity). Lowering it below a burst not set in the same `configure()` call lowers that burst to fit.
   */
  readonly requestsPerMinute: number;
  /** Calls allowed in flight at once in the scope (integer >= 1, or Infinity). */
  readonly maxConcurrent: number;
  /** Consecutive counted failures that open the circuit (integer >= 1); the default breaker, a cockatiel `ConsecutiveBreaker`. */
  readonly circuitBreakerThreshold: number;
  /**
   * What opens the circuit instead of `circuitBreakerThreshold` consecutive failures: one of
   * cockatiel's breakers (`new SamplingBreaker({ threshold: 0.2, duration: 30_000, minimumRps: 5 })`:
   * a failure rate over a time window; `CountBreaker`: over the last N calls; `ConsecutiveBreaker`),
   * or its declarative form (`{ kind: 'sampling', threshold: 0.2, durationMs: 30_000, minimumRps: 5 }`).
   * The object is a template: each scope counts its own calls. Not read from the environment.
   * @default undefined: a ConsecutiveBreaker of `circuitBreakerThreshold`
   */
  readonly breaker?: BreakerOption | undefined;
  /** How long an open circuit refuses calls before it lets one probe through (> 0). */
  readonly circuitBreakerResetMs: number;
  /** Retries after the first attempt for errors classified retryable (integer >= 0). */
  readonly retryAttempts: number;
  /** First retry delay before jitter; doubles with each retry (>= 0). */
  readonly backoffBaseMs: number;
  /** Longest retry delay; a provider's Retry-After beyond it ends the retries (>= backoffBaseMs). */
  readonly backoffMaxMs: number;
  /**
   * Longest a single attempt may run, then CallTimeoutError (>= 0, or Infinity; 0 and Infinity
   * mean no timeout). Floodgate cannot stop the provider's work: a timed-out attempt may still
   * run there while its slot is freed and a retry starts. Set it only when the client you call
   * has no timeout of its own.
   * @default 0 in every preset
   */
  readonly timeoutMs: number;
  /** Longest a call waits for admission before it rejects with RateLimitedError (>= 0, or Infinity). */
  readonly maxWaitMs: number;
  /** Calls allowed to wait for admission; one more rejects at once (integer >= 0, or Infinity). */
  readonly maxQueue: number;
  /** How long a detected ban suspends the scope (> 0). */
  readonly banSuspensionMs: number;
  /**
   * The longest wait a provider may ask for (Retry-After, `x-ratelimit-reset`, ...): a longer one
   * is cut to this, both the scope's pause and the retry's delay (> 0, or Infinity to trust any
   * value). `resume()` lifts a pause early.
   * @default 15 min (LLM_API, custom types), 1 h (SOCIAL_MEDIA, WEB_SCRAPER), 5 min (EXCHANGE_API, INTERNAL_API): never above `banSuspensionMs` of the preset
   */
  readonly maxRetryAfterMs: number;
  /**
   * Hard cap on the sum of costs (tokens) of the calls started in any rolling 60-second window, held
   * together with the request limits (integer >= 1, or Infinity). A call's cost is its `cost` option,
   * else the manager's estimator; its real usage replaces the estimate afterwards.
   * @default Infinity
   */
  readonly tokensPerMinute?: number;
  /** As `tokensPerMinute`, for input tokens alone (providers that limit them apart; a plain-number cost counts as input). @default Infinity */
  readonly inputTokensPerMinute?: number;
  /** As `tokensPerMinute`, for output tokens alone. @default Infinity */
  readonly outputTokensPerMinute?: number;
  /**
   * A spending cap for each scope of this configuration: `{ usd, period: 'day' | 'month' | ms }`
   * (day and month in UTC). A call that would pass it is refused with BudgetExceededError before it
   * starts; see README "LLM spend". Not read from the environment.
   * @default null (no budget)
   */
  readonly budget?: BudgetOption | null;
  /**
   * `observe`: every decision is made and counted but no call is held or refused (a call that
   * would wait or be refused runs at once; the report's `wouldRefuse` counts it). See README "Observe mode".
   * @default 'enforce'
   */
  readonly mode?: ScopeMode | undefined;
  /**
   * Endpoint templates (`'GET /repos/{owner}/{repo}'`) with a latency limit and an error budget,
   * scored per scope over a rolling window (README "Contracts and error budgets"). Replaced whole
   * by each `configure()` that sets it; `{}` removes them.
   */
  readonly contracts?: Readonly<Record<string, ContractSpec>> | undefined;
}

export type ThrottleConfigKey = keyof ThrottleConfig;

/** The fields that hold a number (all but `breaker`, `mode`, `contracts`, `budget`): the ones the environment can set. */
export type NumericConfigKey = Exclude<ThrottleConfigKey, 'breaker' | 'mode' | 'contracts' | 'budget'>;
