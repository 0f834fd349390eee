/**
 * Four real processes append to one ledger file at once (forked `node --import tsx` children).
 * They start together on a barrier: each says `ready` once its ledger exists, and none appends
 * before the test has heard all four. A second barrier halfway (every process has written its
 * first half) makes sure that each process also appends onto records the others wrote.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { verifyLedger, type LedgerStats } from 'floodgate';
import type { LedgerWorkerMessage, LedgerWorkerSpec } from './ledger-worker.js';
import { readLines, tempDir } from './helpers.js';

const WORKER = fileURLToPath(new URL('./ledger-worker.ts', import.meta.url));
const EXIT_FLUSHES = fileURLToPath(new URL('./exit-flushes.ts', import.meta.url));
const PROCESSES = 4;
const PER_PROCESS = 1_500; // even: two halves

interface Worker {
  readonly child: ChildProcess;
  /** Resolves with the worker's next message of this kind. */
  readonly next: (kind: 'ready' | 'flushed') => Promise<void>;
  readonly done: Promise<LedgerStats>;
}

function start(spec: LedgerWorkerSpec): Worker {
  const child = fork(WORKER, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, LEDGER_WORKER: JSON.stringify(spec) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map<string, () => void>();
  const heard = new Set<string>();
  let stats: LedgerStats | undefined;
  child.on('message', (message: LedgerWorkerMessage) => {
    if ('stats' in message) stats = message.stats;
    const kind = 'ready' in message ? 'ready' : 'flushed' in message ? 'flushed' : 'stats';
    heard.add(kind);
    waiting.get(kind)?.();
  });
  const done = new Promise<LedgerStats>((resolve, reject) => {
    child.on('exit', (code) => (code === 0 && stats ? resolve(stats) : reject(new Error(`worker ${spec.index} exited with ${code}`))));
  });
  // A worker that dies before saying `kind` fails the wait instead of hanging it.
  const next = (kind: 'ready' | 'flushed'): Promise<void> =>
    heard.has(kind) ? Promise.resolve() : Promise.race([new Promise<void>((resolve) => waiting.set(kind, resolve)), done.then(() => Promise.reject(new Error(`worker ${spec.index} ended before ${kind}`)))]);
  return { child, next, done };
}

describe('several processes appending to one ledger', () => {
  it(`${PROCESSES} processes × ${PER_PROCESS} records: one intact chain, gap-free seq, every record present`, async () => {
    const path = join(tempDir(), 'shared.jsonl');
    const workers = Array.from({ length: PROCESSES }, (_, index) => start({ path, index, count: PER_PROCESS, maxBatch: 25 }));
    try {
      await Promise.all(workers.map((w) => w.next('ready')));
      for (const w of workers) w.child.send({ half: 1 });
      await Promise.all(workers.map((w) => w.next('flushed')));
      for (const w of workers) w.child.send({ half: 2 });
      const stats = await Promise.all(workers.map((w) => w.done));
      for (const s of stats) expect(s).toMatchObject({ appended: PER_PROCESS, dropped: 0, failedRecords: 0, lockCompromised: 0 });

      expect(await verifyLedger(path)).toMatchObject({ ok: true, records: PROCESSES * PER_PROCESS, firstBadSeq: null });
      const records = readLines(path).map((line) => JSON.parse(line) as { seq: number; worker: number; n: number });
      expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i + 1));
      for (let index = 0; index < PROCESSES; index++) {
        // Each process's records are all there, in the order it recorded them.
        expect(records.filter((r) => r.worker === index).map((r) => r.n)).toEqual(Array.from({ length: PER_PROCESS }, (_, i) => i + 1));
      }
      // Every process wrote in both halves, after records of the others: at least two runs each.
      const runs = records.filter((r, i) => i === 0 || r.worker !== records[i - 1]!.worker).length;
      expect(runs).toBeGreaterThanOrEqual(2 * PROCESSES);
    } finally {
      for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    }
  }, 60_000);

  it('a process that ends by itself (no close) writes its queued records first', async () => {
    const path = join(tempDir(), 'exit.jsonl');
    const child = spawnSync(process.execPath, ['--import', 'tsx', EXIT_FLUSHES], { env: { ...process.env, LEDGER_PATH: path }, encoding: 'utf8', timeout: 30_000 });
    expect(child.status, child.stderr).toBe(0);
    expect(await verifyLedger(path)).toMatchObject({ ok: true, records: 3 });
  }, 60_000);

  it("importing floodgate installs no exit hooks; proper-lockfile's (signal-exit) come with the first batch", () => {
    const index = fileURLToPath(new URL('../../src/index.ts', import.meta.url));
    const script = `
      const emit = process.emit;
      const { createLedger } = await import(${JSON.stringify(index)});
      const untouched = process.emit === emit;
      const ledger = createLedger({ path: ${JSON.stringify(join(tempDir(), 'hooks.jsonl'))} });
      ledger.record({ scope: 's', decision: 'd', reason: 'r' });
      await ledger.close();
      console.log(JSON.stringify({ untouched, hookedAfterWrite: process.emit !== emit }));`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({ untouched: true, hookedAfterWrite: true });
  }, 60_000);
});
