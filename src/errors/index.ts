export { FloodgateError, isFloodgateError } from './floodgate-error.js';
export {
  RateLimitedError,
  CircuitOpenError,
  PlatformSuspendedError,
  CallTimeoutError,
  CallCancelledError,
  ConfigError,
  isRateLimitedError,
  isCircuitOpenError,
  isPlatformSuspendedError,
  isCallTimeoutError,
  isCallCancelledError,
  isConfigError,
  retryAfterOf,
} from './errors.js';
