import { CircuitState, ConsecutiveBreaker, type IBreaker } from 'cockatiel';
import { breakerFigures, breakerIsIdle, newBreaker, type BreakerFigures, type BreakerOption } from './breakers.js';

export type CircuitStateName = 'closed' | 'open' | 'half_open';

const STATE_NAMES: Record<CircuitState, CircuitStateName> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half_open',
  // Floodgate never isolates a circuit; suspension plays that role.
  [CircuitState.Isolated]: 'open',
};

/** Told of every transition; one listener serves every circuit of a manager. */
export interface CircuitListener {
  onCircuitChange(owner: unknown, from: CircuitStateName, to: CircuitStateName): void;
}

/**
 * Fleet mode (`RedisStore({ shareCircuit: true })`): told of the transitions this process
 * decides itself, so the store can apply them fleet-wide. Transitions applied from the fleet
 * (`forceOpen`, `forceClose`, `beginProbe`) are not told back.
 */
export interface CircuitSink {
  /** This circuit opened (threshold reached, or its probe failed) for `resetMs`. */
  opened(resetMs: number): void;
  /** This circuit's probe succeeded. */
  closed(): void;
}

/** What a circuit is configured with (the fields of ThrottleConfig it reads). */
export interface CircuitSettings {
  readonly circuitBreakerThreshold: number;
  readonly circuitBreakerResetMs: number;
  readonly breaker?: BreakerOption | undefined;
}

/**
 * A circuit breaker driven by timestamps, with no timer and no allocation per call.
 *
 * cockatiel's `CircuitBreakerPolicy.execute()` wraps each call in promises and result
 * objects; here the decision to open is cockatiel's own {@link IBreaker} strategy, chosen per
 * scope (`breaker`: ConsecutiveBreaker, SamplingBreaker, CountBreaker; a ConsecutiveBreaker of
 * `circuitBreakerThreshold` by default), and the closed → open → half-open cycle is a few
 * comparisons. In half-open exactly one call, the probe, goes through.
 */
export class Circuit {
  private state = CircuitState.Closed;
  private openedAt = 0;
  /** Fleet mode only; read on transitions, never on a call's way through. */
  private sink: CircuitSink | null = null;
  /** Times this circuit has closed: lets the fleet tell an answer given before the latest closing. */
  private closingCount = 0;
  /** Counted failures since the last success, whatever the breaker (for the report). */
  private consecutive = 0;
  private resetMs: number;
  private breaker: IBreaker;
  /** What the breaker was built from, to tell whether a new configuration changes it. */
  private built: { readonly option: BreakerOption | undefined; readonly threshold: number };

  constructor(
    private readonly owner: unknown,
    private readonly listener: CircuitListener,
    settings: CircuitSettings,
  ) {
    this.resetMs = settings.circuitBreakerResetMs;
    this.built = { option: settings.breaker, threshold: settings.circuitBreakerThreshold };
    this.breaker = newBreaker(settings.breaker, settings.circuitBreakerThreshold);
  }

  /** A circuit opened by `threshold` consecutive counted failures (the default breaker). */
  static consecutive(owner: unknown, listener: CircuitListener, threshold: number, resetMs: number): Circuit {
    return new Circuit(owner, listener, { circuitBreakerThreshold: threshold, circuitBreakerResetMs: resetMs });
  }

  get stateName(): CircuitStateName {
    return STATE_NAMES[this.state];
  }

  /** How long an opened circuit refuses calls before it lets a probe through. */
  get resetAfterMs(): number {
    return this.resetMs;
  }

  /** When an open circuit lets its probe through (epoch ms). */
  get retryAt(): number {
    return this.openedAt + this.resetMs;
  }

  /** How many times this circuit has closed (by a probe here or by the fleet's word). */
  get closings(): number {
    return this.closingCount;
  }

  /** Consecutive counted failures so far (for the report). */
  get failures(): number {
    return this.consecutive;
  }

  /** The breaker's kind and figures (failure rate where it has one), for the report. */
  breakerFigures(now: number): BreakerFigures {
    return breakerFigures(this.breaker, now);
  }

  /**
   * Whether a call may go through now. Past the reset time an open circuit turns
   * half-open and this call becomes the probe; while the probe runs, others are refused.
   */
  allow(now: number): boolean {
    if (this.state === CircuitState.Closed) return true;
    if (this.state === CircuitState.Open && now >= this.openedAt + this.resetMs) {
      this.transition(CircuitState.HalfOpen);
      return true;
    }
    return false;
  }

  /** The provider answered properly (a caller's own 400 counts as an answer too). */
  success(): void {
    this.consecutive = 0;
    this.breaker.success(this.state);
    if (this.state === CircuitState.HalfOpen) {
      this.transition(CircuitState.Closed);
      if (this.sink !== null) this.sink.closed();
    }
  }

  /** A failure that counts against the provider. */
  failure(now: number): void {
    this.consecutive++;
    if (this.state === CircuitState.HalfOpen) {
      this.breaker.failure(this.state);
      this.open(now);
    } else if (this.state === CircuitState.Closed && this.breaker.failure(this.state)) {
      this.open(now);
    }
  }

  /** The probe never reached the provider (it was refused by a limit or cancelled): let the next call probe. */
  abandonProbe(now: number): void {
    if (this.state !== CircuitState.HalfOpen) return;
    this.openedAt = now - this.resetMs;
    this.transition(CircuitState.Open);
  }

  /** A new configuration: a new breaker only when its settings changed (a consecutive count carries over). */
  reconfigure(settings: CircuitSettings): void {
    this.resetMs = settings.circuitBreakerResetMs;
    const { breaker: option, circuitBreakerThreshold: threshold } = settings;
    if (option === this.built.option && (option !== undefined || threshold === this.built.threshold)) return;
    this.built = { option, threshold };
    this.breaker = newBreaker(option, threshold);
    if (this.breaker instanceof ConsecutiveBreaker) this.breaker.state = this.consecutive;
  }

  // Fleet mode: a shared store drives these; a memory store never calls them.

  /** Reports this circuit's own openings and probe successes to `sink` from now on. */
  shareWith(sink: CircuitSink): void {
    this.sink = sink;
  }

  /** The fleet holds the scope open until `until` (epoch ms): refuse until then, then let a probe try. */
  forceOpen(until: number): void {
    if (this.state === CircuitState.Open && this.retryAt >= until) return;
    this.openedAt = until - this.resetMs;
    this.transition(CircuitState.Open);
  }

  /** The fleet's probe succeeded elsewhere. */
  forceClose(): void {
    // cockatiel's breakers forget their window when their own probe succeeds: so here too.
    if (this.state !== CircuitState.Closed && !(this.breaker instanceof ConsecutiveBreaker)) this.breaker = newBreaker(this.built.option, this.built.threshold);
    this.transition(CircuitState.Closed);
  }

  /** The fleet chose the call now being admitted here as its probe: nobody else here passes until it settles. */
  beginProbe(): void {
    this.transition(CircuitState.HalfOpen);
  }

  /** Closed with no failure in memory: forgetting this circuit changes nothing. */
  isIdle(now: number): boolean {
    return this.state === CircuitState.Closed && this.consecutive === 0 && breakerIsIdle(this.breaker, now);
  }

  private open(now: number): void {
    this.openedAt = now;
    this.transition(CircuitState.Open);
    if (this.sink !== null) this.sink.opened(this.resetMs);
  }

  private transition(to: CircuitState): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    if (to === CircuitState.Closed) {
      if (this.breaker instanceof ConsecutiveBreaker) this.breaker.state = 0;
      this.consecutive = 0;
      this.closingCount++;
    }
    this.listener.onCircuitChange(this.owner, STATE_NAMES[from], STATE_NAMES[to]);
  }
}
