// Inbound limits under load: requests per second and p99 of a trivial route, bare, with
// floodgate's limiter, and with express-rate-limit 8 / @fastify/rate-limit 11 configured alike,
// in the same run; with 100,000 distinct keys; and how many requests got through a binding limit.
// Each server runs in its own process, autocannon in this one. Run alone
// (`npm run build && node bench/inbound.mjs [--quick]`) or as a section of `npm run bench`.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import autocannon from 'autocannon';
import { table } from './harness.mjs';

const FRAMEWORKS = [
  { id: 'http', label: 'node:http', peer: null },
  { id: 'express', label: 'Express 5', peer: 'express-rate-limit 8' },
  { id: 'fastify', label: 'Fastify 5', peer: '@fastify/rate-limit 11' },
];
const KEYS = 100_000;
const BINDING_LIMIT = 2_000;

async function startServer(framework, limiter, scenario) {
  const child = spawn(process.execPath, [new URL('./inbound-server.mjs', import.meta.url).pathname, framework, limiter, scenario], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  for await (const chunk of child.stdout) {
    text += chunk;
    if (text.includes('\n')) break;
  }
  return { port: Number(text.trim()), stop: async () => (child.kill(), await once(child, 'exit')) };
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
async function compareVariants(framework, variants, scenario, { rounds, roundS }) {
  const servers = await Promise.all(variants.map((variant) => startServer(framework, variant, scenario)));
  try {
    for (const server of servers) await load(server.port, { durationS: 1, keyed: scenario === 'open' ? false : 'cycle' });
    const samples = variants.map(() => []);
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < variants.length; k++) {
        const i = (round + k) % variants.length;
        const keyed = scenario === 'open' ? false : scenario === 'keys' ? 'cycle' : `client-of-round-${round}`;
        samples[i].push(await load(servers[i].port, { durationS: roundS, keyed }));
      }
    }
    return samples.map((runs) => ({
      rps: median(runs.map((run) => run.rps)),
      p99: median(runs.map((run) => run.p99)),
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
const ratio = (a, b) => (b > 0 ? `${(a / b).toFixed(2)}x` : '–');

export async function runInboundBench({ quick = false } = {}) {
  const settings = quick ? { rounds: 3, roundS: 1 } : { rounds: 5, roundS: 2 };
  const out = [];
  const print = (text = '') => out.push(text);
  print('## Inbound limits (floodgate/http, /express, /fastify) under load');
  print();
  print(
    `autocannon (in the bench process), 50 connections; each server in its own process, a trivial GET \`/\` answering \`ok\`. ` +
      `Per framework, its variants are started together, warmed up (1 s each), then loaded in turn for ${settings.rounds} rounds of ${settings.roundS} s in a rotating order: medians. ` +
      'Limits per minute per key: floodgate `groups.default.requestsPerMinute`, express-rate-limit `limit` (windowMs 60 s, draft-8 headers), @fastify/rate-limit `max` (timeWindow 60 s).',
  );
  const figures = {};

  print();
  print('### A trivial route, one client, a limit that never binds (10,000,000/min)');
  print();
  const rows = [];
  for (const { id, label, peer } of FRAMEWORKS) {
    const [bare, ours, theirs = null] = await compareVariants(id, peer === null ? ['none', 'floodgate'] : ['none', 'floodgate', 'peer'], 'open', settings);
    figures[id] = { bare, ours, theirs };
    rows.push([`${label} bare`, fmt(bare.rps), `${bare.p99} ms`, '']);
    rows.push([`${label} + floodgate`, fmt(ours.rps), `${ours.p99} ms`, `${ratio(ours.rps, bare.rps)} of bare${theirs === null ? '' : `, ${ratio(ours.rps, theirs.rps)} of ${peer}`}`]);
    if (theirs !== null) rows.push([`${label} + ${peer}`, fmt(theirs.rps), `${theirs.p99} ms`, `${ratio(theirs.rps, bare.rps)} of bare`]);
  }
  print(table(['Server', 'req/s', 'p99', 'Ratio'], rows));

  print();
  print(`### ${fmt(KEYS)} distinct clients (X-Actor, cycled), 1,000/min each`);
  print();
  const keyRows = [];
  for (const { id, label, peer } of FRAMEWORKS) {
    const [ours, theirs = null] = await compareVariants(id, peer === null ? ['floodgate'] : ['floodgate', 'peer'], 'keys', settings);
    figures[id].keys = { ours, theirs };
    keyRows.push([`${label} + floodgate`, fmt(ours.rps), `${ours.p99} ms`, fmt(ours.refused), theirs === null ? '' : `${ratio(ours.rps, theirs.rps)} of ${peer}`]);
    if (theirs !== null) keyRows.push([`${label} + ${peer}`, fmt(theirs.rps), `${theirs.p99} ms`, fmt(theirs.refused), '']);
  }
  print(table(['Server', 'req/s', 'p99', '429s', 'Ratio'], keyRows));

  print();
  print(`### A binding limit: ${fmt(BINDING_LIMIT)}/min per client, a fresh client each round of ${settings.roundS} s`);
  print();
  const bindRows = [];
  for (const { id, label, peer } of FRAMEWORKS) {
    const variants = peer === null ? ['floodgate'] : ['floodgate', 'peer'];
    const runs = await compareVariants(id, variants, 'binding', settings);
    runs.forEach((run, i) => {
      figures[id][`binding_${variants[i]}`] = run;
      bindRows.push([`${label} + ${variants[i] === 'floodgate' ? 'floodgate' : peer}`, fmt(run.rps), fmt(run.total), fmt(run.maxAdmitted), run.maxAdmitted <= BINDING_LIMIT ? 'yes' : `**no: ${fmt(run.maxAdmitted - BINDING_LIMIT)} over**`]);
    });
  }
  print(table(['Server', 'req/s (mostly 429s)', 'Requests', 'Most admitted in a round', `Within ${fmt(BINDING_LIMIT)}?`], bindRows));
  return { markdown: out.join('\n'), figures };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { markdown } = await runInboundBench({ quick: process.argv.includes('--quick') });
  console.log(markdown);
}
