import { ServiceType, type ThrottleConfig } from './types.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const preset = (config: ThrottleConfig): ThrottleConfig => Object.freeze(config);

/**
 * Default limits per built-in service type. LLM_API and SOCIAL_MEDIA keep the values
 * the in-house systems ran with; the others follow the exchange and internal-service
 * limits those systems documented. Frozen: copy and `configure()` to change.
 */
export const SERVICE_PRESETS: Readonly<Record<ServiceType, ThrottleConfig>> = Object.freeze({
  [ServiceType.LLM_API]: preset({
    requestsPerSecond: 0.5,
    burst: 3,
    requestsPerMinute: 20,
    maxConcurrent: 4,
    circuitBreakerThreshold: 3,
    circuitBreakerResetMs: MINUTE,
    retryAttempts: 2,
    backoffBaseMs: 1_000,
    backoffMaxMs: 120_000,
    timeoutMs: 0,
    maxWaitMs: 2 * MINUTE,
    maxQueue: 100,
    banSuspensionMs: 4 * HOUR,
    maxRetryAfterMs: 15 * MINUTE,
  }),
  [ServiceType.SOCIAL_MEDIA]: preset({
    requestsPerSecond: 0.2,
    burst: 1,
    requestsPerMinute: 10,
    maxConcurrent: 1,
    circuitBreakerThreshold: 2,
    circuitBreakerResetMs: 5 * MINUTE,
    retryAttempts: 1,
    backoffBaseMs: 5_000,
    backoffMaxMs: 900_000,
    timeoutMs: 0,
    maxWaitMs: 5 * MINUTE,
    maxQueue: 50,
    banSuspensionMs: 4 * HOUR,
    maxRetryAfterMs: HOUR,
  }),
  [ServiceType.EXCHANGE_API]: preset({
    requestsPerSecond: 1,
    burst: 4,
    requestsPerMinute: 60,
    maxConcurrent: 5,
    circuitBreakerThreshold: 5,
    circuitBreakerResetMs: 30_000,
    retryAttempts: 3,
    backoffBaseMs: 500,
    backoffMaxMs: 30_000,
    timeoutMs: 0,
    maxWaitMs: 30_000,
    maxQueue: 200,
    banSuspensionMs: 4 * HOUR,
    maxRetryAfterMs: 5 * MINUTE,
  }),
  [ServiceType.WEB_SCRAPER]: preset({
    requestsPerSecond: 1,
    burst: 2,
    requestsPerMinute: 30,
    maxConcurrent: 2,
    circuitBreakerThreshold: 5,
    circuitBreakerResetMs: 2 * MINUTE,
    retryAttempts: 2,
    backoffBaseMs: 2_000,
    backoffMaxMs: 300_000,
    timeoutMs: 0,
    maxWaitMs: 2 * MINUTE,
    maxQueue: 500,
    banSuspensionMs: 4 * HOUR,
    maxRetryAfterMs: HOUR,
  }),
  [ServiceType.INTERNAL_API]: preset({
    requestsPerSecond: 50,
    burst: 100,
    requestsPerMinute: 3_000,
    maxConcurrent: 50,
    circuitBreakerThreshold: 5,
    circuitBreakerResetMs: 30_000,
    retryAttempts: 3,
    backoffBaseMs: 100,
    backoffMaxMs: 10_000,
    timeoutMs: 0,
    maxWaitMs: 10_000,
    maxQueue: 1_000,
    banSuspensionMs: 4 * HOUR,
    maxRetryAfterMs: 5 * MINUTE,
  }),
});

/** The conservative preset an unconfigured custom service type starts from. */
export const CUSTOM_SERVICE_PRESET: ThrottleConfig = preset({
  requestsPerSecond: 1,
  burst: 1,
  requestsPerMinute: 30,
  maxConcurrent: 2,
  circuitBreakerThreshold: 3,
  circuitBreakerResetMs: MINUTE,
  retryAttempts: 2,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
  timeoutMs: 0,
  maxWaitMs: MINUTE,
  maxQueue: 100,
  banSuspensionMs: 4 * HOUR,
  maxRetryAfterMs: 15 * MINUTE,
});

export function presetFor(service: string): ThrottleConfig {
  return (SERVICE_PRESETS as Record<string, ThrottleConfig>)[service] ?? CUSTOM_SERVICE_PRESET;
}
