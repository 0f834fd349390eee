import type { CircuitStateName } from '../breaker/circuit.js';
import type { RetryEvent, SuspendedEvent } from '../events/events.js';
import type { CallObserver } from '../manager/call-observer.js';
import type { ManagerCore } from '../manager/manager-core.js';
import type { Scope } from '../manager/scope.js';
import type { ScopeMeter } from '../spend/meter.js';
import { coreOf, type ThrottleManager } from '../manager/throttle-manager.js';
import { ConfigError } from '../errors/errors.js';
import { refusalOf, type RefusalReason } from './refusal.js';

/** Upper bounds (seconds) of the wait and attempt-duration histograms. */
export const SECONDS_BUCKETS: readonly number[] = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]);

/** The label value of a label set folded by the series cap. */
export const OTHER = '_other';


/** {@link SECONDS_BUCKETS} in ms: the call path gives whole ms, and is never asked to divide. */
const BOUNDS_MS: readonly number[] = SECONDS_BUCKETS.map((seconds) => seconds * 1000);

/** A histogram's counts per bucket (not cumulative; the last slot is +Inf), their sum and count. */
export class HistogramData {
  readonly counts = new Float64Array(SECONDS_BUCKETS.length + 1);
  sumMs = 0;
  count = 0;

  observeMs(ms: number): void {
    let index = 0;
    while (index < BOUNDS_MS.length && ms > BOUNDS_MS[index]!) index++;
    this.counts[index]!++;
    this.sumMs += ms;
    this.count++;
  }

  /** `count` observations of 0 ms. */
  observeZeroMs(count: number): void {
    this.counts[0]! += count;
    this.count += count;
  }

  /** The sum in seconds. */
  get sum(): number {
    return this.sumMs / 1000;
  }
}

// A type, not an interface: label objects are read as records.
export type ScopeLabels = {
  readonly service: string;
  /** '' when the scope has no platform (Prometheus treats an empty label as absent). */
  readonly platform: string;
};

/**
 * The histograms of one (service, endpoint) label set. Not per platform: a platform may stand
 * for each user of an application (thousands), and a histogram costs 17 series; per-scope
 * state is in the gauges and counters.
 */
export interface EndpointSeries {
  readonly labels: { readonly service: string; readonly endpoint: string };
  readonly wait: HistogramData;
  readonly succeeded: HistogramData;
  readonly failed: HistogramData;
  /** An exporter's own form of the labels (OpenTelemetry attributes), made once. */
  exported?: unknown;
}

/** Counts kept from the call path and events, per scope key: refusals by reason, retries by kind, suspensions. */
export interface ScopeTallies {
  readonly labels: ScopeLabels;
  readonly refusals: Map<RefusalReason, number>;
  readonly retries: Map<string, number>;
  suspensions: number;
}

/** One scope's figures at collection time, read from the live scope (nothing kept per call). */
export interface ScopeFigures {
  readonly labels: ScopeLabels;
  readonly calls: { readonly success: number; readonly failed: number; readonly rate_limited: number; readonly rejected: number; readonly cancelled: number };
  readonly attempts: { readonly success: number; readonly failure: number };
  readonly circuit: CircuitStateName;
  readonly tokens: number;
  readonly minuteRemaining: number | null;
  readonly queueLength: number;
  readonly inFlight: number;
  readonly suspended: boolean;
  /** Tokens still allowed in the rolling minute per token cap (null where uncapped); null without token caps. */
  readonly tokenRoom: { readonly total: number | null; readonly input: number | null; readonly output: number | null } | null;
  /** What the scope spent, per model; null while nothing meters it (README "LLM spend"). */
  readonly spend: ScopeSpend | null;
  /** Observe mode: refusals let through, by reason; null before the first. */
  readonly wouldRefuse: Readonly<Record<string, number>> | null;
}

/** A metered scope's spend (the running sums of its `ScopeMeter`) and its budget. */
export interface ScopeSpend {
  readonly models: readonly ModelFigures[];
  /** The budget of the current period: its amount and what is left (spent and reserved taken off). Null without a budget. */
  readonly budget: { readonly usd: number; readonly leftUsd: number } | null;
}

export interface ModelFigures {
  readonly model: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly usd: number;
}

export interface Collection {
  readonly scopes: readonly ScopeFigures[];
  /** Live scopes in total, and those left out by the series cap. */
  readonly scopeCount: number;
  readonly cappedScopes: number;
  readonly tallies: readonly ScopeTallies[];
  readonly series: readonly EndpointSeries[];
}

/** Told of each attempt's wait and duration (seconds; -1 when not timed) with its series: OpenTelemetry records its histograms here. */
export type AttemptHook = (series: EndpointSeries, waitSeconds: number, durationSeconds: number, ok: boolean) => void;

/** Told of each call floodgate refused, with the error its caller gets: OpenTelemetry adds its span event here. */
export type RefusalHook = (scope: Scope, refusal: NonNullable<ReturnType<typeof refusalOf>>, error: unknown) => void;

export interface FeedOptions {
  /** Label sets kept per metric; beyond it, scopes are left out of the scope gauges and new (scope, endpoint) series fold into `_other`. @default 10000 */
  readonly maxSeries?: number;
  readonly onAttempt?: AttemptHook;
  readonly onRefusal?: RefusalHook;
}

/**
 * What both exporters (Prometheus, OpenTelemetry) read: the manager's scopes at collection time,
 * plus the few things only the call path and events know (histograms, refusals by reason,
 * retries by kind, suspensions). Series of scopes the manager forgot are dropped at the next
 * collection, so an evicted scope leaves nothing behind.
 */
export class MetricsFeed implements CallObserver {
  readonly maxSeries: number;
  private readonly core: ManagerCore;
  private readonly onAttempt: AttemptHook | undefined;
  private readonly onRefusal: RefusalHook | undefined;
  /** Runs of successes are taken whole unless an exporter records each attempt apart (`onAttempt`, OpenTelemetry). */
  readonly successesAdmittedAtOnce?: (scope: Scope, endpoint: string | undefined, count: number) => void;
  private readonly byService = new Map<string, Map<string, EndpointSeries>>();
  private seriesCount = 0;
  private otherSeries: EndpointSeries | null = null;
  // The series of the latest attempt: a run of calls to one method finds it without a lookup.
  private lastService = '';
  private lastEndpoint = '';
  private lastSeries: EndpointSeries | null = null;
  private readonly tallies = new Map<string, ScopeTallies>();
  private detachObserver: (() => void) | null = null;
  private readonly onRetryEvent = (event: RetryEvent): void => {
    const tallies = this.talliesOf(event.scope, event.service, event.platform);
    if (tallies === null) return;
    const kind = event.classification.category;
    tallies.retries.set(kind, (tallies.retries.get(kind) ?? 0) + 1);
  };
  private readonly onSuspendedEvent = (event: SuspendedEvent): void => {
    const tallies = this.talliesOf(event.scope, event.service, event.platform);
    if (tallies !== null) tallies.suspensions++;
  };

  constructor(
    private readonly manager: ThrottleManager,
    options: FeedOptions,
  ) {
    this.core = coreOf(manager);
    const maxSeries = options.maxSeries ?? 10_000;
    if (!Number.isInteger(maxSeries) || maxSeries < 1) throw new ConfigError('maxSeries', maxSeries, 'must be an integer >= 1');
    this.maxSeries = maxSeries;
    this.onAttempt = options.onAttempt;
    if (this.onAttempt === undefined) this.successesAdmittedAtOnce = (scope, endpoint, count) => this.seriesOf(scope.service, endpoint ?? '').wait.observeZeroMs(count);
    this.onRefusal = options.onRefusal;
  }

  start(): void {
    if (this.detachObserver !== null) return;
    this.detachObserver = this.core.observers.attach(this);
    this.manager.on('retry', this.onRetryEvent);
    this.manager.on('suspended', this.onSuspendedEvent);
  }

  stop(): void {
    this.detachObserver?.();
    this.detachObserver = null;
    this.manager.off('retry', this.onRetryEvent);
    this.manager.off('suspended', this.onSuspendedEvent);
    this.byService.clear();
    this.tallies.clear();
    this.seriesCount = 0;
    this.otherSeries = null;
    this.lastSeries = null;
  }

  // CallObserver: on the call path, so no allocation once a series exists.

  attemptEnded(scope: Scope, endpoint: string | undefined, waitMs: number, tookMs: number, ok: boolean): void {
    const series = this.seriesOf(scope.service, endpoint ?? '');
    series.wait.observeMs(waitMs);
    // -1: a success the scope did not time (see CallObserver.attemptEnded); its wait is still known.
    if (tookMs >= 0) (ok ? series.succeeded : series.failed).observeMs(tookMs);
    if (this.onAttempt !== undefined) this.onAttempt(series, waitMs / 1000, tookMs < 0 ? -1 : tookMs / 1000, ok);
  }

  callFailed(scope: Scope, error: unknown): void {
    const refusal = refusalOf(error);
    if (refusal === null) return;
    const { reason } = refusal;
    const tallies = this.talliesOf(scope.key, scope.service, scope.platform);
    if (tallies !== null) tallies.refusals.set(reason, (tallies.refusals.get(reason) ?? 0) + 1);
    if (this.onRefusal !== undefined) this.onRefusal(scope, refusal, error);
  }

  /** Reads every live scope (up to the cap) and drops what belongs to scopes the manager forgot. */
  collect(now: number): Collection {
    // The successes the call path counted in its current run (see ObserverSlot) are told now.
    this.core.observers.flush();
    const registry = this.core.scopes;
    const scopes: ScopeFigures[] = [];
    const services = new Set<string>();
    let cappedScopes = 0;
    for (const scope of registry.values()) {
      services.add(scope.service);
      if (scopes.length >= this.maxSeries) cappedScopes++;
      else scopes.push(figuresOf(scope, now));
    }
    // What belongs to scopes (or services) the manager forgot goes with them.
    for (const [service, endpoints] of this.byService) {
      if (services.has(service)) continue;
      this.seriesCount -= endpoints.size;
      this.byService.delete(service);
      if (this.lastService === service) this.lastSeries = null;
    }
    for (const [key, tallies] of this.tallies) {
      if (tallies.labels.service !== OTHER && registry.getByKey(key) === undefined) this.tallies.delete(key);
    }
    const series: EndpointSeries[] = [];
    for (const endpoints of this.byService.values()) for (const one of endpoints.values()) series.push(one);
    if (this.otherSeries !== null) series.push(this.otherSeries);
    return { scopes, scopeCount: scopes.length + cappedScopes, cappedScopes, tallies: [...this.tallies.values()], series };
  }

  private seriesOf(service: string, endpoint: string): EndpointSeries {
    if (this.lastSeries !== null && this.lastService === service && this.lastEndpoint === endpoint) return this.lastSeries;
    let endpoints = this.byService.get(service);
    let series = endpoints?.get(endpoint);
    if (series === undefined) {
      if (this.seriesCount >= this.maxSeries) return (this.otherSeries ??= newSeries(OTHER, OTHER));
      if (endpoints === undefined) this.byService.set(service, (endpoints = new Map()));
      endpoints.set(endpoint, (series = newSeries(service, endpoint)));
      this.seriesCount++;
    }
    this.lastService = service;
    this.lastEndpoint = endpoint;
    this.lastSeries = series;
    return series;
  }

  private talliesOf(key: string, service: string, platform: string | undefined): ScopeTallies | null {
    let tallies = this.tallies.get(key);
    if (tallies !== undefined) return tallies;
    if (this.tallies.size >= this.maxSeries) {
      tallies = this.tallies.get(OTHER);
      if (tallies !== undefined) return tallies;
      key = OTHER;
      service = OTHER;
      platform = OTHER;
    }
    tallies = { labels: { service, platform: platform ?? '' }, refusals: new Map(), retries: new Map(), suspensions: 0 };
    this.tallies.set(key, tallies);
    return tallies;
  }
}

function newSeries(service: string, endpoint: string): EndpointSeries {
  return { labels: { service, endpoint }, wait: new HistogramData(), succeeded: new HistogramData(), failed: new HistogramData() };
}

function figuresOf(scope: Scope, now: number): ScopeFigures {
  const incidents = scope.incidentsOrNull;
  const snapshot = scope.limiter.snapshot(now);
  const suspension = scope.suspension;
  return {
    labels: { service: scope.service, platform: scope.platform ?? '' },
    calls: {
      success: scope.successes,
      failed: incidents?.failed ?? 0,
      rate_limited: incidents?.rateLimited ?? 0,
      rejected: incidents?.rejected ?? 0,
      cancelled: incidents?.cancelled ?? 0,
    },
    attempts: { success: scope.successes, failure: incidents?.failures ?? 0 },
    circuit: scope.circuit?.stateName ?? 'closed',
    tokens: snapshot.tokens,
    minuteRemaining: snapshot.minuteRemaining,
    queueLength: scope.queue?.size ?? 0,
    inFlight: scope.active,
    suspended: suspension !== null && suspension.until > now,
    tokenRoom: snapshot.tokensRemaining ?? null,
    spend: scope.meter === null ? null : spendOf(scope.meter, now),
    wouldRefuse: incidents?.wouldRefuse?.reasons() ?? null,
  };
}

function spendOf(meter: ScopeMeter, now: number): ScopeSpend {
  // What getCostSummary() shows for the scope (a budget whose period ended starts again).
  const costs = meter.costs(now);
  const models: ModelFigures[] = [];
  for (const [model, spent] of Object.entries(costs.models)) models.push({ model, inputTokens: spent.inputTokens, outputTokens: spent.outputTokens, usd: spent.usd });
  return { models, budget: costs.budget === null ? null : { usd: costs.budget.usd, leftUsd: costs.budget.leftUsd } };
}

/** One feed per (manager, key): `collectMetrics` and `instrument` are idempotent. */
export function onePer<K extends object, V>(cache: WeakMap<ThrottleManager, WeakMap<K, V>>, manager: ThrottleManager, key: K, create: () => V): V {
  let perKey = cache.get(manager);
  if (perKey === undefined) cache.set(manager, (perKey = new WeakMap()));
  let value = perKey.get(key);
  if (value === undefined) perKey.set(key, (value = create()));
  return value;
}

/** Forgets the cached value (after `unregister()`). */
export function forget<K extends object, V>(cache: WeakMap<ThrottleManager, WeakMap<K, V>>, manager: ThrottleManager, key: K): void {
  cache.get(manager)?.delete(key);
}
