import { type AdmitAnswer, decodeAdmitReply, encodeAmend, encodeRefund, type Refund, type TokenAmend } from './admit-protocol.js';
import { describe, type RedisConnection } from './connection.js';
import type { RedisSettings } from './settings.js';

/**
 * Admissions of one scope asked for in the same tick, sent as one script run. Callers are kept
 * as flat resolve/reject pairs: no object per caller. Its owner (the scope's limiter) gathers
 * it, encodes it and shares out the answer; {@link RedisAdmissions} carries it.
 */
export interface Batch {
  readonly owner: BatchOwner<this>;
  /** Past this (epoch ms), the callers are answered by the fallback. */
  readonly deadline: number;
  readonly callers: ((value: never) => void)[];
  /** Ages of fallback starts to import into the shared window with this batch. */
  imports: readonly number[] | null;
  done: boolean;
  /** Already re-sent with EVAL after NOSCRIPT. */
  retried: boolean;
}

/** What carrying a batch needs of its owner. */
export interface BatchOwner<B extends Batch> {
  /** The command to send: first (`resend` false), or again with EVAL after NOSCRIPT. */
  command(batch: B, resend: boolean): readonly (string | number)[];
  /** Redis answered in time. */
  answered(batch: B, answer: AdmitAnswer): void;
  /** Redis failed, or did not answer by the deadline: the fallback answers the callers. */
  fellBack(batch: B, now: number): void;
  /** Redis answered after the deadline: what it took for the batch, to give back. */
  lateRefund(batch: B, answer: AdmitAnswer): Refund | null;
}

/** Counters for tests and the benchmark. */
export interface AdmissionStats {
  /** Round trips to Redis for admissions (EVALSHA, and EVAL after NOSCRIPT). */
  roundTrips: number;
  /** Admissions answered by Redis. */
  answered: number;
  /** Admissions made with credits (no round trip of their own). */
  creditsUsed: number;
}

/**
 * The admissions of one store in flight. A connection answers in order, so one timer armed for
 * the oldest deadline serves them all, and a late answer is recognised (and its starts given
 * back) rather than delivered twice.
 */
export class RedisAdmissions {
  /** Batches sent and not yet answered, oldest first. */
  private pending: Batch[] = [];
  private pendingHead = 0;
  private outstanding = 0;
  /**
   * Armed for the oldest deadline in flight. It is not cleared when everything is answered
   * (a timer per sequential admission costs more than the round trip's own work): it is
   * unref'd then, and when it fires with nothing in flight it just ends. Deadlines are sent
   * in order and all `timeoutMs` long, so it never fires later than the oldest one in flight.
   */
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly settings: RedisSettings,
    private readonly connection: RedisConnection,
    private readonly stats: AdmissionStats,
  ) {}

  /** A new batch, due `timeoutMs` from now. */
  deadline(): number {
    return Date.now() + this.settings.timeoutMs;
  }

  /** Sends a batch its owner has gathered. */
  send(batch: Batch): void {
    this.pending.push(batch);
    if (this.outstanding++ === 0) {
      if (this.deadlineTimer === undefined) this.armDeadline(batch.deadline);
      else this.deadlineTimer.ref();
    }
    this.transmit(batch, false);
  }

  /** Redis is down: whatever is in flight is answered by the fallback now rather than at its deadline. */
  fallBackAll(now: number): void {
    const pending = this.pending;
    for (let i = this.pendingHead; i < pending.length; i++) {
      const batch = pending[i]!;
      if (!batch.done) this.fallBack(batch, now);
    }
  }

  /** Gives back starts nobody made (REFUND_SCRIPT). */
  giveBack(refund: Refund): void {
    const args = encodeRefund(refund, this.settings.channel);
    // EVAL, not EVALSHA: a rare command that must reach Redis before the ones sent after it.
    if (args !== null) this.track(this.connection.eval(args));
    if (refund.tokens != null) this.amendTokens(refund.tokens);
  }

  /** Give-backs and reconciliations sent and not answered yet (see {@link flush}). */
  private readonly unanswered = new Set<Promise<unknown>>();

  private track(sent: Promise<unknown>): void {
    const forget = (): void => void this.unanswered.delete(settled);
    const settled: Promise<unknown> = sent.then(forget, forget);
    this.unanswered.add(settled);
  }

  /** Resolves once every give-back and reconciliation sent so far is answered, or after `timeoutMs` (the store is closing). */
  async flush(timeoutMs: number): Promise<void> {
    if (this.unanswered.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.all([...this.unanswered]), late]);
    clearTimeout(timer);
  }

  /**
   * Reconciles token records (AMEND_SCRIPT): sent on the admissions' connection, so after the
   * admission that made them. Sent even while the store is degraded (a late answer's give-back
   * comes just then); a reconciliation that fails is lost: the estimate stands.
   */
  amendTokens(amend: TokenAmend): void {
    this.track(this.connection.eval(encodeAmend(amend, this.settings.channel)));
  }

  private transmit(batch: Batch, resend: boolean): void {
    this.stats.roundTrips++;
    const command = batch.owner.command(batch, resend);
    const connection = this.connection;
    const reply = resend ? connection.eval(command) : connection.evalsha(command);
    reply.then(
      (answer) => this.answer(batch, decodeAdmitReply(answer)),
      (error: unknown) => {
        if (batch.done) return;
        // Redis restarted (or ran SCRIPT FLUSH): EVAL loads the script again, once.
        if (!batch.retried && isNoScript(error)) {
          batch.retried = true;
          this.transmit(batch, true);
          return;
        }
        connection.degrade(describe(error));
        if (!batch.done) this.fallBack(batch, Date.now());
      },
    );
  }

  private answer(batch: Batch, answer: AdmitAnswer): void {
    if (batch.done) {
      // Answered after its deadline: the callers already had the fallback's answer, so starts
      // Redis counted (and a probe it granted) are nobody's. Give them back.
      const refund = batch.owner.lateRefund(batch, answer);
      if (refund !== null) this.giveBack(refund);
      return;
    }
    this.finish(batch);
    this.stats.answered += batch.callers.length / 2;
    batch.owner.answered(batch, answer);
  }

  private fallBack(batch: Batch, now: number): void {
    this.finish(batch);
    batch.owner.fellBack(batch, now);
  }

  private finish(batch: Batch): void {
    batch.done = true;
    if (--this.outstanding === 0) {
      // Nothing in flight: drop the bookkeeping; the deadline timer no longer keeps the process alive.
      this.pending.length = 0;
      this.pendingHead = 0;
      this.deadlineTimer?.unref();
    }
  }

  private armDeadline(at: number): void {
    this.deadlineTimer = setTimeout(() => this.expire(), Math.max(0, at - Date.now()));
  }

  private expire(): void {
    this.deadlineTimer = undefined;
    const now = Date.now();
    while (this.pendingHead < this.pending.length) {
      const batch = this.pending[this.pendingHead]!;
      if (batch.done) {
        this.pendingHead++;
        continue;
      }
      if (batch.deadline > now) {
        this.armDeadline(batch.deadline);
        break;
      }
      this.pendingHead++;
      this.fallBack(batch, now);
      this.connection.degrade(`no answer within ${this.settings.timeoutMs} ms`);
    }
    if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
  }
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}
