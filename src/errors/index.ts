export { FloodgateError, isFloodgateError } from './floodgate-error.js';
export {
  RateLimitedError,
  CircuitOpenError,
  PlatformSuspendedError,
  CallTimeoutError,
  CallCancelledError,
  ConfigError,
  DegradedError,
  isRateLimitedError,
  isCircuitOpenError,
  isPlatformSuspendedError,
  isCallTimeoutError,
  isCallCancelledError,
  isConfigError,
  isDegradedError,
  retryAfterOf,
} from './errors.js';
