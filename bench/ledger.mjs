// `npm run bench:ledger` (after `npm run build`): the decision ledger's appends per second under
// the file lock (one process, four processes at once, one lock per record, with fsync), what
// record() costs its caller, and verifyLedger's time per 100,000 records. Prints markdown.
// See docs/benchmarks.md, "Decision ledger".
import { fork } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLedger, verifyLedger } from '../dist/index.js';
// Internal, for the breakdown row only: what hashing and serialising a record costs alone.
import { GENESIS_HEAD, sealRecord } from '../dist/governance/ledger-record.js';

const SELF = fileURLToPath(import.meta.url);
const entry = (n, worker = 0) => ({ scope: 'llm_api:openai', service: 'llm_api', platform: 'openai', decision: 'refuse', reason: 'max_wait', retryAfterMs: 1200, worker, n });
const policyHash = () => 'ab'.repeat(32);
const ms = (start) => Number(process.hrtime.bigint() - start) / 1e6;
const rate = (count, millis) => `${Math.round((count / millis) * 1000).toLocaleString('en-US')}/s`;

/** Records `count` entries into a fresh ledger and closes it; returns the wall time and stats. */
async function appendRun(path, count, options = {}, worker = 0) {
  const ledger = createLedger({ path, policyHash, maxQueue: count, ...options });
  const start = process.hrtime.bigint();
  for (let n = 1; n <= count; n++) ledger.record(entry(n, worker));
  const enqueueMs = ms(start);
  await ledger.close();
  return { totalMs: ms(start), enqueueMs, stats: ledger.stats() };
}

if (process.argv[2] === '--worker') {
  const [path, count] = [process.argv[3], Number(process.argv[4])];
  process.once('message', async () => {
    const result = await appendRun(path, count, {}, process.pid);
    process.send(result, () => process.disconnect());
  });
  process.send('ready');
} else {
  await main();
}

async function main() {
  const dir = mkdtempSync(join(os.tmpdir(), 'floodgate-ledger-bench-'));
  const N = 100_000;
  const rows = [];
  const print = (text = '') => process.stdout.write(`${text}\n`);
  try {
    print(`Node ${process.version}, ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    print();

    // Where the time goes: sealing (canonical form + SHA-256) and JSON.stringify alone, no lock, no I/O.
    let start = process.hrtime.bigint();
    let head = GENESIS_HEAD;
    for (let n = 1; n <= N; n++) {
      const record = sealRecord(head, 1_700_000_000_000, policyHash(), entry(n));
      JSON.stringify(record);
      head = record;
    }
    rows.push(['breakdown: sealing alone (RFC 8785 form + SHA-256 + JSON.stringify), no lock, no I/O', N, ms(start), null]);

    // The same lines appended 1,000 per write, without lock or hashing: the I/O floor.
    const floorPath = join(dir, 'floor.jsonl');
    const line = `${JSON.stringify({ seq: 1, ts: Date.now(), prev: '0'.repeat(64), hash: 'f'.repeat(64), policyHash: policyHash(), ...entry(1) })}\n`;
    start = process.hrtime.bigint();
    const chunk = line.repeat(1_000);
    for (let i = 0; i < N / 1_000; i++) appendFileSync(floorPath, chunk);
    rows.push(['breakdown: the same bytes, 1,000 lines per appendFileSync, no lock, no hash', N, ms(start), null]);

    const batched = await appendRun(join(dir, 'batched.jsonl'), N);
    rows.push(['ledger, defaults (maxBatch 1000)', N, batched.totalMs, batched.stats.batches]);

    const synced = await appendRun(join(dir, 'fsync.jsonl'), N, { fsync: true });
    rows.push(['ledger, fsync: true', N, synced.totalMs, synced.stats.batches]);

    const small = await appendRun(join(dir, 'small.jsonl'), N, { maxBatch: 100 });
    rows.push(['ledger, maxBatch 100', N, small.totalMs, small.stats.batches]);

    const single = await appendRun(join(dir, 'single.jsonl'), 5_000, { maxBatch: 1 });
    rows.push(['ledger, maxBatch 1 (one lock and one write per record)', 5_000, single.totalMs, single.stats.batches]);

    // Four processes appending to one file at once, released together on a barrier.
    const sharedPath = join(dir, 'shared.jsonl');
    const perProcess = N / 4;
    const children = Array.from({ length: 4 }, () => fork(SELF, ['--worker', sharedPath, String(perProcess)]));
    await Promise.all(children.map((child) => new Promise((resolve) => child.once('message', resolve))));
    start = process.hrtime.bigint();
    const results = await Promise.all(children.map((child) => new Promise((resolve) => { child.once('message', resolve); child.send('go'); })));
    const fourMs = ms(start);
    const fourBatches = results.reduce((sum, r) => sum + r.stats.batches, 0);
    rows.push(['ledger, 4 processes × 25,000 on one file (aggregate)', N, fourMs, fourBatches]);

    print('| case | records | wall time | appends/s | µs per record | batches |');
    print('| --- | --- | --- | --- | --- | --- |');
    for (const [name, count, millis, batches] of rows) {
      print(`| ${name} | ${count.toLocaleString('en-US')} | ${millis.toFixed(0)} ms | ${rate(count, millis)} | ${((millis * 1000) / count).toFixed(1)} | ${batches ?? '–'} |`);
    }
    print();
    print(`record() on the caller's side (validate, copy, enqueue; no I/O): ${((batched.enqueueMs * 1e6) / N).toFixed(0)} ns per record (${N.toLocaleString('en-US')} records in ${batched.enqueueMs.toFixed(0)} ms).`);
    const sharedCheck = await verifyLedger(sharedPath);
    print(`4-process file verified: ok ${sharedCheck.ok}, ${sharedCheck.records.toLocaleString('en-US')} records; dropped or failed: ${results.reduce((s, r) => s + r.stats.dropped + r.stats.failedRecords, 0)}.`);
    print();

    // verifyLedger over 100,000 records, three times; streaming, so the heap stays flat.
    const verifyPath = join(dir, 'batched.jsonl');
    const size = statSync(verifyPath).size;
    const times = [];
    let peakHeap = 0;
    for (let i = 0; i < 3; i++) {
      globalThis.gc?.();
      const heapBefore = process.memoryUsage().heapUsed;
      const timer = setInterval(() => (peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed - heapBefore)), 5);
      start = process.hrtime.bigint();
      const result = await verifyLedger(verifyPath);
      times.push(ms(start));
      clearInterval(timer);
      if (!result.ok || result.records !== N) throw new Error(`verify failed: ${JSON.stringify(result)}`);
    }
    times.sort((a, b) => a - b);
    print(`| verifyLedger | records | file | median of 3 | per record | records/s | heap growth during the run (max) |`);
    print('| --- | --- | --- | --- | --- | --- | --- |');
    print(`| 100,000 records | ${N.toLocaleString('en-US')} | ${(size / 1e6).toFixed(1)} MB | ${times[1].toFixed(0)} ms | ${((times[1] * 1000) / N).toFixed(1)} µs | ${rate(N, times[1])} | ${(peakHeap / 1e6).toFixed(1)} MB |`);
    print();
    const perSecond = (N / batched.totalMs) * 1000;
    print(`Target ≥ 10,000 appends/s batched with the lock: ${perSecond >= 10_000 ? 'met' : 'MISSED'} (${rate(N, batched.totalMs)}, one process; ${rate(N, fourMs)} for four processes together).`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
