/**
 * Run by decision-log.test.ts under `ulimit -f` (a file-size limit: writes past it fail with
 * EFBIG, as on a full disk): a manager logs to `argv[2]` while its calls go on. Prints one JSON line.
 */
import { isPlatformSuspendedError, ThrottleManager } from '../../src/index.js';

const manager = new ThrottleManager({ env: {}, logging: { dir: process.argv[2]! } });
manager.configure('svc', { retryAttempts: 0 });
manager.suspend('svc', { reason: 'maintenance', durationMs: 60_000 });
let refused = 0;
for (let i = 0; i < 400; i++) {
  if (isPlatformSuspendedError(await manager.execute('svc', () => 'never').catch((error: unknown) => error))) refused++;
  // Let the stream reach the disk between decisions, as time would.
  await new Promise((resolve) => setImmediate(resolve));
}
// Wait (up to 30 s: a busy machine) for the write error to be seen.
for (let i = 0; i < 3_000 && manager.getStatusReport().logging!.lastError === null; i++) await new Promise((resolve) => setTimeout(resolve, 10));
const answer = await manager.execute('other', () => 42);
const logging = manager.getStatusReport().logging;
await manager.close();
process.stdout.write(`${JSON.stringify({ refused, answer, logging })}\n`);
