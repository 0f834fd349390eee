// `node bench/compare-metrics-builds.mjs <other checkout>`: the Prometheus collector's own work
// per success as the call path hands it over (the observer slot with a collector attached; before the slot counted runs, `MetricsFeed.attemptEnded` alone) and the `@throttled` call with a collector
// attached, this checkout's `dist/` against another's, interleaved in one process (31 rounds,
// alternating which build goes first), with paired ratios. Build both first:
//
//   git archive main | tar -x -C /tmp/base && ln -s "$PWD/node_modules" /tmp/base/node_modules
//   (cd /tmp/base && npx tsc -p tsconfig.build.json) && npm run build
//   node bench/compare-metrics-builds.mjs /tmp/base
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Registry } from 'prom-client';

const other = process.argv[2];
if (other === undefined) {
  process.stderr.write('usage: node bench/compare-metrics-builds.mjs <other checkout>\n');
  process.exit(2);
}
const here = pathToFileURL(path.resolve(import.meta.dirname, '../dist')).href;
const base = pathToFileURL(path.resolve(other, 'dist')).href;
async function load(root) {
  const { MetricsFeed } = await import(`${root}/metrics/feed.js`);
  const { collectMetrics } = await import(`${root}/metrics/prometheus.js`);
  const { coreOf } = await import(`${root}/manager/throttle-manager.js`);
  const { ThrottleManager, throttled } = await import(`${root}/index.js`);
  const OPEN = { requestsPerSecond: Infinity, burst: 1e9, requestsPerMinute: Infinity, maxConcurrent: Infinity, maxQueue: Infinity };
  const mk = () => { const m = new ThrottleManager({ env: {} }); m.configure('bench', OPEN); return m; };
  const m1 = mk();
  collectMetrics(m1, { registry: new Registry() });
  await m1.execute('bench', () => 1, { endpoint: 'GET /items' });
  const core = coreOf(m1);
  const scope = core.scopes.values().next().value;
  const at = Date.now();
  // The collector's work per success as the call path hands it over: before the observer slot
  // counted runs (attemptEnded with two times), the feed itself; since, the slot's `succeeded`.
  const feed = new MetricsFeed(m1, {});
  const micro = typeof core.observers.succeeded === 'function'
    ? (n) => { for (let i = 0; i < n; i++) core.observers.succeeded(scope, 'GET /items', 0, (i & 7) === 0 ? 3 : -1); }
    : (n) => { for (let i = 0; i < n; i++) feed.attemptEnded(scope, 'GET /items', at, at, (i & 7) === 0 ? 3 : -1, true); };
  const m2 = mk();
  collectMetrics(m2, { registry: new Registry() });
  const dec = throttled('bench', { manager: m2, endpoint: 'GET /items' });
  class C { call() { return Promise.resolve(1); } }
  const d = Object.getOwnPropertyDescriptor(C.prototype, 'call');
  Object.defineProperty(C.prototype, 'call', dec(C.prototype, 'call', d) ?? d);
  const c = new C();
  const calls = async (n) => { for (let i = 0; i < n; i++) await c.call(); };
  return { micro, calls };
}
const A = await load(base), B = await load(here);
const t = async (f, n) => { const t0 = process.hrtime.bigint(); await f(n); return Number(process.hrtime.bigint() - t0) / n; };
for (const x of [A, B]) { for (let i = 0; i < 20; i++) { x.micro(100_000); await x.calls(5_000); } }
const r = { am: [], bm: [], ac: [], bc: [] };
for (let round = 0; round < 31; round++) {
  const order = round % 2 ? [A, B] : [B, A];
  for (const x of order) { (x === A ? r.am : r.bm).push(await t(x.micro, 1_000_000)); (x === A ? r.ac : r.bc).push(await t(x.calls, 20_000)); }
}
const med = (v) => [...v].sort((p, q) => p - q)[v.length >> 1];
const paired = (b, a) => med(b.map((v, i) => v / a[i]));
console.log(`collector's work per success alone: other ${med(r.am).toFixed(1)} ns, this ${med(r.bm).toFixed(1)} ns, paired this/other ${paired(r.bm, r.am).toFixed(2)}`);
console.log(`@throttled + collector: other ${med(r.ac).toFixed(0)} ns, this ${med(r.bc).toFixed(0)} ns, paired this/other ${paired(r.bc, r.ac).toFixed(3)}`);
process.exit(0);
