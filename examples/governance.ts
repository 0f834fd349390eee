/**
 * Governance: a platform rolled out in observe mode (what would have been refused, without
 * refusing anything), a contract's error budget watched, and the policy exported by one manager,
 * then verified and applied by another (and refused once tampered with).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLedger, ThrottleManager, verifyLedger } from 'floodgate';

const dir = mkdtempSync(join(tmpdir(), 'floodgate-governance-'));
const manager = new ThrottleManager({ env: {} });
const ledger = createLedger({ path: join(dir, 'decisions.jsonl') });
manager.useLedger(ledger);

// 1. Observe mode: the limits decide, nothing is held or refused.
manager.configure('github', {
  burst: 2,
  requestsPerSecond: 0.5,
  maxWaitMs: 0,
  mode: 'observe',
  contracts: { 'GET /repos/{owner}/{repo}': { maxLatencyMs: 500, errorBudget: 0.1, windowMs: 60_000, burnAlert: 2 } },
});
manager.on('budgetBurn', (e) => console.log(`budget burning on ${e.contract}: ${e.burnRate.toFixed(1)}× (${e.failures}/${e.calls} failed)`));
for (let i = 0; i < 5; i++) {
  const fails = i === 3;
  await manager
    .execute('github', () => (fails ? Promise.reject(Object.assign(new Error('HTTP 502'), { status: 502 })) : { id: i }), { endpoint: `GET /repos/octo/repo${i}` })
    .catch((error: unknown) => console.log('the provider failed:', (error as Error).message));
}
const github = manager.getStatusReport().scopes.github!;
console.log('mode:', github.mode, '| would have refused:', github.counters.wouldRefuseByReason, '| all ran:', github.counters.successes + github.counters.failed === 5);
console.log('contract:', github.contracts['GET /repos/{owner}/{repo}']);

// 2. The policy: exported here, verified and applied elsewhere.
const artifact = join(dir, 'policy.json');
const hash = await manager.exportPolicy(artifact);
const elsewhere = new ThrottleManager({ env: {} });
await elsewhere.applyPolicy(artifact, { expectedHash: hash });
console.log('applied; same policy:', elsewhere.policyHash() === manager.policyHash());

// Someone raises a limit in the file: refused, nothing changed.
writeFileSync(artifact, readFileSync(artifact, 'utf8').replace('"burst": 2', '"burst": 20'));
await elsewhere.applyPolicy(artifact, { expectedHash: hash }).catch((error: unknown) => console.log('tampered artifact:', (error as Error).message));

await ledger.close();
console.log('ledger:', await verifyLedger(join(dir, 'decisions.jsonl')));
await manager.close();
await elsewhere.close();
rmSync(dir, { recursive: true, force: true });
