import { ConfigError } from '../errors/errors.js';
import { DEFAULT_CLASSIFICATION } from './patterns.js';
import { redactText, redactUrl, summarizeError } from './redact.js';
import type { ErrorCategory, ErrorClassification, ErrorSeverity } from './types.js';

/** One recorded failure. Frozen; its `error` is a redacted summary, never the error itself. */
export interface ErrorHistoryEntry {
  readonly time: number;
  readonly scope: string;
  readonly service: string;
  readonly endpoint?: string;
  readonly category: ErrorCategory;
  readonly severity: ErrorSeverity;
  readonly pattern: string;
  readonly statusCode?: number;
  readonly retryable: boolean;
  readonly isBan: boolean;
  readonly error: { readonly name: string; readonly message: string; readonly code?: string };
}

/** What the recorder passes in: the raw error is summarized (and redacted) here, not by the caller. */
export interface ErrorRecord {
  readonly scope: string;
  readonly service: string;
  readonly endpoint?: string;
  readonly classification: ErrorClassification;
  /** The thrown value, or an ErrorSummary: either way only a redacted summary is kept. */
  readonly error: unknown;
  /** Epoch ms; defaults to `Date.now()`. */
  readonly time?: number;
}

export interface ErrorHistoryOptions {
  /** How many entries the ring keeps (1 to 1,000,000). @default 1000 */
  readonly capacity?: number;
}

export interface ErrorStatistics {
  /** Failures recorded since creation or the last `clear()` (not limited to the ring). */
  readonly total: number;
  /** Of which signalled a ban. */
  readonly bans: number;
  readonly byCategory: Record<string, number>;
  readonly bySeverity: Record<string, number>;
  readonly byService: Record<string, number>;
  readonly byScope: Record<string, number>;
  readonly byPattern: Record<string, number>;
  /** How many entries the history keeps now (at most its capacity, `historySize`): what `recent` can page through. */
  readonly kept: number;
  /** Kept entries, newest first: by default the 100 newest; see {@link ErrorStatisticsOptions}. */
  readonly recent: readonly ErrorHistoryEntry[];
}

/** Which kept entries `getErrorStatistics()` returns in `recent` (newest first). */
export interface ErrorStatisticsOptions {
  /** At most this many entries (an integer >= 0, or Infinity for every kept entry). @default 100 */
  readonly limit?: number;
  /** Skip this many of the newest entries first (an integer >= 0), to read the history page by page. @default 0 */
  readonly offset?: number;
}

const DEFAULT_CAPACITY = 1_000;
const MAX_CAPACITY = 1_000_000;
const DEFAULT_RECENT = 100;
const MAX_LABEL = 200;
/** Scopes can number in the hundreds of thousands: per-key counters are capped to bound memory. */
const MAX_KEYS = 1_000;
export const OTHER_KEY = '(other)';

function count(field: 'limit' | 'offset', value: unknown): number {
  const ok = typeof value === 'number' && (Number.isInteger(value) || (field === 'limit' && value === Infinity)) && value >= 0;
  if (!ok) throw new ConfigError(`getErrorStatistics.${field}`, value, `must be an integer >= 0${field === 'limit' ? ', or Infinity' : ''}`);
  return value;
}

function label(value: unknown): string {
  const s = typeof value === 'string' ? value : String(value);
  return s.length > MAX_LABEL ? s.slice(0, MAX_LABEL) : s;
}

class Counter {
  private readonly counts = new Map<string, number>();

  add(key: string): void {
    const k = this.counts.has(key) || this.counts.size < MAX_KEYS ? key : OTHER_KEY;
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  }

  toJSON(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  clear(): void {
    this.counts.clear();
  }
}

/**
 * A bounded ring of recent failures plus running counts. Entries are summarized and redacted
 * on the way in, so nothing secret is ever held, and statistics are plain JSON.
 */
export class ErrorHistory {
  readonly capacity: number;
  private readonly ring: (ErrorHistoryEntry | undefined)[];
  private next = 0;
  private size = 0;
  private total = 0;
  private bans = 0;
  private readonly byCategory = new Counter();
  private readonly bySeverity = new Counter();
  private readonly byService = new Counter();
  private readonly byScope = new Counter();
  private readonly byPattern = new Counter();

  constructor(options: ErrorHistoryOptions = {}) {
    const capacity = options?.capacity ?? DEFAULT_CAPACITY;
    if (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
      throw new ConfigError('errorHistory.capacity', capacity, `must be an integer from 1 to ${MAX_CAPACITY}`);
    }
    this.capacity = capacity;
    // Grown on demand: a 1,000,000-slot history that sees three errors costs three slots.
    this.ring = [];
  }

  /** Records a failure and returns the stored (frozen, redacted) entry. */
  record(input: ErrorRecord): ErrorHistoryEntry {
    // A missing verdict must not lose the record (or throw inside the manager's failure path).
    const c: ErrorClassification = input.classification ?? DEFAULT_CLASSIFICATION;
    const summary = summarizeError(input.error);
    const entry: ErrorHistoryEntry = Object.freeze({
      time: typeof input.time === 'number' && Number.isFinite(input.time) ? input.time : Date.now(),
      scope: label(redactText(label(input.scope))),
      service: label(redactText(label(input.service))),
      ...(input.endpoint === undefined ? {} : { endpoint: label(redactUrl(label(input.endpoint))) }),
      category: c.category,
      severity: c.severity,
      pattern: label(c.pattern),
      ...(c.statusCode === undefined ? {} : { statusCode: c.statusCode }),
      retryable: c.retryable,
      isBan: c.isBan,
      error: Object.freeze({
        name: summary.name,
        message: summary.message,
        ...(summary.code === undefined ? {} : { code: summary.code }),
      }),
    });
    if (this.size < this.capacity) {
      this.ring.push(entry);
      this.size++;
    } else {
      this.ring[this.next] = entry;
    }
    this.next = (this.next + 1) % this.capacity;
    this.total++;
    if (entry.isBan) this.bans++;
    this.byCategory.add(entry.category);
    this.bySeverity.add(entry.severity);
    this.byService.add(entry.service);
    this.byScope.add(entry.scope);
    this.byPattern.add(entry.pattern);
    return entry;
  }

  /** The stored entries, newest first: `offset` skipped, then at most `limit` (default: all). */
  getRecent(limit: number = Infinity, offset = 0): ErrorHistoryEntry[] {
    const skip = Math.min(this.size, offset);
    const n = Math.min(this.size - skip, limit);
    const out: ErrorHistoryEntry[] = [];
    for (let i = skip + 1; i <= skip + n; i++) {
      const entry = this.ring[(this.next - i + this.capacity) % this.capacity];
      if (entry) out.push(entry);
    }
    return out;
  }

  /** Plain JSON: totals since creation/`clear()`, and the kept entries `options` select (default: the 100 newest). */
  getStatistics(options: ErrorStatisticsOptions = {}): ErrorStatistics {
    const limit = count('limit', options?.limit ?? DEFAULT_RECENT);
    const offset = count('offset', options?.offset ?? 0);
    return {
      total: this.total,
      bans: this.bans,
      byCategory: this.byCategory.toJSON(),
      bySeverity: this.bySeverity.toJSON(),
      byService: this.byService.toJSON(),
      byScope: this.byScope.toJSON(),
      byPattern: this.byPattern.toJSON(),
      kept: this.size,
      recent: this.getRecent(limit, offset),
    };
  }

  get length(): number {
    return this.size;
  }

  clear(): void {
    this.ring.length = 0;
    this.next = 0;
    this.size = 0;
    this.total = 0;
    this.bans = 0;
    for (const counter of [this.byCategory, this.bySeverity, this.byService, this.byScope, this.byPattern]) counter.clear();
  }
}
