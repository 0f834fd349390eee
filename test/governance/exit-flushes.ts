/**
 * For processes.test.ts: records decisions and returns without close() or flush(). The process
 * must still write them before it exits by itself. Run with LEDGER_PATH set.
 */
import { createLedger } from '../../src/index.js';

const ledger = createLedger({ path: process.env.LEDGER_PATH!, flushIntervalMs: 50 });
for (let n = 1; n <= 3; n++) ledger.record({ scope: 's', decision: 'suspend', reason: 'manual', n });
