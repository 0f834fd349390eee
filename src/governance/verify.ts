import { createReadStream } from 'node:fs';
import { GENESIS_HEAD, hashMatches, MAX_LINE_BYTES, parseRecord, type ChainHead } from './ledger-record.js';

/** Why a ledger failed verification. */
export type LedgerFault =
  /** The last line has no newline: a write was cut short (a crash). */
  | 'torn'
  /** A line is not a JSON record with an integer `seq` and hex `prev`/`hash`. */
  | 'malformed'
  /** A record's `hash` is not the hash of its content: it was edited. */
  | 'hash_mismatch'
  /** A record's `seq` is not the previous one's + 1: a record was removed, moved or duplicated. */
  | 'seq_gap'
  /** A record's `prev` is not the previous record's `hash`: a record before it was replaced. */
  | 'broken_chain';

export interface LedgerVerification {
  readonly ok: boolean;
  /** Records read intact (all of them when `ok`; before the first bad one otherwise). */
  readonly records: number;
  /** The seq at which the chain breaks: the bad record's, or the one it should have had. */
  readonly firstBadSeq: number | null;
  readonly reason: LedgerFault | null;
  /** The hash of the last intact record (pin it elsewhere to detect a cut-off end), or null. */
  readonly lastHash: string | null;
}

const NEWLINE = 0x0a;

/**
 * Reads the ledger file as a stream, one line at a time, and checks every record's hash, seq
 * and link to the one before; stops at the first fault. Rejects only when the file cannot be read.
 */
export async function verifyLedger(path: string): Promise<LedgerVerification> {
  let head: ChainHead = GENESIS_HEAD;
  // Records are checked in order, so the first bad one is always the seq after the last good one.
  const fault = (reason: LedgerFault): LedgerVerification => ({ ok: false, records: head.seq, firstBadSeq: head.seq + 1, reason, lastHash: head.seq === 0 ? null : head.hash });
  let partial: Buffer[] = [];
  let partialBytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end >= 0; end = chunk.indexOf(NEWLINE, start)) {
      let line: string;
      if (partialBytes > 0) {
        partial.push(chunk.subarray(start, end));
        line = Buffer.concat(partial).toString('utf8');
        partial = [];
        partialBytes = 0;
      } else {
        line = chunk.toString('utf8', start, end);
      }
      start = end + 1;
      const record = parseRecord(line);
      if (!record) return fault('malformed');
      if (!hashMatches(record)) return fault('hash_mismatch');
      if (record.seq !== head.seq + 1) return fault('seq_gap');
      if (record.prev !== head.hash) return fault('broken_chain');
      head = record;
    }
    if (start < chunk.length) {
      partial.push(chunk.subarray(start));
      partialBytes += chunk.length - start;
      if (partialBytes > MAX_LINE_BYTES) return fault('malformed');
    }
  }
  if (partialBytes > 0) return fault('torn');
  return { ok: true, records: head.seq, firstBadSeq: null, reason: null, lastHash: head.seq === 0 ? null : head.hash };
}
