import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import fsPromises from 'node:fs/promises';
import { join } from 'node:path';
import canonicalize from 'canonicalize';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLedger, GENESIS_PREV, isConfigError, verifyLedger, type Ledger, type LedgerFailure } from 'floodgate';
import { next, readLines, tempDir, writeLines } from './helpers.js';

const entry = (n: number) => ({ scope: 'llm_api', decision: 'refuse', reason: 'max_wait', n });

/** A ledger file of `count` records written by one ledger. */
async function ledgerOf(count: number): Promise<string> {
  const path = join(tempDir(), 'decisions.jsonl');
  const ledger = createLedger({ path, policyHash: () => 'a'.repeat(64) });
  for (let n = 1; n <= count; n++) ledger.record(entry(n));
  await ledger.close();
  return path;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('ledger records', () => {
  it('chain from the genesis prev (64 zeros), hash = SHA-256 of the RFC 8785 form without hash', async () => {
    const path = await ledgerOf(3);
    const records = readLines(path).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(GENESIS_PREV).toBe('0'.repeat(64));
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(records[0]!.prev).toBe(GENESIS_PREV);
    for (const [i, record] of records.entries()) {
      const { hash, ...body } = record;
      expect(hash).toBe(createHash('sha256').update(canonicalize(body)!).digest('hex'));
      if (i > 0) expect(record.prev).toBe(records[i - 1]!.hash);
      expect(record).toMatchObject({ policyHash: 'a'.repeat(64), scope: 'llm_api', decision: 'refuse', reason: 'max_wait', n: i + 1 });
      expect(typeof record.ts).toBe('number');
    }
    expect(await verifyLedger(path)).toEqual({ ok: true, records: 3, firstBadSeq: null, reason: null, lastHash: records[2]!.hash });
  });

  it('a new ledger object on an existing file continues its chain', async () => {
    const path = await ledgerOf(4);
    const again = createLedger({ path });
    again.record(entry(5));
    await again.close();
    const lines = readLines(path).map((line) => JSON.parse(line) as { seq: number; prev: string; hash: string; policyHash: unknown });
    expect(lines.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(lines[4]!.prev).toBe(lines[3]!.hash);
    expect(lines[4]!.policyHash).toBeNull();
    expect((await verifyLedger(path)).ok).toBe(true);
  });

  it('two ledger objects of one process on one file share the lock and the chain', async () => {
    const path = join(tempDir(), 'l.jsonl');
    const [a, b] = [createLedger({ path, maxBatch: 10 }), createLedger({ path, maxBatch: 10 })];
    for (let n = 1; n <= 100; n++) (n % 2 === 0 ? a : b).record(entry(n));
    await Promise.all([a.close(), b.close()]);
    expect(a.stats().appended + b.stats().appended).toBe(100);
    expect(await verifyLedger(path)).toMatchObject({ ok: true, records: 100 });
  });

  it('a policyHash function that throws or returns something odd gives policyHash null', async () => {
    const path = join(tempDir(), 'l.jsonl');
    const answers: (() => unknown)[] = [() => { throw new Error('no policy'); }, () => 42, () => 'x'.repeat(300), () => 'v2'];
    let call = 0;
    const ledger = createLedger({ path, policyHash: () => answers[call++]!() as string });
    for (let n = 1; n <= 4; n++) ledger.record(entry(n));
    await ledger.close();
    expect(readLines(path).map((line) => JSON.parse(line).policyHash)).toEqual([null, null, null, 'v2']);
  });

  it('refuses an entry that is not a flat record, naming the field', () => {
    const ledger = createLedger({ path: join(tempDir(), 'l.jsonl') });
    const bad = [
      [{ scope: 'a', decision: 'b' }, 'entry.reason'],
      [{ scope: 'a', decision: 'b', reason: 'c', seq: 9 }, 'entry.seq'],
      [{ scope: 'a', decision: 'b', reason: 'c', n: Number.NaN }, 'entry.n'],
      [{ scope: 'a', decision: 'b', reason: 'c', nested: { x: 1 } }, 'entry.nested'],
      [{ scope: 'a', decision: 'b', reason: 'c', detail: 'x'.repeat(200_000) }, 'entry.detail'],
      [Object.defineProperty({ scope: 'a', decision: 'b' }, 'reason', { enumerable: true, get: () => { throw new Error('hostile'); } }), 'entry.reason'],
    ] as const;
    for (const [value, field] of bad) {
      let caught: unknown;
      try {
        ledger.record(value as never);
      } catch (error) {
        caught = error;
      }
      expect(isConfigError(caught), field).toBe(true);
      expect((caught as Error).message).toContain(field);
    }
    expect(ledger.stats().queued).toBe(0);
  });

  it('keeps strings well formed (a lone surrogate cannot make a record unhashable)', async () => {
    const path = join(tempDir(), 'l.jsonl');
    const ledger = createLedger({ path });
    expect(ledger.record({ scope: 's', decision: 'd', reason: 'bad \ud800 text' })).toBe(true);
    await ledger.close();
    expect(JSON.parse(readLines(path)[0]!).reason).toBe('bad \ufffd text');
    expect((await verifyLedger(path)).ok).toBe(true);
  });

  it('rejects bad options with a ConfigError naming the field', () => {
    expect(() => createLedger({ path: '' })).toThrow(/path/);
    expect(() => createLedger({ path: 'x', maxQueue: 0 })).toThrow(/maxQueue/);
    expect(() => createLedger({ path: 'x', record: { refusals: { sample: 2 } } })).toThrow(/record\.refusals/);
    expect(() => createLedger({ path: 'x', lockStaleMs: 100 })).toThrow(/lockStaleMs.*>= 2000/);
  });
});

describe('verifyLedger finds each kind of damage at the right seq', () => {
  it('a flipped byte inside a value: hash_mismatch at that record', async () => {
    const path = await ledgerOf(10);
    const bytes = readFileSync(path);
    const line4 = bytes.indexOf('"seq":4,');
    const at = bytes.indexOf('max_wait', line4) + 7; // the final "t"
    bytes[at]! ^= 0x01;
    writeFileSync(path, bytes);
    expect(await verifyLedger(path)).toMatchObject({ ok: false, reason: 'hash_mismatch', firstBadSeq: 4, records: 3 });
  });

  it('a flipped byte in the JSON structure: malformed at that record', async () => {
    const path = await ledgerOf(10);
    const bytes = readFileSync(path);
    bytes[bytes.indexOf('{"seq":7,')]! ^= 0x01;
    writeFileSync(path, bytes);
    expect(await verifyLedger(path)).toMatchObject({ ok: false, reason: 'malformed', firstBadSeq: 7, records: 6 });
  });

  it('a deleted line: seq_gap at the missing seq', async () => {
    const path = await ledgerOf(10);
    const lines = readLines(path);
    lines.splice(3, 1);
    writeLines(path, lines);
    expect(await verifyLedger(path)).toMatchObject({ ok: false, reason: 'seq_gap', firstBadSeq: 4, records: 3 });
  });

  it('a reordered pair: seq_gap at the first of the two', async () => {
    const path = await ledgerOf(10);
    const lines = readLines(path);
    [lines[5], lines[6]] = [lines[6]!, lines[5]!];
    writeLines(path, lines);
    expect(await verifyLedger(path)).toMatchObject({ ok: false, reason: 'seq_gap', firstBadSeq: 6, records: 5 });
  });

  it('a record rewritten with a recomputed hash: broken_chain at the record after it', async () => {
    const path = await ledgerOf(10);
    const lines = readLines(path);
    const { hash: _old, ...body } = JSON.parse(lines[4]!) as Record<string, unknown>;
    const forged = { ...body, reason: 'forged' };
    lines[4] = JSON.stringify({ ...forged, hash: createHash('sha256').update(canonicalize(forged)!).digest('hex') });
    writeLines(path, lines);
    expect(await verifyLedger(path)).toMatchObject({ ok: false, reason: 'broken_chain', firstBadSeq: 6, records: 5 });
  });

  it('a torn last line: torn, firstBadSeq the seq it would have had', async () => {
    const path = await ledgerOf(10);
    const size = statSync(path).size;
    const lastLine = readLines(path)[9]!;
    truncateSync(path, size - Math.floor(lastLine.length / 2));
    expect(await verifyLedger(path)).toEqual({ ok: false, reason: 'torn', firstBadSeq: 10, records: 9, lastHash: JSON.parse(readLines(path)[8]!).hash });
  });

  it('a record split across the reader’s 256 KiB chunks is checked like any other', async () => {
    const path = await ledgerOf(4_000);
    expect(await verifyLedger(path)).toMatchObject({ ok: true, records: 4_000 });
    const bytes = readFileSync(path);
    // The first chunk boundary that falls inside a line, before its last digits (`"n":123}`).
    const split = [1, 2, 3, 4]
      .map((k) => k * 256 * 1024)
      .map((boundary) => ({ boundary, start: bytes.lastIndexOf('\n', boundary - 1) + 1, end: bytes.indexOf('\n', boundary) }))
      .find(({ boundary, start, end }) => start < boundary && end - 2 >= boundary)!;
    expect(split).toBeDefined();
    const seq = (JSON.parse(bytes.toString('utf8', split.start, split.end)) as { seq: number }).seq;
    bytes[split.end - 2]! ^= 0x01; // a digit of `n`, in the second chunk: still a digit
    writeFileSync(path, bytes);
    expect(await verifyLedger(path)).toMatchObject({ ok: false, reason: 'hash_mismatch', firstBadSeq: seq, records: seq - 1 });
  });

  it('an empty file is an intact empty ledger; a missing one rejects', async () => {
    const path = join(tempDir(), 'empty.jsonl');
    writeFileSync(path, '');
    expect(await verifyLedger(path)).toEqual({ ok: true, records: 0, firstBadSeq: null, reason: null, lastHash: null });
    await expect(verifyLedger(join(tempDir(), 'missing.jsonl'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('after a crash mid-write', () => {
  it('the next append cuts the torn line off (kept in <path>.torn) and chains onto the last good record', async () => {
    const path = await ledgerOf(5);
    const goodLines = readLines(path);
    appendFileSync(path, '{"seq":6,"ts":17');
    expect(await verifyLedger(path)).toMatchObject({ ok: false, reason: 'torn', firstBadSeq: 6 });

    const ledger = createLedger({ path });
    const repaired = next(ledger, 'repaired');
    ledger.record(entry(6));
    ledger.record(entry(7));
    await ledger.close();
    expect(await repaired).toEqual({ offset: Buffer.byteLength(goodLines.join('\n')) + 1, bytes: 16 });
    expect(ledger.stats()).toMatchObject({ appended: 2, tornRepaired: 1 });

    const lines = readLines(path);
    expect(lines.slice(0, 5)).toEqual(goodLines);
    expect(JSON.parse(lines[5]!)).toMatchObject({ seq: 6, prev: JSON.parse(goodLines[4]!).hash, n: 6 });
    expect(await verifyLedger(path)).toMatchObject({ ok: true, records: 7 });
    const kept = JSON.parse(readFileSync(`${path}.torn`, 'utf8')) as { base64: string; offset: number; length: number };
    expect(Buffer.from(kept.base64, 'base64').toString()).toBe('{"seq":6,"ts":17');
    expect(kept.length).toBe(16);
  });

  it('a file that is only a torn line starts again from the genesis record', async () => {
    const path = join(tempDir(), 'l.jsonl');
    writeFileSync(path, '{"seq":1,"ts"');
    expect(await verifyLedger(path)).toMatchObject({ ok: false, reason: 'torn', firstBadSeq: 1, records: 0 });
    const ledger = createLedger({ path });
    ledger.record(entry(1));
    await ledger.close();
    expect(JSON.parse(readLines(path)[0]!)).toMatchObject({ seq: 1, prev: GENESIS_PREV });
    expect(await verifyLedger(path)).toMatchObject({ ok: true, records: 1 });
  });
  it('a complete line that is not a record is left in place: appends chain onto the record before it', async () => {
    const path = await ledgerOf(3);
    appendFileSync(path, 'edited by hand\n');
    const ledger = createLedger({ path });
    ledger.record(entry(4));
    await ledger.close();
    const lines = readLines(path);
    expect(lines[3]).toBe('edited by hand');
    expect(JSON.parse(lines[4]!)).toMatchObject({ seq: 4, prev: JSON.parse(lines[2]!).hash });
    expect(await verifyLedger(path)).toMatchObject({ ok: false, reason: 'malformed', firstBadSeq: 4, records: 3 });
  });

  it('a file that is not a ledger is not appended to: the batch fails, counted', async () => {
    const path = join(tempDir(), 'notes.txt');
    const text = 'not a ledger line\n'.repeat(70_000); // > 1 MiB without a record
    writeFileSync(path, text);
    const ledger = createLedger({ path });
    const failure = next(ledger, 'failure');
    ledger.record(entry(1));
    await ledger.close();
    expect(await failure).toMatchObject({ kind: 'write', records: 1, code: 'ELEDGER_TAIL' });
    expect(readFileSync(path, 'utf8')).toBe(text);
  });
});

describe('batching and the queue', () => {
  it('waits flushIntervalMs to batch records, and writes a full batch at once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const path = join(tempDir(), 'l.jsonl');
    const ledger = createLedger({ path, flushIntervalMs: 100, maxBatch: 5 });
    for (let n = 1; n <= 3; n++) ledger.record(entry(n));
    vi.advanceTimersByTime(99);
    expect(ledger.stats()).toMatchObject({ queued: 3, batches: 0 });
    expect(existsSync(path)).toBe(false);
    const first = next(ledger, 'written');
    vi.advanceTimersByTime(1);
    expect(await first).toEqual({ records: 3, firstSeq: 1, lastSeq: 3 });

    // Five records make a full batch: written without waiting for the timer.
    const second = next(ledger, 'written');
    for (let n = 4; n <= 8; n++) ledger.record(entry(n));
    expect(await second).toMatchObject({ records: 5, firstSeq: 4, lastSeq: 8 });
    await ledger.flush();
    expect(ledger.stats()).toMatchObject({ appended: 8, batches: 2, queued: 0 });
    expect(vi.getTimerCount()).toBe(0); // no timer left once nothing waits (the lock's refresh timer included)
    await ledger.close();
  });

  it('drops and counts records past maxQueue, and after close', async () => {
    const path = join(tempDir(), 'l.jsonl');
    const ledger = createLedger({ path, maxQueue: 3, flushIntervalMs: 60_000 });
    const queued = [1, 2, 3, 4, 5].map((n) => ledger.record(entry(n)));
    expect(queued).toEqual([true, true, true, false, false]);
    expect(ledger.stats()).toMatchObject({ queued: 3, dropped: 2 });
    await ledger.close();
    expect(ledger.record(entry(6))).toBe(false);
    expect(ledger.stats()).toMatchObject({ appended: 3, dropped: 3, queued: 0 });
    expect(await verifyLedger(path)).toMatchObject({ ok: true, records: 3 });
  });

  it('samples refusals exactly: { sample: 0.25 } keeps every fourth; state changes are always kept', async () => {
    const path = join(tempDir(), 'l.jsonl');
    const ledger = createLedger({ path, record: { refusals: { sample: 0.25 }, retries: 'none' } });
    const kept = Array.from({ length: 8 }, (_, i) => ledger.record(entry(i + 1), 'refusal'));
    expect(kept).toEqual([false, false, false, true, false, false, false, true]);
    expect(ledger.record({ scope: 's', decision: 'retry', reason: 'network' }, 'retry')).toBe(false);
    expect(ledger.record({ scope: 's', decision: 'suspend', reason: 'manual' })).toBe(true);
    await ledger.close();
    expect(ledger.stats()).toMatchObject({ appended: 3, sampledOut: 7 });
    expect(readLines(path).map((l) => JSON.parse(l).n ?? JSON.parse(l).decision)).toEqual([4, 8, 'suspend']);
  });
});

describe('failures never reach the caller', () => {
  async function failingLedger(path: string): Promise<{ ledger: Ledger; failures: LedgerFailure[] }> {
    const ledger = createLedger({ path, lockWaitMs: 0 });
    const failures: LedgerFailure[] = [];
    ledger.on('failure', (f) => failures.push(f));
    expect(ledger.record(entry(1))).toBe(true);
    expect(ledger.record(entry(2))).toBe(true);
    await expect(ledger.flush()).resolves.toBeUndefined();
    return { ledger, failures };
  }

  it('a directory that does not exist: the batch is given up, counted and reported', async () => {
    const { ledger, failures } = await failingLedger(join(tempDir(), 'no-such-dir', 'l.jsonl'));
    expect(ledger.stats()).toMatchObject({ appended: 0, lockFailures: 1, failedRecords: 2, queued: 0 });
    expect(failures).toEqual([expect.objectContaining({ kind: 'lock', records: 2, code: 'ENOENT' })]);
    await ledger.close();
  });

  it('a path that cannot be opened as a file: a write failure, counted and reported', async () => {
    const dir = join(tempDir(), 'a-directory');
    mkdirSync(dir);
    const { ledger, failures } = await failingLedger(dir);
    expect(ledger.stats()).toMatchObject({ appended: 0, writeFailures: 1, failedRecords: 2 });
    expect(failures).toEqual([expect.objectContaining({ kind: 'write', records: 2, code: 'EISDIR' })]);
    expect(existsSync(`${dir}.lock`)).toBe(false); // the lock was released
    await ledger.close();
  });

  it('a held lock: the batch waits up to lockWaitMs, then is given up', async () => {
    const path = join(tempDir(), 'l.jsonl');
    mkdirSync(`${path}.lock`); // a live lock of another process (fresh mtime)
    const { ledger, failures } = await failingLedger(path);
    expect(failures).toEqual([expect.objectContaining({ kind: 'lock', code: 'ELOCKED' })]);
    rmSync(`${path}.lock`, { recursive: true });
    ledger.record(entry(3));
    await ledger.close();
    expect(ledger.stats()).toMatchObject({ appended: 1, lockFailures: 1 });
  });

  it('a lock left by a killed process (not refreshed for lockStaleMs) is broken, and the batch written', async () => {
    const path = join(tempDir(), 'l.jsonl');
    mkdirSync(`${path}.lock`);
    const longAgo = new Date(Date.now() - 60_000);
    utimesSync(`${path}.lock`, longAgo, longAgo);
    const ledger = createLedger({ path, lockStaleMs: 10_000, lockWaitMs: 0 });
    ledger.record(entry(1));
    await ledger.close();
    expect(ledger.stats()).toMatchObject({ appended: 1, lockFailures: 0 });
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('a listener that throws changes nothing: the batch counts as written, flush and close settle', async () => {
    const path = join(tempDir(), 'l.jsonl');
    const ledger = createLedger({ path });
    for (const event of ['written', 'failure', 'repaired'] as const) ledger.on(event, () => { throw new Error(`listener of ${event}`); });
    ledger.record(entry(1));
    await expect(ledger.flush()).resolves.toBeUndefined();
    expect(ledger.stats()).toMatchObject({ appended: 1, writeFailures: 0, failedRecords: 0 });
    await expect(ledger.close()).resolves.toBeUndefined();
  });

  it('a lock lost while held (its directory removed) is reported, the batch given up, the process alive', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const path = join(tempDir(), 'l.jsonl');
    const ledger = createLedger({ path, lockStaleMs: 2_000 }); // proper-lockfile refreshes the lock every 1 s
    const failures: LedgerFailure[] = [];
    ledger.on('failure', (f) => failures.push(f));
    // Hold the batch between taking the lock and opening the file.
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    let proceed!: () => void;
    const gate = new Promise<void>((resolve) => (proceed = resolve));
    const realOpen = fsPromises.open.bind(fsPromises);
    vi.spyOn(fsPromises, 'open').mockImplementationOnce(async (...args: Parameters<typeof fsPromises.open>) => {
      entered();
      await gate;
      return realOpen(...args);
    });
    ledger.record(entry(1));
    const flushed = ledger.flush();
    await inside;
    expect(existsSync(`${path}.lock`)).toBe(true);
    rmSync(`${path}.lock`, { recursive: true }); // another process broke it
    const lost = next(ledger, 'failure');
    vi.advanceTimersByTime(1_000); // proper-lockfile's refresh finds it gone: compromised
    expect(await lost).toMatchObject({ kind: 'lock_compromised', records: 1, code: 'ECOMPROMISED' });
    proceed();
    await flushed;
    expect(ledger.stats()).toMatchObject({ appended: 0, lockCompromised: 1, failedRecords: 1 });
    expect(existsSync(path) ? readFileSync(path, 'utf8') : '').toBe('');
    // The ledger goes on: the next batch takes a fresh lock.
    ledger.record(entry(2));
    await ledger.close();
    expect(ledger.stats().appended).toBe(1);
    expect(await verifyLedger(path)).toMatchObject({ ok: true, records: 1 });
    expect(failures).toHaveLength(1);
  });
});
