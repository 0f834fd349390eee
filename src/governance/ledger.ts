import fs from 'node:fs/promises';
import { EventEmitter } from 'eventemitter3';
import pRetry from 'p-retry';
import { ConfigError } from '../errors/errors.js';
import { readTail } from './ledger-file.js';
import { resolveLedgerOptions, type LedgerOptions, type ResolvedLedgerOptions, type Sampling } from './ledger-options.js';
import { MAX_ENTRY_CHARS, RESERVED_FIELDS, sealRecord, type DecisionEntry, type LedgerValue } from './ledger-record.js';
import { attachDecisions, type DecisionSource } from './record-decisions.js';

/** Counters since the ledger was created. */
export interface LedgerStats {
  /** Records waiting to be written. */
  readonly queued: number;
  /** Records written to the file. */
  readonly appended: number;
  /** Records refused because the queue was full or the ledger closed. */
  readonly dropped: number;
  /** Refusals and retries left out by sampling (`record` option). */
  readonly sampledOut: number;
  /** Writes done (one lock, one append each). */
  readonly batches: number;
  /** Batches given up because the lock could not be taken within `lockWaitMs`. */
  readonly lockFailures: number;
  /** Batches that failed while being written (the file could not be opened, read or written). */
  readonly writeFailures: number;
  /** Records lost with a failed batch. */
  readonly failedRecords: number;
  /** Times the lock was found taken over while held (see the `failure` event). */
  readonly lockCompromised: number;
  /** Torn last lines cut off before an append (kept in `<path>.torn`). */
  readonly tornRepaired: number;
}

/**
 * Why a batch was not (cleanly) written. `lock`: the lock could not be taken in `lockWaitMs`;
 * `write`: the file could not be opened, read or written; `lock_compromised`: the lock was
 * broken by another process while held (proper-lockfile found it removed or re-stamped): a batch
 * not yet written is given up, one already written is in the file but may not chain cleanly.
 */
export interface LedgerFailure {
  readonly kind: 'lock' | 'write' | 'lock_compromised';
  /** Records in the batch concerned. */
  readonly records: number;
  readonly code: string | undefined;
  readonly message: string;
}

export interface LedgerEvents {
  /** A batch was appended: its size and seq range. */
  written: [{ readonly records: number; readonly firstSeq: number; readonly lastSeq: number }];
  failure: [LedgerFailure];
  /** A torn last line (a crash mid-write) was cut off before appending; its bytes went to `<path>.torn`. */
  repaired: [{ readonly offset: number; readonly bytes: number }];
}

/**
 * proper-lockfile is loaded with the first batch, not with floodgate: on load it installs
 * signal-exit's hooks (process.emit and signal listeners, to remove held locks at exit), which a
 * program that never writes a ledger should not get.
 */
let lockfileModule: Promise<typeof import('proper-lockfile')> | undefined;
const loadLockfile = () => (lockfileModule ??= import('proper-lockfile').then((module) => module.default));

/** What kind of decision an entry is: `state` changes are always recorded, the others sampled. */
export type DecisionKind = 'state' | 'refusal' | 'retry';

interface Pending {
  readonly ts: number;
  readonly policyHash: string | null;
  readonly fields: DecisionEntry;
}

type Counters = { -readonly [K in keyof LedgerStats]: LedgerStats[K] };

/**
 * An append-only, hash-chained decision ledger (JSONL). `record()` never blocks nor throws for
 * I/O: records are queued and written in batches, each under a file lock shared by every
 * process appending to the same file. See the README's "Decision ledger".
 */
export class Ledger extends EventEmitter<LedgerEvents> {
  readonly path: string;
  private readonly options: ResolvedLedgerOptions;
  private queue: Pending[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private active: Promise<void> | undefined;
  private closed = false;
  private readonly seen = { refusal: 0, retry: 0 };
  private readonly detachers = new Set<() => void>();
  private readonly counters: Counters = {
    queued: 0,
    appended: 0,
    dropped: 0,
    sampledOut: 0,
    batches: 0,
    lockFailures: 0,
    writeFailures: 0,
    failedRecords: 0,
    lockCompromised: 0,
    tornRepaired: 0,
  };

  constructor(options: LedgerOptions) {
    super();
    this.options = resolveLedgerOptions(options);
    this.path = this.options.path;
  }

  /**
   * Queues one decision. Returns true when queued, false when sampled out, dropped (queue full)
   * or the ledger is closed. Throws {@link ConfigError} only for an entry it would queue that is
   * not a flat object of JSON values with string `scope`, `decision` and `reason`.
   */
  record(entry: DecisionEntry, kind: DecisionKind = 'state'): boolean {
    return this.enqueue(entry, kind, this.options.policyHash);
  }

  private enqueue(entry: DecisionEntry, kind: DecisionKind, policyHash: (() => string) | undefined): boolean {
    // Cheap refusals first: in a storm of sampled-out refusals nothing is copied.
    if (kind !== 'state' && !this.sampled(kind)) {
      this.counters.sampledOut++;
      return false;
    }
    if (this.closed || this.queue.length >= this.options.maxQueue) {
      this.counters.dropped++;
      return false;
    }
    this.queue.push({ ts: Date.now(), policyHash: readPolicyHash(policyHash), fields: copyEntry(entry) });
    if (this.queue.length >= this.options.maxBatch) void this.startWriting();
    else this.armTimer();
    return true;
  }

  /**
   * Records a manager's decisions from its public events (see the README for the mapping) until
   * the returned function is called or the ledger closes. Records carry the ledger's
   * `policyHash` option, else `manager.policyHash()` when the manager has one.
   */
  attach(manager: DecisionSource): () => void {
    const policyHash = this.options.policyHash ?? (typeof manager.policyHash === 'function' ? () => manager.policyHash!() : undefined);
    const detach = attachDecisions(
      manager,
      (entry, kind) => this.enqueue(entry, kind, policyHash),
      () => this.counters.dropped++,
    );
    const detachOnce = (): void => {
      if (this.detachers.delete(detachOnce)) detach();
    };
    this.detachers.add(detachOnce);
    return detachOnce;
  }

  stats(): LedgerStats {
    return { ...this.counters, queued: this.queue.length };
  }

  /** Writes every queued record (resolves when written or given up; never rejects). */
  async flush(): Promise<void> {
    while (this.queue.length > 0 || this.active) await this.startWriting();
  }

  /** Detaches from every manager, writes what is queued, and refuses later records. */
  async close(): Promise<void> {
    this.closed = true;
    for (const detach of [...this.detachers]) detach();
    await this.flush();
  }

  private sampled(kind: 'refusal' | 'retry'): boolean {
    const rule: Sampling = kind === 'refusal' ? this.options.refusals : this.options.retries;
    if (rule === 'all') return true;
    if (rule === 'none') return false;
    // Systematic sampling: exactly floor(n × sample) of the first n are kept, spread evenly.
    const n = ++this.seen[kind];
    return Math.floor(n * rule.sample) > Math.floor((n - 1) * rule.sample);
  }

  private armTimer(): void {
    if (this.timer !== undefined || this.active !== undefined) return;
    // Ref'd on purpose: it exists only while records wait, and they are written before exit.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.startWriting();
    }, this.options.flushIntervalMs);
  }

  private startWriting(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.active ??= this.writeQueued().finally(() => {
      this.active = undefined;
      if (this.queue.length > 0) this.armTimer();
    });
    return this.active;
  }

  private async writeQueued(): Promise<void> {
    while (this.queue.length > 0) await this.writeBatch(this.queue.splice(0, this.options.maxBatch));
  }

  private async writeBatch(batch: readonly Pending[]): Promise<void> {
    const { path, lockWaitMs, lockStaleMs } = this.options;
    let held = true;
    let compromised: Error | undefined;
    let release: () => Promise<void>;
    // proper-lockfile's default handler throws from a timer, which would crash the process.
    const onCompromised = (error: Error): void => {
      if (!held) return;
      compromised = error;
      this.report('lock_compromised', batch.length, error);
    };
    try {
      const lockfile = await loadLockfile();
      // Only a held lock is waited for; any other error (no such directory, no permission)
      // gives the batch up at once.
      release = await pRetry(() => lockfile.lock(path, { realpath: false, stale: lockStaleMs, retries: 0, onCompromised }), {
        retries: Infinity,
        factor: 1.2,
        minTimeout: 1,
        maxTimeout: 25,
        randomize: true,
        maxRetryTime: lockWaitMs,
        shouldRetry: ({ error }) => (error as { code?: unknown }).code === 'ELOCKED',
      });
    } catch (error) {
      this.fail('lock', batch.length, error);
      return;
    }
    try {
      await this.appendLocked(batch, () => compromised);
    } catch (error) {
      if (compromised) this.counters.failedRecords += batch.length; // reported by onCompromised
      else this.fail('write', batch.length, error);
    } finally {
      held = false;
      await release().catch(() => undefined); // ERELEASED after a compromise: nothing to undo.
    }
  }

  private async appendLocked(batch: readonly Pending[], compromisedBy: () => Error | undefined): Promise<void> {
    const file = await fs.open(this.path, 'a+');
    try {
      const { size } = await file.stat();
      const { head, torn } = await readTail(file, size);
      if (torn) {
        // Kept aside before it is cut off: a torn line is never part of the chain, but it is evidence.
        const kept = { ts: Date.now(), offset: torn.offset, length: size - torn.offset, base64: torn.bytes.toString('base64') };
        await fs.appendFile(`${this.path}.torn`, `${JSON.stringify(kept)}\n`);
        await file.truncate(torn.offset);
      }
      let last = head;
      const lines: string[] = [];
      for (const pending of batch) {
        const record = sealRecord(last, pending.ts, pending.policyHash, pending.fields);
        lines.push(JSON.stringify(record));
        last = record;
      }
      // Another process may hold the lock now: writing would interleave with it.
      const lost = compromisedBy();
      if (lost) throw lost;
      await file.appendFile(`${lines.join('\n')}\n`);
      if (this.options.fsync) await file.datasync();
      if (torn) {
        this.counters.tornRepaired++;
        this.notify('repaired', { offset: torn.offset, bytes: size - torn.offset });
      }
      this.counters.appended += batch.length;
      this.counters.batches++;
      this.notify('written', { records: batch.length, firstSeq: head.seq + 1, lastSeq: last.seq });
    } finally {
      await file.close();
    }
  }

  private fail(kind: 'lock' | 'write', records: number, error: unknown): void {
    if (kind === 'lock') this.counters.lockFailures++;
    else this.counters.writeFailures++;
    this.counters.failedRecords += records;
    this.report(kind, records, error);
  }

  private report(kind: LedgerFailure['kind'], records: number, error: unknown): void {
    if (kind === 'lock_compromised') this.counters.lockCompromised++;
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    this.notify('failure', { kind, records, code: typeof code === 'string' ? code : undefined, message: typeof message === 'string' ? message : String(error) });
  }

  /**
   * Emits from a batch in the background (or proper-lockfile's timer): a listener that throws
   * there has no caller to reach and would crash the process, so its error is ignored.
   */
  private notify<E extends keyof LedgerEvents>(event: E, ...payload: LedgerEvents[E]): void {
    try {
      (this.emit as (event: E, ...args: LedgerEvents[E]) => boolean)(event, ...payload);
    } catch {
      // the listener's own failure; the ledger's state is already counted
    }
  }
}

/** A ledger appending to `options.path`. Nothing is opened until the first batch is written. */
export function createLedger(options: LedgerOptions): Ledger {
  return new Ledger(options);
}

/** The policy hash for a record: null when there is none, or it throws, or is not a short string. */
function readPolicyHash(policyHash: (() => string) | undefined): string | null {
  if (policyHash === undefined) return null;
  try {
    const hash = policyHash();
    return typeof hash === 'string' && hash.length <= 256 ? toWellFormed(hash) : null;
  } catch {
    return null;
  }
}

const toWellFormed = (text: string): string => (text as unknown as { toWellFormed(): string }).toWellFormed();

/** A snapshot of the entry as a flat record body, or a ConfigError naming the bad field. */
function copyEntry(entry: DecisionEntry): DecisionEntry {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ConfigError('ledger.record: entry', entry, 'must be an object with scope, decision and reason');
  const copy: Record<string, LedgerValue> = {};
  let keys: string[];
  try {
    keys = Object.keys(entry);
  } catch {
    throw new ConfigError('ledger.record: entry', '[unreadable]', 'must be a plain object');
  }
  let chars = 0;
  for (const key of keys) {
    let value: unknown;
    try {
      value = (entry as Record<string, unknown>)[key];
    } catch {
      throw new ConfigError(`ledger.record: entry.${key}`, '[unreadable]', 'must be a readable JSON value');
    }
    if (value === undefined) continue;
    if (RESERVED_FIELDS.has(key)) throw new ConfigError(`ledger.record: entry.${key}`, value, 'is set by the ledger');
    chars += key.length + (typeof value === 'string' ? value.length : 0);
    if (chars > MAX_ENTRY_CHARS) throw new ConfigError(`ledger.record: entry.${key}`, `${chars} characters so far`, `an entry's keys and strings must total at most ${MAX_ENTRY_CHARS} characters`);
    if (typeof value === 'string') copy[key] = toWellFormed(value);
    else if (value === null || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) copy[key] = value;
    else throw new ConfigError(`ledger.record: entry.${key}`, value, 'must be a string, a finite number, a boolean or null');
  }
  for (const key of ['scope', 'decision', 'reason'] as const) {
    if (typeof copy[key] !== 'string') throw new ConfigError(`ledger.record: entry.${key}`, copy[key], 'must be a string');
  }
  return copy as DecisionEntry;
}
