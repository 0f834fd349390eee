/** What kind of failure an error is. */
export enum ErrorCategory {
  RATE_LIMIT = 'rate_limit',
  /** An exhausted quota or billing limit: waiting does not help. */
  QUOTA = 'quota',
  AUTHENTICATION = 'authentication',
  PERMISSION = 'permission',
  NETWORK = 'network',
  TIMEOUT = 'timeout',
  SERVER = 'server',
  /** The caller's own mistake (400, 404, 422, validation): never counts against the provider. */
  CLIENT = 'client',
  BAN = 'ban',
  UNKNOWN = 'unknown',
}

export enum ErrorSeverity {
  LOW = 'low',
  MEDIUM = 'medium',
  HIGH = 'high',
  CRITICAL = 'critical',
}

/** A message matcher: a case-insensitive substring, or a RegExp. */
export type MessageMatcher = string | RegExp;

/**
 * One row of the classification table. A pattern matches when every criterion it sets
 * matches (criteria left out are not checked); within a criterion, any listed value matches.
 */
export interface ErrorPattern {
  /** Shown in classifications, statistics and history. */
  readonly name: string;
  readonly category: ErrorCategory;
  readonly severity: ErrorSeverity;
  /** Whether a retry is recommended. */
  readonly retryable: boolean;
  /** Multiplies the backoff delay of a retry after this error. @default 1 */
  readonly backoffMultiplier?: number;
  /** This error means the account or client is banned: the scope is suspended. @default false */
  readonly isBan?: boolean;
  /** Case-insensitive substrings or RegExps tested against the error's message (and body text). */
  readonly messages?: readonly MessageMatcher[];
  /** HTTP status codes. */
  readonly statusCodes?: readonly number[];
  /** Constructor names (`TypeError`, `AbortError`) or error codes (`ECONNRESET`, `insufficient_quota`). */
  readonly types?: readonly string[];
  /** Only for these service types. */
  readonly services?: readonly string[];
}

/** The classifier's verdict on one error. A plain JSON value. */
export interface ErrorClassification {
  readonly category: ErrorCategory;
  readonly severity: ErrorSeverity;
  readonly retryable: boolean;
  readonly backoffMultiplier: number;
  readonly isBan: boolean;
  /** Name of the pattern that matched, or `default` when none did. */
  readonly pattern: string;
  readonly statusCode?: number;
  /** The provider's requested wait (Retry-After and similar headers), in ms. */
  readonly retryAfterMs?: number;
}

/** Whether a failure of this kind counts towards opening the circuit. */
export function countsAgainstProvider(classification: ErrorClassification): boolean {
  return classification.category !== ErrorCategory.CLIENT;
}
