// `node bench/compare-metrics-rows.mjs <other checkout> [--rounds N] [--inflight]`: the `@throttled` call with nothing
// attached, with an observer that does nothing and with a Prometheus collector, beside the hand-written
// stack, this checkout's build against another's, interleaved in one process, timed by CPU time
// (a shared machine), ratios as medians of per-round ratios. Build both first (see compare-builds.mjs).
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Registry } from 'prom-client';
import { compare, formatNs, median, table } from './harness.mjs';
import { handwritten } from './stacks/handwritten.mjs';
import { makeSuccess } from './stacks/targets.mjs';

const argv = process.argv.slice(2);
const option = (name) => {
  const at = argv.indexOf(name);
  return at < 0 ? undefined : argv.splice(at, 2)[1];
};
const rounds = Number(option('--rounds') ?? 31);
const inflight = argv.indexOf('--inflight');
if (inflight >= 0) argv.splice(inflight, 1);
const mode = inflight >= 0 ? 'inflight' : 'sequential';
if (argv.length !== 1) {
  process.stderr.write('usage: node bench/compare-metrics-rows.mjs <other checkout> [--rounds N] [--inflight]\n');
  process.exit(2);
}
const OPEN = { requestsPerSecond: Infinity, burst: 1e9, requestsPerMinute: Infinity, maxConcurrent: Infinity, maxQueue: Infinity };

async function rows(tag, dist) {
  const { ThrottleManager, throttled } = await import(`${dist}/index.js`);
  const { collectMetrics } = await import(`${dist}/metrics/prometheus.js`);
  const { coreOf } = await import(`${dist}/manager/throttle-manager.js`);
  const attach = {
    'nothing attached': () => {},
    'an observer that does nothing': (manager) => coreOf(manager).observers.attach({ attemptEnded() {}, callFailed() {} }),
    'Prometheus collector': (manager) => collectMetrics(manager, { registry: new Registry() }),
  };
  return Object.entries(attach).map(([name, attachTo]) => {
    const manager = new ThrottleManager({ env: {} });
    manager.configure('bench', OPEN);
    attachTo(manager);
    const target = makeSuccess();
    class Client {
      call() {
        return target();
      }
    }
    const decorate = throttled('bench', { manager, endpoint: 'GET /items' });
    const descriptor = Object.getOwnPropertyDescriptor(Client.prototype, 'call');
    Object.defineProperty(Client.prototype, 'call', decorate(Client.prototype, 'call', descriptor) ?? descriptor);
    const client = new Client();
    return { name: `${tag}: \`@throttled\`, ${name}`, call: () => client.call() };
  });
}

const hand = handwritten.create(makeSuccess());
const cases = [{ name: handwritten.name, call: hand.call }, ...(await rows(path.basename(path.resolve(argv[0])), pathToFileURL(path.resolve(argv[0], 'dist')).href)), ...(await rows('this', pathToFileURL(path.resolve(import.meta.dirname, '../dist')).href))];
const results = await compare(cases, { mode, rounds, roundMs: 50, warmupMs: 200, clock: 'cpu' });
const ratio = (a, b) => median(a.samples.map((x, i) => x / b.samples[i]));
const half = (results.length - 1) / 2;
const out = results.map((r, i) => {
  const same = i === 0 ? undefined : i <= half ? undefined : results[i - half];
  const none = i === 0 ? undefined : results[i <= half ? 1 : 1 + half];
  return [r.name, formatNs(r.nsPerOp), `${ratio(r, results[0]).toFixed(2)}×`, none === undefined || none === r ? '–' : `${ratio(r, none).toFixed(2)}×`, same === undefined ? '–' : `${ratio(r, same).toFixed(2)}×`, `${(r.spread * 100).toFixed(0)} %`];
});
process.stdout.write(`${mode}, ${rounds} rounds, CPU time, load ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' / ')}\n\n${table(['row', 'per call (median)', '× hand-written', '× nothing attached', '× other build', 'IQR/median'], out)}\n`);
process.exit(0);
