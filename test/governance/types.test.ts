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
});
