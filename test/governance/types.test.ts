// Type tests for the governance API: `npm run typecheck` compiles this file under both decorator
// modes; the runtime assertions keep it honest.
import { join } from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  createLedger,
  hashPolicy,
  ThrottleManager,
  verifyLedger,
  verifyPolicy,
  type DecisionSource,
  type Ledger,
  type LedgerFault,
  type LedgerStats,
  type LedgerVerification,
  type PolicyVerification,
  type ApplyPolicyOptions,
  type BudgetBurnEvent,
  type ContractFigures,
  type ContractSpec,
  type ScopeMode,
  type StatusReport,
  type ThrottleConfig,
  type WouldRefuseEvent,
  type WouldRefuseReason,
} from 'floodgate';
import { tempDir } from './helpers.js';

describe('governance types', () => {
  it('a ThrottleManager is a DecisionSource; attach returns its detach function', async () => {
    expectTypeOf<ThrottleManager>().toExtend<DecisionSource>();
    const ledger = createLedger({ path: join(tempDir(), 'l.jsonl') });
    expectTypeOf(ledger).toEqualTypeOf<Ledger>();
    const manager = new ThrottleManager({ env: {} });
    const detach = ledger.attach(manager);
    expectTypeOf(detach).toEqualTypeOf<() => void>();
    expectTypeOf(ledger.record).parameter(0).toHaveProperty('scope').toEqualTypeOf<string>();
    expectTypeOf(ledger.stats()).toEqualTypeOf<LedgerStats>();
    // @ts-expect-error: records are flat; an object is not a field value
    expect(() => ledger.record({ scope: 's', decision: 'd', reason: 'r', nested: { a: 1 } })).toThrow(/entry\.nested/);
    detach();
    await ledger.close();
    await manager.close();
  });

  it('verification results', async () => {
    const path = join(tempDir(), 'l.jsonl');
    const ledger = createLedger({ path });
    ledger.record({ scope: 's', decision: 'd', reason: 'r' });
    await ledger.close();
    const result = await verifyLedger(path);
    expectTypeOf(result).toEqualTypeOf<LedgerVerification>();
    expectTypeOf(result.reason).toEqualTypeOf<LedgerFault | null>();
    expectTypeOf(result.firstBadSeq).toEqualTypeOf<number | null>();
    expect(result.ok).toBe(true);
    expectTypeOf(verifyPolicy).returns.resolves.toEqualTypeOf<PolicyVerification>();
    expectTypeOf(hashPolicy).returns.toEqualTypeOf<string>();
  });

  it('the manager-side governance API: modes, contracts, policy hash, artifacts, ledger', async () => {
    const manager = new ThrottleManager({ env: {} });
    expectTypeOf(manager.policyHash()).toEqualTypeOf<string>();
    expectTypeOf(manager.exportPolicy).returns.toEqualTypeOf<Promise<string>>();
    expectTypeOf(manager.applyPolicy).parameter(1).toEqualTypeOf<ApplyPolicyOptions>();
    expectTypeOf(manager.useLedger(createLedger({ path: join(tempDir(), 'l.jsonl') }))).toEqualTypeOf<() => void>();
    expectTypeOf<ThrottleConfig['mode']>().toEqualTypeOf<ScopeMode | undefined>();
    expectTypeOf<ScopeMode>().toEqualTypeOf<'enforce' | 'observe'>();
    expectTypeOf<NonNullable<ThrottleConfig['contracts']>[string]>().toEqualTypeOf<ContractSpec>();
    expectTypeOf<StatusReport['policyHash']>().toEqualTypeOf<string>();
    expectTypeOf<StatusReport['scopes'][string]['contracts'][string]>().toEqualTypeOf<ContractFigures>();
    expectTypeOf<StatusReport['scopes'][string]['counters']['wouldRefuseByReason']>().toEqualTypeOf<Readonly<Record<string, number>>>();
    expectTypeOf<WouldRefuseEvent['reason']>().toEqualTypeOf<WouldRefuseReason>();
    expectTypeOf<BudgetBurnEvent['burnRate']>().toEqualTypeOf<number>();
    // @ts-expect-error: only the two modes
    expect(() => manager.configure('svc', { mode: 'shadow' })).toThrow(/mode/);
    // @ts-expect-error: a contract needs its windowMs
    const partial: ContractSpec = { maxLatencyMs: 1, errorBudget: 0.1 };
    expect(partial.errorBudget).toBe(0.1);
    expect(manager.getStatusReport().policyHash).toBe(manager.policyHash());
    await manager.close();
  });
});

