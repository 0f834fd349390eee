export { ErrorCategory, ErrorSeverity, countsAgainstProvider } from './types.js';
export type { ErrorClassification, ErrorPattern, MessageMatcher } from './types.js';
export { ErrorClassifier, type RegisterPatternOptions } from './classifier.js';
export { DEFAULT_ERROR_PATTERNS, DEFAULT_CLASSIFICATION } from './patterns.js';
export { redactText, redactUrl, redactHeaders, summarizeError, REDACTED, type ErrorSummary } from './redact.js';
export {
  ErrorHistory,
  type ErrorHistoryEntry,
  type ErrorHistoryOptions,
  type ErrorRecord,
  type ErrorStatistics,
} from './history.js';
