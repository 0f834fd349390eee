import { brandOf, FloodgateError } from './floodgate-error.js';

/** Refusals skip stack capture: see FloodgateError. */
const NO_STACK = Object.freeze({ captureStack: false });

/** A call could not be admitted by the scope's limits in time (or the queue was full). Carries no stack frames (see FloodgateError). */
export class RateLimitedError extends FloodgateError {
  static readonly code = 'EFLOODGATE_RATE_LIMITED';
  /** How long to wait before a new call in this scope is likely to be admitted. */
  readonly retryAfterMs: number;
  /** The scope key, `service` or `service:platform`. */
  readonly scope: string;
  /**
   * Why: `queue_full`, `max_wait` (would wait longer than `maxWaitMs`), `paused` by the provider, or
   * `cost_exceeds_limit` (the call's cost alone exceeds a token cap: it can never be admitted; `retryAfterMs` is Infinity).
   */
  readonly reason: 'queue_full' | 'max_wait' | 'paused' | 'cost_exceeds_limit';

  static {
    // Written when first read, as for the other refusals: a full queue refuses thousands of callers a second.
    lazyMessage(this, (e) => `Rate limited in scope "${e.scope}" (${e.reason}); retry after ${e.retryAfterMs} ms`);
  }

  constructor(scope: string, retryAfterMs: number, reason: RateLimitedError['reason']) {
    const wait = Math.max(0, Math.ceil(retryAfterMs));
    super(RateLimitedError.code, undefined, NO_STACK);
    this.scope = scope;
    this.retryAfterMs = wait;
    this.reason = reason;
  }
}

/** The scope's circuit is open (or half-open with its probe in flight): the call was not made. Carries no stack frames. */
export class CircuitOpenError extends FloodgateError {
  static readonly code = 'EFLOODGATE_CIRCUIT_OPEN';
  readonly scope: string;
  /** When the circuit lets a probe call through (epoch ms). */
  readonly retryAt: number;

  static {
    // Written when first read: formatting the date costs as much as the rest of a refusal.
    lazyMessage(this, (e) => `Circuit open for scope "${e.scope}"; calls are refused until ${isoTime(e.retryAt)}`);
  }

  constructor(scope: string, retryAt: number, cause?: unknown) {
    super(CircuitOpenError.code, undefined, cause === undefined ? NO_STACK : { cause, captureStack: false });
    this.scope = scope;
    this.retryAt = retryAt;
  }
}

/** The scope is suspended (a ban was detected, or `suspend()` was called): the call was not made. Carries no stack frames. */
export class PlatformSuspendedError extends FloodgateError {
  static readonly code = 'EFLOODGATE_SUSPENDED';
  readonly scope: string;
  /** End of the suspension (epoch ms). */
  readonly suspendedUntil: number;
  readonly reason: string;

  static {
    lazyMessage(this, (e) => `Scope "${e.scope}" is suspended until ${isoTime(e.suspendedUntil)}: ${e.reason}`);
  }

  constructor(scope: string, suspendedUntil: number, reason: string) {
    super(PlatformSuspendedError.code, undefined, NO_STACK);
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

/**
 * The manager's anti-loop guard tripped (too many outbound calls, or a storm of failures, within a
 * minute): every outbound call (createFetch) is refused until `until`. Carries no stack frames.
 */
export class DegradedError extends FloodgateError {
  static readonly code = 'EFLOODGATE_DEGRADED';
  /** The scope whose call was refused. */
  readonly scope: string;
  /** End of the degraded mode (epoch ms). */
  readonly until: number;
  /** What tripped the guard: `max_per_minute` (the cap on outbound calls) or `failure_storm`. */
  readonly reason: 'max_per_minute' | 'failure_storm';

  static {
    lazyMessage(this, (e) => `Outbound calls are refused until ${isoTime(e.until)} (degraded mode: ${e.reason}); refused call in scope "${e.scope}"`);
  }

  constructor(scope: string, until: number, reason: DegradedError['reason']) {
    super(DegradedError.code, undefined, NO_STACK);
    this.scope = scope;
    this.until = until;
    this.reason = reason;
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

/** A call would take a scope's spend past its budget: it was not made. Carries no stack frames. */
export class BudgetExceededError extends FloodgateError {
  static readonly code = 'EFLOODGATE_BUDGET_EXCEEDED';
  readonly scope: string;
  /** The budget in force: `usd` per `period` (`'day'`, `'month'` (UTC) or a number of ms). */
  readonly budget: { readonly usd: number; readonly period: 'day' | 'month' | number };
  /** Spent in the current period, calls in flight included (their reservations). */
  readonly spentUsd: number;
  /** When the period ends and the budget is available again (epoch ms). */
  readonly resetsAt: number;

  static {
    lazyMessage(this, (e) => `Budget of scope "${e.scope}" exceeded: $${e.spentUsd.toFixed(4)} of $${e.budget.usd} spent this period; resets at ${isoTime(e.resetsAt)}`);
  }

  constructor(scope: string, budget: BudgetExceededError['budget'], spentUsd: number, resetsAt: number) {
    super(BudgetExceededError.code, undefined, NO_STACK);
    this.scope = scope;
    this.budget = budget;
    this.spentUsd = spentUsd;
    this.resetsAt = resetsAt;
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

/**
 * Gives `Class` a `message` built by `build` when first read (then kept), which code may still
 * assign as usual. `stack`'s first line reads it too: V8 writes the stack when first read.
 */
function lazyMessage<T extends Error>(Class: abstract new (...args: never[]) => T, build: (error: T) => string): void {
  Object.defineProperty(Class.prototype, 'message', {
    configurable: true,
    get(this: T): string {
      const message = build(this);
      ownMessage(this, message);
      return message;
    },
    set(this: T, value: unknown) {
      ownMessage(this, value);
    },
  });
}

function ownMessage(error: Error, value: unknown): void {
  Object.defineProperty(error, 'message', { value, writable: true, configurable: true, enumerable: false });
}

function isoTime(epochMs: number): string {
  const date = new Date(epochMs);
  return Number.isNaN(date.getTime()) ? String(epochMs) : date.toISOString();
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
export const isBudgetExceededError = guard<BudgetExceededError>(BudgetExceededError.code);
export const isDegradedError = guard<DegradedError>(DegradedError.code);

/**
 * When a call floodgate refused may be tried again, in ms from `now` (0: now), for any of its
 * refusals: RateLimitedError (`retryAfterMs`), CircuitOpenError (`retryAt`: the probe's turn),
 * PlatformSuspendedError (`suspendedUntil`), DegradedError (`until`). undefined for any other error (a provider's own
 * error, a cancelled or timed-out call). Works across duplicate copies of the package; the HTTP
 * edges turn it into a `Retry-After` header.
 */
export function retryAfterOf(error: unknown, now: number = Date.now()): number | undefined {
  try {
    // A cost that can never fit has no time to wait for.
    if (isRateLimitedError(error)) return error.reason === 'cost_exceeds_limit' ? undefined : untilOrZero(error.retryAfterMs);
    if (isCircuitOpenError(error)) return untilOrZero(error.retryAt - now);
    if (isPlatformSuspendedError(error)) return untilOrZero(error.suspendedUntil - now);
    if (isBudgetExceededError(error)) return untilOrZero(error.resetsAt - now);
    if (isDegradedError(error)) return untilOrZero(error.until - now);
  } catch {
    // A look-alike whose reads throw is not a refusal anyone can wait for.
  }
  return undefined;
}

function untilOrZero(ms: unknown): number | undefined {
  if (typeof ms !== 'number' || Number.isNaN(ms)) return undefined;
  return ms > 0 ? Math.ceil(ms) : 0;
}
