import { WINDOW_MS } from '../limiter/rolling-window.js';

/** The token caps of a scope (each Infinity when unset). */
export interface TokenCaps {
  readonly total: number;
  readonly input: number;
  readonly output: number;
}

/**
 * Exact rolling-60-second caps on the sum of costs started: total, input and output tokens.
 * Each admission is remembered as (start time, input, output) until it is 60 s old, so no
 * 60-second window ever holds more than a cap, and a cost can later be amended (reconciled)
 * in place by its ticket. Timer-free: expired starts are dropped when the window is next read.
 * Memory: three numbers per millisecond in which calls started during the last minute (at most
 * 60,000 entries however fast calls start), nothing once the minute is quiet.
 */
export class TokenWindows {
  private times: number[] = [];
  private inputs: number[] = [];
  private outputs: number[] = [];
  /** Index of the oldest live entry; entries before it have expired. */
  private head = 0;
  /** Ticket of the entry at index 0 (tickets are never reused). */
  private base = 0;
  private sumInput = 0;
  private sumOutput = 0;
  /** The time the window was last expired at: nothing more expires until the clock moves. */
  private expiredAt = -Infinity;
  /** The newest entry's start and ticket: the starts of one millisecond add to it (-Infinity: no entry). */
  private lastStart = -Infinity;
  private lastTicket = -1;

  /** The caps (Infinity where unset). */
  private total = Infinity;
  private inputCap = Infinity;
  private outputCap = Infinity;

  constructor(caps: TokenCaps) {
    this.reconfigure(caps);
  }

  /** 0 when `input` + `output` fit in every capped window now, else the ms until they will (taking nothing). */
  wait(now: number, input: number, output: number): number {
    if (now !== this.expiredAt) this.expire(now);
    const usedInput = this.sumInput;
    const usedOutput = this.sumOutput;
    // Fits every window at once (an unset cap is Infinity: it always fits).
    if (fitsUnder(this.total, usedInput + usedOutput, input + output) && fitsUnder(this.inputCap, usedInput, input) && fitsUnder(this.outputCap, usedOutput, output)) return 0;
    return this.waitUntilFits(now, input, output);
  }

  /** The wait of a cost that does not fit now: the longest of its capped windows'. */
  private waitUntilFits(now: number, input: number, output: number): number {
    const { total, inputCap: inCap, outputCap: outCap } = this;
    let wait = 0;
    if (total !== Infinity) wait = this.waitFor(now, total, this.sumInput + this.sumOutput, input + output, 0);
    if (inCap !== Infinity) wait = Math.max(wait, this.waitFor(now, inCap, this.sumInput, input, 1));
    if (outCap !== Infinity) wait = Math.max(wait, this.waitFor(now, outCap, this.sumOutput, output, 2));
    return wait;
  }

  /** Records an admission; returns its ticket (for {@link amend}). */
  add(now: number, input: number, output: number): number {
    this.sumInput += input;
    this.sumOutput += output;
    // Starts in the same millisecond share one entry (and its ticket: amending it amends their sum),
    // so that the window never holds more than 60,000 entries, however fast calls start.
    if (now === this.lastStart) {
      const index = this.lastTicket - this.base;
      this.inputs[index] = this.inputs[index]! + input;
      this.outputs[index] = this.outputs[index]! + output;
      return this.lastTicket;
    }
    return this.addEntry(now, input, output);
  }

  /** The first start of a millisecond: a new entry. */
  private addEntry(now: number, input: number, output: number): number {
    const index = this.times.length;
    this.times.push(now);
    this.inputs.push(input);
    this.outputs.push(output);
    this.lastStart = now;
    return (this.lastTicket = this.base + index);
  }

  /**
   * Changes the cost recorded under `ticket` by the given differences (the call's real usage
   * against its estimate): a credit frees capacity now, a charge takes it until the start turns
   * 60 s old. A start already out of the window changes nothing, as it no longer counts.
   */
  amend(ticket: number, deltaInput: number, deltaOutput: number): void {
    const index = ticket - this.base;
    if (index < this.head || index >= this.times.length) return;
    const input = Math.max(0, this.inputs[index]! + deltaInput);
    const output = Math.max(0, this.outputs[index]! + deltaOutput);
    this.sumInput += input - this.inputs[index]!;
    this.sumOutput += output - this.outputs[index]!;
    this.inputs[index] = input;
    this.outputs[index] = output;
  }

  /** Tokens still allowed in each capped window now (null where uncapped). */
  remaining(now: number): { total: number | null; input: number | null; output: number | null } {
    this.expire(now);
    const left = (cap: number, used: number): number | null => (cap === Infinity ? null : Math.max(0, cap - used));
    return { total: left(this.total, this.sumInput + this.sumOutput), input: left(this.inputCap, this.sumInput), output: left(this.outputCap, this.sumOutput) };
  }

  isEmpty(now: number): boolean {
    this.expire(now);
    return this.head === this.times.length;
  }

  reconfigure(caps: TokenCaps): void {
    this.total = caps.total;
    this.inputCap = caps.input;
    this.outputCap = caps.output;
  }

  /** The wait until `used - freed + cost <= cap` (dimension 0 total, 1 input, 2 output), freeing the oldest starts first. */
  private waitFor(now: number, cap: number, used: number, cost: number, dimension: 0 | 1 | 2): number {
    if (fitsUnder(cap, used, cost)) return 0;
    let freed = 0;
    for (let i = this.head; i < this.times.length; i++) {
      freed += dimension === 0 ? this.inputs[i]! + this.outputs[i]! : dimension === 1 ? this.inputs[i]! : this.outputs[i]!;
      if (fitsUnder(cap, used - freed, cost)) return this.times[i]! + WINDOW_MS - now;
    }
    return WINDOW_MS;
  }

  /** Drops the starts at least 60 s old; compacts the arrays once half of them are dead. */
  private expire(now: number): void {
    this.expiredAt = now;
    const cutoff = now - WINDOW_MS;
    const times = this.times;
    let head = this.head;
    if (times.length === 0) return;
    while (head < times.length && times[head]! <= cutoff) {
      this.sumInput -= this.inputs[head]!;
      this.sumOutput -= this.outputs[head]!;
      head++;
    }
    if (head === times.length) {
      // All gone: restart empty (and exact: the float sums cannot drift across quiet minutes).
      this.base += head;
      this.times = [];
      this.inputs = [];
      this.outputs = [];
      this.head = 0;
      this.sumInput = 0;
      this.sumOutput = 0;
      this.lastStart = -Infinity;
      return;
    }
    if (head > 32 && head * 2 > times.length) {
      this.times = times.slice(head);
      this.inputs = this.inputs.slice(head);
      this.outputs = this.outputs.slice(head);
      this.base += head;
      head = 0;
    }
    this.head = head;
  }
}

/** Whether `cost` more fits under `cap` with `used` taken. A zero cost still needs the window not to be full: its real usage is charged afterwards. */
function fitsUnder(cap: number, used: number, cost: number): boolean {
  return used + cost <= cap && (cost > 0 || used < cap);
}

export function capsOf(config: { readonly tokensPerMinute?: number | undefined; readonly inputTokensPerMinute?: number | undefined; readonly outputTokensPerMinute?: number | undefined }): TokenCaps | null {
  const total = config.tokensPerMinute ?? Infinity;
  const input = config.inputTokensPerMinute ?? Infinity;
  const output = config.outputTokensPerMinute ?? Infinity;
  return total === Infinity && input === Infinity && output === Infinity ? null : { total, input, output };
}
