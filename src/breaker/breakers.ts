import { ConsecutiveBreaker, CountBreaker, SamplingBreaker, type IBreaker } from 'cockatiel';
import { ConfigError } from '../errors/errors.js';

/**
 * The declarative form of cockatiel's breakers, for configuration kept as data (JSON, a policy
 * file). `threshold` means what it means in cockatiel: consecutive failures for `consecutive`,
 * a failure rate (between 0 and 1, exclusive) for `sampling` and `count`.
 */
export type BreakerSpec =
  | { readonly kind: 'consecutive'; readonly threshold: number }
  | {
      readonly kind: 'sampling';
      readonly threshold: number;
      /** The window the failure rate is taken over. */
      readonly durationMs: number;
      /** Calls per second the window must see before it may open. @default cockatiel's: 5 failures per second at the threshold */
      readonly minimumRps?: number;
    }
  | {
      readonly kind: 'count';
      readonly threshold: number;
      /** The last `size` calls make the sample. */
      readonly size: number;
      /** Calls the sample must hold before it may open. @default size */
      readonly minimumNumberOfCalls?: number;
    };

/**
 * What decides that a scope's circuit opens: one of cockatiel's breakers
 * (`new SamplingBreaker({ threshold: 0.2, duration: 30_000, minimumRps: 5 })`, `CountBreaker`,
 * `ConsecutiveBreaker`, or any `IBreaker` whose own fields are plain data), or a {@link BreakerSpec}.
 * The object is a template: each scope gets its own copy (a breaker counts one scope's calls).
 */
export type BreakerOption = IBreaker | BreakerSpec;

/** What the status report shows of a scope's breaker. */
export interface BreakerFigures {
  readonly kind: 'consecutive' | 'sampling' | 'count' | 'custom';
  /** Consecutive failures that open it (`consecutive`), or the failure rate above which it opens (`sampling`, `count`); null for a custom breaker. */
  readonly threshold: number | null;
  /** Failures ÷ calls in its window now (`sampling`: the last `durationMs`; `count`: the last `size` calls); null for the others. */
  readonly failureRate: number | null;
  /** Calls in that window; null for the others. */
  readonly calls: number | null;
}

/** Checks a `breaker` configuration value; throws ConfigError naming the field, the value and the rule. */
export function checkBreaker(value: unknown, label = 'breaker'): BreakerOption {
  try {
    if (isBreaker(value)) {
      copyBreaker(value, label); // a breaker that cannot be copied per scope is refused now, not at first use
      return value;
    }
    if (typeof value === 'object' && value !== null && typeof (value as { kind?: unknown }).kind === 'string') {
      buildFromSpec(value as BreakerSpec, label);
      return value as BreakerSpec;
    }
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    // A value whose reads throw (a getter, a proxy) is refused like any bad value.
  }
  throw new ConfigError(label, value, "must be a cockatiel breaker (ConsecutiveBreaker, SamplingBreaker, CountBreaker, an IBreaker) or { kind: 'consecutive' | 'sampling' | 'count', ... }");
}

/** A new breaker for one scope: `option`'s, or a ConsecutiveBreaker(`threshold`) when none is configured. */
export function newBreaker(option: BreakerOption | undefined, threshold: number): IBreaker {
  if (option === undefined) return new ConsecutiveBreaker(threshold);
  return isBreaker(option) ? copyBreaker(option, 'breaker') : buildFromSpec(option, 'breaker');
}

/** Whether a breaker of this option needs every success, from the scope's first call (a failure rate does). */
export function countsEveryCall(option: BreakerOption | undefined): boolean {
  if (option === undefined) return false;
  return isBreaker(option) ? !(option instanceof ConsecutiveBreaker) : option.kind !== 'consecutive';
}

export function breakerFigures(breaker: IBreaker, now: number): BreakerFigures {
  const threshold = (breaker as { threshold?: unknown }).threshold;
  const numeric = typeof threshold === 'number' ? threshold : null;
  if (breaker instanceof ConsecutiveBreaker) return { kind: 'consecutive', threshold: numeric, failureRate: null, calls: null };
  if (breaker instanceof SamplingBreaker) {
    const { windows } = breaker.state as { windows: { startedAt: number; failures: number; successes: number }[] };
    const duration = (breaker as unknown as { duration: number }).duration;
    let failures = 0;
    let calls = 0;
    for (const window of windows) {
      if (now - window.startedAt >= duration) continue;
      failures += window.failures;
      calls += window.failures + window.successes;
    }
    return { kind: 'sampling', threshold: numeric, failureRate: calls === 0 ? 0 : failures / calls, calls };
  }
  if (breaker instanceof CountBreaker) {
    const { failures, successes } = breaker.state as { failures: number; successes: number };
    const calls = failures + successes;
    return { kind: 'count', threshold: numeric, failureRate: calls === 0 ? 0 : failures / calls, calls };
  }
  return { kind: 'custom', threshold: null, failureRate: null, calls: null };
}

/** The figures of a breaker that has seen no call yet (a scope without a circuit), without building one in the common case. */
export function unusedBreakerFigures(option: BreakerOption | undefined, threshold: number): BreakerFigures {
  if (option === undefined) return { kind: 'consecutive', threshold, failureRate: null, calls: null };
  return breakerFigures(newBreaker(option, threshold), 0);
}

/** No failure in the breaker's memory: forgetting it changes nothing a fresh one would decide. */
export function breakerIsIdle(breaker: IBreaker, now: number): boolean {
  if (breaker instanceof ConsecutiveBreaker) return breaker.state === 0;
  const figures = breakerFigures(breaker, now);
  return figures.calls !== null && figures.failureRate === 0;
}

function isBreaker(value: unknown): value is IBreaker {
  return typeof value === 'object' && value !== null && typeof (value as IBreaker).success === 'function' && typeof (value as IBreaker).failure === 'function';
}

/** Same class, own fields deep-copied: cockatiel's breakers keep plain data (counts, windows, samples). */
function copyBreaker(template: IBreaker, label: string): IBreaker {
  const copy = Object.create(Object.getPrototypeOf(template) as object) as Record<string, unknown>;
  try {
    for (const key of Object.keys(template)) copy[key] = structuredClone((template as unknown as Record<string, unknown>)[key]);
  } catch {
    throw new ConfigError(label, template, 'must be a breaker whose own fields are plain data: each scope gets its own copy');
  }
  return copy as unknown as IBreaker;
}

function checkRate(threshold: unknown): void {
  if (typeof threshold !== 'number' || !(threshold > 0 && threshold < 1)) throw new RangeError('threshold must be a failure rate between 0 and 1 (exclusive)');
}

function buildFromSpec(spec: BreakerSpec, label: string): IBreaker {
  try {
    switch (spec.kind) {
      case 'consecutive':
        if (!Number.isInteger(spec.threshold) || spec.threshold < 1) throw new RangeError('threshold must be an integer >= 1');
        return new ConsecutiveBreaker(spec.threshold);
      case 'sampling':
        checkRate(spec.threshold);
        if (!(spec.durationMs > 0) || !Number.isFinite(spec.durationMs)) throw new RangeError('durationMs must be a finite number > 0');
        if (spec.minimumRps !== undefined && !(spec.minimumRps > 0 && Number.isFinite(spec.minimumRps))) throw new RangeError('minimumRps must be a finite number > 0');
        return new SamplingBreaker({ threshold: spec.threshold, duration: spec.durationMs, ...(spec.minimumRps === undefined ? {} : { minimumRps: spec.minimumRps }) });
      case 'count':
        checkRate(spec.threshold);
        return new CountBreaker({ threshold: spec.threshold, size: spec.size, ...(spec.minimumNumberOfCalls === undefined ? {} : { minimumNumberOfCalls: spec.minimumNumberOfCalls }) });
      default:
        throw new RangeError("kind must be 'consecutive', 'sampling' or 'count'");
    }
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const rule = error instanceof Error ? error.message : String(error);
    throw new ConfigError(label, spec, rule);
  }
}
