import { BudgetExceededError, ConfigError } from '../errors/errors.js';
import type { BudgetState } from '../spend/budget.js';
import type { ScopeMeter } from '../spend/meter.js';
import type { SharedSpend } from '../stores/types.js';
import type { Scope } from '../manager/scope.js';
import type { Prices } from '../spend/prices.js';
import { BudgetHold, Charge } from './charge.js';
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
  const given = metering?.cost;
  const option = metering?.model;
  // The common case on its own, kept small (docs/benchmarks.md, "Tokens and spend"): a plain
  // number of tokens (checked as splitCost checks it: NaN fails `>= 0`), no model, no budget.
  if (typeof given === 'number' && given >= 0 && given !== Infinity && option === undefined && meter.budget === null) {
    if (exceedsCaps(scope, given, 0)) throw scope.refuseCost();
    return new Charge(scope, meter, prices, given, 0, undefined, null);
  }
  return openReserving(scope, meter, prices, estimator, given, option, args, now);
}

/** {@link openCharge} with a cost to work out, a model, or a budget to reserve in. */
function openReserving(scope: Scope, meter: ScopeMeter, prices: Prices, estimator: CostEstimator, given: MeterOptions['cost'], option: MeterOptions['model'], args: ArrayLike<unknown> | undefined, now: number): Charge {
  const argList = args === undefined ? NO_ARGS : (Array.prototype.slice.call(args) as unknown[]);
  const { input, output } = splitCost(given === undefined ? estimator(argList) : typeof given === 'function' ? given(...argList) : given, 'cost');
  if (exceedsCaps(scope, input, output)) throw scope.refuseCost();
  const model = modelFor(option, argList);
  const budget = meter.budget;
  if (budget === null) return new Charge(scope, meter, prices, input, output, model, null);
  const hold = new BudgetHold(prices.usd(model, input, output, 0));
  budget.reserve(scope, hold.usd, now);
  // Fleet mode: the budget is the fleet's too; the call starts once the store reserved its spend.
  const shared = scope.limiter.spend;
  if (shared !== undefined) hold.reserving = reserveInFleet(hold, shared, budget, scope.key);
  return new Charge(scope, meter, prices, input, output, model, hold);
}

/** Whether a cost alone exceeds a token cap of the scope (it could never be admitted). An unset cap is undefined: every comparison with it is false. */
function exceedsCaps(scope: Scope, input: number, output: number): boolean {
  const config = scope.config;
  return input + output > config.tokensPerMinute! || input > config.inputTokensPerMinute! || output > config.outputTokensPerMinute!;
}

/**
 * Reserves the call's estimated spend in the fleet's budget (after the process's own, which it
 * already passed): rejects with BudgetExceededError when the fleet's spend plus reservations plus
 * it would pass the budget. When the store does not answer in time, the process's own budget
 * stands alone (the call goes on).
 */
async function reserveInFleet(hold: BudgetHold, shared: SharedSpend, budget: BudgetState, scope: string): Promise<void> {
  const periodEnd = budget.resetsAt;
  const answer = await shared.reserve(budget.option.usd, periodEnd, hold.usd);
  hold.periodEnd = periodEnd;
  if (answer === null) return;
  budget.heardFromFleet(periodEnd, answer.committedUsd);
  if (!answer.granted) throw new BudgetExceededError(scope, budget.option, answer.committedUsd, periodEnd);
  hold.fleetUsd = hold.usd;
  hold.fleetTicket = answer.ticket;
}

const NO_ARGS: readonly unknown[] = Object.freeze([]);

function modelFor(option: MeterOptions['model'], args: readonly unknown[]): string | undefined {
  if (option === undefined) return undefined;
  const model = typeof option === 'function' ? option(...args) : option;
  if (typeof model !== 'string' || model === '') throw new ConfigError('model', model, 'must be a non-empty string (or a function returning one)');
  return model;
}
