// `npm run bench [-- --quick] [-- --out file.md]`: floodgate against a hand-written stack and
// its peers, in one process run; prints markdown. See docs/benchmarks.md.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { benchClassify, benchRedact } from './classify.mjs';
import { realTimeBucket, simulatedMinute } from './fidelity.mjs';
import { compare, formatBytes, formatNs, table } from './harness.mjs';
import { measureMemory } from './memory.mjs';
import { benchGovernance } from './governance.mjs';
import { runOutboundBench } from './outbound.mjs';
import { runMetricsBench } from './metrics.mjs';
import { runClusterBench, runRedisBench, runWeightedRedisBench } from './redis.mjs';
import { runInboundBench } from './inbound.mjs';
import { runStatusBench } from './status.mjs';
import { runTokensBench } from './tokens.mjs';
import { bare } from './stacks/bare.mjs';
import { cockatiel } from './stacks/cockatiel.mjs';
import { floodgateExecute, floodgateStacked, floodgateThrottled, floodgateThrottledTimed, OPEN_LIMITS } from './stacks/floodgate.mjs';
import { handwritten } from './stacks/handwritten.mjs';
import { bottleneck, pThrottleStack } from './stacks/limiters.mjs';
import { opossum } from './stacks/opossum.mjs';
import { rateLimiterFlexible } from './stacks/rate-limiter-flexible.mjs';
import { handwrittenCircuitOpen, REFUSAL_STACKS } from './stacks/refusals.mjs';
import { makeFailOnce, makeSuccess } from './stacks/targets.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
/** `--calls`: only the call-path sections (success, failure, refusal), for iterating on the hot path. */
const callsOnly = args.includes('--calls');
/** `--metrics`: only the observability section (collector attached vs not, scrape of 10,000 scopes). */
const metricsOnly = args.includes('--metrics');
const outIndex = args.indexOf('--out');
const outFile = outIndex >= 0 ? args[outIndex + 1] : undefined;

const SETTINGS = quick
  ? { rounds: 5, roundMs: 20, warmupMs: 40, scopes: 100_000, opossumScopes: 2_000, idleMs: 500, realTimeMs: 3_000, minutes: 5 }
  : { rounds: 15, roundMs: 80, warmupMs: 200, scopes: 100_000, opossumScopes: 10_000, idleMs: 2_000, realTimeMs: 5_000, minutes: 5 };

const SUCCESS_STACKS = [bare, handwritten, floodgateExecute, floodgateThrottled, floodgateStacked, floodgateThrottledTimed, cockatiel, rateLimiterFlexible, opossum, pThrottleStack, bottleneck];
/**
 * Stacks that retry (opossum with a plain retry loop around fire()). Sequential only: with
 * 1,000 first attempts failing at once, every consecutive-failure breaker rightly opens.
 */
const FAILURE_STACKS = [handwritten, floodgateExecute, floodgateThrottled, floodgateStacked, floodgateThrottledTimed, cockatiel, rateLimiterFlexible, opossum];
/** The peer stacks the targets name. */
const TARGET_PEERS = [cockatiel.name, rateLimiterFlexible.name, opossum.name];

const out = [];
const print = (text = '') => {
  out.push(text);
  process.stdout.write(`${text}\n`);
};
const log = (text) => process.stderr.write(`[bench] ${text}\n`);

function versions() {
  // Read from node_modules directly: some packages' `exports` hide their package.json.
  const version = (name) => {
    try {
      return JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8')).version;
    } catch {
      return '?';
    }
  };
  const own = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
  return { floodgate: own, ...Object.fromEntries(['cockatiel', 'opossum', 'rate-limiter-flexible', 'p-throttle', 'bottleneck', 'p-retry', 'eventemitter3'].map((n) => [n, version(n)])) };
}

function environment() {
  const cpus = os.cpus();
  const v = versions();
  print(`# floodgate benchmarks${quick ? ' (quick mode)' : ''}`);
  print();
  print(table(
    ['', ''],
    [
      ['date', new Date().toISOString()],
      ['machine', `${cpus.length} × ${cpus[0]?.model.trim() ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, load ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')}`],
      ['os', `${os.type()} ${os.release()} ${os.arch()}`],
      ['node', `${process.version} (V8 ${process.versions.v8})`],
      ['packages', Object.entries(v).map(([n, ver]) => `${n} ${ver}`).join(', ')],
      ['method', `${SETTINGS.rounds} interleaved rounds of ~${SETTINGS.roundMs} ms per row after warm-up; median ns per call`],
    ],
  ));
  print();
  print(`floodgate rows: a custom service configured \`${JSON.stringify(OPEN_LIMITS).replace(/null/g, 'Infinity')}\` ` +
    '(JSON shows Infinity as null); every other setting at the custom-service default: retryAttempts 2, circuitBreakerThreshold 3, ' +
    'no attempt timeout (the diagnostic row sets `timeoutMs: 30000`: a promise per attempt and one deadline list and timer for the manager). ' +
    'Latency figures time every success of a scope\'s first 128, then one in 8. The failure path adds `backoffBaseMs: 0`.');
  print();
}

function ratioTable(results) {
  const base = results.find((r) => r.name === bare.name)?.nsPerOp;
  const hand = results.find((r) => r.name === handwritten.name)?.nsPerOp;
  return table(
    ['stack', 'per call', '× bare', '× hand-written', 'IQR/median', 'calls per round'],
    results.map((r) => [
      r.group === 'floodgate' ? `**${r.name}**` : r.name,
      formatNs(r.nsPerOp),
      base ? `${(r.nsPerOp / base).toFixed(1)}×` : '–',
      hand ? `${(r.nsPerOp / hand).toFixed(2)}×` : '–',
      `${(r.spread * 100).toFixed(0)} %`,
      String(r.ops),
    ]),
  );
}

/** How many times slower each peer is than each floodgate row (> 1: floodgate is faster). */
function versusTable(results) {
  const ours = results.filter((r) => r.group === 'floodgate' || r.group === 'diagnostic');
  const others = results.filter((r) => r.group === 'peer' || r.name === handwritten.name);
  return table(
    ['peer time ÷ floodgate time', ...ours.map((r) => r.name.replace(/^floodgate /, ''))],
    others.map((p) => [p.name, ...ours.map((r) => `${(p.nsPerOp / r.nsPerOp).toFixed(2)}`)]),
  );
}

async function timeStacks(title, stacks, makeTarget, mode, extra = {}) {
  log(`${title}…`);
  const instances = [];
  for (const s of stacks) instances.push({ stack: s, instance: await s.create(makeTarget(), extra) });
  const cases = instances.map(({ stack, instance }) => ({
    name: stack.name,
    group: stack.group,
    call: instance.call,
    // bottleneck costs milliseconds per call (seconds per 1,000 in flight): a few rounds of a few calls.
    ...(stack.slow ? { minOps: mode === 'sequential' ? 4 : 1000, maxOps: mode === 'sequential' ? 40 : 1000, maxRounds: quick ? 1 : 3 } : {}),
  }));
  const results = await compare(cases, { mode, rounds: SETTINGS.rounds, roundMs: SETTINGS.roundMs, warmupMs: SETTINGS.warmupMs });
  for (const { instance } of instances) await instance.close?.();
  print(`## ${title}`);
  print();
  print(ratioTable(results));
  print();
  print(versusTable(results));
  print();
  return results;
}

/** Refused calls: each row against the hand-written stack's refusal (an open circuit). */
async function refusals() {
  log('refusal path…');
  const instances = [];
  for (const s of REFUSAL_STACKS) instances.push({ stack: s, instance: await s.create(makeSuccess()) });
  const results = await compare(
    instances.map(({ stack, instance }) => ({ name: stack.name, group: stack.group, call: instance.call })),
    { mode: 'sequential', rounds: SETTINGS.rounds, roundMs: SETTINGS.roundMs, warmupMs: SETTINGS.warmupMs },
  );
  for (const { instance } of instances) await instance.close?.();
  const hand = results.find((r) => r.name === handwrittenCircuitOpen.name).nsPerOp;
  print('## Refusal path: the call is refused before it reaches the provider, sequential');
  print();
  print('Each row swallows the rejection with the same `.then(undefined, swallow)`.');
  print();
  print(table(
    ['stack', 'per refused call', '× hand-written', 'IQR/median', 'calls per round'],
    results.map((r) => [r.group === 'floodgate' ? `**${r.name}**` : r.name, formatNs(r.nsPerOp), `${(r.nsPerOp / hand).toFixed(2)}×`, `${(r.spread * 100).toFixed(0)} %`, String(r.ops)]),
  ));
  print();
  return results;
}

function classification() {
  log('classification…');
  const { perKind, mixNs } = benchClassify({ quick });
  print('## Error classification (default table, `manager.classifyError(err, service)`)');
  print();
  print(table(['error', 'category', 'per error'], [...perKind.map((k) => [k.label, k.category, formatNs(k.nsPerError)]), ['**the mix above, round-robin**', '', `**${formatNs(mixNs)}**`]]));
  print();
  const redaction = benchRedact({ quick });
  print('## Redaction (`redactText(text)`, what every stored or emitted text passes through)');
  print();
  print(table(['text', 'per text'], redaction.map((r) => [r.label, formatNs(r.nsPerText)])));
  print();
  return { perKind, mixNs, redaction };
}

async function memory() {
  const kinds = [
    ['handwritten', SETTINGS.scopes],
    ['floodgate', SETTINGS.scopes],
    ['floodgate-evicting', SETTINGS.scopes],
    ['cockatiel', SETTINGS.scopes],
    ['rate-limiter-flexible', SETTINGS.scopes],
    ['opossum', SETTINGS.opossumScopes],
  ];
  const results = [];
  for (const [kind, scopes] of kinds) {
    log(`memory: ${kind} × ${scopes}…`);
    results.push(await measureMemory(kind, scopes, SETTINGS.idleMs));
  }
  const labels = {
    handwritten: 'hand-written (Map of scope objects)',
    floodgate: 'floodgate `execute(svc, fn, { platform })`, maxScopes above the count',
    'floodgate-evicting': 'floodgate, default `maxScopes` 10,000',
    cockatiel: 'cockatiel `wrap(retry, circuitBreaker)` per key',
    'rate-limiter-flexible': 'rate-limiter-flexible `RateLimiterMemory`, one key each',
    opossum: 'opossum `CircuitBreaker` per key',
  };
  print(`## Memory and idle cost of per-user scopes (one successful call each; \`node --expose-gc\`, one child process per row; idle CPU over ${SETTINGS.idleMs} ms)`);
  print();
  print(table(
    ['scopes of', 'created', 'kept', 'heap per created scope', 'heap per kept scope', 'timers held (ref\'d)', 'idle CPU (baseline before)'],
    results.map((r) => [
      labels[r.kind],
      r.scopes.toLocaleString('en'),
      r.kept.toLocaleString('en'),
      formatBytes(r.bytesPerScope),
      formatBytes(r.bytes / r.kept),
      `${r.timersHeld.toLocaleString('en')} (${r.refTimersHeld})`,
      `${(r.cpuIdleUs / 1000).toFixed(1)} ms (${(r.cpuBaselineUs / 1000).toFixed(1)} ms)`,
    ]),
  ));
  print();
  return results;
}

async function fidelity() {
  log('fidelity (real time)…');
  const real = await realTimeBucket({ durationMs: SETTINGS.realTimeMs });
  log('fidelity (simulated clock)…');
  const sim = await simulatedMinute({ minutes: SETTINGS.minutes });
  const rows = [real, sim];
  print('## Limit fidelity (a caller saturating one scope through `manager.execute`)');
  print();
  print(table(
    ['scope', 'admitted / ideal', 'most in any 1 s (limit)', 'most in any 60 s (limit)', 'windows over a limit', 'note'],
    rows.map((r) => [
      r.name,
      `${r.admitted} / ${r.ideal} = ${(r.ratio * 100).toFixed(1)} %`,
      `${r.max1s} (${r.limit1s})`,
      r.max60s === null ? '–' : `${r.max60s} (${r.limit60s})`,
      String(r.over1s + r.over60s),
      r.note,
    ]),
  ));
  print();
  print('1 s limit = burst + rate × 1 s (what a token bucket allows in any second); windows are half-open [t, t + w) starting at each start.');
  print();
  return rows;
}

function targets({ seq, flight, failure, refused, mem, fid, fleet, outbound }) {
  const get = (results, name) => results.find((r) => r.name === name).nsPerOp;
  const rows = [];
  const check = (what, ok, detail) => rows.push([what, ok ? 'met' : '**missed**', detail]);
  for (const [label, results] of [['sequential', seq], ['1,000 in flight', flight]]) {
    const hand = get(results, handwritten.name);
    for (const ours of [floodgateThrottled, floodgateStacked]) {
      const t = get(results, ours.name);
      check(`${label}: ${ours.name} ≤ 1.3× hand-written`, t <= 1.3 * hand, `${(t / hand).toFixed(2)}× (${formatNs(t)} vs ${formatNs(hand)})`);
      const slower = TARGET_PEERS.filter((p) => get(results, p) <= t);
      const closest = Math.min(...TARGET_PEERS.map((p) => get(results, p)));
      check(`${label}: ${ours.name} faster than every peer stack`, slower.length === 0,
        slower.length === 0 ? `fastest peer ${formatNs(closest)} = ${(closest / t).toFixed(2)}× ours` : `not faster than ${slower.join(', ')} (fastest peer ${formatNs(closest)}, ours ${formatNs(t)})`);
    }
  }
  for (const ours of [floodgateExecute, floodgateThrottled]) {
    const t = get(failure, ours.name);
    check(`failure path: ${ours.name} ≤ 11 µs`, t <= 11_000, formatNs(t));
  }
  for (const r of refused.filter((row) => row.group === 'floodgate')) {
    check(`refusal: ${r.name} ≤ 2 µs`, r.nsPerOp <= 2_000, formatNs(r.nsPerOp));
  }
  if (mem === undefined) {
    print('## Targets');
    print();
    print(table(['target', 'result', 'measured'], rows));
    print();
    return;
  }
  const fg = mem.find((r) => r.kind === 'floodgate');
  check('≤ 400 B heap per idle scope', fg.bytesPerScope <= 400, `${formatBytes(fg.bytesPerScope)} per scope`);
  // Per scope: the count must not grow with the scopes. A manager may hold one unref'd timer per
  // distinct timeoutMs in use (attempt deadlines; none by default), whatever the number of scopes.
  check('0 timers per scope', fg.timersHeld <= 1 && fg.refTimersHeld === 0, `${fg.timersHeld} timer${fg.timersHeld === 1 ? '' : 's'} (unref'd: ${fg.timersHeld - fg.refTimersHeld}) for ${fg.scopes.toLocaleString('en')} scopes`);
  // "Measurable": more than 1 ms of CPU per second idle above the baseline window.
  const extraMsPerS = (fg.cpuIdleUs - fg.cpuBaselineUs) / fg.idleMs;
  check('no measurable idle CPU', extraMsPerS < 1, `${(fg.cpuIdleUs / 1000).toFixed(1)} ms over ${fg.idleMs} ms idle (baseline ${(fg.cpuBaselineUs / 1000).toFixed(1)} ms)`);
  for (const r of fid) {
    check(`fidelity ${r.name}: 0 windows over`, r.over1s + r.over60s === 0, `${r.over1s + r.over60s}`);
    check(`fidelity ${r.name}: ≥ 99 % of ideal`, r.ratio >= 0.99, `${(r.ratio * 100).toFixed(1)} %`);
  }
  if (fleet.skipped === null) {
    const row = (name) => fleet.rows.find((r) => r.name.startsWith(name));
    const rlf = row('rate-limiter-flexible');
    for (const ours of [row('floodgate RedisStore admission'), row('floodgate execute()')]) {
      for (const [mode, key] of [['sequential', 'sequentialOpsPerSec'], [`${fleet.inFlight} in flight`, 'inflightOpsPerSec']]) {
        check(`fleet, ${mode}: ${ours.name} ≥ rate-limiter-flexible's admissions/s`, ours[key] >= rlf[key],
          `${(ours[key] / rlf[key]).toFixed(2)}× (${Math.round(ours[key]).toLocaleString('en-US')}/s vs ${Math.round(rlf[key]).toLocaleString('en-US')}/s)`);
      }
    }
    for (const f of fleet.fidelity.filter((r) => r.name.startsWith('floodgate'))) {
      check(`fleet fidelity, ${f.name}: ≥ 99 % of the allowed budget, 0 over`, f.share >= 0.99 && f.busiest <= f.cap, `${(100 * f.share).toFixed(1)} %, busiest window ${f.busiest} of ${f.cap}`);
    }
  }
  if (outbound !== undefined) {
    for (const [mode, results] of [['sequential', outbound.sequential], ['16 in flight', outbound.parallel]]) {
      const plain = results.find((r) => r.group === 'baseline').nsPerOp;
      for (const r of results.filter((row) => row.group === 'floodgate')) {
        const overhead = (r.nsPerOp - plain) / plain;
        check(`outbound, ${mode}: ${r.name} < 5 % over plain fetch`, overhead < 0.05, `${(overhead * 100).toFixed(1)} % (${Math.round(1e9 / r.nsPerOp)}/s vs ${Math.round(1e9 / plain)}/s)`);
      }
    }
  }
  print('## Targets');
  print();
  print(table(['target', 'result', 'measured'], rows));
  print();
}

/** The observability section (bench/metrics.mjs): its markdown printed, its figures returned. */
async function observability() {
  log('Observability…');
  const section = await runMetricsBench({ quick, log });
  print(section.markdown);
  return section;
}

const started = Date.now();
environment();
if (metricsOnly) {
  await observability();
  print(`_Run took ${((Date.now() - started) / 1000).toFixed(0)} s._`);
  if (outFile) writeFileSync(outFile, `${out.join('\n')}\n`);
  process.exit(0);
}
const seq = await timeStacks('Successful call, sequential (await each)', SUCCESS_STACKS, makeSuccess, 'sequential');
const flight = await timeStacks('Successful call, 1,000 in flight', SUCCESS_STACKS, makeSuccess, 'inflight');
const failure = await timeStacks('Failure path: first attempt throws ECONNRESET, the retry succeeds (backoff 0), sequential', FAILURE_STACKS, makeFailOnce, 'sequential', { failing: true });
const refused = await refusals();
if (callsOnly) {
  targets({ seq, flight, failure, refused });
  print(`_Run took ${((Date.now() - started) / 1000).toFixed(0)} s._`);
  if (outFile) writeFileSync(outFile, `${out.join('\n')}\n`);
  process.exit(0);
}
classification();
log('governance…');
print((await benchGovernance({ quick })).markdown);
const mem = await memory();
const fid = await fidelity();
log('Fleet mode (Redis)…');
const fleet = await runRedisBench({ quick });
print(fleet.markdown);
print();
log('Fleet mode: weighted admissions…');
print((await runWeightedRedisBench({ quick })).markdown);
print();
log('Fleet mode on Redis Cluster…');
print((await runClusterBench({ quick })).markdown);
print();
log('Status routes and page…');
print((await runStatusBench({ quick })).markdown);
log('Decision ledger…');
// Its own process: it forks appending workers and measures the lock between processes.
print('### Decision ledger (`bench/ledger.mjs`)');
print();
print(execFileSync(process.execPath, [fileURLToPath(new URL('./ledger.mjs', import.meta.url))], { encoding: 'utf8' }).trimEnd());
print();
log('Outbound HTTP…');
const outbound = await runOutboundBench({ quick });
print(outbound.markdown);
print();
log('Inbound limits under load…');
print((await runInboundBench({ quick })).markdown);
print();
log('Tokens and spend…');
print((await runTokensBench({ quick })).markdown);
await observability();
targets({ seq, flight, failure, refused, mem, fid, fleet, outbound });
print(`_Run took ${((Date.now() - started) / 1000).toFixed(0)} s._`);
if (outFile) writeFileSync(outFile, `${out.join('\n')}\n`);
