import { BudgetExceededError, ConfigError } from '../errors/errors.js';
import type { BudgetState } from '../spend/budget.js';
import type { SharedSpend } from '../stores/types.js';
import type { Scope } from '../manager/scope.js';
import type { Prices } from '../spend/prices.js';
import { Charge } from './charge.js';
import { splitCost, type Cost, type CostEstimator } from './cost.js';

/** What meters a call: `execute`'s `cost` and `model` options, or `@throttled`'s (which may be functions of the method's arguments). */
export interface MeterOptions {
  readonly cost?: Cost | ((...args: any[]) => Cost) | undefined;
  readonly model?: string | ((...args: any[]) => string) | undefined;
}

/**
 * Opens the metering of a call in `scope`: its cost (given, or estimated) checked against the
 * token caps, its model, and its estimated spend reserved in the budget. Throws the refusal:
 * RateLimitedError `cost_exceeds_limit`, BudgetExceededError, or ConfigError for a bad cost or model.
 */
export function openCharge(scope: Scope, prices: Prices, estimator: CostEstimator, metering: MeterOptions | undefined, args: ArrayLike<unknown> | undefined, now: number): Charge {
  const meter = scope.ensureMeter();
  const argList = args === undefined ? NO_ARGS : (Array.prototype.slice.call(args) as unknown[]);
  const given = metering?.cost;
  const { input, output } = splitCost(given === undefined ? estimator(argList) : typeof given === 'function' ? given(...argList) : given, 'cost');
  const { tokensPerMinute, inputTokensPerMinute, outputTokensPerMinute } = scope.config;
  // An unset cap is undefined: every comparison with it is false.
  if (input + output > tokensPerMinute! || input > inputTokensPerMinute! || output > outputTokensPerMinute!) throw scope.refuseCost();
  const model = modelFor(metering?.model, argList);
  let reservedUsd = 0;
  const budget = meter.budget;
  if (budget !== null) {
    reservedUsd = prices.usd(model, input, output, 0);
    budget.reserve(scope, reservedUsd, now);
  }
  const charge = new Charge(scope, prices, input, output, model, reservedUsd);
  // Fleet mode: the budget is the fleet's too; the call starts once the store reserved its spend.
  const shared = scope.limiter.spend;
  if (budget !== null && shared !== undefined) charge.reserving = reserveInFleet(charge, shared, budget, scope.key, reservedUsd);
  return charge;
}

/**
 * Reserves the call's estimated spend in the fleet's budget (after the process's own, which it
 * already passed): rejects with BudgetExceededError when the fleet's spend plus reservations plus
 * it would pass the budget. When the store does not answer in time, the process's own budget
 * stands alone (the call goes on).
 */
async function reserveInFleet(charge: Charge, shared: SharedSpend, budget: BudgetState, scope: string, usd: number): Promise<void> {
  const periodEnd = budget.resetsAt;
  const answer = await shared.reserve(budget.option.usd, periodEnd, usd);
  charge.spendPeriodEnd = periodEnd;
  if (answer === null) return;
  budget.heardFromFleet(periodEnd, answer.committedUsd);
  if (!answer.granted) throw new BudgetExceededError(scope, budget.option, answer.committedUsd, periodEnd);
  charge.fleetReservedUsd = usd;
  charge.fleetTicket = answer.ticket;
}

const NO_ARGS: readonly unknown[] = Object.freeze([]);

function modelFor(option: MeterOptions['model'], args: readonly unknown[]): string | undefined {
  if (option === undefined) return undefined;
  const model = typeof option === 'function' ? option(...args) : option;
  if (typeof model !== 'string' || model === '') throw new ConfigError('model', model, 'must be a non-empty string (or a function returning one)');
  return model;
}
