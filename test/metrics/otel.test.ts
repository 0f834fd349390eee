import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type DataPoint, type Histogram, type MetricData } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ThrottleManager } from 'floodgate';
import { instrument } from 'floodgate/otel';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { httpError, networkError, roomy, SVC } from '../helpers.js';

let contextManager: AsyncLocalStorageContextManager;
let exporter: InMemoryMetricExporter;
let reader: PeriodicExportingMetricReader;
let meterProvider: MeterProvider;
let spans: InMemorySpanExporter;
let tracerProvider: BasicTracerProvider;
let manager: ThrottleManager;

beforeAll(() => {
  // The caller's active span travels with its promises, as in an instrumented application.
  contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
});

afterAll(() => {
  context.disable();
});

beforeEach(() => {
  exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  meterProvider = new MeterProvider({ readers: [reader] });
  spans = new InMemorySpanExporter();
  tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  manager = new ThrottleManager({ env: {} });
});

afterEach(async () => {
  await manager.close();
  await meterProvider.shutdown();
  await tracerProvider.shutdown();
});

/** Collects once through the in-memory exporter and returns the metrics by name. */
async function collect(): Promise<Map<string, MetricData>> {
  exporter.reset();
  await reader.forceFlush();
  const byName = new Map<string, MetricData>();
  for (const resource of exporter.getMetrics()) for (const scope of resource.scopeMetrics) for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
  return byName;
}

function point<T>(metric: MetricData | undefined, attributes: Record<string, unknown>): DataPoint<T> | undefined {
  const points = (metric?.dataPoints ?? []) as DataPoint<T>[];
  return points.find((p) => Object.entries(attributes).every(([key, value]) => p.attributes[key] === value));
}

const ok = (): Promise<string> => Promise.resolve('ok');

describe('instrument: OpenTelemetry metrics and span events', () => {
  it("exports observe mode's would-be refusals by reason", async () => {
    roomy(manager, { mode: 'observe' });
    instrument(manager, { meterProvider, tracerProvider });
    manager.suspend(SVC, { reason: 'maintenance', durationMs: 60_000 });
    await expect(manager.execute(SVC, ok)).resolves.toBe('ok');
    const metrics = await collect();
    expect(point<number>(metrics.get('floodgate.would_refuse'), { 'floodgate.service': SVC, 'floodgate.refusal.reason': 'suspended' })?.value).toBe(1);
    expect(point<number>(metrics.get('floodgate.refusals'), { 'floodgate.service': SVC })).toBeUndefined();
  });

  it('exports LLM tokens and spend per model (gen_ai attributes), the budget and the token-window room', async () => {
    roomy(manager, { tokensPerMinute: 10_000, budget: { usd: 2, period: 'month' } });
    manager.setPrices({ 'test-model': { inputPerMTok: 100, outputPerMTok: 400 } });
    instrument(manager, { meterProvider, tracerProvider });
    await manager.execute(SVC, () => ({ usage: { prompt_tokens: 1_000, completion_tokens: 500 } }), { platform: 'p', model: 'test-model', cost: 4_000 });

    const metrics = await collect();
    const at = { 'floodgate.service': SVC, 'floodgate.platform': 'p', 'gen_ai.request.model': 'test-model' };
    expect(point<number>(metrics.get('floodgate.llm.tokens'), { ...at, 'gen_ai.token.type': 'input' })?.value).toBe(1_000);
    expect(point<number>(metrics.get('floodgate.llm.tokens'), { ...at, 'gen_ai.token.type': 'output' })?.value).toBe(500);
    expect(metrics.get('floodgate.llm.tokens')?.descriptor.unit).toBe('{token}');
    // 1,000 at $100/M + 500 at $400/M.
    expect(point<number>(metrics.get('floodgate.cost'), at)?.value).toBeCloseTo(0.3, 12);
    const scope = { 'floodgate.service': SVC, 'floodgate.platform': 'p' };
    expect(point<number>(metrics.get('floodgate.budget.limit'), scope)?.value).toBe(2);
    expect(point<number>(metrics.get('floodgate.budget.remaining'), scope)?.value).toBeCloseTo(1.7, 12);
    expect(point<number>(metrics.get('floodgate.llm.token_window.remaining'), { ...scope, 'floodgate.token_window': 'total' })?.value).toBe(8_500);
    expect(point<number>(metrics.get('floodgate.llm.token_window.remaining'), { ...scope, 'floodgate.token_window': 'input' })).toBeUndefined();
  });

  it('exports the calls, attempts, refusals, retries (error.type), circuit state and histograms in seconds', async () => {
    roomy(manager, { circuitBreakerThreshold: 2, retryAttempts: 1, backoffBaseMs: 0 });
    instrument(manager, { meterProvider, tracerProvider });
    await manager.execute(SVC, ok, { platform: 'p', endpoint: 'GET /x' });
    await expect(manager.execute(SVC, () => Promise.reject(networkError()), { platform: 'p' })).rejects.toThrow('ECONNRESET');
    await expect(manager.execute(SVC, ok, { platform: 'p' })).rejects.toThrow(/circuit/i);

    const metrics = await collect();
    const at = { 'floodgate.service': SVC, 'floodgate.platform': 'p' };
    expect(point<number>(metrics.get('floodgate.calls'), { ...at, 'floodgate.outcome': 'success' })?.value).toBe(1);
    expect(point<number>(metrics.get('floodgate.calls'), { ...at, 'floodgate.outcome': 'failed' })?.value).toBe(1);
    expect(point<number>(metrics.get('floodgate.attempts'), { ...at, 'floodgate.outcome': 'failure' })?.value).toBe(2);
    expect(point<number>(metrics.get('floodgate.retries'), { ...at, 'error.type': 'network' })?.value).toBe(1);
    expect(point<number>(metrics.get('floodgate.refusals'), { ...at, 'floodgate.refusal.reason': 'circuit_open' })?.value).toBe(1);
    expect(point<number>(metrics.get('floodgate.circuit.state'), { ...at, 'floodgate.circuit.state': 'open' })?.value).toBe(1);
    expect(point<number>(metrics.get('floodgate.scopes'), {})?.value).toBe(1);
    const duration = metrics.get('floodgate.attempt.duration')!;
    expect(duration.descriptor.unit).toBe('s');
    const succeeded = point<Histogram>(duration, { 'floodgate.service': SVC, 'floodgate.endpoint': 'GET /x', 'floodgate.outcome': 'success' })!;
    expect(succeeded.value.count).toBe(1);
    expect(succeeded.value.buckets.boundaries).toContain(0.005);
    expect(point<Histogram>(metrics.get('floodgate.wait.duration'), { 'floodgate.service': SVC, 'floodgate.endpoint': '' })?.value.count).toBe(2);
  });

  it("adds retry, refusal and circuit-change events to the caller's active span", async () => {
    roomy(manager, { circuitBreakerThreshold: 2, retryAttempts: 1, backoffBaseMs: 0 });
    instrument(manager, { meterProvider, tracerProvider });
    const tracer = tracerProvider.getTracer('app');
    await tracer.startActiveSpan('caller', async (span) => {
      await manager.execute(SVC, () => Promise.reject(httpError(503))).catch(() => undefined);
      await manager.execute(SVC, ok).catch(() => undefined);
      span.end();
    });
    const [caller] = spans.getFinishedSpans();
    expect(caller!.name).toBe('caller');
    const events = caller!.events.map((event) => ({ name: event.name, ...event.attributes }));
    expect(events).toEqual([
      { name: 'floodgate.retry', 'floodgate.scope': SVC, 'floodgate.retry.attempt': 1, 'floodgate.retry.delay_ms': 0, 'error.type': 'server' },
      { name: 'floodgate.circuit_state_change', 'floodgate.scope': SVC, 'floodgate.circuit.from': 'closed', 'floodgate.circuit.to': 'open' },
      { name: 'floodgate.refusal', 'floodgate.scope': SVC, 'floodgate.refusal.reason': 'circuit_open', 'error.type': 'CircuitOpenError' },
    ]);
  });

  it('a span or provider that throws never changes what the caller gets', async () => {
    roomy(manager, { circuitBreakerThreshold: 2, retryAttempts: 1, backoffBaseMs: 0 });
    const broken = { getMeter: () => { throw new Error('no meter'); } };
    expect(() => instrument(manager, { meterProvider: broken })).toThrow('no meter');
    instrument(manager, { meterProvider, tracerProvider });
    const hostile = trace.wrapSpanContext({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 });
    Object.assign(hostile, { isRecording: () => true, addEvent: () => { throw new Error('exporter down'); } });
    let attempts = 0;
    const outcome = await context.with(trace.setSpan(context.active(), hostile), async () => {
      const first = await manager.execute(SVC, () => (attempts++ === 0 ? Promise.reject(networkError()) : 'ok'));
      const second = await manager.execute(SVC, () => Promise.reject(httpError(500))).catch((error: Error) => error.message);
      const third = await manager.execute(SVC, ok).catch((error: Error) => error.name);
      return [first, second, third];
    });
    expect(outcome).toEqual(['ok', 'HTTP 500', 'CircuitOpenError']);
  });

  it('records a circuit change as a span of its own when no span is active', async () => {
    roomy(manager, { circuitBreakerThreshold: 1 });
    instrument(manager, { meterProvider, tracerProvider });
    await manager.execute(SVC, () => Promise.reject(httpError(500))).catch(() => undefined);
    const finished = spans.getFinishedSpans();
    expect(finished.map((span) => [span.name, span.attributes['floodgate.circuit.to']])).toEqual([['floodgate.circuit_state_change', 'open']]);
    expect(trace.getActiveSpan()).toBeUndefined();
  });

  it('is idempotent per meter provider; unregister() stops every observation and span event', async () => {
    roomy(manager, { circuitBreakerThreshold: 1 });
    const first = instrument(manager, { meterProvider, tracerProvider });
    expect(instrument(manager, { meterProvider, tracerProvider })).toBe(first);
    await manager.execute(SVC, ok);
    expect(point<number>((await collect()).get('floodgate.calls'), { 'floodgate.outcome': 'success' })?.value).toBe(1);
    first.unregister();
    await manager.execute(SVC, () => Promise.reject(httpError(500))).catch(() => undefined);
    // Nothing observed since: the SDK repeats the last cumulative values, the failure is not in them.
    const after = await collect();
    expect(point<number>(after.get('floodgate.calls'), { 'floodgate.outcome': 'failed' })?.value).toBe(0);
    expect(point<number>(after.get('floodgate.calls'), { 'floodgate.outcome': 'success' })?.value).toBe(1);
    expect(spans.getFinishedSpans()).toEqual([]);
    expect(instrument(manager, { meterProvider, tracerProvider })).not.toBe(first);
  });

  it('a scope the manager evicts is no longer observed (it disappears under delta temporality)', async () => {
    // Under cumulative temporality the SDK itself repeats a series' last value once it is no longer observed.
    await meterProvider.shutdown();
    exporter = new InMemoryMetricExporter(AggregationTemporality.DELTA);
    reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    meterProvider = new MeterProvider({ readers: [reader] });
    const small = new ThrottleManager({ env: {}, maxScopes: 2 });
    try {
      roomy(small);
      instrument(small, { meterProvider, tracerProvider });
      await small.execute(SVC, ok, { platform: 'a' });
      await small.execute(SVC, ok, { platform: 'b' });
      expect(point((await collect()).get('floodgate.tokens'), { 'floodgate.platform': 'a' })).toBeDefined();
      await small.execute(SVC, ok, { platform: 'c' });
      const metrics = await collect();
      expect(point(metrics.get('floodgate.tokens'), { 'floodgate.platform': 'a' })).toBeUndefined();
      expect(point(metrics.get('floodgate.calls'), { 'floodgate.platform': 'a' })).toBeUndefined();
      expect(point(metrics.get('floodgate.tokens'), { 'floodgate.platform': 'c' })).toBeDefined();
    } finally {
      await small.close();
    }
  });
});
