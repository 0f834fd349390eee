import type { AdmissionCost } from '../types.js';
import type { Refund, TokenAmend } from './admit-protocol.js';

/** What credits need of the store: whether they may be used, and a way to give them back. */
export interface CreditsHost {
  /** Fleet messages reach this process (a ban elsewhere can stop its credits). */
  readonly listening: boolean;
  /** Redis answers (credits are not given back while it does not: they lapse there by themselves). */
  readonly healthy: boolean;
  /** The most credits one admission may ask for (RedisStoreOptions.maxCredits). */
  readonly maxCredits: number;
  giveBack(refund: Refund): void;
  /** Reconciles token records (a grant's tokens no call took). */
  amendTokens(amend: TokenAmend): void;
  /** The scopes' credits holding a grant now, so that closing the store gives them back (see RedisStore.close). */
  readonly held: Set<Credits>;
}

/** Admissions per lease below which a scope asks for no credits: it would not use them in time. */
const CREDIT_DEMAND = 8;
/** The credits argument as sent, '0' to '256' (RedisStoreOptions.maxCredits is at most 256): not formatted per admission. */
const DECIMAL = Array.from({ length: 257 }, (_, n) => String(n));

/**
 * The credits of one scope in this process: starts Redis granted ahead of need (see
 * ADMIT_SCRIPT and `RedisStoreOptions.maxCredits`), made without a round trip until their
 * lease ends. Also the scope's recent demand, which decides how many to ask for. Times are
 * `performance.now()` ms: monotonic, so a step of the wall clock cannot stretch a lease.
 */
export class Credits {
  private left = 0;
  private until = 0;
  /** The ring slot after the granted starts (-1: no ring), and their stamp: to give unused ones back. */
  private end = -1;
  private stamp = 0;
  /**
   * Weighted scopes: the grant's token record (its ticket; -1: none) and the tokens it still
   * carries. A credit is taken only by a call whose cost fits in them, and is then charged to that
   * record: the call's reconciliation amends it, and what is left goes back with the credits.
   */
  private ticket = -1;
  private tokensIn = 0;
  private tokensOut = 0;
  private lapseTimer: ReturnType<typeof setTimeout> | undefined;
  // Admissions asked for in the current and the previous lease-long period.
  private periodStart = -Infinity;
  private asksNow = 0;
  private asksBefore = 0;

  constructor(
    private readonly host: CreditsHost,
    private readonly key: string,
    private readonly scope: string,
    /** How long a grant stays usable, ms (> 0). */
    readonly leaseMs: number,
    /** The scope's ring length (0: no ring) and the bucket's ms per start (0: no bucket). */
    private readonly ringLength: number,
    private readonly step: number,
  ) {}

  /**
   * An admission is asked for at `at`: true when a credit covers it (taken). Not while the
   * subscription is down: a ban elsewhere could not stop the credits then.
   */
  take(at: number, cost?: AdmissionCost): boolean {
    this.countAsk(at);
    if (this.left === 0) return false;
    if (at < this.until && this.host.listening) {
      if (this.ticket >= 0) {
        const input = cost === undefined ? 0 : cost.input;
        const output = cost === undefined ? 0 : cost.output;
        // A call the grant's tokens cannot cover asks Redis (the credits stay for the calls after it).
        if (input > this.tokensIn || output > this.tokensOut) return false;
        this.tokensIn -= input;
        this.tokensOut -= output;
        if (cost !== undefined) cost.ticket = this.ticket;
      }
      this.left--;
      return true;
    }
    this.drop();
    return false;
  }

  /**
   * The credits argument of an admission of `count` (see ADMIT_SCRIPT): none unless the scope
   * asked for at least {@link CREDIT_DEMAND} admissions in the last lease-long period before
   * these, then about half as many; none while a grant is held or on its way (a second would
   * find the first's callers still on theirs), and none without the subscription (a ban
   * elsewhere must reach this process before it uses them).
   */
  toAsk(count: number, inFlight: number): string {
    const host = this.host;
    const asked = this.asksBefore + this.asksNow - count;
    if (asked < CREDIT_DEMAND || this.left > 0 || inFlight > 0 || !host.listening) return '0';
    const wanted = asked >> 1;
    return DECIMAL[wanted >= host.maxCredits ? host.maxCredits : wanted]!;
  }

  /**
   * Redis granted `n` with the admission sent at `sentAt`: the last starts before ring slot `end`,
   * stamped `stamp`; weighted, with the token record `ticket` carrying `input` and `output` tokens.
   */
  grant(n: number, sentAt: number, end: number, stamp: number, ticket = -1, input = 0, output = 0): void {
    this.drop();
    this.left = n;
    this.host.held.add(this);
    this.ticket = ticket;
    this.tokensIn = input;
    this.tokensOut = output;
    this.until = sentAt + this.leaseMs;
    this.end = end;
    this.stamp = stamp;
    this.watchLapse();
  }

  /**
   * Credits left unused (lapsed, or the limits changed) go back to the fleet: their slots in
   * the window would otherwise stay taken until they left it. They are the last starts of
   * their grant, so when nobody started after them their slots are the next to be reused.
   */
  drop(): void {
    const unused = this.left;
    const ticket = this.ticket;
    if (unused === 0 && ticket < 0) return;
    this.left = 0;
    this.ticket = -1;
    this.host.held.delete(this);
    if (!this.host.healthy) return;
    // The grant's tokens not taken by a call go back, even when every credit was used.
    const tokens = ticket < 0 || (this.tokensIn === 0 && this.tokensOut === 0) ? null : { key: this.key, scope: this.scope, first: ticket, count: 1, input: -this.tokensIn, output: -this.tokensOut };
    if (unused === 0) {
      if (tokens !== null) this.host.amendTokens(tokens);
      return;
    }
    const length = this.ringLength;
    const slot = this.end < 0 ? -1 : (((this.end - unused) % length) + length) % length;
    this.host.giveBack({ key: this.key, scope: this.scope, ringLength: length, slot, count: unused, stamp: this.stamp, probe: false, step: this.step, tokens });
  }

  /**
   * A process that stops asking leaves its credits unused: give them back when they lapse, not
   * at its next ask. At the lease's end as this process counts it (from when the admission was
   * sent), not a lease after the answer came: callers elsewhere ask again at the lease's end as
   * Redis counts it, and the give-back should be there first.
   */
  private watchLapse(): void {
    if (this.lapseTimer !== undefined) return;
    const timer = setTimeout(() => {
      this.lapseTimer = undefined;
      if (this.left === 0 && this.ticket < 0) return;
      if (performance.now() >= this.until) this.drop();
      else this.watchLapse();
    }, Math.max(0, this.until - performance.now()) + 1);
    timer.unref();
    this.lapseTimer = timer;
  }

  private countAsk(at: number): void {
    const lease = this.leaseMs;
    const since = at - this.periodStart;
    if (since >= lease) {
      this.asksBefore = since < 2 * lease ? this.asksNow : 0;
      this.asksNow = 0;
      this.periodStart = at;
    }
    this.asksNow++;
  }
}
