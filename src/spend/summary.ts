import type { Scope } from '../manager/scope.js';
import type { ScopeCosts } from './meter.js';

/** `getCostSummary()`: spend per metered scope, and totals (a plain JSON value). */
export interface CostSummary {
  readonly generatedAt: number;
  readonly scopes: Readonly<Record<string, ScopeCosts>>;
  readonly totals: { readonly usd: number; readonly inputTokens: number; readonly outputTokens: number };
}

export function buildCostSummary(scopes: Iterable<Scope>, now: number): CostSummary {
  const shown: Record<string, ScopeCosts> = {};
  const totals = { usd: 0, inputTokens: 0, outputTokens: 0 };
  for (const scope of scopes) {
    if (scope.meter === null) continue;
    const costs = scope.meter.costs(now);
    shown[scope.key] = costs;
    totals.usd += costs.usd;
    totals.inputTokens += costs.inputTokens;
    totals.outputTokens += costs.outputTokens;
  }
  return { generatedAt: now, scopes: shown, totals };
}
