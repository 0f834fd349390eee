import { ConfigError, DegradedError } from '../errors/errors.js';
import { RollingWindow } from '../limiter/rolling-window.js';
import { DeadlineTimer } from '../timers/deadline-timer.js';

/** The anti-loop guard over every outbound call (createFetch) of a manager. */
export interface GuardOptions {
  /**
   * Outbound attempts (createFetch calls, retries included) allowed in any rolling 60 s across
   * all outbound scopes of the manager; the next one trips the guard. @default Infinity (off)
   */
  readonly maxPerMinute?: number;
  /**
   * Failed outbound attempts (network errors, 429 and 5xx responses) in any rolling 60 s that
   * trip the guard: a storm of failures. @default Infinity (off)
   */
  readonly maxFailuresPerMinute?: number;
  /** How long degraded mode lasts once tripped (ms). @default 60000 */
  readonly cooldownMs?: number;
}

/** The guard in the status report (a plain JSON value). */
export interface GuardStatus {
  readonly state: 'ok' | 'degraded';
  /** End of degraded mode (epoch ms); null when ok. */
  readonly until: number | null;
  /** What tripped it; null when ok. */
  readonly reason: DegradedError['reason'] | null;
  /** The cap on outbound attempts per rolling minute; null when off. */
  readonly maxPerMinute: number | null;
  /** Outbound attempts counted in the last 60 s; null when the cap is off. */
  readonly count: number | null;
}

/** Told when degraded mode begins and ends (the manager's `degraded` and `recovered` events). */
export interface GuardListener {
  /** `fromFleet`: another process tripped its guard (do not publish it back). */
  onDegraded(until: number, reason: DegradedError['reason'], fromFleet: boolean): void;
  onRecovered(): void;
}

type ResolvedGuard = Required<GuardOptions>;

/** The longest degraded mode a message from the fleet can impose. */
const MAX_ADOPTED_MS = 24 * 60 * 60 * 1000;

const DEFAULTS: ResolvedGuard = Object.freeze({ maxPerMinute: Infinity, maxFailuresPerMinute: Infinity, cooldownMs: 60_000 });
const KEYS: ReadonlySet<string> = new Set(Object.keys(DEFAULTS));

/**
 * Seed 000's global anti-loop guard: a hard cap on outbound attempts per rolling minute and a
 * failure-storm trip, both across the whole manager, then a cooldown during which every outbound
 * call is refused with DegradedError. Counting starts afresh when the cooldown ends. Local to
 * the process (see README "Anti-loop guard").
 */
export class OutboundGuard {
  private options: ResolvedGuard = DEFAULTS;
  private starts: RollingWindow | null = null;
  private failures: RollingWindow | null = null;
  private until = 0;
  private reason: DegradedError['reason'] | null = null;
  /** Announces the end of the cooldown (unref'd: calls check the time themselves). */
  private readonly timer = new DeadlineTimer(() => this.recoverIfDue(Date.now()));

  constructor(private readonly listener: GuardListener) {
    this.timer.keepAlive(false);
  }

  /** Merges `partial` onto the guard's options; a bad value throws ConfigError and changes nothing. */
  configure(partial: GuardOptions): void {
    const next = { ...this.options, ...validate(partial) };
    this.options = next;
    this.starts = windowFor(next.maxPerMinute);
    this.failures = windowFor(next.maxFailuresPerMinute);
  }

  /** True while degraded (or until the first check after the cooldown ended). */
  get degraded(): boolean {
    return this.reason !== null;
  }

  /** The DegradedError a call of `scope` gets now, or null when the guard is not degraded (the inbound limiter answers with it). */
  refusal(scope: string, now: number): DegradedError | null {
    return this.reason !== null && !this.recoverIfDue(now) ? new DegradedError(scope, this.until, this.reason) : null;
  }

  /** Throws DegradedError while degraded (before a call is admitted: it would be refused anyway). */
  throwIfDegraded(scope: string, now: number): void {
    const refusal = this.refusal(scope, now);
    if (refusal !== null) throw refusal;
  }

  /** False while the guard neither counts attempts (no cap) nor refuses them (not degraded): {@link admit} would do nothing. */
  get watching(): boolean {
    return this.starts !== null || this.reason !== null;
  }

  /** Counts an outbound attempt about to start; throws DegradedError while degraded or when this one is past the cap. */
  admit(scope: string, now: number): void {
    this.throwIfDegraded(scope, now);
    const starts = this.starts;
    if (starts === null) return;
    if (starts.wait(now) > 0) throw this.trip(scope, now, 'max_per_minute');
    starts.addStart(now);
  }

  /** Counts a failed outbound attempt; a storm trips the guard for the calls that follow. */
  failure(scope: string, now: number): void {
    const failures = this.failures;
    if (failures === null || this.reason !== null) return;
    failures.addStart(now);
    if (failures.wait(now) > 0) this.trip(scope, now, 'failure_storm');
  }

  status(now: number): GuardStatus {
    if (this.reason !== null) this.recoverIfDue(now);
    const { maxPerMinute } = this.options;
    const cap = this.starts === null ? { maxPerMinute: null, count: null } : { maxPerMinute, count: maxPerMinute - this.starts.remaining(now) };
    return this.reason === null ? { state: 'ok', until: null, reason: null, ...cap } : { state: 'degraded', until: this.until, reason: this.reason, ...cap };
  }

  /** Back to ok at once, counts forgotten (the manager's reset() and close()). */
  reset(): void {
    this.timer.disarm();
    this.reason = null;
    this.until = 0;
    this.configure({});
  }

  private trip(scope: string, now: number, reason: DegradedError['reason']): DegradedError {
    this.until = now + this.options.cooldownMs;
    this.reason = reason;
    this.timer.arm(this.until);
    this.listener.onDegraded(this.until, reason, false);
    return new DegradedError(scope, this.until, reason);
  }

  /**
   * Fleet mode: another process's guard tripped (`payload`: `{ ms, reason }` from the shared
   * store); this one is degraded as long. A malformed or hostile message changes nothing; a
   * degraded mode beyond a day is cut to a day.
   */
  adopt(payload: string, now: number): void {
    let message: unknown;
    try {
      message = JSON.parse(payload);
    } catch {
      return;
    }
    const { ms, reason } = (message ?? {}) as { ms?: unknown; reason?: unknown };
    if (typeof ms !== 'number' || !(ms > 0) || (reason !== 'max_per_minute' && reason !== 'failure_storm')) return;
    const until = now + Math.min(Math.ceil(ms), MAX_ADOPTED_MS);
    if (this.reason !== null && until <= this.until) return;
    this.until = until;
    this.reason = reason;
    this.timer.arm(until);
    this.listener.onDegraded(until, reason, true);
  }

  /** Ends degraded mode once its time has come; true when the guard is ok now. */
  private recoverIfDue(now: number): boolean {
    if (this.reason === null) return true;
    if (now < this.until) return false;
    this.timer.disarm();
    this.reason = null;
    this.until = 0;
    // The count starts afresh: the calls that tripped the guard must not trip it again.
    this.configure({});
    this.listener.onRecovered();
    return true;
  }
}

function windowFor(limit: number): RollingWindow | null {
  return limit === Infinity ? null : new RollingWindow(limit);
}

function validate(partial: GuardOptions): GuardOptions {
  if (partial === null || typeof partial !== 'object') throw new ConfigError('guard', partial, 'must be an object');
  const out: { -readonly [K in keyof GuardOptions]: number } = {};
  for (const key of Object.keys(partial)) {
    if (!KEYS.has(key)) throw new ConfigError(`guard.${key}`, (partial as Record<string, unknown>)[key], `unknown key (known: ${[...KEYS].join(', ')})`);
    const value = (partial as Record<string, unknown>)[key];
    if (value === undefined) continue;
    if (key === 'cooldownMs') {
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new ConfigError('guard.cooldownMs', value, 'must be a finite number > 0');
    } else if (typeof value !== 'number' || !(value === Infinity || (Number.isInteger(value) && value >= 1))) {
      throw new ConfigError(`guard.${key}`, value, 'must be an integer >= 1 or Infinity');
    }
    out[key as keyof GuardOptions] = value;
  }
  return out;
}
