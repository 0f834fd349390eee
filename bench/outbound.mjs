// Outbound HTTP: requests per second through createFetch against plain fetch, undici's
// RetryAgent and ky, on one loopback keep-alive server (a worker thread, so the server has its
// own event loop), same run, interleaved rounds. `node bench/outbound.mjs [--quick]` after
// `npm run build`, or as a section of `npm run bench`. See docs/benchmarks.md, "Outbound HTTP".
// `--base <checkout>` adds that checkout's createFetch (its own dist/) beside this one's, in the
// same interleaved rounds: the A/B of a change, as a ratio measured in one process.
// `--clock cpu` times the loopback rounds by the process's CPU time instead of the wall clock, with
// the server in a child process so that only the clients' work is counted: on a shared machine
// the wall clock also counts the time spent waiting for a core (see docs/benchmarks.md).
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import ky from 'ky';
import { Agent, RetryAgent, fetch as undiciFetch } from 'undici';
import { createFetch, ThrottleManager } from '../dist/index.js';
import { floodgateInterceptor } from '../dist/outbound/undici.js';
import { compare, median, table } from './harness.mjs';

const SERVER = `
  const { createServer } = require('node:http');
  const { parentPort } = require('node:worker_threads');
  const body = JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', choices: [{ message: { content: 'ok' } }] });
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'x-ratelimit-limit-requests': '10000',
        'x-ratelimit-remaining-requests': '9999',
        'x-ratelimit-reset-requests': '6ms',
      });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
  parentPort.on('message', () => server.close(() => process.exit(0)));
`;

/** Limits that never bind: the rows measure the path, not the waits. */
const OPEN = { requestsPerSecond: Infinity, burst: 1_000, requestsPerMinute: Infinity, maxConcurrent: Infinity, maxWaitMs: Infinity, maxQueue: 1_000_000, timeoutMs: 0 };

/** The same server in a child process (`--clock cpu`): the port on stdout, stopped by closing its stdin. */
const CHILD_SERVER = SERVER.replace("const { parentPort } = require('node:worker_threads');", "const parentPort = { postMessage: (port) => process.stdout.write(`${port}\\n`), on: (_event, stop) => process.stdin.on('end', stop).resume() };");

/** The loopback server: a worker thread, or a child process when only the clients' CPU time is to be counted. */
async function startServer(child) {
  if (!child) {
    const worker = new Worker(SERVER, { eval: true });
    const port = await new Promise((resolve) => worker.once('message', resolve));
    return { port, stop: async () => (worker.postMessage('stop'), await once(worker, 'exit')) };
  }
  const server = spawn(process.execPath, ['-e', CHILD_SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = await once(server.stdout, 'data');
  return { port: Number(String(line).trim()), stop: async () => (server.stdin.end(), await once(server, 'exit')) };
}

export async function runOutboundBench({ quick = false, base, clock = 'wall' } = {}) {
  const server = await startServer(clock === 'cpu');
  const port = server.port;
  const url = `http://127.0.0.1:${port}/v1/chat/completions`;

  const manager = new ThrottleManager({ env: {} });
  manager.configure('http', OPEN);
  manager.configure('http', { ...OPEN, maxConcurrent: 1_000_000 }, { platform: 'held' });
  const routes = ['/v1/chat/completions'];
  const viaFloodgate = createFetch({ provider: 'openai', manager, routes });
  // The same with a finite maxConcurrent: every body is wrapped to hold the slot until it ends.
  const viaFloodgateHeld = createFetch({ provider: 'held', manager, routes });
  const retryAgent = new RetryAgent(new Agent(), { maxRetries: 2 });
  const plainAgent = new Agent();
  const kyClient = ky.create({ retry: 2 });
  const intercepted = new Agent().compose(floodgateInterceptor({ provider: 'openai', manager, routes }));
  const interceptedHeld = new Agent().compose(floodgateInterceptor({ provider: 'held', manager, routes }));

  const read = (promise) => promise.then((res) => res.arrayBuffer());
  const cases = [
    { name: 'plain fetch (Node global)', group: 'baseline', call: () => read(fetch(url)) },
    { name: 'floodgate createFetch (maxConcurrent Infinity)', group: 'floodgate', call: () => read(viaFloodgate(url)) },
    { name: 'floodgate createFetch (finite maxConcurrent: body held)', group: 'floodgate', call: () => read(viaFloodgateHeld(url)) },
    { name: 'undici 7 fetch, plain Agent', group: 'peer', call: () => read(undiciFetch(url, { dispatcher: plainAgent })) },
    { name: 'undici 7 fetch + RetryAgent', group: 'peer', call: () => read(undiciFetch(url, { dispatcher: retryAgent })) },
    { name: 'ky (retry: 2) on Node global fetch', group: 'peer', call: () => kyClient.get(url).arrayBuffer() },
    { name: 'undici 7 fetch + floodgateInterceptor (maxConcurrent Infinity)', group: 'interceptor', call: () => read(undiciFetch(url, { dispatcher: intercepted })) },
    { name: 'undici 7 fetch + floodgateInterceptor (finite maxConcurrent: body held)', group: 'interceptor', call: () => read(undiciFetch(url, { dispatcher: interceptedHeld })) },
  ];
  let baseManager;
  if (base !== undefined) {
    // The other checkout's build, same server, same rounds.
    const other = await import(pathToFileURL(path.resolve(base, 'dist/index.js')).href);
    baseManager = new other.ThrottleManager({ env: {} });
    baseManager.configure('http', OPEN);
    baseManager.configure('http', { ...OPEN, maxConcurrent: 1_000_000 }, { platform: 'held' });
    const baseFetch = other.createFetch({ provider: 'openai', manager: baseManager, routes });
    const baseHeld = other.createFetch({ provider: 'held', manager: baseManager, routes });
    cases.push(
      { name: 'base: createFetch (maxConcurrent Infinity)', group: 'base', call: () => read(baseFetch(url)) },
      { name: 'base: createFetch (finite maxConcurrent: body held)', group: 'base', call: () => read(baseHeld(url)) },
    );
  }
  // Diagnostic: floodgate's own cost per call, without the network: a fetch answering from
  // memory after one turn of the event loop, as an answer from the network comes.
  const headers = { 'content-type': 'application/json', 'x-ratelimit-limit-requests': '10000', 'x-ratelimit-remaining-requests': '9999', 'x-ratelimit-reset-requests': '6ms' };
  const memoryFetch = () => new Promise((resolve) => setImmediate(() => resolve(new Response('{"ok":true}', { headers }))));
  const viaFloodgateMemory = createFetch({ provider: 'memory', manager, routes, fetch: memoryFetch });
  const viaFloodgateMemoryHeld = createFetch({ provider: 'held', manager, routes, fetch: memoryFetch });
  const inMemory = [
    { name: 'in-memory fetch alone', group: 'baseline', call: () => read(memoryFetch(url)) },
    { name: 'createFetch over the in-memory fetch', group: 'floodgate', call: () => read(viaFloodgateMemory(url)) },
    { name: 'the same, body held (finite maxConcurrent)', group: 'floodgate', call: () => read(viaFloodgateMemoryHeld(url)) },
  ];

  if (baseManager !== undefined) {
    const other = await import(pathToFileURL(path.resolve(base, 'dist/index.js')).href);
    const baseMemory = other.createFetch({ provider: 'memory', manager: baseManager, routes, fetch: memoryFetch });
    const baseMemoryHeld = other.createFetch({ provider: 'held', manager: baseManager, routes, fetch: memoryFetch });
    inMemory.push({ name: 'base: createFetch over the in-memory fetch', group: 'base', call: () => read(baseMemory(url)) }, { name: 'base: the same, body held', group: 'base', call: () => read(baseMemoryHeld(url)) });
  }
  const settings = quick ? { rounds: 5, roundMs: 150, warmupMs: 300 } : { rounds: 15, roundMs: 400, warmupMs: 1_000 };
  const sequential = await compare(cases, { mode: 'sequential', ...settings, clock });
  const parallel = await compare(cases, { mode: 'inflight', inFlight: 16, ...settings, clock });
  const own = await cpuPerCall(inMemory, { rounds: settings.rounds * 2, calls: quick ? 2_000 : 10_000 });

  await server.stop();
  await Promise.all([manager.close(), baseManager?.close(), retryAgent.close(), plainAgent.close(), intercepted.close(), interceptedHeld.close()]);

  const rows = (results) => {
    const plain = results.find((r) => r.group === 'baseline');
    const base = plain.nsPerOp;
    return results.map((r) => [
      r.group === 'floodgate' ? `**${r.name}**` : r.name,
      `${Math.round(1e9 / r.nsPerOp).toLocaleString('en-US')}/s`,
      `${(((r.nsPerOp - base) / base) * 100).toFixed(1)} %`,
      `${((median(r.samples.map((x, i) => x / plain.samples[i])) - 1) * 100).toFixed(1)} %`,
      `${(r.spread * 100).toFixed(0)} %`,
    ]);
  };
  // The per-round ratio: the rows of a round run within a few seconds of each other, so load that
  // shifts between rounds (a shared machine) cancels out of it (as in bench/compare-builds.mjs).
  const header = ['client', 'requests/s', 'time per request vs plain fetch', 'the same, median of per-round ratios', 'IQR/median'];
  /** The interceptor against its own baseline (undici's fetch on a plain Agent), and the base build against this one. */
  const ratios = (results) => {
    const byName = (name) => results.find((r) => r.name === name)?.nsPerOp;
    const lines = [];
    const agent = byName('undici 7 fetch, plain Agent');
    for (const r of results.filter((row) => row.group === 'interceptor')) lines.push(`- ${r.name}: ${(((r.nsPerOp - agent) / agent) * 100).toFixed(1)} % over undici's fetch on a plain Agent`);
    for (const r of results.filter((row) => row.group === 'base')) {
      const here = results.find((row) => row.name === r.name.replace('base: ', 'floodgate '));
      lines.push(`- this build / base build, ${r.name.slice(6)}: ${(here.nsPerOp / r.nsPerOp).toFixed(3)} (median of per-round ratios ${median(here.samples.map((x, i) => x / r.samples[i])).toFixed(3)})`);
    }
    return lines.join('\n');
  };
  const markdown = [
    `## Outbound HTTP: loopback keep-alive server (${clock === 'cpu' ? 'child process' : 'worker thread'}), ${settings.rounds} interleaved rounds of ~${settings.roundMs} ms`,
    '',
    ...(clock === 'cpu' ? ["Rounds timed by this process's CPU time (the clients' work only; the server runs in a child process): requests per CPU-second, not per second.", ''] : []),
    'Each request reads the whole JSON body (~100 B) and carries OpenAI-style rate-limit headers (parsed by floodgate on every response). floodgate rows: scope `http:openai`, limits that never bind, route label `GET /v1/chat/completions`.',
    '',
    '### Sequential (await each)',
    '',
    table(header, rows(sequential)),
    '',
    ratios(sequential),
    '',
    '### 16 in flight',
    '',
    table(header, rows(parallel)),
    '',
    ratios(parallel),
    '',
    "### floodgate's own cost per call (no network: a fetch answering from memory after one event-loop turn, sequential)",
    '',
    'CPU time of the process (user + system, all threads: GC included) per call, median of interleaved rounds: unlike wall time, it does not count the time other processes hold the cores.',
    '',
    table(['client', 'CPU per call', 'added by createFetch'], own.map((r) => [r.name, `${(r.nsPerOp / 1000).toFixed(1)} µs`, `${((r.nsPerOp - own[0].nsPerOp) / 1000).toFixed(1)} µs`])),
  ].join('\n');
  return { markdown, sequential, parallel, own };
}

/** CPU time per call of each case (sequential), median over interleaved rounds of `calls` calls. */
async function cpuPerCall(cases, { rounds, calls }) {
  const samples = cases.map(() => []);
  for (const c of cases) for (let i = 0; i < calls / 4; i++) await c.call(); // warm-up
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < cases.length; k++) {
      const index = (k + round) % cases.length;
      const start = process.cpuUsage();
      for (let i = 0; i < calls; i++) await cases[index].call();
      const used = process.cpuUsage(start);
      samples[index].push(((used.user + used.system) * 1000) / calls);
    }
  }
  return cases.map((c, i) => ({ name: c.name, group: c.group, nsPerOp: median(samples[i]) }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const baseAt = process.argv.indexOf('--base');
  const clockAt = process.argv.indexOf('--clock');
  const { markdown } = await runOutboundBench({ quick: process.argv.includes('--quick'), base: baseAt > 0 ? process.argv[baseAt + 1] : undefined, clock: clockAt > 0 ? process.argv[clockAt + 1] : 'wall' });
  process.stdout.write(`${markdown}\n`);
}
