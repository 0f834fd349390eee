// Outbound HTTP: requests per second through createFetch against plain fetch, undici's
// RetryAgent and ky, on one loopback keep-alive server (a worker thread, so the server has its
// own event loop), same run, interleaved rounds. `node bench/outbound.mjs [--quick]` after
// `npm run build`, or as a section of `npm run bench`. See docs/benchmarks.md, "Outbound HTTP".
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import ky from 'ky';
import { Agent, RetryAgent, fetch as undiciFetch } from 'undici';
import { createFetch, ThrottleManager } from '../dist/index.js';
import { compare, table } from './harness.mjs';

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

export async function runOutboundBench({ quick = false } = {}) {
  const worker = new Worker(SERVER, { eval: true });
  const port = await new Promise((resolve) => worker.once('message', resolve));
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

  const read = (promise) => promise.then((res) => res.arrayBuffer());
  const cases = [
    { name: 'plain fetch (Node global)', group: 'baseline', call: () => read(fetch(url)) },
    { name: 'floodgate createFetch (maxConcurrent Infinity)', group: 'floodgate', call: () => read(viaFloodgate(url)) },
    { name: 'floodgate createFetch (finite maxConcurrent: body held)', group: 'floodgate', call: () => read(viaFloodgateHeld(url)) },
    { name: 'undici 7 fetch, plain Agent', group: 'peer', call: () => read(undiciFetch(url, { dispatcher: plainAgent })) },
    { name: 'undici 7 fetch + RetryAgent', group: 'peer', call: () => read(undiciFetch(url, { dispatcher: retryAgent })) },
    { name: 'ky (retry: 2) on Node global fetch', group: 'peer', call: () => kyClient.get(url).arrayBuffer() },
  ];
  // Diagnostic: floodgate's own cost per call, without the network (a fetch answering from memory).
  const headers = { 'content-type': 'application/json', 'x-ratelimit-limit-requests': '10000', 'x-ratelimit-remaining-requests': '9999', 'x-ratelimit-reset-requests': '6ms' };
  const memoryFetch = () => Promise.resolve(new Response('{"ok":true}', { headers }));
  const viaFloodgateMemory = createFetch({ provider: 'memory', manager, routes, fetch: memoryFetch });
  const inMemory = [
    { name: 'in-memory fetch alone', group: 'baseline', call: () => read(memoryFetch(url)) },
    { name: 'createFetch over the in-memory fetch', group: 'floodgate', call: () => read(viaFloodgateMemory(url)) },
  ];

  const settings = quick ? { rounds: 5, roundMs: 150, warmupMs: 300 } : { rounds: 15, roundMs: 400, warmupMs: 1_000 };
  const sequential = await compare(cases, { mode: 'sequential', ...settings });
  const parallel = await compare(cases, { mode: 'inflight', inFlight: 16, ...settings });
  const own = await compare(inMemory, { mode: 'sequential', rounds: settings.rounds, roundMs: 100, warmupMs: 300 });

  worker.postMessage('stop');
  await new Promise((resolve) => worker.once('exit', resolve));
  await Promise.all([manager.close(), retryAgent.close(), plainAgent.close()]);

  const rows = (results) => {
    const base = results.find((r) => r.group === 'baseline').nsPerOp;
    return results.map((r) => [
      r.group === 'floodgate' ? `**${r.name}**` : r.name,
      `${Math.round(1e9 / r.nsPerOp).toLocaleString('en-US')}/s`,
      `${(((r.nsPerOp - base) / base) * 100).toFixed(1)} %`,
      `${(r.spread * 100).toFixed(0)} %`,
    ]);
  };
  const header = ['client', 'requests/s', 'time per request vs plain fetch', 'IQR/median'];
  const markdown = [
    `## Outbound HTTP: loopback keep-alive server (worker thread), ${settings.rounds} interleaved rounds of ~${settings.roundMs} ms`,
    '',
    'Each request reads the whole JSON body (~100 B) and carries OpenAI-style rate-limit headers (parsed by floodgate on every response). floodgate rows: scope `http:openai`, limits that never bind, route label `GET /v1/chat/completions`.',
    '',
    '### Sequential (await each)',
    '',
    table(header, rows(sequential)),
    '',
    '### 16 in flight',
    '',
    table(header, rows(parallel)),
    '',
    "### floodgate's own cost per call (no network: a fetch answering from memory, sequential)",
    '',
    table(['client', 'per call', 'added by createFetch'], own.map((r) => [r.name, `${(r.nsPerOp / 1000).toFixed(1)} µs`, `${((r.nsPerOp - own[0].nsPerOp) / 1000).toFixed(1)} µs`])),
  ].join('\n');
  return { markdown, sequential, parallel, own };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { markdown } = await runOutboundBench({ quick: process.argv.includes('--quick') });
  process.stdout.write(`${markdown}\n`);
}
