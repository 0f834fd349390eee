import { ThrottleManager, isConfigError, type RateLimitedError } from 'floodgate';
import { instrument } from 'floodgate/otel';
import { collectMetrics } from 'floodgate/prometheus';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry, Counter } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { httpError, networkError, roomy, SVC } from '../helpers.js';
import { namesIn, read, scrape, serveMetrics, valueOf } from './exposition.js';

let registry: Registry;
let server: { url: string; close: () => Promise<void> };
let manager: ThrottleManager;

beforeEach(async () => {
  registry = new Registry();
  server = await serveMetrics(registry);
  manager = new ThrottleManager({ env: {} });
});

afterEach(async () => {
  vi.useRealTimers();
  await server.close();
  await manager.close();
});

const ok = (): Promise<string> => Promise.resolve('ok');

describe('collectMetrics: the exposition a Prometheus server scrapes', () => {
  it('counts calls by outcome and attempts, per scope, with bounded labels', async () => {
    roomy(manager, { circuitBreakerThreshold: 1 });
    collectMetrics(manager, { registry });
    await manager.execute(SVC, ok, { platform: 'reddit', endpoint: 'GET /posts' });
    await manager.execute(SVC, ok, { platform: 'reddit', endpoint: 'GET /posts' });
    await expect(manager.execute(SVC, () => Promise.reject(httpError(500)), { platform: 'reddit' })).rejects.toThrow('HTTP 500');
    await expect(manager.execute(SVC, ok, { platform: 'reddit' })).rejects.toThrow(/circuit/i);

    const metrics = await scrape(server.url);
    const scope = { service: SVC, platform: 'reddit' };
    expect(valueOf(metrics, 'floodgate_calls_total', { ...scope, outcome: 'success' })).toBe(2);
    expect(valueOf(metrics, 'floodgate_calls_total', { ...scope, outcome: 'failed' })).toBe(1);
    expect(valueOf(metrics, 'floodgate_calls_total', { ...scope, outcome: 'rejected' })).toBe(1);
    expect(valueOf(metrics, 'floodgate_attempts_total', { ...scope, outcome: 'failure' })).toBe(1);
    expect(valueOf(metrics, 'floodgate_refusals_total', { ...scope, reason: 'circuit_open' })).toBe(1);
    expect(valueOf(metrics, 'floodgate_circuit_state', { ...scope, state: 'open' })).toBe(1);
    expect(valueOf(metrics, 'floodgate_circuit_state', { ...scope, state: 'closed' })).toBe(0);
    expect(valueOf(metrics, 'floodgate_scopes')).toBe(1);
    expect(metrics.types.get('floodgate_calls_total')).toBe('counter');
    expect(metrics.types.get('floodgate_attempt_duration_seconds')).toBe('histogram');
    // Every label is one of the bounded set: never a message, a URL or an id.
    const allowed = new Set(['service', 'platform', 'endpoint', 'outcome', 'reason', 'kind', 'state', 'model', 'type', 'le']);
    for (const sample of metrics.samples) for (const key of Object.keys(sample.labels)) expect(allowed).toContain(key);
    // The endpoint label is on the histograms, per service (not per platform: a platform may be a user).
    expect(valueOf(metrics, 'floodgate_attempt_duration_seconds_count', { service: SVC, endpoint: 'GET /posts', outcome: 'success' })).toBe(2);
    expect(valueOf(metrics, 'floodgate_attempt_duration_seconds_count', { service: SVC, endpoint: '', outcome: 'failure' })).toBe(1);
    expect(metrics.samples.filter((sample) => sample.name.startsWith('floodgate_attempt_duration') && 'platform' in sample.labels)).toEqual([]);
  });

  it('shows tokens, minute-window room, the queue and the wait histogram in seconds', async () => {
    // The clock is faked, so the exposition is read from the registry in-process (the other tests scrape over HTTP).
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    roomy(manager, { requestsPerSecond: 1, burst: 1, requestsPerMinute: 10 });
    collectMetrics(manager, { registry });
    await manager.execute(SVC, ok);
    const waiting = manager.execute(SVC, ok, { endpoint: 'e' });
    let metrics = await read(registry);
    expect(valueOf(metrics, 'floodgate_queue_length', { service: SVC })).toBe(1);
    expect(valueOf(metrics, 'floodgate_minute_window_remaining', { service: SVC })).toBe(9);
    expect(valueOf(metrics, 'floodgate_tokens', { service: SVC })).toBeLessThan(1);
    await vi.advanceTimersByTimeAsync(1_000);
    await waiting;
    metrics = await read(registry);
    const series = { service: SVC, endpoint: 'e' };
    // Waited 1 s: in the 1 s bucket, not in the 0.5 s one.
    expect(valueOf(metrics, 'floodgate_wait_seconds_bucket', { ...series, le: '0.5' })).toBe(0);
    expect(valueOf(metrics, 'floodgate_wait_seconds_bucket', { ...series, le: '1' })).toBe(1);
    expect(valueOf(metrics, 'floodgate_wait_seconds_sum', series)).toBe(1);
    expect(valueOf(metrics, 'floodgate_queue_length', { service: SVC })).toBe(0);
    expect(valueOf(metrics, 'floodgate_minute_window_remaining', { service: SVC })).toBe(8);
  });

  it('counts refusals by reason, retries by kind and suspensions', async () => {
    roomy(manager, { maxConcurrent: 1, maxQueue: 0, retryAttempts: 1, backoffBaseMs: 0 });
    collectMetrics(manager, { registry });
    let release!: () => void;
    const busy = manager.execute(SVC, () => new Promise<void>((resolve) => (release = resolve)));
    const refused = (await manager.execute(SVC, ok).catch((error: unknown) => error)) as RateLimitedError;
    expect(refused.reason).toBe('queue_full');
    release();
    await busy;
    let failures = 0;
    await manager.execute(SVC, () => (failures++ === 0 ? Promise.reject(networkError()) : Promise.resolve('ok')));
    manager.suspend(SVC, { platform: 'x', reason: 'maintenance', durationMs: 60_000 });
    await expect(manager.execute(SVC, ok, { platform: 'x' })).rejects.toThrow(/suspended/);

    const metrics = await scrape(server.url);
    expect(valueOf(metrics, 'floodgate_refusals_total', { service: SVC, platform: '', reason: 'queue_full' })).toBe(1);
    expect(valueOf(metrics, 'floodgate_retries_total', { service: SVC, platform: '', kind: 'network' })).toBe(1);
    expect(valueOf(metrics, 'floodgate_suspensions_total', { service: SVC, platform: 'x' })).toBe(1);
    expect(valueOf(metrics, 'floodgate_suspended', { service: SVC, platform: 'x' })).toBe(1);
    expect(valueOf(metrics, 'floodgate_refusals_total', { service: SVC, platform: 'x', reason: 'suspended' })).toBe(1);
  });

  it('counts LLM tokens and spend per model, and shows the budget and the token-window room', async () => {
    roomy(manager, { tokensPerMinute: 10_000, inputTokensPerMinute: 8_000, budget: { usd: 1, period: 'day' } });
    manager.setPrices({ 'test-model': { inputPerMTok: 100, outputPerMTok: 400 } });
    collectMetrics(manager, { registry });
    // Reported usage replaces the estimate; a result's usage does too; an unreported call spends its estimate.
    await manager.execute(SVC, (_signal, call) => {
      call.reportUsage({ input: 1_000, output: 200 });
      return 'ok';
    }, { model: 'test-model', cost: { input: 2_000, output: 500 } });
    await manager.execute(SVC, () => ({ usage: { prompt_tokens: 500, completion_tokens: 100 } }), { model: 'test-model', cost: 3_000 });
    await manager.execute(SVC, ok, { model: 'other-model', cost: { input: 300, output: 0 } });

    const metrics = await scrape(server.url);
    const scope = { service: SVC, platform: '' };
    expect(valueOf(metrics, 'floodgate_llm_tokens_total', { ...scope, model: 'test-model', type: 'input' })).toBe(1_500);
    expect(valueOf(metrics, 'floodgate_llm_tokens_total', { ...scope, model: 'test-model', type: 'output' })).toBe(300);
    expect(valueOf(metrics, 'floodgate_llm_tokens_total', { ...scope, model: 'other-model', type: 'input' })).toBe(300);
    // 1,500 input at $100/M + 300 output at $400/M; the unpriced model costs $0.
    expect(valueOf(metrics, 'floodgate_cost_usd_total', { ...scope, model: 'test-model' })).toBeCloseTo(0.27, 12);
    expect(valueOf(metrics, 'floodgate_cost_usd_total', { ...scope, model: 'other-model' })).toBe(0);
    expect(valueOf(metrics, 'floodgate_cost_usd_total', { ...scope, model: 'test-model' })).toBe(manager.getCostSummary().totals.usd);
    expect(metrics.types.get('floodgate_cost_usd_total')).toBe('counter');
    expect(valueOf(metrics, 'floodgate_budget_usd', scope)).toBe(1);
    expect(valueOf(metrics, 'floodgate_budget_remaining_usd', scope)).toBeCloseTo(0.73, 12);
    // The rolling minute holds what the calls really used (reconciled): 2,100 tokens, 1,800 of them input.
    expect(valueOf(metrics, 'floodgate_llm_token_window_remaining', { ...scope, type: 'total' })).toBe(7_900);
    expect(valueOf(metrics, 'floodgate_llm_token_window_remaining', { ...scope, type: 'input' })).toBe(6_200);
    expect(valueOf(metrics, 'floodgate_llm_token_window_remaining', { ...scope, type: 'output' })).toBeUndefined();
  });

  it('shows no spend series for a scope nothing meters', async () => {
    roomy(manager);
    collectMetrics(manager, { registry });
    await manager.execute(SVC, ok);
    const metrics = await scrape(server.url);
    expect(valueOf(metrics, 'floodgate_calls_total', { service: SVC, outcome: 'success' })).toBe(1);
    const spendNames = ['floodgate_llm_tokens_total', 'floodgate_cost_usd_total', 'floodgate_budget_usd', 'floodgate_budget_remaining_usd', 'floodgate_llm_token_window_remaining'];
    expect(metrics.samples.filter((sample) => spendNames.includes(sample.name))).toEqual([]);
  });

  it('observe mode: a call let through instead of refused waited nothing', async () => {
    roomy(manager, { mode: 'observe' });
    collectMetrics(manager, { registry });
    manager.suspend(SVC, { reason: 'maintenance', durationMs: 60_000 });
    await expect(manager.execute(SVC, ok, { endpoint: 'e' })).resolves.toBe('ok');
    const metrics = await scrape(server.url);
    expect(valueOf(metrics, 'floodgate_wait_seconds_count', { service: SVC, endpoint: 'e' })).toBe(1);
    expect(valueOf(metrics, 'floodgate_wait_seconds_sum', { service: SVC, endpoint: 'e' })).toBe(0);
    expect(valueOf(metrics, 'floodgate_refusals_total', { service: SVC, reason: 'suspended' })).toBeUndefined();
    expect(valueOf(metrics, 'floodgate_would_refuse_total', { service: SVC, platform: '', reason: 'suspended' })).toBe(1);
  });

  it('uses only the registry it is given, switches nothing else on, and is idempotent', async () => {
    const first = collectMetrics(manager, { registry });
    const second = collectMetrics(manager, { registry });
    expect(second).toBe(first);
    await manager.execute(SVC, ok);
    const metrics = await scrape(server.url);
    for (const name of namesIn(metrics)) expect(name.startsWith('floodgate_')).toBe(true);
    expect(valueOf(metrics, 'floodgate_calls_total', { service: SVC, outcome: 'success' })).toBe(1);
    // A second registry gets its own collector; the first is untouched.
    const other = new Registry();
    const elsewhere = collectMetrics(manager, { registry: other, prefix: 'app_' });
    expect(elsewhere).not.toBe(first);
    expect((await other.getMetricsAsJSON()).map((metric) => metric.name)).toContain('app_calls_total');
    elsewhere.unregister();
  });

  it('unregister() removes every series and detaches from the manager; the registry keeps the user’s own metrics', async () => {
    const mine = new Counter({ name: 'app_requests_total', help: 'mine', registers: [registry] });
    mine.inc();
    const collector = collectMetrics(manager, { registry });
    await manager.execute(SVC, ok, { endpoint: 'e' });
    collector.unregister();
    const metrics = await scrape(server.url);
    expect([...namesIn(metrics)]).toEqual(['app_requests_total']);
    // Collecting again works (a fresh collector, nothing carried over).
    const again = collectMetrics(manager, { registry });
    expect(again).not.toBe(collector);
    const after = await scrape(server.url);
    expect(valueOf(after, 'floodgate_attempt_duration_seconds_count', { service: SVC, endpoint: 'e', outcome: 'success' })).toBeUndefined();
    expect(valueOf(after, 'floodgate_calls_total', { service: SVC, outcome: 'success' })).toBe(1);
    again.unregister();
  });

  it('counts every attempt in wait_seconds, long runs of untimed successes included, across endpoints, scopes and scrapes', async () => {
    roomy(manager);
    collectMetrics(manager, { registry });
    const calls = async (count: number, platform: string | undefined, endpoint: string | undefined): Promise<void> => {
      for (let i = 0; i < count; i++) await manager.execute(SVC, ok, { platform, endpoint });
    };
    // Past a scope's first 128 successes most are not timed: those reach the collector in runs.
    await calls(300, 'a', 'e1');
    await calls(5, 'a', 'e2');
    await calls(200, 'a', 'e1');
    await calls(150, 'b', 'e1');
    let metrics = await scrape(server.url);
    const e1 = { service: SVC, endpoint: 'e1' };
    expect(valueOf(metrics, 'floodgate_wait_seconds_count', e1)).toBe(650);
    expect(valueOf(metrics, 'floodgate_wait_seconds_bucket', { ...e1, le: '0.005' })).toBe(650);
    expect(valueOf(metrics, 'floodgate_wait_seconds_sum', e1)).toBe(0);
    expect(valueOf(metrics, 'floodgate_wait_seconds_count', { service: SVC, endpoint: 'e2' })).toBe(5);
    const timed = valueOf(metrics, 'floodgate_attempt_duration_seconds_count', { ...e1, outcome: 'success' })!;
    expect(timed).toBeGreaterThanOrEqual(256);
    expect(timed).toBeLessThan(650);
    // The run in progress at a scrape is counted once: the next scrape adds only what came after.
    await calls(40, 'b', 'e1');
    await calls(1, undefined, undefined);
    metrics = await scrape(server.url);
    expect(valueOf(metrics, 'floodgate_wait_seconds_count', e1)).toBe(690);
    expect(valueOf(metrics, 'floodgate_wait_seconds_count', { service: SVC, endpoint: '' })).toBe(1);
    expect(valueOf(metrics, 'floodgate_calls_total', { service: SVC, platform: 'a', outcome: 'success' })).toBe(505);
  });

  it('counts every attempt with OpenTelemetry or a decision log attached beside it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'floodgate-metrics-'));
    const logged = new ThrottleManager({ env: {}, logging: { dir } });
    const meterProvider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE), exportIntervalMillis: 3_600_000 })] });
    try {
      roomy(manager);
      collectMetrics(manager, { registry });
      const otel = instrument(manager, { meterProvider });
      for (let i = 0; i < 200; i++) await manager.execute(SVC, ok, { endpoint: 'e' });
      otel.unregister();
      for (let i = 0; i < 200; i++) await manager.execute(SVC, ok, { endpoint: 'e' });
      expect(valueOf(await scrape(server.url), 'floodgate_wait_seconds_count', { service: SVC, endpoint: 'e' })).toBe(400);

      roomy(logged);
      const loggedRegistry = new Registry();
      collectMetrics(logged, { registry: loggedRegistry });
      for (let i = 0; i < 300; i++) await logged.execute(SVC, ok, { endpoint: 'e' });
      expect(valueOf(await read(loggedRegistry), 'floodgate_wait_seconds_count', { service: SVC, endpoint: 'e' })).toBe(300);
    } finally {
      await meterProvider.shutdown();
      await logged.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a scope the manager evicts leaves no series behind, histograms included', async () => {
    const small = new ThrottleManager({ env: {}, maxScopes: 2 });
    try {
      roomy(small);
      roomy(small, {}, 'other');
      collectMetrics(small, { registry });
      await small.execute('other', ok, { endpoint: 'e' });
      small.suspend(SVC, { platform: 'a', reason: 'r', durationMs: 60_000 });
      small.resume(SVC, { platform: 'a' });
      let metrics = await scrape(server.url);
      expect(valueOf(metrics, 'floodgate_wait_seconds_count', { service: 'other' })).toBe(1);
      expect(valueOf(metrics, 'floodgate_suspensions_total', { platform: 'a' })).toBe(1);
      // A third scope makes room by forgetting the least recently used idle one: `other`, then `svc:a`.
      await small.execute(SVC, ok, { platform: 'b', endpoint: 'e' });
      await small.execute(SVC, ok, { platform: 'c', endpoint: 'e' });
      metrics = await scrape(server.url);
      expect(metrics.samples.filter((sample) => sample.labels.service === 'other' || sample.labels.platform === 'a')).toEqual([]);
      expect(valueOf(metrics, 'floodgate_calls_total', { platform: 'c', outcome: 'success' })).toBe(1);
      small.reset();
      metrics = await scrape(server.url);
      expect(metrics.samples.filter((sample) => sample.labels.service === SVC)).toEqual([]);
      expect(valueOf(metrics, 'floodgate_scopes')).toBe(0);
    } finally {
      await small.close();
    }
  });

  it('caps the series: scopes beyond maxSeries are counted, new histogram series fold into _other', async () => {
    roomy(manager);
    collectMetrics(manager, { registry, maxSeries: 2 });
    for (const platform of ['a', 'b', 'c']) await manager.execute(SVC, ok, { platform, endpoint: 'e' });
    for (const endpoint of ['f', 'g']) await manager.execute(SVC, ok, { platform: 'a', endpoint });
    const metrics = await scrape(server.url);
    expect(metrics.samples.filter((sample) => sample.name === 'floodgate_tokens')).toHaveLength(2);
    expect(valueOf(metrics, 'floodgate_metrics_capped_scopes')).toBe(1);
    expect(valueOf(metrics, 'floodgate_scopes')).toBe(3);
    expect(valueOf(metrics, 'floodgate_attempt_duration_seconds_count', { service: SVC, endpoint: 'e', outcome: 'success' })).toBe(3);
    expect(valueOf(metrics, 'floodgate_attempt_duration_seconds_count', { service: SVC, endpoint: 'f', outcome: 'success' })).toBe(1);
    expect(valueOf(metrics, 'floodgate_attempt_duration_seconds_count', { service: '_other', endpoint: '_other', outcome: 'success' })).toBe(1);
  });

  it('works with an OpenMetrics registry (counters without _total in the family name)', async () => {
    const open = new (Registry as unknown as new (contentType: string) => Registry)(Registry.OPENMETRICS_CONTENT_TYPE);
    const openServer = await serveMetrics(open);
    try {
      const collector = collectMetrics(manager, { registry: open });
      await manager.execute(SVC, ok);
      const metrics = await scrape(openServer.url);
      expect(metrics.contentType).toContain('application/openmetrics-text');
      expect(metrics.types.get('floodgate_calls')).toBe('counter');
      expect(valueOf(metrics, 'floodgate_calls_total', { service: SVC, outcome: 'success' })).toBe(1);
      expect(metrics.text.endsWith('# EOF\n')).toBe(true);
      collector.unregister();
      expect((await open.metrics()).trim()).toBe('# EOF');
    } finally {
      await openServer.close();
    }
  });

  it('refuses a registry it cannot use, a bad prefix, or a name clash, with ConfigError naming the field', () => {
    const bad = [
      () => collectMetrics(manager, { registry: {} as never }),
      () => collectMetrics(manager, { registry, prefix: '9bad-' }),
      () => collectMetrics(manager, { registry, maxSeries: 0 }),
    ];
    const fields = bad.map((attempt) => {
      try {
        attempt();
        return 'no error';
      } catch (error) {
        return isConfigError(error) ? error.field : String(error);
      }
    });
    expect(fields).toEqual(['registry', 'prefix', 'maxSeries']);
    collectMetrics(manager, { registry });
    const other = new ThrottleManager({ env: {} });
    try {
      expect(() => collectMetrics(other, { registry })).toThrow(/floodgate_calls_total/);
      // Nothing of the refused collector stays behind.
      expect(registry.getMetricsAsArray()).toHaveLength(21);
    } finally {
      void other.close();
    }
  });

  it('a failing scrape never fails a call, and calls never depend on the collector', async () => {
    roomy(manager);
    collectMetrics(manager, { registry });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => manager.execute(SVC, () => i, { endpoint: `e${i % 3}` })));
    expect(results[49]).toBe(49);
    const metrics = await scrape(server.url);
    const counts = ['e0', 'e1', 'e2'].map((endpoint) => valueOf(metrics, 'floodgate_attempt_duration_seconds_count', { endpoint, outcome: 'success' }));
    expect(counts).toEqual([17, 17, 16]);
  });
});
