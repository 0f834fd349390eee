/** manager.policyHash(), exportPolicy() and applyPolicy(): a canonical hash of the policy in force. */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConsecutiveBreaker,
  CountBreaker,
  createLedger,
  ErrorCategory,
  ErrorSeverity,
  isConfigError,
  SamplingBreaker,
  ServiceType,
  ThrottleManager,
  writePolicyArtifact,
  type ThrottleConfig,
} from 'floodgate';
import { configurePolicy } from './policy-fixture.js';
import { readLines, tempDir } from './helpers.js';

const CHILD = fileURLToPath(new URL('./policy-child.ts', import.meta.url));
const managers: ThrottleManager[] = [];
const fresh = (): ThrottleManager => {
  const manager = new ThrottleManager({ env: {} });
  managers.push(manager);
  return manager;
};
let manager: ThrottleManager;
beforeEach(() => {
  manager = fresh();
});
afterEach(async () => {
  for (const m of managers.splice(0)) await m.close();
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('manager.policyHash()', () => {
  it('is 64 lowercase hex digits, the same for the same settings given in any key or call order', () => {
    configurePolicy(manager);
    const other = fresh();
    configurePolicy(other, true);
    expect(manager.policyHash()).toMatch(/^[0-9a-f]{64}$/);
    expect(other.policyHash()).toBe(manager.policyHash());
    expect(fresh().policyHash()).not.toBe(manager.policyHash());
  });

  it('is the same in another process (a restart) built the same way', () => {
    configurePolicy(manager);
    const child = spawnSync(process.execPath, ['--import', 'tsx', CHILD, 'reversed'], { encoding: 'utf8', timeout: 120_000 });
    expect(child.stderr).toBe('');
    expect(child.stdout.trim()).toBe(manager.policyHash());
  });

  it('changes with any field of any configuration, the mode, contracts, breaker, a platform and the pattern table', () => {
    const base = manager.policyHash();
    const seen = new Set([base]);
    const changed = (change: (m: ThrottleManager) => void): string => {
      const m = fresh();
      change(m);
      const hash = m.policyHash();
      expect(seen.has(hash), 'a change that left the hash as it was, or equal to another change').toBe(false);
      seen.add(hash);
      return hash;
    };
    const preset = manager.getConfig(ServiceType.EXCHANGE_API);
    for (const field of Object.keys(preset) as (keyof ThrottleConfig)[]) {
      const value = preset[field] as number;
      // A value the rules accept that differs from the preset's.
      const next = field === 'burst' ? value - 1 : field === 'timeoutMs' ? 1_000 : value + 1;
      changed((m) => m.configure(ServiceType.EXCHANGE_API, { [field]: next }));
    }
    changed((m) => m.configure(ServiceType.EXCHANGE_API, { mode: 'observe' }));
    changed((m) => m.configure(ServiceType.EXCHANGE_API, { breaker: { kind: 'count', threshold: 0.5, size: 20 } }));
    changed((m) => m.configure(ServiceType.EXCHANGE_API, { contracts: { 'GET /ticker': { maxLatencyMs: 100, errorBudget: 0.01, windowMs: 60_000 } } }));
    changed((m) => m.configure(ServiceType.EXCHANGE_API, { contracts: { 'GET /ticker': { maxLatencyMs: 100, errorBudget: 0.01, windowMs: 60_000, burnAlert: 3 } } }));
    changed((m) => m.configure(ServiceType.EXCHANGE_API, { burst: 3 }, { platform: 'binance' }));
    changed((m) => m.configure('custom_api', {}));
    const pattern = { name: 'p', category: ErrorCategory.SERVER, severity: ErrorSeverity.LOW, retryable: true, statusCodes: [599] };
    changed((m) => m.registerErrorPattern(pattern));
    changed((m) => m.registerErrorPattern(pattern, { position: 'after' }));
    changed((m) => m.registerErrorPattern({ ...pattern, messages: [/x/i] }));
    changed((m) => m.registerErrorPattern({ ...pattern, messages: [/x/] }));
    // Prices decide budget refusals: a price changed, a model added, the table replaced.
    changed((m) => m.setPrices({ 'gpt-4o': { inputPerMTok: 2.5, outputPerMTok: 11 } }));
    changed((m) => m.setPrices({ 'in-house-model': { inputPerMTok: 1, outputPerMTok: 2 } }));
    changed((m) => m.setPrices({ 'in-house-model': { inputPerMTok: 1, outputPerMTok: 2 } }, { replace: true }));
  });

  it('follows setPrices at once (cached otherwise), and ignores a call that changes no price', () => {
    const first = manager.policyHash();
    manager.setPrices({ 'gpt-4o': { inputPerMTok: 2.5, outputPerMTok: 10, cachedInputPerMTok: 1.25 } }); // the default, given again
    expect(manager.policyHash()).toBe(first);
    manager.setPrices({ 'gpt-4o': { inputPerMTok: 3, outputPerMTok: 10 } });
    expect(manager.policyHash()).not.toBe(first);
    expect(manager.getStatusReport().policyHash).toBe(manager.policyHash());
  });

  it('describes a cockatiel breaker object by its settings: the same as its declarative form', () => {
    const forms: [ThrottleConfig['breaker'], ThrottleConfig['breaker']][] = [
      [new SamplingBreaker({ threshold: 0.2, duration: 30_000, minimumRps: 4 }), { kind: 'sampling', threshold: 0.2, durationMs: 30_000, minimumRps: 4 }],
      [new CountBreaker({ threshold: 0.5, size: 20, minimumNumberOfCalls: 10 }), { kind: 'count', threshold: 0.5, size: 20, minimumNumberOfCalls: 10 }],
      [new ConsecutiveBreaker(4), { kind: 'consecutive', threshold: 4 }],
    ];
    for (const [object, spec] of forms) {
      const a = fresh();
      const b = fresh();
      a.configure('svc', { breaker: object });
      b.configure('svc', { breaker: spec });
      expect(a.policyHash()).toBe(b.policyHash());
    }
    // A spec object carrying more than its settings (here a Map, which has no JSON form) hashes as its settings.
    const extra = fresh();
    extra.configure('svc', { breaker: { kind: 'consecutive', threshold: 4, cache: new Map() } as never });
    const plain = fresh();
    plain.configure('svc', { breaker: { kind: 'consecutive', threshold: 4 } });
    expect(extra.getStatusReport().policyHash).toBe(plain.policyHash());
  });

  it('is cached, follows every change, and appears in the status report and in each ledger record', async () => {
    const first = manager.policyHash();
    expect(manager.getStatusReport().policyHash).toBe(first);
    manager.configure('svc', { burst: 1 });
    const second = manager.policyHash();
    expect(second).not.toBe(first);
    expect(manager.getStatusReport().policyHash).toBe(second);

    const path = join(tempDir(), 'ledger.jsonl');
    const ledger = createLedger({ path });
    const detach = manager.useLedger(ledger);
    manager.suspend('svc', { durationMs: 1_000, reason: 'one' });
    manager.registerErrorPattern({ name: 'p', category: ErrorCategory.SERVER, severity: ErrorSeverity.LOW, retryable: true, statusCodes: [599] });
    manager.suspend('svc', { durationMs: 2_000, reason: 'two' });
    detach();
    manager.suspend('svc', { durationMs: 3_000, reason: 'after detach' });
    await ledger.close();
    const records = readLines(path).map((line) => JSON.parse(line) as { reason: string; policyHash: string });
    expect(records.map((r) => [r.reason, r.policyHash])).toEqual([
      ['one', second],
      ['two', manager.policyHash()],
    ]);
    expect(manager.policyHash()).not.toBe(second);
  });
});

describe('exportPolicy() and applyPolicy()', () => {
  it('another manager applies the artifact and then runs the same policy, hash included', async () => {
    configurePolicy(manager);
    const path = join(tempDir(), 'policy.json');
    const hash = await manager.exportPolicy(path);
    expect(hash).toBe(manager.policyHash());

    const other = fresh();
    other.configure('leftover', { burst: 1 }); // not in the artifact: gone after applying it
    await other.execute('svc', () => 'a live scope');
    await expect(other.applyPolicy(path, { expectedHash: hash })).resolves.toBe(hash);
    expect(other.policyHash()).toBe(hash);
    for (const service of [ServiceType.LLM_API, 'github', 'leftover']) expect(other.getConfig(service)).toEqual(manager.getConfig(service));
    expect(other.getConfig(ServiceType.SOCIAL_MEDIA, { platform: 'reddit' })).toEqual(manager.getConfig(ServiceType.SOCIAL_MEDIA, { platform: 'reddit' }));
    expect(other.classifyError(new Error('Service overloaded')).pattern).toBe('vendor-overload');
    expect(other.classifyError(Object.assign(new Error('teapot'), { status: 418 })).pattern).toBe('vendor-quirk');
    // The prices came with it: the same spend, so the same budget refusals.
    for (const m of [manager, other]) m.configure('llm', { budget: { usd: 0.1, period: 'day' } });
    const spend = async (m: ThrottleManager) => {
      await m.execute('llm', () => ({ model: 'in-house-model', usage: { prompt_tokens: 40_000 } }), { cost: 40_000, model: 'in-house-model' });
      return m.getCostSummary().scopes.llm!.usd;
    };
    const spent = await spend(manager);
    expect(spent).toBeCloseTo(0.08, 10);
    expect(await spend(other)).toBe(spent);
    // A platform keeps following later changes of its service, as configured platforms do.
    other.configure(ServiceType.SOCIAL_MEDIA, { maxQueue: 7 });
    expect(other.getConfig(ServiceType.SOCIAL_MEDIA, { platform: 'reddit' })).toMatchObject({ maxQueue: 7, requestsPerMinute: 5 });
  });

  it('refuses a tampered artifact, a wrong hash or a missing file, changing nothing', async () => {
    configurePolicy(manager);
    const path = join(tempDir(), 'policy.json');
    const hash = await manager.exportPolicy(path);
    const other = fresh();
    other.configure(ServiceType.LLM_API, { burst: 2 });
    const before = other.policyHash();

    const artifact = JSON.parse(readFileSync(path, 'utf8')) as { policy: { services: Record<string, { requestsPerMinute: number }> }; hash: string };
    artifact.policy.services[ServiceType.LLM_API]!.requestsPerMinute = 600;
    writeFileSync(path, JSON.stringify(artifact));
    const tampered = await rejection(other.applyPolicy(path, { expectedHash: hash }));
    expect(isConfigError(tampered) && tampered.rule).toMatch(/refused \(hash_mismatch\)/);

    expect(await rejection(other.applyPolicy(join(tempDir(), 'missing.json'), { expectedHash: hash }))).toMatchObject({ rule: expect.stringContaining('unreadable') });
    expect(await rejection(other.applyPolicy(path, { expectedHash: 'not a hash' }))).toMatchObject({ field: 'applyPolicy: expectedHash' });
    expect(other.policyHash()).toBe(before);
    expect(other.getConfig(ServiceType.LLM_API).burst).toBe(2);
  });

  it('refuses an artifact whose hash is right but whose content is invalid, changing nothing', async () => {
    configurePolicy(manager);
    const path = join(tempDir(), 'policy.json');
    const exported = JSON.parse(readFileSync((await manager.exportPolicy(path), path), 'utf8')) as { policy: Record<string, Record<string, Record<string, unknown>>> };
    const other = fresh();
    const before = other.policyHash();
    const check = async (edit: (policy: Record<string, Record<string, Record<string, unknown>>>) => void, field: string) => {
      const policy = structuredClone(exported.policy);
      edit(policy);
      const hash = await writePolicyArtifact(path, policy);
      const error = await rejection(other.applyPolicy(path, { expectedHash: hash }));
      expect(isConfigError(error) && error.field).toBe(field);
      expect(other.policyHash()).toBe(before);
    };
    await check((p) => void (p.services!.github!.burst = 0), 'policy.services.github: burst');
    await check((p) => void (p.platforms!['nocolon'] = {}), 'policy.platforms.nocolon: key');
    await check((p) => void (p.services!.search!.breaker = { kind: 'custom', class: 'MyBreaker' }), 'policy.services.search: breaker');
    await check((p) => void ((p.patterns as unknown as { after: unknown[] }).after = [{ name: 'x' }]), 'policy.patterns.after[0]: errorPattern.category');
    await check((p) => void ((p.patterns as unknown as { defaults: unknown[] }).defaults = []), 'policy.patterns.defaults');
    await check((p) => void (p.format = 'other' as never), 'policy.format');
    await check((p) => void (p.prices!['gpt-4o'] = { inputPerMTok: -1, outputPerMTok: 10 }), 'policy.prices: setPrices.gpt-4o.inputPerMTok');
    await check((p) => void delete p.prices, 'policy.prices: setPrices');
  });
});
