import type { Scope } from '../manager/scope.js';
import type { BudgetState } from '../spend/budget.js';
import type { ScopeMeter } from '../spend/meter.js';
import type { Prices } from '../spend/prices.js';
import type { AdmissionCost } from '../stores/types.js';
import { modelOf, splitCost, usageOf, type Cost, type Usage } from './cost.js';

/** `fn`'s second argument in `execute(service, (signal, call) => ...)`. */
export interface CallContext {
  /**
   * Tells floodgate what the current attempt really used (tokens, or `{ input, output }`): it
   * replaces the estimate in the token windows and in the spend. The last report of an attempt
   * wins, and it wins over the result's `usage`.
   */
  reportUsage(usage: Cost): void;
}

/** The context of a call nothing meters: reports change nothing. Shared, so an unmetered call allocates none. */
export const UNMETERED_CALL: CallContext = Object.freeze({ reportUsage(): void {} });

/**
 * The metering of one call: its estimate reserved in the token windows at each admission and in
 * the budget once, then reconciled with what each attempt really used (reported, read from the
 * result's `usage`, or from a stream's chunks when it ends), and its spend recorded when it ends.
 */
export class Charge implements CallContext, AdmissionCost {
  /** The token windows' ticket of the attempt admitted last; -1 once reconciled (or without token caps). */
  ticket = -1;
  private reported: Usage | null = null;
  private usedInput = 0;
  private usedOutput = 0;
  private usedCached = 0;
  private ended = false;

  constructor(
    private readonly scope: Scope,
    /** The scope's meter as the call opened: its spend is recorded there. */
    private readonly meter: ScopeMeter,
    private readonly prices: Prices,
    readonly input: number,
    readonly output: number,
    private model: string | undefined,
    /** The call's estimated spend held in its scope's budget; null when no budget applied as it opened. */
    private readonly hold: BudgetHold | null,
  ) {}

  /** Fleet mode: the reservation of the call's spend in the fleet's budget, under way; null when there is none to wait for. */
  get reserving(): Promise<void> | null {
    return this.hold === null ? null : this.hold.reserving;
  }

  reportUsage(usage: Cost): void {
    const { input, output } = splitCost(usage, 'reportUsage');
    this.reported = { input, output, cachedInput: 0 };
  }

  /** An attempt succeeded: reconciles and ends the call, or wraps a stream to do so when it ends. */
  succeeded(value: unknown): unknown {
    // A value that is no object carries no usage, no model and no stream.
    if (typeof value !== 'object' || value === null) this.attemptEnded(this.reported, undefined);
    else if (isAsyncIterable(value)) return meteredStream(value, this);
    else this.attemptEnded(this.reported ?? usageOf(value), modelOf(value));
    this.end();
    return value;
  }

  /** An attempt failed: it gives back what it did not report using. */
  attemptFailed(): void {
    this.attemptEnded(this.reported ?? NOTHING_USED, undefined);
  }

  /** Reconciles the attempt with `usage` (null: none known, the estimate stands). */
  attemptEnded(usage: Usage | null, model: string | undefined): void {
    const input = usage === null ? this.input : usage.input;
    const output = usage === null ? this.output : usage.output;
    if (this.ticket >= 0) {
      if (input !== this.input || output !== this.output) this.scope.limiter.amendCost?.(this.ticket, input - this.input, output - this.output);
      this.ticket = -1;
    }
    if (model !== undefined) this.model = model; // the result's model wins
    this.usedInput += input;
    this.usedOutput += output;
    if (usage !== null) this.usedCached += usage.cachedInput;
    this.reported = null;
  }

  /** The call ended (once): its spend is recorded and its budget reservation settled at its real cost. */
  end(): void {
    if (this.ended) return;
    // Admitted but never run (refused after its admission): it used nothing.
    if (this.ticket >= 0) this.attemptEnded(NOTHING_USED, undefined);
    this.ended = true;
    const meter = this.meter;
    const usd = this.prices.usd(this.model, this.usedInput, this.usedOutput, this.usedCached);
    meter.record(this.model, this.usedInput, this.usedOutput, usd);
    if (meter.budget !== null) this.settle(meter.budget, usd);
  }

  /** Settles the budget's reservation at the call's real spend `usd`, in this process and in the fleet's budget. */
  private settle(budget: BudgetState, usd: number): void {
    const hold = this.hold;
    budget.settle(hold === null ? 0 : hold.usd, usd);
    const shared = this.scope.limiter.spend;
    if (hold !== null && shared !== undefined && hold.periodEnd !== 0 && (hold.fleetUsd !== 0 || usd !== 0)) {
      const periodEnd = hold.periodEnd;
      void shared.settle(periodEnd, hold.fleetUsd, usd, hold.fleetTicket).then((committed) => {
        if (committed !== null) budget.heardFromFleet(periodEnd, committed);
      });
    }
  }

  /** The usage reported during a stream, if any (it wins over what the chunks showed). */
  get reportedUsage(): Usage | null {
    return this.reported;
  }
}

/** A call's estimated spend held in its scope's budget (a per-call object only when a budget applies). */
export class BudgetHold {
  /** Fleet mode: the reservation in the fleet's budget, under way (null: none to wait for). */
  reserving: Promise<void> | null = null;
  /** Fleet mode: the period the call's spend belongs to (0: none), and what the fleet reserved for it. */
  periodEnd = 0;
  fleetUsd = 0;
  /** The fleet's name for the reservation, when it gave one (its lease). */
  fleetTicket: string | undefined = undefined;

  constructor(readonly usd: number) {}
}

const NOTHING_USED: Usage = Object.freeze({ input: 0, output: 0, cachedInput: 0 });

export function isAsyncIterable(value: unknown): boolean {
  try {
    return typeof value === 'object' && value !== null && typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
  } catch {
    return false;
  }
}

/**
 * The stream, seen through a Proxy whose iterator watches the chunks go by: the usage of the last
 * chunk that carries one (OpenAI with `stream_options.include_usage`; Anthropic's `message_start`
 * and `message_delta` events, merged) and its `model` reconcile the call when the iteration ends
 * (done, `break`, or an error). Every other property is the stream's own (methods bound to it).
 * Only `for await` (the async iterator) is watched; a stream read another way keeps its estimate.
 */
function meteredStream(stream: object, charge: Charge): object {
  let input = -1;
  let output = -1;
  let cached = 0;
  let model: string | undefined;
  const see = (chunk: unknown): void => {
    for (const holder of [chunk, innerMessage(chunk)]) {
      const usage = usageOf(holder);
      if (usage !== null) {
        const raw = (holder as { usage: Record<string, unknown> }).usage;
        // Anthropic's message_delta carries output_tokens alone: keep the input seen at message_start.
        if (typeof raw.input_tokens === 'number' || typeof raw.prompt_tokens === 'number') input = usage.input;
        if (typeof raw.output_tokens === 'number' || typeof raw.completion_tokens === 'number') output = usage.output;
        if (usage.cachedInput > 0) cached = usage.cachedInput;
      }
      model = modelOf(holder) ?? model;
    }
  };
  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    const seen = input >= 0 || output >= 0 ? { input: input >= 0 ? input : charge.input, output: output >= 0 ? output : charge.output, cachedInput: cached } : null;
    charge.attemptEnded(charge.reportedUsage ?? seen, model);
    charge.end();
  };
  const iterate = (): AsyncIterator<unknown> => {
    const inner = (stream as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    return {
      async next(...args: [] | [unknown]) {
        try {
          const result = await inner.next(...args);
          if (result.done === true) finish();
          else see(result.value);
          return result;
        } catch (error) {
          finish();
          throw error;
        }
      },
      async return(value?: unknown) {
        finish();
        return inner.return === undefined ? { done: true, value } : inner.return(value);
      },
      async throw(error?: unknown) {
        finish();
        if (inner.throw === undefined) throw error;
        return inner.throw(error);
      },
    };
  };
  return new Proxy(stream, {
    get(target, property) {
      if (property === Symbol.asyncIterator) return iterate;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function innerMessage(chunk: unknown): unknown {
  try {
    return typeof chunk === 'object' && chunk !== null ? (chunk as { message?: unknown }).message : undefined;
  } catch {
    return undefined;
  }
}
