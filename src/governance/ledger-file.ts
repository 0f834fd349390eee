/**
 * What the appender does to the file while it holds the lock: find the record to chain onto
 * by reading backwards from the end (never the whole file), and cut off a torn last line.
 */
import type { FileHandle } from 'node:fs/promises';
import { GENESIS_HEAD, parseRecord, type ChainHead } from './ledger-record.js';

const CHUNK = 16 * 1024;
/** How far back past the last complete line the appender looks for a line that is a record. */
const MAX_TAIL_SCAN = 1024 * 1024;
const NEWLINE = 0x0a;

/** The end of the file as the appender found it. */
export interface FileTail {
  /** The last complete line that is a record, or the genesis head for an empty file. */
  readonly head: ChainHead;
  /** Bytes after the last newline (a line torn by a crash mid-write): offset and content. */
  readonly torn: { readonly offset: number; readonly bytes: Buffer } | null;
}

/** Thrown when no record can be found near the end of a non-empty file (it is not a ledger). */
export class LedgerTailError extends Error {
  readonly code = 'ELEDGER_TAIL';
}

export async function readTail(file: FileHandle, size: number): Promise<FileTail> {
  const lastNewline = await findLastNewline(file, size);
  const goodEnd = lastNewline + 1;
  const torn = goodEnd < size ? { offset: goodEnd, bytes: await readRange(file, goodEnd, Math.min(size, goodEnd + MAX_TAIL_SCAN)) } : null;
  if (goodEnd === 0) return { head: GENESIS_HEAD, torn };
  for await (const line of linesBackward(file, goodEnd)) {
    // A complete line that is not a record (edited by hand) is skipped: the appender chains onto
    // the last one that is, and verification reports the bad line where it stands.
    const record = parseRecord(line.toString('utf8'));
    if (record) return { head: { seq: record.seq, hash: record.hash }, torn };
  }
  throw new LedgerTailError(`no ledger record in the last ${MAX_TAIL_SCAN} bytes before offset ${goodEnd}: not a ledger file`);
}

async function readRange(file: FileHandle, start: number, end: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(end - start);
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await file.read(buffer, filled, buffer.length - filled, start + filled);
    if (bytesRead === 0) return buffer.subarray(0, filled);
    filled += bytesRead;
  }
  return buffer;
}

async function findLastNewline(file: FileHandle, size: number): Promise<number> {
  for (let end = size; end > 0; ) {
    const start = Math.max(0, end - CHUNK);
    const index = (await readRange(file, start, end)).lastIndexOf(NEWLINE);
    if (index >= 0) return start + index;
    end = start;
  }
  return -1;
}

/** Complete lines (without their newline) ending at `end` (just past a newline), last first. */
async function* linesBackward(file: FileHandle, end: number): AsyncGenerator<Buffer> {
  let unread = end - 1;
  let tail = Buffer.alloc(0);
  while (true) {
    const index = tail.lastIndexOf(NEWLINE);
    if (index >= 0) {
      yield tail.subarray(index + 1);
      tail = tail.subarray(0, index);
      continue;
    }
    if (unread === 0) {
      yield tail;
      return;
    }
    if (end - unread > MAX_TAIL_SCAN) return;
    const start = Math.max(0, unread - CHUNK);
    tail = Buffer.concat([await readRange(file, start, unread), tail]);
    unread = start;
  }
}
