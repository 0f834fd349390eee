// Inbound limits under load: requests per second and p99 of a trivial route, bare, with
// floodgate's limiter, and with express-rate-limit 8 / @fastify/rate-limit 11 configured alike,
// in the same run; with 100,000 distinct keys; and how many requests got through a binding limit.
// Each server runs in its own process, autocannon in this one. Run alone
// (`npm run build && node bench/inbound.mjs [--quick] [--base <dist dir>]`) or as a section of
// `npm run bench`. `--base`: floodgate from another build joins every comparison (interleaved
// like the others), for before/after figures of a change.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { table } from './harness.mjs';

const FRAMEWORKS = [
  { id: 'http', label: 'node:http', peer: null },
  { id: 'express', label: 'Express 5', peer: 'express-rate-limit 8' },
  { id: 'fastify', label: 'Fastify 5', peer: '@fastify/rate-limit 11' },
];
const KEYS = 100_000;
const BINDING_LIMIT = 2_000;

async function startServer(framework, limiter, scenario, baseDist) {
  const env = baseDist === undefined ? process.env : { ...process.env, FLOODGATE_BASE_DIST: baseDist };
  const child = spawn(process.execPath, [new URL('./inbound-server.mjs', import.meta.url).pathname, framework, limiter, scenario], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], env });
  let text = '';
  for await (const chunk of child.stdout) {
    text += chunk;
    if (text.includes('\n')) break;
  }
  /** The server process's CPU time so far (user + system, µs). */
  const cpu = async () => {
    child.send('cpu');
    const [{ user, system }] = await once(child, 'message');
    return user + system;
  };
  return { port: Number(text.trim()), cpu, stop: async () => (child.kill(), await once(child, 'exit')) };
}

/** One round on `server`: the load's figures, and the server's CPU time per request (µs). */
async function measure(server, options) {
  const before = await server.cpu();
  const run = await load(server.port, options);
  return { ...run, cpuUs: run.total > 0 ? ((await server.cpu()) - before) / run.total : 0 };
}

/** keyed: 'cycle' (X-Actor: one of KEYS), a string (X-Actor: that one client), or false (no header). */
async function load(port, { durationS, keyed }) {
  let next = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/`,
    connections: 50,
    duration: durationS,
    ...(typeof keyed === 'string' && keyed !== 'cycle' ? { headers: { 'x-actor': keyed } } : {}),
    ...(keyed === 'cycle'
      ? {
          requests: [
            {
              setupRequest: (request) => ({ ...request, headers: { ...request.headers, 'x-actor': `client-${next++ % KEYS}` } }),
            },
          ],
        }
      : {}),
  });
  return { rps: result.requests.average, p99: result.latency.p99, ok: result['2xx'], refused: result.statusCodeStats?.['429']?.count ?? 0, total: result.requests.total };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * The variants of one framework side by side: every server started (each in its own process),
 * warmed up, then loaded in turn for `rounds` short rounds in a rotating order; medians per
 * variant. Interleaving keeps a busy machine's swings from landing on one variant.
 * binding: each round counts a fresh client (its own whole limit).
 */
async function compareVariants(framework, variants, scenario, { rounds, roundS, baseDist }) {
  const servers = await Promise.all(variants.map((variant) => startServer(framework, variant, scenario, baseDist)));
  try {
    for (const server of servers) await load(server.port, { durationS: 1, keyed: scenario === 'open' ? false : 'cycle' });
    const samples = variants.map(() => []);
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < variants.length; k++) {
        const i = (round + k) % variants.length;
        const keyed = scenario === 'open' ? false : scenario === 'keys' ? 'cycle' : `client-of-round-${round}`;
        samples[i].push(await measure(servers[i], { durationS: roundS, keyed }));
      }
    }
    return samples.map((runs) => ({
      rps: median(runs.map((run) => run.rps)),
      p99: median(runs.map((run) => run.p99)),
      cpuUs: median(runs.map((run) => run.cpuUs)),
      refused: runs.reduce((sum, run) => sum + run.refused, 0),
      total: runs.reduce((sum, run) => sum + run.total, 0),
      maxAdmitted: Math.max(...runs.map((run) => run.ok)),
      rounds: runs.length,
    }));
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
/** Requests per second of server CPU (user + system): what one core would serve. */
const capacity = (run) => (run === undefined || run.cpuUs <= 0 ? 0 : 1e6 / run.cpuUs);
const loadAverages = () => loadavg().map((n) => n.toFixed(2)).join(', ');
const ratio = (a, b) => (b > 0 ? `${(a / b).toFixed(2)}x` : '–');

export async function runInboundBench({ quick = false, baseDist } = {}) {
  const settings = { ...(quick ? { rounds: 3, roundS: 1 } : { rounds: 5, roundS: 2 }), baseDist };
  const roundsAt = process.argv.indexOf('--rounds');
  if (roundsAt >= 0) settings.rounds = Number(process.argv[roundsAt + 1]);
  const out = [];
  const print = (text = '') => out.push(text);
  const variantsOf = (peer, bare) => [...(bare ? ['none'] : []), 'floodgate', ...(baseDist === undefined ? [] : ['base']), ...(peer === null ? [] : ['peer'])];
  const labelOf = (variant, label, peer) =>
    ({ none: `${label} bare`, floodgate: `${label} + floodgate`, base: `${label} + floodgate (base build)`, peer: `${label} + ${peer}` })[variant];
  /** Each row's ratios to the others of its comparison: bare, the peer, the base build. */
  const ratiosOf = (variant, runs, peer, metric = 'rps') => {
    const parts = [];
    const rps = (name) => (metric === 'rps' ? runs[name]?.rps : capacity(runs[name]));
    if (variant !== 'none' && runs.none !== undefined) parts.push(`${ratio(rps(variant), rps('none'))} of bare`);
    if ((variant === 'floodgate' || variant === 'base') && runs.peer !== undefined) parts.push(`${ratio(rps(variant), rps('peer'))} of ${peer}`);
    if (variant === 'floodgate' && runs.base !== undefined) parts.push(`${ratio(rps('floodgate'), rps('base'))} of the base build`);
    return parts.join(', ');
  };
  const compareAll = async (id, peer, scenario, bare) => {
    const variants = variantsOf(peer, bare);
    const results = await compareVariants(id, variants, scenario, settings);
    return Object.fromEntries(variants.map((variant, i) => [variant, results[i]]));
  };

  print('## Inbound limits (floodgate/http, /express, /fastify) under load');
  print();
  print(
    `autocannon (in the bench process), 50 connections; each server in its own process, a trivial GET \`/\` answering \`ok\`. ` +
      `Per framework, its variants are started together, warmed up (1 s each), then loaded in turn for ${settings.rounds} rounds of ${settings.roundS} s in a rotating order: medians. ` +
      "Besides requests per second, the server process's CPU time (user + system) per request, as requests per CPU-second: what one core would serve, which a busy machine's scheduling swings far less than req/s. " +
      'Limits per minute per key: floodgate `groups.default.requestsPerMinute`, express-rate-limit `limit` (windowMs 60 s, draft-8 headers), @fastify/rate-limit `max` (timeWindow 60 s).' +
      (baseDist === undefined ? '' : ` "base build": floodgate from \`${path.basename(path.dirname(path.resolve(baseDist)))}/dist\`, interleaved with the others.`),
  );
  print();
  print(`Load averages (1, 5, 15 min) at the start: ${loadAverages()}.`);
  const figures = {};

  print();
  print('### A trivial route, one client, a limit that never binds (10,000,000/min)');
  print();
  const rows = [];
  for (const { id, label, peer } of FRAMEWORKS) {
    const runs = await compareAll(id, peer, 'open', true);
    figures[id] = { open: runs };
    for (const [variant, run] of Object.entries(runs)) rows.push([labelOf(variant, label, peer), fmt(run.rps), `${run.p99} ms`, ratiosOf(variant, runs, peer), fmt(capacity(run)), ratiosOf(variant, runs, peer, 'cpu')]);
  }
  print(table(['Server', 'req/s', 'p99', 'Ratio (req/s)', 'req per CPU-second', 'Ratio (req per CPU-s)'], rows));

  print();
  print(`### ${fmt(KEYS)} distinct clients (X-Actor, cycled), 1,000/min each`);
  print();
  const keyRows = [];
  for (const { id, label, peer } of FRAMEWORKS) {
    const runs = await compareAll(id, peer, 'keys', false);
    figures[id].keys = runs;
    for (const [variant, run] of Object.entries(runs)) keyRows.push([labelOf(variant, label, peer), fmt(run.rps), `${run.p99} ms`, fmt(run.refused), ratiosOf(variant, runs, peer), fmt(capacity(run)), ratiosOf(variant, runs, peer, 'cpu')]);
  }
  print(table(['Server', 'req/s', 'p99', '429s', 'Ratio (req/s)', 'req per CPU-second', 'Ratio (req per CPU-s)'], keyRows));

  print();
  print(`### A binding limit: ${fmt(BINDING_LIMIT)}/min per client, a fresh client each round of ${settings.roundS} s`);
  print();
  const bindRows = [];
  for (const { id, label, peer } of FRAMEWORKS) {
    const runs = await compareAll(id, peer, 'binding', false);
    figures[id].binding = runs;
    for (const [variant, run] of Object.entries(runs)) {
      bindRows.push([labelOf(variant, label, peer), fmt(run.rps), fmt(capacity(run)), fmt(run.total), fmt(run.maxAdmitted), run.maxAdmitted <= BINDING_LIMIT ? 'yes' : `**no: ${fmt(run.maxAdmitted - BINDING_LIMIT)} over**`]);
    }
  }
  print(table(['Server', 'req/s (mostly 429s)', 'req per CPU-second', 'Requests', 'Most admitted in a round', `Within ${fmt(BINDING_LIMIT)}?`], bindRows));
  print();
  print(`Load averages at the end: ${loadAverages()}.`);
  return { markdown: out.join('\n'), figures };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const baseAt = process.argv.indexOf('--base');
  const { markdown } = await runInboundBench({ quick: process.argv.includes('--quick'), baseDist: baseAt < 0 ? undefined : process.argv[baseAt + 1] });
  console.log(markdown);
}
