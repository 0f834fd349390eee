// The inbound limiter's own cost per request, outside HTTP (`limiter.decide` on a stub request
// and response, the response closed at once): another build's dist against this checkout's, in
// one process, interleaved rounds, medians. For before/after figures of a change on a busy machine.
//
//   npm run build && node bench/inbound-cost.mjs <other checkout>/dist [rounds]
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [other, roundsArg] = process.argv.slice(2);
if (other === undefined) {
  process.stderr.write('usage: node bench/inbound-cost.mjs <other dist> [rounds]\n');
  process.exit(2);
}
const rounds = Number(roundsArg ?? 7);
const dists = [pathToFileURL(path.resolve(other)).href, new URL('../dist', import.meta.url).href];
const libs = await Promise.all(dists.map(async (d) => ({ ThrottleManager: (await import(`${d}/index.js`)).ThrottleManager, createLimiter: (await import(`${d}/http/index.js`)).createLimiter })));
const res = Object.assign(new EventEmitter(), { destroyed: false, writableFinished: false, headersSent: false, setHeader() {} });
const socket = { remoteAddress: '127.0.0.1' };
const KEYS = 50_000;
let generation = 0;
/** KEYS requests, each naming a client never seen before in X-Actor. */
const freshClients = () => {
  generation++;
  return Array.from({ length: KEYS }, (_, i) => ({ url: '/', headers: { 'x-actor': `c${generation}-${i}` }, socket }));
};
const oneClient = [{ url: '/', headers: {}, socket }];
const byActor = { actor: ['x-actor'], headersFrom: 'anyone' };

/** ns per request over `n` requests (yielding every 500, as a server would between requests). */
async function run(limiter, requests, n) {
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const req = requests[i % requests.length];
    limiter.decide(req, res, req);
    res.emit('close');
    if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve));
  }
  return Number(process.hrtime.bigint() - started) / n;
}

/** Each scenario makes, per build, a round to run again and again. */
const SCENARIOS = {
  'refused (one client over its limit)': (lib) => {
    const limiter = lib.createLimiter({ manager: new lib.ThrottleManager({ env: {} }), groups: { default: { requestsPerMinute: 1 } } });
    return () => run(limiter, oneClient, 100_000);
  },
  'admitted, one client (by address)': (lib) => {
    const limiter = lib.createLimiter({ manager: new lib.ThrottleManager({ env: {} }), groups: { default: { requestsPerMinute: 10_000_000 } } });
    return () => run(limiter, oneClient, 100_000);
  },
  'admitted, a new client each request (X-Actor)': (lib) => {
    const limiter = lib.createLimiter({ manager: new lib.ThrottleManager({ env: {}, maxScopes: 10_000_000 }), groups: { default: { requestsPerMinute: 1_000 } }, keys: byActor });
    return () => run(limiter, freshClients(), KEYS);
  },
  'admitted, 50,000 known clients cycled': (lib) => {
    const limiter = lib.createLimiter({ manager: new lib.ThrottleManager({ env: {}, maxScopes: 10_000_000 }), groups: { default: { requestsPerMinute: 1_000_000 } }, keys: byActor });
    const clients = freshClients();
    return () => run(limiter, clients, KEYS);
  },
  'admitted, new clients past the default maxScopes (10,000), none idle': (lib) => {
    const limiter = lib.createLimiter({ manager: new lib.ThrottleManager({ env: {} }), groups: { default: { requestsPerMinute: 1_000 } }, keys: byActor });
    return () => run(limiter, freshClients().slice(0, 10_000), 10_000);
  },
};

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const us = (ns) => `${(ns / 1000).toFixed(2)} µs`;
process.stdout.write('| Per request | other build | this build | this ÷ other |\n| --- | --- | --- | --- |\n');
for (const [name, make] of Object.entries(SCENARIOS)) {
  const roundCount = name.includes('maxScopes') ? 3 : rounds; // the other build may take seconds a round here
  const runners = libs.map(make);
  for (const round of runners) await round(); // warm-up
  const samples = [[], []];
  for (let i = 0; i < roundCount; i++) for (const k of i % 2 === 0 ? [0, 1] : [1, 0]) samples[k].push(await runners[k]());
  const [theirs, ours] = samples.map(median);
  process.stdout.write(`| ${name} | ${us(theirs)} | ${us(ours)} | ${(ours / theirs).toFixed(2)}× |\n`);
}
