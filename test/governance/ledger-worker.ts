/**
 * One of the processes of processes.test.ts. Run as `node --import tsx` with IPC (fork) and
 * LEDGER_WORKER set to a JSON {@link LedgerWorkerSpec}. It opens the ledger and says `ready`;
 * on `{ half: 1 }` it appends the first half of its records and says `flushed` once they are
 * written; on `{ half: 2 }` the second half, then it closes the ledger and sends its stats.
 */
import { createLedger, type LedgerStats } from '../../src/index.js';

export interface LedgerWorkerSpec {
  readonly path: string;
  readonly index: number;
  readonly count: number;
  readonly maxBatch: number;
}

export type LedgerWorkerMessage = { readonly ready: true } | { readonly flushed: 1 } | { readonly stats: LedgerStats };

const spec = JSON.parse(process.env.LEDGER_WORKER ?? '{}') as LedgerWorkerSpec;
const ledger = createLedger({ path: spec.path, maxBatch: spec.maxBatch, flushIntervalMs: 1, lockWaitMs: 60_000 });
const send = (message: LedgerWorkerMessage): Promise<void> => new Promise((resolve) => process.send!(message, () => resolve()));

process.on('message', async ({ half }: { half: 1 | 2 }) => {
  const first = half === 1 ? 1 : spec.count / 2 + 1;
  for (let n = first; n < first + spec.count / 2; n++) {
    ledger.record({ scope: `worker:${spec.index}`, decision: 'refuse', reason: 'max_wait', worker: spec.index, n });
    // Let batches go out while records keep coming, so that the processes' writes interleave.
    if (n % spec.maxBatch === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  if (half === 1) {
    await ledger.flush();
    await send({ flushed: 1 });
    return;
  }
  await ledger.close();
  await send({ stats: ledger.stats() });
  process.disconnect();
});
await send({ ready: true });
