import { ConfigError } from '../errors/errors.js';

/** Which decisions of a kind are recorded: all, none, or a fraction (every 1/sample-th, exactly). */
export type Sampling = 'all' | 'none' | { readonly sample: number };

export interface LedgerOptions {
  /** The JSONL file. Its directory must exist; the lock is the directory `<path>.lock`. */
  readonly path: string;
  /**
   * The hash of the policy in force, put in every record (called once per record; keep it
   * cheap). A call that throws or returns anything but a string of at most 256 characters
   * gives `policyHash: null`. Without it, `attach(manager)` uses `manager.policyHash()` when the manager has one,
   * and records carry `policyHash: null` otherwise.
   */
  readonly policyHash?: () => string;
  /**
   * Which decisions `attach` records. State changes (suspension, resumption, circuit, ban,
   * pause, store health) are always recorded.
   * @default { refusals: 'all', retries: 'all' }
   */
  readonly record?: { readonly refusals?: Sampling; readonly retries?: Sampling };
  /** How long a record may wait for more to share its write. @default 100 */
  readonly flushIntervalMs?: number;
  /** Most records in one write (one lock, one append). A full batch is written at once. @default 1000 */
  readonly maxBatch?: number;
  /** Most records waiting to be written; past it new records are dropped and counted. @default 10000 */
  readonly maxQueue?: number;
  /**
   * How long a write waits for the lock before its batch is given up (counted). Longer than
   * `lockStaleMs` by default, so that a lock left by a killed process is broken, not waited out.
   * @default 15000
   */
  readonly lockWaitMs?: number;
  /**
   * A lock not refreshed for this long is taken to be left by a dead process and is broken
   * (proper-lockfile's `stale`; at least 2000, refreshed every half of it). @default 10000
   */
  readonly lockStaleMs?: number;
  /** `fdatasync` after every write, so that a record survives a power loss. @default false */
  readonly fsync?: boolean;
}

export interface ResolvedLedgerOptions {
  readonly path: string;
  readonly policyHash: (() => string) | undefined;
  readonly refusals: Sampling;
  readonly retries: Sampling;
  readonly flushIntervalMs: number;
  readonly maxBatch: number;
  readonly maxQueue: number;
  readonly lockWaitMs: number;
  readonly lockStaleMs: number;
  readonly fsync: boolean;
}

const count = (field: string, value: unknown, fallback: number, min: number, integer: boolean): number => {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new ConfigError(`createLedger: ${field}`, value, `must be a finite ${integer ? 'integer' : 'number'} >= ${min}`);
  }
  return value;
};

const sampling = (field: string, value: unknown): Sampling => {
  if (value === undefined || value === 'all') return 'all';
  if (value === 'none') return 'none';
  const sample = typeof value === 'object' && value !== null ? (value as { sample?: unknown }).sample : undefined;
  if (typeof sample === 'number' && sample >= 0 && sample <= 1) return { sample };
  throw new ConfigError(`createLedger: ${field}`, value, "must be 'all', 'none' or { sample: a number from 0 to 1 }");
};

export function resolveLedgerOptions(options: LedgerOptions): ResolvedLedgerOptions {
  if (typeof options !== 'object' || options === null) throw new ConfigError('createLedger: options', options, 'must be an object with a path');
  const { path, policyHash, record = {} } = options;
  if (typeof path !== 'string' || path === '') throw new ConfigError('createLedger: path', path, 'must be a non-empty string');
  if (policyHash !== undefined && typeof policyHash !== 'function') throw new ConfigError('createLedger: policyHash', policyHash, 'must be a function returning a string');
  if (options.fsync !== undefined && typeof options.fsync !== 'boolean') throw new ConfigError('createLedger: fsync', options.fsync, 'must be a boolean');
  return {
    path,
    policyHash,
    refusals: sampling('record.refusals', record.refusals),
    retries: sampling('record.retries', record.retries),
    flushIntervalMs: count('flushIntervalMs', options.flushIntervalMs, 100, 0, false),
    maxBatch: count('maxBatch', options.maxBatch, 1000, 1, true),
    maxQueue: count('maxQueue', options.maxQueue, 10_000, 1, true),
    lockWaitMs: count('lockWaitMs', options.lockWaitMs, 15_000, 0, false),
    lockStaleMs: count('lockStaleMs', options.lockStaleMs, 10_000, 2_000, false),
    fsync: options.fsync ?? false,
  };
}
