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

/** keyed: 'cycle' (X-Actor: one of KEYS), 'one' (X-Actor: one client), or false (no header). */
async function load(port, { durationS, keyed }) {
  let next = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/`,
    connections: 50,
    duration: durationS,
    ...(keyed === 'one' ? { headers: { 'x-actor': 'the-client' } } : {}),
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

async function measure(framework, limiter, scenario, durationS) {
  const server = await startServer(framework, limiter, scenario);
  try {
    // A warm-up (binding: on other clients, so the counted one starts with its whole limit), then
    // the measured run against the same process.
    await load(server.port, { durationS: 1, keyed: scenario === 'open' ? false : 'cycle' });
    return await load(server.port, { durationS, keyed: scenario === 'open' ? false : scenario === 'keys' ? 'cycle' : 'one' });
  } finally {
    await server.stop();
  }
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const ratio = (a, b) => (b > 0 ? `${(a / b).toFixed(2)}x` : '–');

export async function runInboundBench({ quick = false } = {}) {
  const durationS = quick ? 2 : 8;
  const out = [];
  const print = (text = '') => out.push(text);
  print('## Inbound limits (floodgate/http, /express, /fastify) under load');
  print();
  print(
    `autocannon, 50 connections, ${durationS} s per row after a 1 s warm-up, each server in its own process; a trivial GET \`/\` answering \`ok\`. ` +
      'Limits per minute per key: floodgate `groups.default.requestsPerMinute`, express-rate-limit `limit` (windowMs 60 s, draft-8 headers), @fastify/rate-limit `max` (timeWindow 60 s).',
  );
  const figures = {};

  print();
  print('### A trivial route, one client, a limit that never binds (10,000,000/min)');
  print();
  const rows = [];
  for (const { id, label, peer } of FRAMEWORKS) {
    const bare = await measure(id, 'none', 'open', durationS);
    const ours = await measure(id, 'floodgate', 'open', durationS);
    const theirs = peer === null ? null : await measure(id, 'peer', 'open', durationS);
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
    const ours = await measure(id, 'floodgate', 'keys', durationS);
    const theirs = peer === null ? null : await measure(id, 'peer', 'keys', durationS);
    figures[id].keys = { ours, theirs };
    keyRows.push([`${label} + floodgate`, fmt(ours.rps), `${ours.p99} ms`, fmt(ours.refused), theirs === null ? '' : `${ratio(ours.rps, theirs.rps)} of ${peer}`]);
    if (theirs !== null) keyRows.push([`${label} + ${peer}`, fmt(theirs.rps), `${theirs.p99} ms`, fmt(theirs.refused), '']);
  }
  print(table(['Server', 'req/s', 'p99', '429s', 'Ratio'], keyRows));

  print();
  print(`### A binding limit: ${fmt(BINDING_LIMIT)}/min for one client, ${durationS} s of load`);
  print();
  const bindRows = [];
  for (const { id, label, peer } of FRAMEWORKS) {
    for (const [name, kind] of [[`${label} + floodgate`, 'floodgate'], ...(peer === null ? [] : [[`${label} + ${peer}`, 'peer']])]) {
      const run = await measure(id, kind, 'binding', durationS);
      figures[id][`binding_${kind}`] = run;
      bindRows.push([name, fmt(run.total), fmt(run.ok), fmt(run.refused), run.ok <= BINDING_LIMIT ? 'yes' : `**no: ${fmt(run.ok - BINDING_LIMIT)} over**`]);
    }
  }
  print(table(['Server', 'Requests', 'Admitted (2xx)', '429s', `Within ${fmt(BINDING_LIMIT)}?`], bindRows));
  return { markdown: out.join('\n'), figures };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { markdown } = await runInboundBench({ quick: process.argv.includes('--quick') });
  console.log(markdown);
}
