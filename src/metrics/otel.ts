import { metrics, trace, type Attributes, type BatchObservableResult, type Histogram, type MeterProvider, type Observable, type TracerProvider } from '@opentelemetry/api';
import type { CircuitStateChangeEvent, RetryEvent } from '../events/events.js';
import type { ThrottleManager } from '../manager/throttle-manager.js';
import { forget, MetricsFeed, onePer, SECONDS_BUCKETS, type EndpointSeries, type ScopeLabels } from './feed.js';

/**
 * The part of an OpenTelemetry `MeterProvider` floodgate uses. A structural type: floodgate's
 * published types never require `@opentelemetry/api`'s.
 */
export interface MeterProviderLike {
  getMeter(name: string, version?: string): unknown;
}

/** The part of an OpenTelemetry `TracerProvider` floodgate uses. */
export interface TracerProviderLike {
  getTracer(name: string, version?: string): unknown;
}

export interface InstrumentOptions {
  /** Where the instruments are created. @default the global provider (`metrics.getMeterProvider()`) */
  readonly meterProvider?: MeterProviderLike;
  /**
   * Where a circuit change is recorded as a span of its own when no span is active (otherwise
   * it is an event on the active span). @default the global provider (`trace.getTracerProvider()`)
   */
  readonly tracerProvider?: TracerProviderLike;
  /** As for `collectMetrics`: attribute sets per instrument before the `_other` fold. @default 10000 */
  readonly maxSeries?: number;
}

export interface Instrumentation {
  /** Stops observing: the observable instruments report nothing more, span events stop. */
  unregister(): void;
}

const instrumented = new WeakMap<ThrottleManager, WeakMap<object, Instrumentation>>();
const SCOPE_NAME = 'floodgate';

/**
 * Instruments `manager` with OpenTelemetry through `@opentelemetry/api` only: the metrics of
 * `floodgate/prometheus` as OpenTelemetry instruments (counters and gauges observed at
 * collection, histograms recorded per attempt), and span events (retry, refusal, circuit
 * change) on the caller's active span. Idempotent per (manager, meterProvider).
 */
export function instrument(manager: ThrottleManager, options: InstrumentOptions = {}): Instrumentation {
  const meterProvider = (options.meterProvider ?? metrics.getMeterProvider()) as MeterProvider;
  return onePer(instrumented, manager, meterProvider, () => create(manager, meterProvider, options));
}

function create(manager: ThrottleManager, meterProvider: MeterProvider, options: InstrumentOptions): Instrumentation {
  const meter = meterProvider.getMeter(SCOPE_NAME);
  const tracerProvider = (options.tracerProvider ?? trace.getTracerProvider()) as TracerProvider;
  const histogram = (name: string, description: string): Histogram =>
    meter.createHistogram(name, { description, unit: 's', advice: { explicitBucketBoundaries: [...SECONDS_BUCKETS] } });
  const waitHistogram = histogram('floodgate.wait.duration', 'Time an attempt waited for admission (queue, limits, a provider pause).');
  const attemptHistogram = histogram('floodgate.attempt.duration', 'Duration of each attempt, from admission to its answer.');
  const feed = new MetricsFeed(manager, {
    maxSeries: options.maxSeries,
    // Span events: on the span active where the decision is made (the caller's, when it has one).
    onRefusal(scope, refusal, error) {
      guarded(() => {
        const span = trace.getActiveSpan();
        if (span === undefined || !span.isRecording()) return;
        const attributes: Attributes = { 'floodgate.scope': scope.key, 'floodgate.refusal.reason': refusal.reason, 'error.type': (error as Error).name };
        if (refusal.retryAfterMs !== undefined) attributes['floodgate.retry_after_ms'] = refusal.retryAfterMs;
        span.addEvent('floodgate.refusal', attributes);
      });
    },
    onAttempt(series, waitSeconds, durationSeconds, ok) {
      const attributes = (series.exported ??= attributesOf(series)) as { wait: Attributes; succeeded: Attributes; failed: Attributes };
      // Guarded as guarded() does, inline: no closure per attempt.
      try {
        waitHistogram.record(waitSeconds, attributes.wait);
        if (durationSeconds >= 0) attemptHistogram.record(durationSeconds, ok ? attributes.succeeded : attributes.failed);
      } catch {
        // Dropped; the call goes on.
      }
    },
  });

  const calls = meter.createObservableCounter('floodgate.calls', { description: 'Calls by how they ended.', unit: '{call}' });
  const attempts = meter.createObservableCounter('floodgate.attempts', { description: 'Attempts that reached the provider, retries included.', unit: '{attempt}' });
  const retries = meter.createObservableCounter('floodgate.retries', { description: 'Retries made, by the error category retried (error.type).', unit: '{retry}' });
  const refusals = meter.createObservableCounter('floodgate.refusals', { description: 'Calls refused by floodgate, by reason.', unit: '{call}' });
  const wouldRefuse = meter.createObservableCounter('floodgate.would_refuse', { description: 'Observe mode: calls enforce mode would have refused, let through, by reason.', unit: '{call}' });
  const suspensions = meter.createObservableCounter('floodgate.suspensions', { description: 'Suspensions begun.', unit: '{suspension}' });
  const circuitState = meter.createObservableGauge('floodgate.circuit.state', { description: 'Circuit state per scope: 1 for the current state, 0 for the others.' });
  const suspended = meter.createObservableGauge('floodgate.suspended', { description: '1 while the scope is suspended.' });
  const tokens = meter.createObservableGauge('floodgate.tokens', { description: 'Tokens in the per-second bucket now.', unit: '{token}' });
  const minuteRemaining = meter.createObservableGauge('floodgate.minute_window.remaining', { description: 'Starts still allowed in the rolling 60-second window.', unit: '{call}' });
  const queueLength = meter.createObservableGauge('floodgate.queue.length', { description: 'Calls waiting for admission.', unit: '{call}' });
  const inFlight = meter.createObservableGauge('floodgate.in_flight', { description: 'Calls admitted and not yet settled.', unit: '{call}' });
  const scopes = meter.createObservableGauge('floodgate.scopes', { description: 'Live scopes in the manager.', unit: '{scope}' });
  // GenAI semantic-convention attributes (gen_ai.request.model, gen_ai.token.type); the instruments
  // are floodgate's own: the convention's gen_ai.client.token.usage is a per-call histogram.
  const llmTokens = meter.createObservableCounter('floodgate.llm.tokens', { description: 'LLM tokens used by metered calls that ended (reported usage, else the estimate).', unit: '{token}' });
  const cost = meter.createObservableCounter('floodgate.cost', { description: 'Spend of metered calls that ended, at the price table.', unit: '{USD}' });
  const budget = meter.createObservableGauge('floodgate.budget.limit', { description: "The scope's budget for its current period.", unit: '{USD}' });
  const budgetRemaining = meter.createObservableGauge('floodgate.budget.remaining', { description: "What is left of the budget's current period (spend and reservations taken off).", unit: '{USD}' });
  const tokenRoom = meter.createObservableGauge('floodgate.llm.token_window.remaining', { description: 'LLM tokens still allowed in the rolling 60-second window, per token cap.', unit: '{token}' });
  const observables: Observable[] = [calls, attempts, retries, refusals, wouldRefuse, suspensions, circuitState, suspended, tokens, minuteRemaining, queueLength, inFlight, scopes, llmTokens, cost, budget, budgetRemaining, tokenRoom];

  const observe = (result: BatchObservableResult): void => {
    const collection = feed.collect(Date.now());
    result.observe(scopes, collection.scopeCount);
    for (const figures of collection.scopes) {
      const at = scopeAttributes(figures.labels);
      for (const [outcome, value] of Object.entries(figures.calls)) result.observe(calls, value, { ...at, 'floodgate.outcome': outcome });
      result.observe(attempts, figures.attempts.success, { ...at, 'floodgate.outcome': 'success' });
      result.observe(attempts, figures.attempts.failure, { ...at, 'floodgate.outcome': 'failure' });
      for (const state of ['closed', 'open', 'half_open'] as const) result.observe(circuitState, figures.circuit === state ? 1 : 0, { ...at, 'floodgate.circuit.state': state });
      result.observe(suspended, figures.suspended ? 1 : 0, at);
      result.observe(tokens, figures.tokens, at);
      if (figures.minuteRemaining !== null) result.observe(minuteRemaining, figures.minuteRemaining, at);
      result.observe(queueLength, figures.queueLength, at);
      result.observe(inFlight, figures.inFlight, at);
      if (figures.wouldRefuse !== null) for (const [reason, value] of Object.entries(figures.wouldRefuse)) result.observe(wouldRefuse, value, { ...at, 'floodgate.refusal.reason': reason });
      if (figures.tokenRoom !== null) {
        for (const cap of ['total', 'input', 'output'] as const) {
          const room = figures.tokenRoom[cap];
          if (room !== null) result.observe(tokenRoom, room, { ...at, 'floodgate.token_window': cap });
        }
      }
      const spend = figures.spend;
      if (spend === null) continue;
      for (const { model, inputTokens, outputTokens, usd } of spend.models) {
        const byModel = { ...at, 'gen_ai.request.model': model };
        result.observe(llmTokens, inputTokens, { ...byModel, 'gen_ai.token.type': 'input' });
        result.observe(llmTokens, outputTokens, { ...byModel, 'gen_ai.token.type': 'output' });
        result.observe(cost, usd, byModel);
      }
      if (spend.budget !== null) {
        result.observe(budget, spend.budget.usd, at);
        result.observe(budgetRemaining, spend.budget.leftUsd, at);
      }
    }
    for (const tallies of collection.tallies) {
      const at = scopeAttributes(tallies.labels);
      for (const [kind, value] of tallies.retries) result.observe(retries, value, { ...at, 'error.type': kind });
      for (const [reason, value] of tallies.refusals) result.observe(refusals, value, { ...at, 'floodgate.refusal.reason': reason });
      if (tallies.suspensions > 0) result.observe(suspensions, tallies.suspensions, at);
    }
  };
  meter.addBatchObservableCallback(observe, observables);

  // The other span events. A broken provider or span must never change what a caller gets: each is guarded.
  const onRetry = (event: RetryEvent): void =>
    guarded(() =>
      trace.getActiveSpan()?.addEvent('floodgate.retry', {
        'floodgate.scope': event.scope,
        'floodgate.retry.attempt': event.retry,
        'floodgate.retry.delay_ms': event.delayMs,
        'error.type': event.classification.category,
      }),
    );
  const onCircuitChange = (event: CircuitStateChangeEvent): void =>
    guarded(() => {
      const attributes = { 'floodgate.scope': event.scope, 'floodgate.circuit.from': event.from, 'floodgate.circuit.to': event.to };
      const span = trace.getActiveSpan();
      if (span !== undefined) span.addEvent('floodgate.circuit_state_change', attributes);
      else tracerProvider.getTracer(SCOPE_NAME).startSpan('floodgate.circuit_state_change', { attributes }).end();
    });
  feed.start();
  manager.on('retry', onRetry);
  manager.on('circuitStateChange', onCircuitChange);

  return {
    unregister() {
      feed.stop();
      manager.off('retry', onRetry);
      manager.off('circuitStateChange', onCircuitChange);
      meter.removeBatchObservableCallback(observe, observables);
      forget(instrumented, manager, meterProvider);
    },
  };
}

function guarded(action: () => void): void {
  try {
    action();
  } catch {
    // Telemetry that fails is dropped; the call it describes goes on.
  }
}

function scopeAttributes(labels: ScopeLabels): Attributes {
  return labels.platform === '' ? { 'floodgate.service': labels.service } : { 'floodgate.service': labels.service, 'floodgate.platform': labels.platform };
}

function attributesOf(series: EndpointSeries): { wait: Attributes; succeeded: Attributes; failed: Attributes } {
  const wait: Attributes = { 'floodgate.service': series.labels.service, 'floodgate.endpoint': series.labels.endpoint };
  return { wait, succeeded: { ...wait, 'floodgate.outcome': 'success' }, failed: { ...wait, 'floodgate.outcome': 'failure' } };
}
