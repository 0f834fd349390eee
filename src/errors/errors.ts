import { brandOf, FloodgateError } from './floodgate-error.js';

/** A call could not be admitted by the scope's limits in time (or the queue was full). */
export class RateLimitedError extends FloodgateError {
  static readonly code = 'EFLOODGATE_RATE_LIMITED';
  /** How long to wait before a new call in this scope is likely to be admitted. */
  readonly retryAfterMs: number;
  /** The scope key, `service` or `service:platform`. */
  readonly scope: string;
  /** Why: `queue_full`, `max_wait` (would wait longer than `maxWaitMs`), or `paused` by the provider. */
  readonly reason: 'queue_full' | 'max_wait' | 'paused';

  constructor(scope: string, retryAfterMs: number, reason: RateLimitedError['reason']) {
    const wait = Math.max(0, Math.ceil(retryAfterMs));
    super(RateLimitedError.code, `Rate limited in scope "${scope}" (${reason}); retry after ${wait} ms`);
    this.scope = scope;
    this.retryAfterMs = wait;
    this.reason = reason;
  }
}

/** The scope's circuit is open (or half-open with its probe in flight): the call was not made. */
export class CircuitOpenError extends FloodgateError {
  static readonly code = 'EFLOODGATE_CIRCUIT_OPEN';
  readonly scope: string;
  /** When the circuit lets a probe call through (epoch ms). */
  readonly retryAt: number;

  constructor(scope: string, retryAt: number, cause?: unknown) {
    super(CircuitOpenError.code, `Circuit open for scope "${scope}"; calls are refused until ${new Date(retryAt).toISOString()}`, { cause });
    this.scope = scope;
    this.retryAt = retryAt;
  }
}

/** The scope is suspended (a ban was detected, or `suspend()` was called): the call was not made. */
export class PlatformSuspendedError extends FloodgateError {
  static readonly code = 'EFLOODGATE_SUSPENDED';
  readonly scope: string;
  /** End of the suspension (epoch ms). */
  readonly suspendedUntil: number;
  readonly reason: string;

  constructor(scope: string, suspendedUntil: number, reason: string) {
    super(PlatformSuspendedError.code, `Scope "${scope}" is suspended until ${new Date(suspendedUntil).toISOString()}: ${reason}`);
    this.scope = scope;
    this.suspendedUntil = suspendedUntil;
    this.reason = reason;
  }
}

/** An attempt ran longer than the scope's `timeoutMs`. */
export class CallTimeoutError extends FloodgateError {
  static readonly code = 'EFLOODGATE_TIMEOUT';
  readonly scope: string;
  readonly timeoutMs: number;

  constructor(scope: string, timeoutMs: number) {
    super(CallTimeoutError.code, `Call in scope "${scope}" timed out after ${timeoutMs} ms`);
    this.scope = scope;
    this.timeoutMs = timeoutMs;
  }
}

/** A configuration value is invalid. The message names the field, the value and the rule. */
export class ConfigError extends FloodgateError {
  static readonly code = 'EFLOODGATE_CONFIG';
  /** The offending field (or environment variable). */
  readonly field: string;
  readonly value: unknown;
  readonly rule: string;

  constructor(field: string, value: unknown, rule: string) {
    super(ConfigError.code, `Invalid ${field}: ${formatValue(value)} (${rule})`);
    this.field = field;
    this.value = value;
    this.rule = rule;
  }
}

/** The manager was closed while the call waited, or the caller's AbortSignal fired. */
export class CallCancelledError extends FloodgateError {
  static readonly code = 'EFLOODGATE_CANCELLED';
  readonly scope: string;

  constructor(scope: string, why: string, cause?: unknown) {
    super(CallCancelledError.code, `Call in scope "${scope}" cancelled: ${why}`, { cause });
    this.scope = scope;
  }
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    // A cycle, a throwing toJSON/getter, a Proxy: say what it is without reading it.
    return typeof value === 'object' ? '[object]' : `[${typeof value}]`;
  }
}

const guard =
  <T>(code: string) =>
  (error: unknown): error is T =>
    brandOf(error) === code;

export const isRateLimitedError = guard<RateLimitedError>(RateLimitedError.code);
export const isCircuitOpenError = guard<CircuitOpenError>(CircuitOpenError.code);
export const isPlatformSuspendedError = guard<PlatformSuspendedError>(PlatformSuspendedError.code);
export const isCallTimeoutError = guard<CallTimeoutError>(CallTimeoutError.code);
export const isConfigError = guard<ConfigError>(ConfigError.code);
export const isCallCancelledError = guard<CallCancelledError>(CallCancelledError.code);
