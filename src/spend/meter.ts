import type { ThrottleConfig } from '../config/types.js';
import { capsOf } from '../tokens/token-windows.js';
import type { BudgetOption } from './budget.js';
import { BudgetState } from './budget.js';

/** A configuration whose every call must be metered: it has a token cap or a budget. */
export function meters(config: ThrottleConfig): boolean {
  return config.budget != null || capsOf(config) !== null;
}

/** Spend of one model within a scope (plain JSON). */
export interface ModelSpend {
  readonly calls: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly usd: number;
}

/** A scope's costs, as `getCostSummary()` and the status report's `costs` show them (plain JSON). */
export interface ScopeCosts {
  readonly usd: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly models: Readonly<Record<string, ModelSpend>>;
  readonly budget: {
    readonly usd: number;
    readonly period: 'day' | 'month' | number;
    readonly spentUsd: number;
    readonly leftUsd: number;
    readonly resetsAt: number;
    /**
     * Present (true) once a shared store (RedisStore) answered for the budget: `spentUsd` and
     * `leftUsd` are then the fleet's, as of this process's last exchange with the store (or its
     * own when larger). Absent for a budget of this process alone.
     */
    readonly shared?: true;
  } | null;
}

/** One model's running spend within a scope. */
interface ModelEntry {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  usd: number;
}

/** Calls whose model is not known are counted under this name. */
export const UNKNOWN_MODEL = 'unknown';
/** Models kept apart per scope; any further model is counted under {@link UNKNOWN_MODEL} (labels stay bounded). */
const MAX_MODELS = 100;

/**
 * What a scope spent (tokens, USD, per model), and its budget. Created for a
 * scope only when something meters it (a token cap, a budget, prices set, a call given a cost,
 * model or cache key): other scopes carry a null.
 */
export class ScopeMeter {
  /** Spend per model (its totals are their sums: a call updates one entry, see docs/benchmarks.md "Tokens and spend"). */
  readonly models = new Map<string, ModelEntry>();
  budget: BudgetState | null;
  /** The name last recorded ('' before the first: never a model's name) and its entry: most scopes call one model, and skip the map lookup. */
  private lastName = '';
  private lastEntry: ModelEntry | null = null;

  constructor(budget: BudgetOption | null | undefined) {
    this.budget = budget == null ? null : new BudgetState(budget);
  }

  setBudget(budget: BudgetOption | null | undefined): void {
    if (budget == null) this.budget = null;
    else if (this.budget === null) this.budget = new BudgetState(budget);
    else this.budget.option = budget;
  }

  record(model: string | undefined, inputTokens: number, outputTokens: number, usd: number): void {
    const name = model ?? UNKNOWN_MODEL;
    const entry = name === this.lastName ? this.lastEntry! : this.entryOf(name);
    entry.calls++;
    entry.inputTokens += inputTokens;
    entry.outputTokens += outputTokens;
    entry.usd += usd;
  }

  private entryOf(model: string): ModelEntry {
    const name = this.models.has(model) || this.models.size < MAX_MODELS ? model : UNKNOWN_MODEL;
    let entry = this.models.get(name);
    if (entry === undefined) this.models.set(name, (entry = { calls: 0, inputTokens: 0, outputTokens: 0, usd: 0 }));
    this.lastName = model;
    this.lastEntry = entry;
    return entry;
  }

  /**
   * Nothing here guards anything: no reservation in flight, nothing spent in the budget's current
   * period. The spend figures are only counts, forgotten with the scope like its counters.
   */
  isIdle(now: number): boolean {
    const budget = this.budget;
    return budget === null || (budget.reservedUsd === 0 && (budget.spentUsd === 0 || now >= budget.resetsAt));
  }

  costs(now: number): ScopeCosts {
    const budget = this.budget;
    let shown: ScopeCosts['budget'] = null;
    if (budget !== null) {
      budget.roll(now);
      const own = budget.spentUsd + budget.reservedUsd;
      const fleet = budget.fleetPeriodEnd === budget.resetsAt ? budget.fleetCommittedUsd : 0;
      const spentUsd = fleet > own ? fleet : own;
      shown = { usd: budget.option.usd, period: budget.option.period, spentUsd, leftUsd: Math.max(0, budget.option.usd - spentUsd), resetsAt: budget.resetsAt };
      if (budget.fleetPeriodEnd !== 0) shown = { ...shown, shared: true };
    }
    const models: Record<string, ModelSpend> = {};
    let usd = 0;
    let inputTokens = 0;
    let outputTokens = 0;
    for (const [name, entry] of this.models) {
      models[name] = { ...entry };
      usd += entry.usd;
      inputTokens += entry.inputTokens;
      outputTokens += entry.outputTokens;
    }
    return { usd, inputTokens, outputTokens, models, budget: shown };
  }
}
