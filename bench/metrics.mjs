// Observability: the call path with a Prometheus collector (and an OpenTelemetry instrumentation)
// attached, against none and the hand-written stack, in one run; and the time to scrape or
// collect 10,000 scopes. `node bench/metrics.mjs [--quick]` alone, or a section of bench/index.mjs.
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { Registry } from 'prom-client';
import { throttled } from '../dist/index.js';
import { collectMetrics } from '../dist/metrics/prometheus.js';
import { instrument } from '../dist/metrics/otel.js';
import { coreOf } from '../dist/manager/throttle-manager.js';
import { compare, formatNs, median, table, timeSync } from './harness.mjs';
import { benchManager, decorate, OPEN_LIMITS } from './stacks/floodgate.mjs';
import { handwritten } from './stacks/handwritten.mjs';
import { makeSuccess } from './stacks/targets.mjs';

function throttledClient(manager, service, target) {
  const Client = decorate(
    class {
      call() {
        return target();
      }
    },
    'call',
    throttled(service, { manager, endpoint: 'GET /items' }),
  );
  return new Client();
}

const STACKS = [
  { name: 'floodgate `@throttled`, nothing attached', attach: () => () => {} },
  {
    // Diagnostic: what the observer slot's dispatch costs alone (the collector's row minus this is its own work).
    name: 'diagnostic: `@throttled` + an observer that does nothing',
    attach: (manager) => coreOf(manager).observers.attach({ attemptEnded() {}, callFailed() {} }),
  },
  {
    name: 'floodgate `@throttled` + Prometheus collector',
    attach: (manager) => {
      const collector = collectMetrics(manager, { registry: new Registry() });
      return () => collector.unregister();
    },
  },
  {
    name: 'floodgate `@throttled` + OpenTelemetry (SDK MeterProvider)',
    attach: (manager) => {
      const meterProvider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE), exportIntervalMillis: 3_600_000 })] });
      const instrumentation = instrument(manager, { meterProvider });
      return () => {
        instrumentation.unregister();
        void meterProvider.shutdown();
      };
    },
  },
];

/** The median over rounds of the ratio of two rows measured in the same round: steadier than a ratio of medians on a loaded machine. */
function paired(row, base) {
  return median(row.samples.map((ns, round) => ns / base.samples[round]));
}

async function callPath(settings, mode) {
  const cases = [];
  const cleanups = [];
  const hand = handwritten.create(makeSuccess());
  cases.push({ name: handwritten.name, call: hand.call });
  for (const stack of STACKS) {
    const { manager, service } = benchManager(OPEN_LIMITS);
    cleanups.push(stack.attach(manager));
    const client = throttledClient(manager, service, makeSuccess());
    cases.push({ name: stack.name, call: () => client.call() });
  }
  const results = await compare(cases, { mode, rounds: settings.rounds, roundMs: settings.roundMs, warmupMs: settings.warmupMs });
  for (const cleanup of cleanups) cleanup();
  return results;
}

/**
 * The collector's own work per success, alone, as the call path hands it over
 * (`observers.succeeded`, a success admitted at once, one in 8 timed, as a scope's latency
 * sampling does in the long run): untimed successes of one scope and endpoint are counted in the
 * observer slot's run, a timed one is told to the collector.
 */
async function observerAlone(quick) {
  const { manager, service } = benchManager(OPEN_LIMITS);
  collectMetrics(manager, { registry: new Registry() });
  await manager.execute(service, () => 1, { endpoint: 'GET /items' });
  const core = coreOf(manager);
  const scope = core.scopes.values().next().value;
  const observers = core.observers;
  const ns = timeSync((i) => observers.succeeded(scope, 'GET /items', 0, (i & 7) === 0 ? 3 : -1), { n: quick ? 1_000_000 : 2_000_000, rounds: quick ? 5 : 9 });
  await manager.close();
  return ns;
}

async function scrape(scopes, runs, { metered = false } = {}) {
  const { manager, service } = benchManager(OPEN_LIMITS, { maxScopes: scopes * 2 });
  const registry = new Registry();
  collectMetrics(manager, { registry, maxSeries: scopes * 2 });
  // Metered: every scope has spend (one model) and a budget, so the cost metrics have series too.
  if (metered) {
    manager.setPrices({ 'bench-model': { inputPerMTok: 1, outputPerMTok: 2 } });
    manager.configure(service, { budget: { usd: 1_000, period: 'day' } });
  }
  const options = metered ? { model: 'bench-model', cost: { input: 100, output: 20 } } : {};
  for (let i = 0; i < scopes; i++) await manager.execute(service, () => 1, { platform: `user${i}`, endpoint: 'GET /items', ...options });
  const times = [];
  let bytes = 0;
  let lines = 0;
  for (let run = 0; run < runs; run++) {
    const t0 = process.hrtime.bigint();
    const text = await registry.metrics();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    bytes = text.length;
    lines = text.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length;
  }
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  instrument(manager, { meterProvider });
  const otelTimes = [];
  for (let run = 0; run < runs; run++) {
    const t0 = process.hrtime.bigint();
    await reader.collect();
    otelTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  await meterProvider.shutdown();
  await manager.close();
  return { prometheusMs: median(times), otelMs: median(otelTimes), bytes, lines };
}

/** Runs the section; returns its markdown and the figures the targets read. */
export async function runMetricsBench({ quick = false, log = () => {} } = {}) {
  const settings = quick ? { rounds: 5, roundMs: 20, warmupMs: 40 } : { rounds: 15, roundMs: 80, warmupMs: 200 };
  const out = [];
  out.push('## Observability: the call path with a collector attached, and scrape time');
  out.push('');
  const rows = [];
  const ratios = {};
  for (const mode of ['sequential', 'inflight']) {
    log(`metrics: call path, ${mode}…`);
    const results = await callPath(settings, mode);
    const handRow = results.find((r) => r.name === handwritten.name);
    const noneRow = results.find((r) => r.name === STACKS[0].name);
    const hand = handRow.nsPerOp;
    const none = noneRow.nsPerOp;
    for (const r of results) {
      rows.push([
        mode === 'sequential' ? 'sequential' : '1,000 in flight',
        r.name,
        formatNs(r.nsPerOp),
        `${(r.nsPerOp / hand).toFixed(2)}×`,
        r.name === handwritten.name ? '–' : `${(r.nsPerOp / none).toFixed(2)}×`,
        r.name === handwritten.name ? '–' : `${paired(r, handRow).toFixed(2)}× / ${r === noneRow ? '–' : `${paired(r, noneRow).toFixed(2)}×`}`,
        `${(r.spread * 100).toFixed(0)} %`,
      ]);
    }
    ratios[mode] = Object.fromEntries(results.map((r) => [r.name, r.nsPerOp / hand]));
  }
  out.push(table(['mode', 'stack', 'per call', '× hand-written', '× nothing attached', 'paired: × hand-written / × nothing attached', 'IQR/median'], rows));
  out.push('');
  log('metrics: the observer alone…');
  const alone = await observerAlone(quick);
  out.push(`The Prometheus collector's own work per success (\`observers.succeeded\` alone, as the call path hands it over: a success admitted at once, one in 8 timed): **${alone.toFixed(1)} ns**.`);
  out.push('');
  const scopes = 10_000;
  log('metrics: scrape of 10,000 scopes…');
  const scraped = await scrape(scopes, quick ? 3 : 7);
  log('metrics: scrape of 10,000 metered scopes…');
  const metered = await scrape(scopes, quick ? 3 : 7, { metered: true });
  const row = (figures) => `${figures.prometheusMs.toFixed(1)} ms (${figures.lines.toLocaleString('en')} samples, ${(figures.bytes / 2 ** 20).toFixed(1)} MiB)`;
  out.push(table(
    ['10,000 scopes (one call each, one endpoint)', 'median', 'metered (a model, a budget: spend series too)'],
    [
      ['Prometheus `registry.metrics()` (prom-client text)', row(scraped), row(metered)],
      ['OpenTelemetry `reader.collect()` (SDK 2.x)', `${scraped.otelMs.toFixed(1)} ms`, `${metered.otelMs.toFixed(1)} ms`],
    ],
  ));
  out.push('');
  return { markdown: out.join('\n'), ratios, scraped, collectorName: STACKS[2].name };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  const { markdown } = await runMetricsBench({ quick, log: (text) => process.stderr.write(`[bench] ${text}\n`) });
  process.stdout.write(`${markdown}\n`);
}
