/**
 * floodgate: one central traffic controller for every call a program makes to an
 * outside API.
 *
 * @packageDocumentation
 */
export { ServiceType, SERVICE_PRESETS, CUSTOM_SERVICE_PRESET } from './config/index.js';
export type { ServiceName, ThrottleConfig, ThrottleConfigKey } from './config/index.js';

export {
  ThrottleManager,
  throttleManager,
  type ThrottleManagerOptions,
  type ExecuteOptions,
  type ConfigureOptions,
  type ApplyPolicyOptions,
  type SuspendOptions,
  type ResumeOptions,
  type ErrorHandler,
} from './manager/throttle-manager.js';

export { getClassification } from './manager/recorded-failures.js';
export { throttled, type ThrottledOptions } from './decorators/throttled.js';
export { unifiedErrorHandling, type UnifiedErrorHandlingOptions } from './decorators/unified-error-handling.js';
export { getDecoratedMethods } from './decorators/metadata.js';
export type { AsyncMethodDecorator, DecoratedMethodInfo } from './decorators/method-decorator.js';
export type { DecoratorOptions } from './decorators/options.js';

export * from './errors/index.js';

export { ErrorCategory, ErrorSeverity, countsAgainstProvider } from './classify/types.js';
export type { ErrorPattern, ErrorClassification, MessageMatcher } from './classify/types.js';
export type { RegisterPatternOptions } from './classify/classifier.js';
export { DEFAULT_ERROR_PATTERNS, DEFAULT_CLASSIFICATION } from './classify/patterns.js';
export { redactText, redactUrl, redactHeaders, summarizeError, REDACTED } from './classify/redact.js';
export type { ErrorStatistics, ErrorStatisticsOptions, ErrorHistoryEntry } from './classify/history.js';

export type * from './events/events.js';
export type { StatusReport, ScopeStatus, ScopeState, ScopeCounters, WouldRefuseCounters } from './status/report.js';
export type { LoggingOptions, DecisionLogStatus } from './logging/decision-log.js';
export type { LatencyFigures } from './status/latency.js';
export type { CircuitStateName } from './breaker/circuit.js';
export type { BreakerOption, BreakerSpec, BreakerFigures } from './breaker/breakers.js';
// cockatiel's breakers, for `configure(service, { breaker })` without a direct dependency on cockatiel.
export { ConsecutiveBreaker, SamplingBreaker, CountBreaker } from 'cockatiel';

export { MemoryStore } from './stores/memory-store.js';
export type { ThrottleStore, ScopeLimiter, AdmissionCost, LimiterLimits, LimiterSnapshot, StoreHealth, SharedState, SharedStateListener, SharedSpend } from './stores/types.js';
// Fleet mode. RedisStore imports nothing from ioredis or node-redis (not even types): the user passes the client in.
export { RedisStore } from './stores/redis/store.js';
export type { RedisStoreOptions, RedisFallback } from './stores/redis/settings.js';
export type { RedisClient, IoredisClient, NodeRedisClient } from './stores/redis/client.js';

// Governance: the decision ledger and policy artifacts (README "Decision ledger", "Policy artifacts").
export * from './governance/index.js';

// Tokens and spend (README "Calls that cost more than one", "LLM spend", "Response cache").
export { defaultEstimator, usageOf, type Cost, type Usage, type CostEstimator } from './tokens/cost.js';
export type { CallContext } from './tokens/charge.js';
export { DEFAULT_PRICES, DEFAULT_PRICES_DATE, type ModelPrice, type PriceTable } from './spend/prices.js';
export type { BudgetOption } from './spend/budget.js';
export type { ScopeCosts, ModelSpend } from './spend/meter.js';
export type { CostSummary } from './spend/summary.js';
export type { CacheOptions } from './cache/response-cache.js';
// Outbound HTTP: a fetch through the manager, the providers' rate-limit headers, the anti-loop guard (README "Outbound HTTP").
export * from './outbound/index.js';
