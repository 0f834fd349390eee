import { BudgetExceededError, ConfigError } from '../errors/errors.js';

/** A spending cap for a scope: `usd` per `period` (`'day'` and `'month'` are UTC calendar periods; a number is a period in ms counted from the epoch). */
export interface BudgetOption {
  readonly usd: number;
  readonly period: 'day' | 'month' | number;
}

/** Checks a `budget` configuration value (null or undefined: no budget); returns a frozen copy. */
export function checkBudget(value: unknown): BudgetOption | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object') throw new ConfigError('budget', value, 'must be { usd, period } or null');
  let usd: unknown;
  let period: unknown;
  try {
    ({ usd, period } = value as Record<string, unknown>);
  } catch {
    throw new ConfigError('budget', value, 'could not be read (a Proxy or a throwing getter)');
  }
  if (typeof usd !== 'number' || !Number.isFinite(usd) || usd < 0) throw new ConfigError('budget.usd', usd, 'must be a finite number of USD >= 0');
  if (period !== 'day' && period !== 'month' && !(typeof period === 'number' && Number.isInteger(period) && period >= 1_000)) {
    throw new ConfigError('budget.period', period, "must be 'day', 'month' or an integer number of ms >= 1000");
  }
  return Object.freeze({ usd, period });
}

/** The end of the period that holds `now` (epoch ms). */
export function periodEnd(period: BudgetOption['period'], now: number): number {
  const date = new Date(now);
  if (period === 'day') return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1);
  if (period === 'month') return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
  return (Math.floor(now / period) + 1) * period;
}

/**
 * A scope's budget in the current period: what was spent, and what calls in flight reserved.
 * A call reserves its estimate before it starts and settles its real cost when it ends, so
 * that concurrent calls can never together pass the budget on their estimates.
 */
export class BudgetState {
  spentUsd = 0;
  reservedUsd = 0;
  resetsAt = 0;
  /**
   * Fleet mode (a store holding budgets for the fleet): the fleet's spend plus reservations as of
   * this process's last exchange with the store, and the end of the period it is for (0: none yet).
   */
  fleetCommittedUsd = 0;
  fleetPeriodEnd = 0;

  constructor(public option: BudgetOption) {}

  /** Reserves `usd` or throws BudgetExceededError; a budget already used up refuses even a call estimated at 0. */
  reserve(scope: string, usd: number, now: number): void {
    this.roll(now);
    const committed = this.spentUsd + this.reservedUsd;
    if (committed + usd > this.option.usd + EPSILON || committed >= this.option.usd) {
      throw new BudgetExceededError(scope, this.option, committed, this.resetsAt);
    }
    this.reservedUsd += usd;
  }

  /**
   * A call ended: its reservation is released and its real cost spent, in the period it started in
   * (a call that ran across the end of a period is counted in the old one).
   */
  settle(reservedUsd: number, spentUsd: number): void {
    const reserved = this.reservedUsd - reservedUsd;
    this.reservedUsd = reserved > 0 ? reserved : 0;
    this.spentUsd += spentUsd;
  }

  /** What the store last said of the fleet's spend in the period ending `periodEnd`. */
  heardFromFleet(periodEnd: number, committedUsd: number): void {
    if (periodEnd < this.fleetPeriodEnd) return;
    this.fleetPeriodEnd = periodEnd;
    this.fleetCommittedUsd = committedUsd;
  }

  /** Starts a new period when the current one is over. */
  roll(now: number): void {
    if (now < this.resetsAt) return;
    this.spentUsd = 0;
    this.resetsAt = periodEnd(this.option.period, now);
  }
}

/** Float sums of prices: a shortfall this small is rounding, not overspend. */
const EPSILON = 1e-12;
