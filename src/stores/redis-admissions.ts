import { CircuitOpenError, PlatformSuspendedError } from '../errors/errors.js';
import { DISCONNECTED, describe } from './redis-channel.js';
import type { RedisLimiter } from './redis-limiter.js';
import { ADMIT_SCRIPT } from './redis-admit-script.js';
import { REFUND_SCRIPT } from './redis-scripts.js';
import type { RedisStore } from './redis-store.js';

/**
 * Admissions of one scope asked for in the same tick, sent as one script run. Callers are
 * kept as flat resolve/reject pairs: no object per caller.
 */
export interface Batch {
  readonly limiter: RedisLimiter;
  readonly deadline: number;
  readonly callers: ((value: never) => void)[];
  /** Ages of fallback starts to import into the shared window with this batch. */
  imports: readonly number[] | null;
  done: boolean;
  /** Already re-sent with EVAL after NOSCRIPT. */
  retried: boolean;
  /** The circuit's closings when the batch was asked for: a refusal from before a later closing is stale. */
  readonly closings: number;
  /** The store's resumes when the batch was asked for: likewise for a suspension refusal. */
  readonly resumes: number;
  /** `performance.now()` when first sent: credits it brings are usable until then + the scope's lease. */
  sentAt: number;
}

/** EVALSHA/EVAL taking the whole command as one array (ioredis flattens it): no per-call argument list. */
type Send = (args: readonly (string | number)[]) => Promise<unknown>;

/** See ADMIT_SCRIPT: admitted or code, tokens or ttl, remaining or reason, waitMs, slot, stamp, probe. */
type Reply = [code: number, figure: number, remaining: number | string, waitMs?: number, slot?: number, stamp?: number, probe?: number];

/** Callers per script run at most: keeps the script's argument lists small. */
const MAX_BATCH = 256;
/** Where the count goes in a limiter's prebuilt EVALSHA arguments. */
export const COUNT_ARG = 8;
/** Where the two ring slots the limiter expects to be next go (ADMIT_SCRIPT's ARGV 7 and 8). */
export const HINT_ARG = 9;
/** Where the credits asked for go (ARGV 9), then the credits' lease (ARGV 10). */
export const CREDITS_ARG = 11;

/**
 * The admissions of one {@link RedisStore} in flight. A connection answers in order, so one
 * timer armed for the oldest deadline serves them all, and a late answer is recognised (and
 * its starts given back) rather than delivered twice.
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

  constructor(private readonly store: RedisStore) {}

  /**
   * Asks for one admission; it goes out with the others of its scope at the end of the tick.
   * The promise never rejects except with PlatformSuspendedError or CircuitOpenError.
   */
  admit(limiter: RedisLimiter, imports: readonly number[] | null): number | Promise<number> {
    const store = this.store;
    if (DISCONNECTED.has(store.client.status)) {
      store.degrade(`connection ${store.client.status}`);
      limiter.importFailed(imports !== null);
      return limiter.fallbackAcquire(Date.now());
    }
    return new Promise<number>((resolve, reject) => {
      let batch = limiter.batch;
      if (batch === null || batch.callers.length >= 2 * MAX_BATCH) {
        batch = { limiter, deadline: Date.now() + store.timeoutMs, callers: [], imports: null, done: false, retried: false, closings: limiter.circuitClosings, resumes: store.channel.resumes, sentAt: 0 };
        limiter.batch = batch;
        const sending = batch;
        queueMicrotask(() => this.flush(sending));
      }
      batch.callers.push(resolve as (value: never) => void, reject);
      if (imports !== null) batch.imports = imports;
    });
  }

  /** Redis is down: whatever is in flight is answered by the fallback now rather than at its deadline. */
  fallBackAll(now: number): void {
    const pending = this.pending;
    for (let i = this.pendingHead; i < pending.length; i++) {
      const batch = pending[i]!;
      if (!batch.done) this.fallBack(batch, now);
    }
  }

  private flush(batch: Batch): void {
    const { limiter } = batch;
    if (limiter.batch === batch) limiter.batch = null;
    this.pending.push(batch);
    if (this.outstanding++ === 0) {
      if (this.deadlineTimer === undefined) this.armDeadline(batch.deadline);
      else this.deadlineTimer.ref();
    }
    this.send(batch);
  }

  private send(batch: Batch): void {
    const { limiter, imports } = batch;
    const store = this.store;
    const client = store.client;
    store.roundTrips++;
    const args = limiter.args;
    const count = batch.callers.length / 2;
    args[COUNT_ARG] = count === 1 ? '1' : String(count);
    if (!batch.retried) {
      batch.sentAt = performance.now();
      args[CREDITS_ARG] = limiter.credits === null ? '0' : limiter.credits.toAsk(count, limiter.inFlight);
      limiter.inFlight++;
    }
    let reply: Promise<unknown>;
    if (imports === null && !batch.retried) {
      // ioredis copies the arguments at once, so the array can be reused.
      reply = (client.evalsha as unknown as Send).call(client, args);
    } else {
      // Rare (after an outage, or NOSCRIPT): worth an array of its own.
      const withImports: (string | number)[] = imports === null ? [...args] : [...args, ...imports];
      if (batch.retried) withImports[0] = ADMIT_SCRIPT;
      reply = ((batch.retried ? client.eval : client.evalsha) as unknown as Send).call(client, withImports);
    }
    reply.then(
      (answer) => this.answer(batch, answer as Reply),
      (error: unknown) => {
        if (batch.done) return;
        // Redis restarted (or ran SCRIPT FLUSH): EVAL loads the script again, once.
        if (!batch.retried && isNoScript(error)) {
          batch.retried = true;
          if (batch.imports !== null) batch.imports = limiter.importAges(Date.now());
          this.send(batch);
          return;
        }
        this.store.degrade(describe(error));
        if (!batch.done) this.fallBack(batch, Date.now());
      },
    );
  }

  private answer(batch: Batch, reply: Reply): void {
    const code = reply[0];
    const { limiter, callers } = batch;
    if (batch.done) {
      // Answered after its deadline: the callers already had the fallback's answer, so starts
      // Redis counted (and a probe it granted) are nobody's. Give them back.
      if (code > 0) this.refund(limiter, code, reply);
      return;
    }
    this.finish(batch);
    const count = callers.length / 2;
    this.store.answered += count;
    if (batch.imports !== null) limiter.importDone();
    if (code >= 0) {
      const waitMs = reply[3] ?? 0;
      limiter.record(waitMs, reply[1], reply[2] as number);
      if (code > 0) limiter.expectSlot(reply[4]! + code);
      // Starts beyond the callers are credits: this process may use them without asking.
      if (code > count) limiter.addCredits(code - count, batch.sentAt, reply[4]! < 0 ? -1 : reply[4]! + code, reply[5]!);
      const admitted = code > count ? count : code;
      let i = 0;
      for (; i < admitted; i++) callers[2 * i]!(0 as never);
      if (i === count) return;
      if (reply[6] === 1) {
        // The one admitted call is the fleet's probe; the others wait for it like everyone else.
        limiter.probeGranted();
        const error = new CircuitOpenError(limiter.scope, limiter.circuitRefused(limiter.probeLockMs, batch.closings));
        for (; i < count; i++) callers[2 * i + 1]!(error as never);
        return;
      }
      // Woken a little after the time Redis named, spread out: waiters across the fleet do
      // not all come back in the same millisecond, and none comes back a hair too early.
      for (; i < count; i++) callers[2 * i]!((waitMs + 1 + Math.random() * Math.min(25, waitMs / 8)) as never);
    } else if (code === -1) {
      const reason = String(reply[2]);
      // After a resume made or heard since the batch was asked for, the refusal may be from
      // before it: it still refuses its callers, but must not suspend the scope here again.
      const channel = this.store.channel;
      if (batch.resumes === channel.resumes) channel.notifySuspended(limiter.scope, reply[1], reason);
      const error = new PlatformSuspendedError(limiter.scope, Date.now() + reply[1], reason);
      for (let i = 1; i < callers.length; i += 2) callers[i]!(error as never);
    } else if (code === -2) {
      this.store.channel.notifyPaused(limiter.scope, reply[1]);
      for (let i = 0; i < callers.length; i += 2) callers[i]!(reply[1] as never);
    } else {
      const error = new CircuitOpenError(limiter.scope, limiter.circuitRefused(reply[1], batch.closings));
      for (let i = 1; i < callers.length; i += 2) callers[i]!(error as never);
    }
  }

  private fallBack(batch: Batch, now: number): void {
    this.finish(batch);
    const { limiter, callers } = batch;
    limiter.importFailed(batch.imports !== null);
    for (let i = 0; i < callers.length; i += 2) callers[i]!(limiter.fallbackAcquire(now) as never);
  }

  private refund(limiter: RedisLimiter, admitted: number, reply: Reply): void {
    this.giveBack(limiter.key, limiter.args[5]!, reply[4] ?? -1, admitted, reply[5] ?? 0, reply[6] ?? 0, 0);
  }

  /**
   * Gives back `count` starts that nobody made, from ring slot `slot` on and stamped `stamp`, in
   * the scope at `key` (see REFUND_SCRIPT), and the fleet's probe when `probe` is 1. `step`: the
   * bucket's ms per start to give back, 0 to keep its tokens.
   */
  giveBack(key: string, ringLength: number | string, slot: number, count: number, stamp: number, probe: number, step: number): void {
    if (slot < 0 && probe !== 1 && step === 0) return;
    // EVAL, not EVALSHA: a rare command that must reach Redis before the ones sent after it.
    this.store.client.eval(REFUND_SCRIPT, 1, key, slot, count, ringLength, stamp, probe, step).catch(() => {});
  }

  private finish(batch: Batch): void {
    batch.done = true;
    batch.limiter.inFlight--;
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
      this.store.degrade(`no answer within ${this.store.timeoutMs} ms`);
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
