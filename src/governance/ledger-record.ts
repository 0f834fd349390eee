import { canonicalHash } from './canonical.js';

/** A value a ledger record may carry besides its fixed fields: records are flat JSON objects. */
export type LedgerValue = string | number | boolean | null;

/** What a caller hands the ledger: the decision, where it was made and why, and flat extras. */
export interface DecisionEntry {
  /** The scope key the decision applies to (`service` or `service:platform`). */
  readonly scope: string;
  /** What was decided, e.g. `suspend`, `refuse`, `circuit`. */
  readonly decision: string;
  /** Why, e.g. `max_wait`, a ban pattern's name, the circuit's new state. */
  readonly reason: string;
  /** Extra fields; `undefined` ones are left out. */
  readonly [field: string]: LedgerValue | undefined;
}

/** One line of the ledger file: a flat JSON object. */
export interface LedgerRecord {
  /** 1 for the first record of a file, then +1 per record, without gaps. */
  readonly seq: number;
  /** When the decision was made (epoch ms). */
  readonly ts: number;
  /** The previous record's `hash`; {@link GENESIS_PREV} for seq 1. */
  readonly prev: string;
  /** SHA-256 (lowercase hex) of the RFC 8785 canonical form of this record without `hash`. */
  readonly hash: string;
  /** The policy in force when the decision was made, or null when the ledger was given none. */
  readonly policyHash: string | null;
  readonly scope: string;
  readonly decision: string;
  readonly reason: string;
  readonly [field: string]: LedgerValue;
}

/** The `prev` of a ledger's first record: 64 zeros. */
export const GENESIS_PREV = '0'.repeat(64);

/** A line longer than this is not a record (verification calls it malformed); it bounds memory. */
export const MAX_LINE_BYTES = 1024 * 1024;

/**
 * Most characters an entry's keys and strings may hold together: at worst 6 bytes each once
 * JSON-escaped (`\u0001`), so that every record's line stays under {@link MAX_LINE_BYTES}.
 */
export const MAX_ENTRY_CHARS = 128 * 1024;

/** Fields the ledger sets itself; an entry may not carry them. */
export const RESERVED_FIELDS: ReadonlySet<string> = new Set(['seq', 'ts', 'prev', 'hash', 'policyHash']);

const HEX64 = /^[0-9a-f]{64}$/;

/** The last record a new one chains onto. */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

export const GENESIS_HEAD: ChainHead = { seq: 0, hash: GENESIS_PREV };

/** The record that follows `head`, with its hash. `fields` holds scope, decision, reason and extras. */
export function sealRecord(head: ChainHead, ts: number, policyHash: string | null, fields: DecisionEntry): LedgerRecord {
  const seq = head.seq + 1;
  const prev = head.hash;
  const hash = canonicalHash({ seq, ts, prev, policyHash, ...fields });
  // Written with the fixed fields first, so that a line reads well; the hash ignores key order.
  return { seq, ts, prev, hash, policyHash, ...fields } as LedgerRecord;
}

/** The line's record when it has the shape of one (hash not checked), or null. */
export function parseRecord(line: string): LedgerRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const record = value as Record<string, unknown>;
  if (!Number.isSafeInteger(record.seq) || (record.seq as number) < 1) return null;
  if (typeof record.hash !== 'string' || !HEX64.test(record.hash)) return null;
  if (typeof record.prev !== 'string' || !HEX64.test(record.prev)) return null;
  return record as unknown as LedgerRecord;
}

/** True when the record's `hash` is the hash of the rest of it. */
export function hashMatches(record: LedgerRecord): boolean {
  const { hash, ...body } = record;
  try {
    return canonicalHash(body) === hash;
  } catch {
    // A parsed line can hold what JCS refuses (a lone surrogate from a \ud800 escape).
    return false;
  }
}
