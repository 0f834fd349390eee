import type { Circuit, CircuitSink } from '../../breaker/circuit.js';
import { CircuitOpenError, PlatformSuspendedError } from '../../errors/errors.js';
import { capBinds, LocalLimiter } from '../memory-store.js';
import { capsOf } from '../../tokens/token-windows.js';
import type { AdmissionCost, LimiterLimits, LimiterSnapshot, ScopeLimiter } from '../types.js';
import type { AdmissionStats, Batch, BatchOwner, RedisAdmissions } from './admissions.js';
import { ALL_TOKENS, AdmitCommand, type AdmitAnswer, type Refund } from './admit-protocol.js';
import type { FleetNotices } from './channel.js';
import type { RedisConnection } from './connection.js';
import { Credits, type CreditsHost } from './credits.js';
import { scopeKeyIn } from './lua.js';
import { type ReservationLeases, RedisSpend } from './spend.js';
import type { RedisFallback, RedisSettings } from './settings.js';

/** What a scope's limiter works with: the store's parts, each through the face it needs. */
export interface LimiterParts {
  readonly settings: RedisSettings;
  readonly connection: RedisConnection;
  readonly admissions: RedisAdmissions;
  readonly fleet: FleetNotices;
  readonly credits: CreditsHost;
  readonly stats: AdmissionStats;
  /** The leases of this store's budget reservations in flight. */
  readonly leases: ReservationLeases;
}

/** A batch of one scope's admissions, with what the scope noted when it was asked for. */
interface ScopeBatch extends Batch {
  /** The circuit's closings when the batch was asked for: a refusal from before a later closing is stale. */
  readonly closings: number;
  /** The store's resumes when the batch was asked for: likewise for a suspension refusal. */
  readonly resumes: number;
  /** `performance.now()` when first sent: credits it brings are usable until then + the scope's lease. */
  sentAt: number;
  /** The credits asked for, as sent. */
  credits: string;
  /** Weighted scopes: each caller's cost, in the order of `callers` (undefined: an unweighted call, cost 0); null otherwise. */
  readonly costs: (AdmissionCost | undefined)[] | null;
}

/**
 * One scope's admissions through Redis. Remembers the figures of the last answer for the
 * status report and for quick refusals; holds a local fallback limiter only once Redis has
 * failed. With `shareCircuit`, also the link between the scope's circuit and the fleet's.
 */
export class RedisLimiter implements ScopeLimiter, CircuitSink, BatchOwner<ScopeBatch> {
  readonly key: string;
  /** The admission command, built when the limits change rather than per call. */
  private admitCommand: AdmitCommand;
  /** Admissions asked for in this tick, not sent yet. */
  private batch: ScopeBatch | null = null;

  private circuit: Circuit | null = null;
  /** The fleet chose this process's call as its probe, and the circuit has not settled since. */
  private probeHeld = false;

  private limits: LimiterLimits;
  /** Starts granted ahead of need (null: this scope gets none); see commandFor. */
  private credits: Credits | null = null;
  private local: LocalLimiter | null = null;
  /** Starts admitted by the local fallback (epoch ms), to import into the shared window. */
  private fallbackStarts: number[] = [];
  private importing = false;

  /** Batches of this scope sent and not answered yet. */
  private inFlight = 0;
  /** Lets the scope's waiters try again (see ScopeLimiter.wakeWith). */
  private wake: (() => void) | null = null;
  /** Told by the channel when starts are given back to the scope (see FleetNotices.watchRoom). */
  private watching = false;
  private readonly roomFreed = (): void => {
    this.watching = false;
    // The last answer's wait may be over now: ask again rather than refuse without asking.
    this.blockedUntil = 0;
    if (this.wake !== null) this.wake();
  };

  // The last answer from Redis.
  private answeredAt = 0;
  private blockedUntil = 0;
  private tokens: number;
  private remaining: number | null;
  /** Tokens left in each capped token window (null: the scope has no token caps). */
  private tokensLeft: LimiterSnapshot['tokensRemaining'] | null = null;

  /** The scope's budget, the fleet's: made when a metered call first asks for it. */
  private shared: RedisSpend | null = null;

  constructor(
    private readonly parts: LimiterParts,
    readonly scope: string,
    limits: LimiterLimits,
  ) {
    this.key = scopeKeyIn(parts.settings.prefix, scope);
    this.limits = limits;
    this.tokens = limits.burst;
    this.remaining = null;
    this.admitCommand = this.commandFor(limits);
  }

  tryAcquire(now: number, cost?: AdmissionCost): number | Promise<number> {
    if (this.credits !== null && this.credits.take(performance.now(), cost)) {
      this.parts.stats.creditsUsed++;
      return 0;
    }
    // The last answer named a time before which nothing can be admitted anywhere in the
    // fleet (others only take capacity): say so without a trip. The fallback honours it too.
    if (now < this.blockedUntil) return this.blockedUntil - now;
    const connection = this.parts.connection;
    if (!connection.isHealthy) return this.fallbackAcquire(now, cost);
    let imports: readonly number[] | null = null;
    if (this.fallbackStarts.length > 0 && !this.importing) {
      this.importing = true;
      imports = this.importAges(now);
    }
    if (connection.isDisconnected) {
      connection.degrade(`connection ${connection.status}`);
      if (imports !== null) this.importing = false;
      return this.fallbackAcquire(Date.now(), cost);
    }
    return this.ask(imports, cost);
  }

  amendCost(ticket: number, deltaInput: number, deltaOutput: number): void {
    // Redis's tickets start from its clock x 1000; smaller ones are the local fallback's.
    if (ticket < REDIS_TICKETS) {
      this.local?.amendCost(ticket, deltaInput, deltaOutput);
      return;
    }
    this.parts.admissions.amendTokens({ key: this.key, scope: this.scope, first: ticket, count: 1, input: deltaInput, output: deltaOutput });
  }

  estimateWait(position: number, now: number): number {
    // A lower bound from the last answer: others in the fleet only make waits longer.
    const blocked = this.blockedUntil > now ? this.blockedUntil - now : 0;
    if (!this.parts.connection.isHealthy) {
      const local = this.fallbackWait(position, now);
      return local > blocked ? local : blocked;
    }
    const rate = this.limits.requestsPerSecond;
    if (rate === Infinity || this.answeredAt === 0) return blocked;
    const tokens = Math.min(this.limits.burst, this.tokens + ((now - this.answeredAt) * rate) / 1000);
    const need = position + 1 - tokens;
    const refill = need > 0 ? (need * 1000) / rate : 0;
    return refill > blocked ? refill : blocked;
  }

  reconfigure(limits: LimiterLimits, now: number): void {
    this.limits = limits;
    this.admitCommand = this.commandFor(limits);
    this.blockedUntil = 0;
    this.local?.reconfigure(shareOf(limits, this.parts.settings.fallback), now);
  }

  snapshot(now: number): LimiterSnapshot {
    if (!this.parts.connection.isHealthy && this.local !== null) return this.local.snapshot(now);
    const rate = this.limits.requestsPerSecond;
    const tokens = this.answeredAt === 0 || rate === Infinity ? this.limits.burst : Math.min(this.limits.burst, this.tokens + ((now - this.answeredAt) * rate) / 1000);
    const snapshot = {
      tokens: Math.floor(tokens),
      minuteRemaining: capBinds(this.limits) ? (this.remaining ?? this.limits.requestsPerMinute) : null,
    };
    const caps = this.admitCommand.limits.tokenCaps;
    if (caps === null) return snapshot;
    // As of the last answer (the whole caps before the first).
    const whole = (cap: number): number | null => (cap === Infinity ? null : cap);
    return { ...snapshot, tokensRemaining: this.tokensLeft ?? { total: whole(caps.total), input: whole(caps.input), output: whole(caps.output) } };
  }

  isIdle(now: number): boolean {
    // The shared state lives in Redis; only fallback state would be lost by forgetting this.
    const idle = this.fallbackStarts.length === 0 && (this.local === null || this.local.isIdle(now));
    // A scope about to be forgotten must not stay in the channel's watch list: it would be kept alive.
    if (idle && this.watching && now >= this.blockedUntil) {
      this.watching = false;
      this.parts.fleet.unwatchRoom(this.scope, this.roomFreed);
    }
    return idle;
  }

  get spend(): RedisSpend {
    return (this.shared ??= new RedisSpend(this.parts.connection, this.parts.leases, this.key, this.parts.settings.timeoutMs));
  }

  get sharesCircuit(): boolean {
    return this.parts.settings.shareCircuit;
  }

  linkCircuit(circuit: Circuit): void {
    if (!this.parts.settings.shareCircuit) return;
    this.circuit = circuit;
    circuit.shareWith(this);
    this.admitCommand = this.commandFor(this.limits);
  }

  wakeWith(wake: () => void): void {
    this.wake = wake;
  }

  // CircuitSink: this process's own transitions, made fleet-wide.

  opened(resetMs: number): void {
    this.probeHeld = false;
    this.parts.fleet.publishCircuitOpen(this.scope, resetMs);
  }

  closed(): void {
    this.probeHeld = false;
    this.parts.fleet.publishCircuitClose(this.scope);
  }

  /**
   * Redis refused an admission for the shared circuit; returns until when (epoch ms).
   * `closingsWhenAsked`: the circuit's closings when the admission was asked for.
   */
  circuitRefused(remainingMs: number, closingsWhenAsked: number): number {
    const until = Date.now() + remainingMs;
    const circuit = this.circuit;
    // While this process holds the probe, the refusal is its own lock's: the probe decides.
    // A refusal from before the fleet's latest closing is stale (the reply can arrive after the
    // closing's message): it still refuses its callers, but must not open the circuit again.
    if (circuit !== null && circuit.closings === closingsWhenAsked && !(this.probeHeld && circuit.stateName === 'half_open')) circuit.forceOpen(until);
    return until;
  }

  /** The circuit's closings so far (see Circuit.closings), noted when an admission is asked for. */
  get circuitClosings(): number {
    return this.circuit === null ? 0 : this.circuit.closings;
  }

  // BatchOwner: the admissions of a tick, gathered here and carried by RedisAdmissions.

  /** Asks for one admission; it goes out with the others of its scope at the end of the tick. */
  private ask(imports: readonly number[] | null, cost: AdmissionCost | undefined): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      let batch = this.batch;
      if (batch === null || batch.callers.length >= 2 * MAX_BATCH) {
        const admissions = this.parts.admissions;
        batch = {
          owner: this,
          deadline: admissions.deadline(),
          callers: [],
          imports: null,
          done: false,
          retried: false,
          closings: this.circuitClosings,
          resumes: this.parts.fleet.resumes,
          sentAt: 0,
          credits: '0',
          costs: this.admitCommand.limits.tokenCaps === null ? null : [],
        };
        this.batch = batch;
        const sending = batch;
        queueMicrotask(() => {
          if (this.batch === sending) this.batch = null;
          admissions.send(sending);
        });
      }
      batch.callers.push(resolve as (value: never) => void, reject);
      if (batch.costs !== null) batch.costs.push(cost);
      if (imports !== null) batch.imports = imports;
    });
  }

  command(batch: ScopeBatch, resend: boolean): readonly (string | number)[] {
    const count = batch.callers.length / 2;
    const [costs, perCredit] = costsOf(batch.costs);
    if (resend) {
      if (batch.imports !== null) batch.imports = this.importAges(Date.now());
      return this.admitCommand.encodeWith(count, batch.credits, costs, perCredit, batch.imports, true);
    }
    batch.sentAt = performance.now();
    batch.credits = this.credits === null ? '0' : this.credits.toAsk(count, this.inFlight);
    this.inFlight++;
    return batch.imports === null ? this.admitCommand.encode(count, batch.credits, costs, perCredit) : this.admitCommand.encodeWith(count, batch.credits, costs, perCredit, batch.imports, false);
  }

  answered(batch: ScopeBatch, answer: AdmitAnswer): void {
    this.inFlight--;
    const callers = batch.callers;
    const count = callers.length / 2;
    if (batch.imports !== null) {
      this.importing = false;
      this.fallbackStarts = [];
    }
    switch (answer.kind) {
      case 'admitted': {
        const { taken, waitMs } = answer;
        this.record(waitMs, answer.tokens, answer.remaining);
        const admitted = taken > count ? count : taken;
        const costs = batch.costs;
        if (costs !== null) {
          this.tokensLeft = answer.tokensLeft;
          // Each admitted caller's token record, in order (reconciled later by its ticket).
          for (let i = 0; i < admitted; i++) {
            const cost = costs[i];
            if (cost !== undefined) cost.ticket = answer.ticket + i;
          }
        }
        if (taken > 0) this.admitCommand.expectSlot(answer.slot + taken);
        // Starts beyond the callers are credits: this process may use them without asking.
        if (taken > count) {
          const per = costs === null ? null : perCreditOf(costs);
          this.addCredits(taken - count, batch.sentAt, answer.slot < 0 ? -1 : answer.slot + taken, answer.stamp, costs === null ? -1 : answer.ticket + count, per === null ? 0 : per[0] * (taken - count), per === null ? 0 : per[1] * (taken - count));
        }
        let i = 0;
        for (; i < admitted; i++) callers[2 * i]!(0 as never);
        if (i === count) return;
        if (answer.probe) {
          // The one admitted call is the fleet's probe; the others wait for it like everyone else.
          this.probeGranted();
          const error = new CircuitOpenError(this.scope, this.circuitRefused(this.probeLockMs, batch.closings));
          for (; i < count; i++) callers[2 * i + 1]!(error as never);
          return;
        }
        // Woken a little after the time Redis named, spread out: waiters across the fleet do
        // not all come back in the same millisecond, and none comes back a hair too early.
        for (; i < count; i++) callers[2 * i]!((waitMs + 1 + Math.random() * Math.min(25, waitMs / 8)) as never);
        return;
      }
      case 'suspended': {
        // After a resume made or heard since the batch was asked for, the refusal may be from
        // before it: it still refuses its callers, but must not suspend the scope here again.
        const fleet = this.parts.fleet;
        if (batch.resumes === fleet.resumes) fleet.notifySuspended(this.scope, answer.ms, answer.reason);
        const error = new PlatformSuspendedError(this.scope, Date.now() + answer.ms, answer.reason);
        for (let i = 1; i < callers.length; i += 2) callers[i]!(error as never);
        return;
      }
      case 'paused':
        this.parts.fleet.notifyPaused(this.scope, answer.ms);
        for (let i = 0; i < callers.length; i += 2) callers[i]!(answer.ms as never);
        return;
      case 'circuit_open': {
        const error = new CircuitOpenError(this.scope, this.circuitRefused(answer.ms, batch.closings));
        for (let i = 1; i < callers.length; i += 2) callers[i]!(error as never);
        return;
      }
    }
  }

  fellBack(batch: ScopeBatch, now: number): void {
    this.inFlight--;
    // The import did not reach Redis: try again with the next admission.
    if (batch.imports !== null) this.importing = false;
    const callers = batch.callers;
    const costs = batch.costs;
    for (let i = 0; i < callers.length; i += 2) callers[i]!(this.fallbackAcquire(now, costs === null ? undefined : costs[i / 2]) as never);
  }

  lateRefund(batch: ScopeBatch, answer: AdmitAnswer): Refund | null {
    if (answer.kind !== 'admitted' || answer.taken === 0) return null;
    // Every token record the answer made goes to 0 (nobody started): one per caller admitted, and
    // one for the credits granted if any.
    const count = batch.callers.length / 2;
    const records = answer.taken > count ? count + 1 : answer.taken;
    const tokens = batch.costs === null ? null : { key: this.key, scope: this.scope, first: answer.ticket, count: records, input: ALL_TOKENS, output: ALL_TOKENS };
    return { key: this.key, scope: this.scope, ringLength: this.admitCommand.ringLengthArg, slot: answer.slot, count: answer.taken, stamp: answer.stamp, probe: answer.probe, step: 0, tokens };
  }

  /**
   * Figures of an answer from Redis; `wait`: nothing can be admitted before then, unless starts
   * are given back meanwhile (credits that lapsed unused): the channel's message says so.
   */
  private record(wait: number, tokens: number, remaining: number | null): void {
    const now = Date.now();
    this.answeredAt = now;
    this.tokens = tokens;
    this.remaining = remaining;
    this.blockedUntil = wait > 0 ? now + wait : 0;
    if (wait > 0 && !this.watching) {
      this.watching = true;
      this.parts.fleet.watchRoom(this.scope, this.roomFreed);
    } else if (wait === 0 && this.watching) {
      this.watching = false;
      this.parts.fleet.unwatchRoom(this.scope, this.roomFreed);
    }
  }

  /** Redis granted `n` credits with the admission sent at `sentAt` (see Credits.grant). */
  private addCredits(n: number, sentAt: number, end: number, stamp: number, ticket: number, input: number, output: number): void {
    this.credits?.grant(n, sentAt, end, stamp, ticket, input, output);
    // Callers already waiting in line take them first (after the callers of this answer).
    if (this.wake !== null) queueMicrotask(this.wake);
  }

  /** Redis chose the call it just admitted as the fleet's half-open probe. */
  private probeGranted(): void {
    if (this.circuit === null) return;
    this.probeHeld = true;
    this.circuit.beginProbe();
  }

  /** How long the fleet's probe is held (the circuit's reset period); 0: not shared. */
  private get probeLockMs(): number {
    return this.circuit === null ? 0 : Math.max(1, Math.ceil(this.circuit.resetAfterMs));
  }

  /** The answer while Redis cannot give one. */
  private fallbackAcquire(now: number, cost: AdmissionCost | undefined): number {
    const { fallback, probeIntervalMs } = this.parts.settings;
    // Fail closed: try again when the next probe may have brought Redis back.
    if (fallback.mode === 'deny') return probeIntervalMs;
    const local = (this.local ??= new LocalLimiter(shareOf(this.limits, fallback), now));
    const wait = local.tryAcquire(now, cost);
    if (wait === 0 && capBinds(this.limits)) {
      const starts = this.fallbackStarts;
      starts.push(now);
      if (starts.length > this.limits.requestsPerMinute) starts.shift();
    }
    return wait;
  }

  /** Ages (ms) of the fallback starts still inside the window, newest first. */
  private importAges(now: number): number[] {
    const window = this.parts.settings.windowMs;
    const ages: number[] = [];
    for (let i = this.fallbackStarts.length - 1; i >= 0; i--) {
      const age = now - this.fallbackStarts[i]!;
      if (age >= window) break;
      ages.push(age < 0 ? 0 : age);
    }
    return ages;
  }

  private fallbackWait(position: number, now: number): number {
    if (this.parts.settings.fallback.mode === 'deny') return 0;
    return this.local === null ? 0 : this.local.estimateWait(position, now);
  }

  /** The admission command for `limits`, and the scope's credits under them (those held under the old ones go back). */
  private commandFor(limits: LimiterLimits): AdmitCommand {
    const { settings, credits: host } = this.parts;
    const ringLength = capBinds(limits) ? limits.requestsPerMinute : 0;
    // Credits are recorded in the bucket at the end of their lease: a lease within half the
    // bucket's burst tolerance leaves room for the starts after them (see ADMIT_SCRIPT).
    const rate = limits.requestsPerSecond;
    const tolerance = rate === Infinity ? Infinity : ((limits.burst - 1) * 1000) / rate;
    const lease = Math.floor(Math.min(settings.creditMs, tolerance / 2));
    // Credits granted under the old settings go back (in the window they count as any start).
    this.credits?.drop();
    this.credits = lease >= 1 && settings.maxCredits > 0 ? new Credits(host, this.key, this.scope, lease, ringLength, rate === Infinity ? 0 : 1000 / rate) : null;
    return new AdmitCommand(this.key, {
      requestsPerSecond: rate,
      burst: limits.burst,
      ringLength,
      windowMs: settings.windowMs,
      probeLockMs: this.probeLockMs,
      leaseMs: this.credits?.leaseMs ?? 0,
      tokenCaps: capsOf(limits),
    });
  }
}

/** Callers per script run at most: keeps the script's argument lists small. */
const MAX_BATCH = 256;

/** Tickets of token records made by Redis are at least this (its clock in ms x 1000); the local fallback's are below. */
const REDIS_TICKETS = 1e15;

const UNWEIGHTED = Object.freeze(['', ''] as const);

/** The costs argument of a batch ("i,o,i,o...") and the tokens each credit carries (the batch's largest cost); '' unweighted. */
function costsOf(costs: readonly (AdmissionCost | undefined)[] | null): readonly [string, string] {
  if (costs === null) return UNWEIGHTED;
  let text = '';
  for (let i = 0; i < costs.length; i++) {
    const cost = costs[i];
    text += cost === undefined ? '0,0,' : `${cost.input},${cost.output},`;
  }
  const [input, output] = perCreditOf(costs);
  return [text, `${input},${output}`];
}

/** The tokens each credit carries: the largest input and output among the batch's costs, so a call like them can use one. */
function perCreditOf(costs: readonly (AdmissionCost | undefined)[]): [number, number] {
  let input = 0;
  let output = 0;
  for (const cost of costs) {
    if (cost === undefined) continue;
    if (cost.input > input) input = cost.input;
    if (cost.output > output) output = cost.output;
  }
  return [input, output];
}

/** The limits a process keeps for itself while Redis is down (token caps included). */
function shareOf(limits: LimiterLimits, fallback: RedisFallback): LimiterLimits {
  const share = fallback.mode === 'local' ? fallback.share : 1;
  if (share === 1) return limits;
  const burst = Math.max(1, Math.floor(limits.burst * share));
  const part = (cap: number | undefined): number | undefined => (cap === undefined || cap === Infinity ? cap : cap * share);
  return {
    requestsPerSecond: limits.requestsPerSecond * share,
    burst,
    requestsPerMinute: limits.requestsPerMinute === Infinity ? Infinity : Math.max(burst, Math.floor(limits.requestsPerMinute * share)),
    tokensPerMinute: part(limits.tokensPerMinute),
    inputTokensPerMinute: part(limits.inputTokensPerMinute),
    outputTokensPerMinute: part(limits.outputTokensPerMinute),
  };
}
