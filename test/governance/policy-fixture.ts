/** A manager's policy set up the same way in the test process and in a child process. */
import { ErrorCategory, ErrorSeverity, SamplingBreaker, ServiceType, type ThrottleManager } from '../../src/index.js';

/**
 * Services, a platform, a breaker object, contracts, observe mode, prices and user patterns on both sides.
 * `reversed`: the same settings given in another key and call order.
 */
export function configurePolicy(manager: ThrottleManager, reversed = false): void {
  const steps = [
    () => manager.configure(ServiceType.LLM_API, reversed ? { burst: 5, requestsPerMinute: 60 } : { requestsPerMinute: 60, burst: 5 }),
    () => manager.configure('search', { breaker: new SamplingBreaker({ threshold: 0.2, duration: 30_000, minimumRps: 5 }), mode: 'observe' }),
    () =>
      manager.configure('github', {
        contracts: reversed
          ? { 'GET /repos/{owner}/{repo}': { windowMs: 60_000, errorBudget: 0.01, maxLatencyMs: 800 }, 'GET /user': { errorBudget: 0.05, windowMs: 60_000, maxLatencyMs: 300 } }
          : { 'GET /user': { maxLatencyMs: 300, errorBudget: 0.05, windowMs: 60_000 }, 'GET /repos/{owner}/{repo}': { maxLatencyMs: 800, errorBudget: 0.01, windowMs: 60_000 } },
      }),
    () => manager.configure(ServiceType.SOCIAL_MEDIA, { requestsPerMinute: 5 }, { platform: 'reddit' }),
  ];
  for (const step of reversed ? [...steps].reverse() : steps) step();
  manager.setPrices({ 'in-house-model': { inputPerMTok: 2, outputPerMTok: 4 } });
  manager.registerErrorPattern({ name: 'vendor-overload', category: ErrorCategory.SERVER, severity: ErrorSeverity.MEDIUM, retryable: true, messages: [/overloaded/i] });
  manager.registerErrorPattern({ name: 'vendor-quirk', category: ErrorCategory.CLIENT, severity: ErrorSeverity.LOW, retryable: false, statusCodes: [418] }, { position: 'after' });
}
