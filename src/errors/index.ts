export { FloodgateError, isFloodgateError } from './floodgate-error.js';
export {
  RateLimitedError,
  CircuitOpenError,
  PlatformSuspendedError,
  CallTimeoutError,
  CallCancelledError,
  ConfigError,
  BudgetExceededError,
  isBudgetExceededError,
  isRateLimitedError,
  isCircuitOpenError,
  isPlatformSuspendedError,
  isCallTimeoutError,
  isCallCancelledError,
  isConfigError,
  retryAfterOf,
} from './errors.js';
