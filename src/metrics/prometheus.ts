import { ConfigError } from '../errors/errors.js';
import type { ThrottleManager } from '../manager/throttle-manager.js';
import { forget, MetricsFeed, onePer, SECONDS_BUCKETS, type Collection, type HistogramData, type ScopeLabels } from './feed.js';

/**
 * The part of a prom-client `Registry` floodgate uses (prom-client 15). floodgate registers its
 * own metric objects in YOUR registry, read at scrape time: it never imports prom-client, so
 * the metrics cannot land in a second copy's registry, and nothing else (no default metrics)
 * is switched on.
 */
export interface PrometheusRegistry {
  registerMetric(metric: never): void;
  getSingleMetric(name: string): unknown;
  removeSingleMetric(name: string): void;
}

export interface CollectMetricsOptions {
  /** Where the metrics are registered: your prom-client `Registry` (or prom-client's global `register`). */
  readonly registry: PrometheusRegistry;
  /** Prepended to every metric name. @default 'floodgate_' */
  readonly prefix?: string;
  /**
   * Label sets per metric: beyond it, scopes are left out of the per-scope metrics (counted in
   * `<prefix>metrics_capped_scopes`) and new histogram series fold into one `_other` series.
   * @default 10000
   */
  readonly maxSeries?: number;
}

export interface MetricsCollector {
  /** The metric names registered, prefix included. */
  readonly names: readonly string[];
  /** Removes every floodgate metric (and so every series) from the registry and detaches from the manager. */
  unregister(): void;
}

type Labels = Readonly<Record<string, string | number>>;
interface Sample {
  readonly labels: Labels;
  readonly value: number;
  readonly metricName?: string;
}
type MetricType = 'counter' | 'gauge' | 'histogram';

const collectors = new WeakMap<ThrottleManager, WeakMap<PrometheusRegistry, MetricsCollector>>();
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * Exposes `manager`'s metrics in `registry` (see the README's metric table). Idempotent: a second
 * call with the same manager and registry returns the same collector (its options stand).
 * Counters and gauges are read from the scopes at scrape time; only the wait and
 * attempt-duration histograms and the refusal, retry and suspension counts are kept as calls
 * happen (through the manager's observer slot).
 */
export function collectMetrics(manager: ThrottleManager, options: CollectMetricsOptions): MetricsCollector {
  const registry = options?.registry;
  if (registry === null || typeof registry !== 'object' || typeof registry.registerMetric !== 'function' || typeof registry.removeSingleMetric !== 'function' || typeof registry.getSingleMetric !== 'function') {
    throw new ConfigError('registry', registry, 'must be a prom-client Registry (registerMetric, getSingleMetric, removeSingleMetric)');
  }
  return onePer(collectors, manager, registry, () => createCollector(manager, registry, options));
}

function createCollector(manager: ThrottleManager, registry: PrometheusRegistry, options: CollectMetricsOptions): MetricsCollector {
  const prefix = options.prefix ?? 'floodgate_';
  if (typeof prefix !== 'string' || (prefix !== '' && !NAME.test(prefix))) throw new ConfigError('prefix', prefix, 'must match [a-zA-Z_:][a-zA-Z0-9_:]* (or be empty)');
  const feed = new MetricsFeed(manager, { maxSeries: options.maxSeries });
  // One reading of the scopes per scrape: the registry asks every metric in the same tick.
  let collection: Collection | null = null;
  const current = (): Collection => {
    if (collection === null) {
      collection = feed.collect(Date.now());
      queueMicrotask(() => (collection = null));
    }
    return collection;
  };
  const metrics = METRICS.map((definition) => new FloodgateMetric(prefix + definition.name, definition, current));
  for (const metric of metrics) {
    if (registry.getSingleMetric(metric.name) !== undefined) throw new ConfigError('prefix', prefix, `must not clash with a metric already in the registry (${metric.name})`);
  }
  for (const metric of metrics) registry.registerMetric(metric as never);
  feed.start();
  return {
    names: metrics.map((metric) => metric.name),
    unregister() {
      feed.stop();
      for (const metric of metrics) {
        // OpenMetrics registries rename counters (no `_total`): remove under either name, only ours.
        for (const name of new Set([metric.name, metric.registeredName])) {
          if (registry.getSingleMetric(name) === metric) registry.removeSingleMetric(name);
        }
      }
      forget(collectors, manager, registry);
    },
  };
}

interface MetricDefinition {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly samples: (collection: Collection, name: string) => Sample[];
}

/** A metric object in prom-client's registry contract: `get()` is read at each scrape. */
class FloodgateMetric {
  readonly help: string;
  readonly type: MetricType;
  readonly aggregator = 'sum';
  /** The name at registration; an OpenMetrics registry strips a counter's `_total` from `name`. */
  readonly registeredName: string;

  constructor(
    public name: string,
    private readonly definition: MetricDefinition,
    private readonly current: () => Collection,
  ) {
    this.help = definition.help;
    this.type = definition.type;
    this.registeredName = name;
  }

  get(): { name: string; help: string; type: MetricType; values: Sample[]; aggregator: string } {
    return { name: this.name, help: this.help, type: this.type, values: this.definition.samples(this.current(), this.registeredName), aggregator: this.aggregator };
  }

  /** prom-client's `registry.resetMetrics()`: these values are read from the manager, nothing to reset. */
  reset(): void {}
}

function perScope(collection: Collection, each: (figures: Collection['scopes'][number], labels: ScopeLabels) => Sample[] | Sample | null): Sample[] {
  const samples: Sample[] = [];
  for (const figures of collection.scopes) {
    const result = each(figures, figures.labels);
    if (result === null) continue;
    if (Array.isArray(result)) samples.push(...result);
    else samples.push(result as Sample);
  }
  return samples;
}

function histogramSamples(name: string, labels: Labels, data: HistogramData): Sample[] {
  const samples: Sample[] = [];
  let cumulative = 0;
  for (let index = 0; index < SECONDS_BUCKETS.length; index++) {
    cumulative += data.counts[index]!;
    samples.push({ metricName: `${name}_bucket`, labels: { ...labels, le: SECONDS_BUCKETS[index]! }, value: cumulative });
  }
  samples.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: data.count });
  samples.push({ metricName: `${name}_sum`, labels, value: data.sum });
  samples.push({ metricName: `${name}_count`, labels, value: data.count });
  return samples;
}

const CIRCUIT_STATES = ['closed', 'open', 'half_open'] as const;
const TOKEN_CAPS = ['total', 'input', 'output'] as const;

/** The metric table (README: "Metrics"). Names without the prefix. */
const METRICS: readonly MetricDefinition[] = [
  {
    name: 'calls_total',
    help: 'Calls by how they ended (success, failed, rate_limited, rejected, cancelled).',
    type: 'counter',
    samples: (c) => perScope(c, (f, l) => Object.entries(f.calls).map(([outcome, value]) => ({ labels: { ...l, outcome }, value }))),
  },
  {
    name: 'attempts_total',
    help: 'Attempts that reached the provider, retries included, by outcome (success, failure).',
    type: 'counter',
    samples: (c) => perScope(c, (f, l) => [
      { labels: { ...l, outcome: 'success' }, value: f.attempts.success },
      { labels: { ...l, outcome: 'failure' }, value: f.attempts.failure },
    ]),
  },
  {
    name: 'retries_total',
    help: 'Retries made, by kind (the error category of the failure retried).',
    type: 'counter',
    samples: (c) => {
      const samples: Sample[] = [];
      for (const tallies of c.tallies) for (const [kind, value] of tallies.retries) samples.push({ labels: { ...tallies.labels, kind }, value });
      return samples;
    },
  },
  {
    name: 'refusals_total',
    help: 'Calls refused by floodgate, by reason (queue_full, max_wait, paused, circuit_open, suspended).',
    type: 'counter',
    samples: (c) => {
      const samples: Sample[] = [];
      for (const tallies of c.tallies) for (const [reason, value] of tallies.refusals) samples.push({ labels: { ...tallies.labels, reason }, value });
      return samples;
    },
  },
  {
    name: 'would_refuse_total',
    help: 'Observe mode: calls enforce mode would have refused and observe mode let through, by reason.',
    type: 'counter',
    samples: (c) => perScope(c, (f, l) => (f.wouldRefuse === null ? null : Object.entries(f.wouldRefuse).map(([reason, value]) => ({ labels: { ...l, reason }, value })))),
  },
  {
    name: 'suspensions_total',
    help: 'Suspensions begun (bans detected, suspend() calls, the fleet).',
    type: 'counter',
    samples: (c) => {
      const samples: Sample[] = [];
      for (const tallies of c.tallies) if (tallies.suspensions > 0) samples.push({ labels: tallies.labels, value: tallies.suspensions });
      return samples;
    },
  },
  {
    name: 'circuit_state',
    help: 'Circuit state per scope: 1 for the current state (closed, open, half_open), 0 for the others.',
    type: 'gauge',
    samples: (c) => perScope(c, (f, l) => CIRCUIT_STATES.map((state) => ({ labels: { ...l, state }, value: f.circuit === state ? 1 : 0 }))),
  },
  {
    name: 'suspended',
    help: '1 while the scope is suspended, else 0.',
    type: 'gauge',
    samples: (c) => perScope(c, (f, labels) => ({ labels, value: f.suspended ? 1 : 0 })),
  },
  {
    name: 'tokens',
    help: 'Tokens in the per-second bucket now.',
    type: 'gauge',
    samples: (c) => perScope(c, (f, labels) => ({ labels, value: f.tokens })),
  },
  {
    name: 'minute_window_remaining',
    help: 'Starts still allowed in the rolling 60-second window (absent when requestsPerMinute cannot bind).',
    type: 'gauge',
    samples: (c) => perScope(c, (f, labels) => (f.minuteRemaining === null ? null : { labels, value: f.minuteRemaining })),
  },
  {
    name: 'queue_length',
    help: 'Calls waiting for admission.',
    type: 'gauge',
    samples: (c) => perScope(c, (f, labels) => ({ labels, value: f.queueLength })),
  },
  {
    name: 'in_flight',
    help: 'Calls admitted and not yet settled.',
    type: 'gauge',
    samples: (c) => perScope(c, (f, labels) => ({ labels, value: f.inFlight })),
  },
  {
    name: 'scopes',
    help: 'Live scopes in the manager.',
    type: 'gauge',
    samples: (c) => [{ labels: {}, value: c.scopeCount }],
  },
  {
    name: 'metrics_capped_scopes',
    help: 'Scopes left out of the per-scope metrics by the series cap (maxSeries).',
    type: 'gauge',
    samples: (c) => [{ labels: {}, value: c.cappedScopes }],
  },
  {
    name: 'llm_tokens_total',
    help: 'LLM tokens used by metered calls that ended, by model and type (input, output): the usage the provider reported, else the estimate.',
    type: 'counter',
    samples: (c) => perScope(c, (f, l) => f.spend?.models.flatMap(({ model, inputTokens, outputTokens }) => [
      { labels: { ...l, model, type: 'input' }, value: inputTokens },
      { labels: { ...l, model, type: 'output' }, value: outputTokens },
    ]) ?? null),
  },
  {
    name: 'cost_usd_total',
    help: 'Spend of metered calls that ended, in USD at the manager\'s price table, by model.',
    type: 'counter',
    samples: (c) => perScope(c, (f, l) => f.spend?.models.map(({ model, usd }) => ({ labels: { ...l, model }, value: usd })) ?? null),
  },
  {
    name: 'budget_usd',
    help: 'The scope\'s budget for its current period, in USD (absent without a budget).',
    type: 'gauge',
    samples: (c) => perScope(c, (f, labels) => (f.spend?.budget == null ? null : { labels, value: f.spend.budget.usd })),
  },
  {
    name: 'budget_remaining_usd',
    help: 'USD left in the budget\'s current period: spend and the reservations of calls in flight taken off.',
    type: 'gauge',
    samples: (c) => perScope(c, (f, labels) => (f.spend?.budget == null ? null : { labels, value: f.spend.budget.leftUsd })),
  },
  {
    name: 'llm_token_window_remaining',
    help: 'LLM tokens still allowed in the rolling 60-second window, per token cap (total, input, output; absent where uncapped).',
    type: 'gauge',
    samples: (c) => perScope(c, (f, l) => {
      const room = f.tokenRoom;
      if (room === null) return null;
      const samples: Sample[] = [];
      for (const type of TOKEN_CAPS) if (room[type] !== null) samples.push({ labels: { ...l, type }, value: room[type] });
      return samples;
    }),
  },
  {
    name: 'wait_seconds',
    help: 'Time an attempt waited for admission (queue, limits, a provider pause), in seconds.',
    type: 'histogram',
    samples: (c, name) => {
      const samples: Sample[] = [];
      for (const series of c.series) if (series.wait.count > 0) samples.push(...histogramSamples(name, series.labels, series.wait));
      return samples;
    },
  },
  {
    name: 'attempt_duration_seconds',
    help: 'Duration of each attempt, from admission to its answer, in seconds, by outcome (success, failure).',
    type: 'histogram',
    samples: (c, name) => {
      const samples: Sample[] = [];
      for (const series of c.series) {
        if (series.succeeded.count > 0) samples.push(...histogramSamples(name, { ...series.labels, outcome: 'success' }, series.succeeded));
        if (series.failed.count > 0) samples.push(...histogramSamples(name, { ...series.labels, outcome: 'failure' }, series.failed));
      }
      return samples;
    },
  },
];
