/**
 * The decision ledger: a manager's decisions recorded in a hash-chained JSONL file, verified,
 * then found out after an edit; and a policy artifact checked before it is applied.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLedger, hashPolicy, isRateLimitedError, ThrottleManager, verifyLedger, verifyPolicy, writePolicyArtifact } from 'floodgate';

const dir = mkdtempSync(join(tmpdir(), 'floodgate-example-'));
const path = join(dir, 'decisions.jsonl');
const manager = new ThrottleManager({ env: {} });
const policy = { llm_api: manager.getConfig('llm_api') };
const ledger = createLedger({ path, policyHash: () => hashPolicy(policy) });
ledger.attach(manager);

manager.configure('search', { burst: 1, requestsPerSecond: 0.1, maxWaitMs: 0 });
await manager.execute('search', () => 'first');
await manager.execute('search', () => 'second').catch((error: unknown) => console.log('refused:', isRateLimitedError(error)));
manager.suspend('search', { durationMs: 60_000, reason: 'provider asked us to stop' });
manager.resume('search');
await ledger.close();
await manager.close();

console.log(readFileSync(path, 'utf8').trim().split('\n').map((line) => JSON.parse(line).decision));
console.log('intact:', await verifyLedger(path));

// Someone edits a record: the chain says where.
writeFileSync(path, readFileSync(path, 'utf8').replace('provider asked us to stop', 'nothing happened'));
console.log('after an edit:', await verifyLedger(path));

// A policy artifact, refused once tampered with.
const artifact = join(dir, 'policy.json');
const expected = await writePolicyArtifact(artifact, policy);
console.log('artifact as written:', (await verifyPolicy(artifact, expected)).ok);
writeFileSync(artifact, readFileSync(artifact, 'utf8').replace('"requestsPerMinute": 20', '"requestsPerMinute": 2000'));
console.log('artifact after an edit:', await verifyPolicy(artifact, expected));

rmSync(dir, { recursive: true });
