// Fleet mode: admissions through Redis. floodgate's RedisStore (one EVALSHA: suspension +
// pause + shared circuit + strict rolling window + token bucket) against rate-limiter-flexible's
// RateLimiterRedis (one fixed window) on the same private redis-server in the same run, with
// the ioredis PING round trip as the floor. Skipped, with a note, when redis-server is missing.
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { RedisStore, ThrottleManager } from '../dist/index.js';
// Test hooks, not public API: a shortened window, and the store's counters.
import { testWindow } from '../dist/stores/redis/settings.js';
import { storeParts } from '../dist/stores/redis/store.js';
import { maxInWindow } from './fidelity.mjs';
import { compare, formatNs, table } from './harness.mjs';
import { freePort, killProcess, launchRedis, missingTool, startRedisCluster } from '../test/stores/redis-processes.mjs';

const IN_FLIGHT = 64;
/** A few callers at once: where same-tick batching starts to pay. */
const FEW_IN_FLIGHT = 4;

/** One private redis-server on a free port: `{ port, stop }`. */
async function startRedis() {
  const port = await freePort();
  const child = await launchRedis(port);
  return { port, stop: () => killProcess(child) };
}

/**
 * Per sequential call: the commands the server ran (`total_commands_processed`) and the
 * microseconds it spent running them (`INFO commandstats`, the INFO calls excluded).
 */
async function serverCostPerOp(admin, call, n) {
  const processed = async () => Number(/total_commands_processed:(\d+)/.exec(await admin.info('stats'))[1]);
  await call(); // warm (scripts loaded)
  await admin.config('resetstat');
  const before = await processed();
  for (let i = 0; i < n; i++) await call();
  // The two INFO calls count too: one before is excluded, the one after is included.
  const commands = ((await processed()) - before - 1) / n;
  let usec = 0;
  for (const [, name, total] of (await admin.info('commandstats')).matchAll(/cmdstat_([^:]+):calls=\d+,usec=(\d+)/g)) {
    // Commands a script runs are timed inside the script's own figure too: count the outer ones.
    if (name === 'evalsha' || name === 'eval' || name === 'ping') usec += Number(total);
  }
  return { commands, usec: usec / n };
}

/** The scaled minute of the fidelity runs: a 1 s strict window (floodgate's test hook) or fixed window (rate-limiter-flexible). */
const FLEET_WINDOW_MS = 1_000;
const FLEET_CAP = 300;
const FLEET_MEMBERS = 4;
const FLEET_LOOPS = 8;
/** Start times are taken in this process a little after each admission: rolling windows are checked this much shorter. */
const SLACK_MS = 20;
/** Callers that do not wait try again this long after a refusal. */
const RETRY_MS = 5;

/**
 * A saturating fleet under a binding per-window cap: `FLEET_MEMBERS` members (each with its own
 * connection, as processes would have) of `FLEET_LOOPS` callers each, calling one call after
 * another, waiting when refused, for `windows` windows. Returns the share of the allowed budget
 * used (starts in [t0, t0 + windows x window) over windows x cap, t0 the first start) and the
 * most starts in any rolling window (start times are taken in this process just after each
 * admission, so windows are checked SLACK_MS shorter than they are).
 */
async function fleetFidelity(kind, { port, windows, prefix, wait }) {
  const clients = [];
  const client = () => {
    const c = new Redis({ host: '127.0.0.1', port });
    c.on('error', () => {});
    clients.push(c);
    return c;
  };
  const starts = [];
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  let calls;
  const closers = [];
  let creditsUsed = 0;
  const statsOf = [];
  if (kind === 'rlf') {
    calls = Array.from({ length: FLEET_MEMBERS }, () => {
      const limiter = new RateLimiterRedis({ storeClient: client(), keyPrefix: prefix, points: FLEET_CAP, duration: FLEET_WINDOW_MS / 1000 });
      return async () => {
        for (;;) {
          try {
            await limiter.consume('fleet');
            starts.push(performance.now());
            return;
          } catch (refusal) {
            if (!(refusal instanceof Object) || typeof refusal.msBeforeNext !== 'number') throw refusal;
            await sleep(wait ? refusal.msBeforeNext + 1 : RETRY_MS);
          }
        }
      };
    });
  } else {
    calls = [];
    for (let i = 0; i < FLEET_MEMBERS; i++) {
      const store = new RedisStore({ client: client(), prefix, timeoutMs: 5_000, ...testWindow(FLEET_WINDOW_MS), ...(kind === 'exact' ? { maxCredits: 0 } : {}) });
      const parts = storeParts(store);
      const manager = new ThrottleManager({ store, env: {} });
      // Credits are asked for only while the subscription is up (a ban elsewhere must reach us).
      for (const until = Date.now() + 5_000; !parts.channel.listening; await sleep(5)) {
        if (Date.now() > until) throw new Error('the RedisStore subscription did not come up');
      }
      statsOf.push(parts.stats);
      manager.configure('fleet', { requestsPerSecond: 2_000, burst: 100, requestsPerMinute: FLEET_CAP, maxConcurrent: Infinity, retryAttempts: 0, timeoutMs: 0, maxWaitMs: wait ? 60_000 : 0, maxQueue: Infinity });
      closers.push(() => manager.close());
      const noop = async () => void starts.push(performance.now());
      calls.push(wait ? () => manager.execute('fleet', noop) : () => manager.execute('fleet', noop).catch(() => sleep(RETRY_MS)));
    }
  }
  const end = performance.now() + (windows + 0.5) * FLEET_WINDOW_MS;
  const loop = async (call) => {
    while (performance.now() < end) await call();
  };
  await Promise.all(calls.flatMap((call) => Array.from({ length: FLEET_LOOPS }, () => loop(call))));
  for (const close of closers) await close();
  for (const stats of statsOf) creditsUsed += stats.creditsUsed;
  for (const c of clients) c.disconnect();
  starts.sort((a, b) => a - b);
  const t0 = starts[0];
  const used = starts.filter((at) => at < t0 + windows * FLEET_WINDOW_MS).length;
  return { share: used / (windows * FLEET_CAP), used, allowed: windows * FLEET_CAP, cap: FLEET_CAP, busiest: maxInWindow(starts, FLEET_WINDOW_MS - SLACK_MS), creditsUsed };
}

/**
 * Runs `body({ server, settings, client })` against a private redis-server started for it
 * (`client()`: a new ioredis connection, closed with the server afterwards). Returns its result,
 * or `{ skipped, rows: [], markdown }` naming `label` when no redis-server is available.
 */
async function onPrivateRedis(label, quick, body) {
  let server;
  try {
    const missing = missingTool('redis-server');
    if (missing !== null) throw new Error(missing);
    server = await startRedis();
  } catch (error) {
    const skipped = `${label} skipped: ${error.message}`;
    return { skipped, rows: [], markdown: `_${skipped}_\n` };
  }
  const settings = quick ? { rounds: 5, roundMs: 60, warmupMs: 60, maxOps: 50_000 } : { rounds: 11, roundMs: 200, warmupMs: 300, maxOps: 400_000 };
  const clients = [];
  const client = () => {
    const c = new Redis({ host: '127.0.0.1', port: server.port });
    c.on('error', () => {});
    clients.push(c);
    return c;
  };
  try {
    return await body({ server, settings, client });
  } finally {
    for (const c of clients) c.disconnect();
    await server.stop();
  }
}

/**
 * Runs the Redis benchmark. Returns `{ skipped, rows, markdown }`: `skipped` is a reason (and
 * `rows` empty) when no redis-server is available.
 */
export function runRedisBench({ quick = false } = {}) {
  return onPrivateRedis('redis benchmark', quick, async ({ server, settings, client }) => {
    const pingClient = client();
    const rlfClient = client();
    const fgClient = client();
    const exactClient = client();
    const admin = client();

    // Limits that never refuse, with both of floodgate's windows binding (so both are checked
    // and taken on every admission). The strict window is shortened to 100 ms and its cap to
    // 100,000 starts, far more than 100 ms of this run can start, so Redis holds a bounded
    // window (a cap of 1e8 would let the ring of starts grow by one field per admission). The
    // scope's key expires between rounds (the window is short), so most admissions here find
    // unused slots in the ring; reusing a slot costs one HMGET more.
    const store = new RedisStore({ client: fgClient, prefix: 'bench:fg:', ...testWindow(100) });
    const stats = storeParts(store).stats;
    const limits = { requestsPerSecond: 1e7, burst: 1e5, requestsPerMinute: 1e5 };
    const limiter = store.createLimiter('bench', limits, Date.now());
    const manager = new ThrottleManager({ store, env: {} });
    // The same admission without credits: every admission (or every tick's batch) a round trip.
    const exactStore = new RedisStore({ client: exactClient, prefix: 'bench:fg0:', ...testWindow(100), maxCredits: 0, subscribe: false });
    const exactLimiter = exactStore.createLimiter('bench', limits, Date.now());
    // Credits are asked for only while the subscription is up (a ban elsewhere must reach us).
    for (const until = Date.now() + 5_000; !storeParts(store).channel.listening; await new Promise((r) => setTimeout(r, 5))) {
      if (Date.now() > until) throw new Error('the RedisStore subscription did not come up');
    }
    manager.configure('bench', { ...limits, maxConcurrent: Infinity, retryAttempts: 0, timeoutMs: 0, maxWaitMs: Infinity, maxQueue: Infinity });
    const noop = async () => undefined;
    const rlf = new RateLimiterRedis({ storeClient: rlfClient, keyPrefix: 'bench:rlf', points: 1e9, duration: 60 });

    const cases = [
      { name: 'ioredis PING (floor)', group: 'floor', call: () => pingClient.ping() },
      { name: 'rate-limiter-flexible RateLimiterRedis.consume', group: 'peer', call: () => rlf.consume('bench') },
      { name: 'floodgate RedisStore admission (tryAcquire)', group: 'floodgate', call: () => limiter.tryAcquire(Date.now()) },
      { name: 'floodgate execute() through RedisStore', group: 'floodgate', call: () => manager.execute('bench', noop) },
      { name: 'diagnostic: RedisStore admission with maxCredits: 0', group: 'diagnostic', call: () => exactLimiter.tryAcquire(Date.now()) },
    ];

    const sequential = await compare(cases, { mode: 'sequential', ...settings });
    const few = await compare(cases, { mode: 'inflight', inFlight: FEW_IN_FLIGHT, ...settings, minOps: FEW_IN_FLIGHT });
    const inflight = await compare(cases, { mode: 'inflight', inFlight: IN_FLIGHT, ...settings, minOps: IN_FLIGHT });
    const costs = [];
    for (const c of cases) costs.push(await serverCostPerOp(admin, c.call, quick ? 500 : 2_000));
    const windows = quick ? 2 : 5;
    const fidelity = [];
    for (const wait of [true, false]) {
      for (const [name, kind] of [
        ['floodgate RedisStore (credits, the default)', 'credits'],
        ['floodgate RedisStore, maxCredits: 0', 'exact'],
        ['rate-limiter-flexible RateLimiterRedis (fixed window)', 'rlf'],
      ]) {
        const run = await fleetFidelity(kind, { port: server.port, windows, prefix: `bench:fid:${kind}:${wait}:`, wait });
        fidelity.push({ name: `${name}, ${wait ? 'callers wait' : `callers retry ${RETRY_MS} ms after a refusal`}`, ...run });
      }
    }
    // Admissions per round trip: answered by Redis, plus those made with credits it granted.
    const storeTrips = stats.roundTrips / Math.max(1, stats.answered + stats.creditsUsed);

    const rows = cases.map((c, i) => ({
      name: c.name,
      group: c.group,
      sequentialNs: sequential[i].nsPerOp,
      sequentialOpsPerSec: 1e9 / sequential[i].nsPerOp,
      fewOpsPerSec: 1e9 / few[i].nsPerOp,
      inflightNs: inflight[i].nsPerOp,
      inflightOpsPerSec: 1e9 / inflight[i].nsPerOp,
      commandsPerOp: costs[i].commands,
      serverUsPerOp: costs[i].usec,
    }));
    const fmtOps = (ops) => `${Math.round(ops).toLocaleString('en-US')}/s`;
    const markdown = [
      `## Fleet mode: admissions through Redis`,
      '',
      `One private redis-server on 127.0.0.1 (no persistence), one ioredis connection per row, same run. ` +
        `"In flight" keeps ${FEW_IN_FLIGHT} or ${IN_FLIGHT} admissions outstanding. floodgate's admission checks the scope's suspension and ` +
        `provider pause, shared circuit, a strict rolling window and a token bucket in one script; rate-limiter-flexible's checks one ` +
        `fixed window. floodgate sends the admissions of a scope asked for in the same tick as one script run, and while the ` +
        `limits have room a run grants credits (starts the process then makes without a round trip, within a lease; the ` +
        `limits stay exact). The diagnostic row turns credits off (\`maxCredits: 0\`): each sequential admission is a round ` +
        `trip of its own. Redis commands and µs inside Redis are per sequential call, averaged over the calls that made none.`,
      '',
      table(
        ['case', 'sequential', `${FEW_IN_FLIGHT} in flight`, `${IN_FLIGHT} in flight`, 'Redis commands per call', 'µs inside Redis per call'],
        rows.map((r) => [
          r.name,
          `${fmtOps(r.sequentialOpsPerSec)} (${formatNs(r.sequentialNs)})`,
          fmtOps(r.fewOpsPerSec),
          `${fmtOps(r.inflightOpsPerSec)} (${formatNs(r.inflightNs)})`,
          r.commandsPerOp.toFixed(2),
          r.serverUsPerOp.toFixed(2),
        ]),
      ),
      '',
      `floodgate round trips per admission over the whole run (EVALSHA, plus EVAL after NOSCRIPT; one trip serves the admissions of a tick, and brings credits while the limits have room): ${storeTrips.toFixed(3)}.`,
      '',
      `### Fleet fidelity: the budget a saturating fleet uses under a binding cap`,
      '',
      `${FLEET_MEMBERS} members, each with its own connection and ${FLEET_LOOPS} callers calling one call after another, ` +
        `either waiting when refused (floodgate's \`maxWaitMs\`, rate-limiter-flexible's \`msBeforeNext\`) or refused at once and trying again ${RETRY_MS} ms later, ` +
        `share a cap of ${FLEET_CAP} starts per ${FLEET_WINDOW_MS / 1000} s window (the per-minute cap, time scaled down by floodgate's test hook; ` +
        `floodgate also has a bucket of 2,000/s, burst 100) for ${windows} windows. "Used" is the starts in the first ${windows} windows from the first start ` +
        `over ${windows} × ${FLEET_CAP}; "busiest" the most starts in any rolling window (taken in this process just after each admission, so ` +
        `windows are checked ${SLACK_MS} ms shorter). rate-limiter-flexible's window is fixed: rolling windows across its boundaries can hold up to twice its points.`,
      '',
      table(
        ['case', 'used of the allowed budget', 'busiest rolling window (cap ' + FLEET_CAP + ')', 'over the cap', 'credits used'],
        fidelity.map((f) => [f.name, `${(100 * f.share).toFixed(1)} % (${f.used} / ${f.allowed})`, String(f.busiest), String(Math.max(0, f.busiest - FLEET_CAP)), String(f.creditsUsed)]),
      ),
      '',
    ].join('\n');
    await manager.close();
    return { skipped: null, rows, inFlight: IN_FLIGHT, storeTripsPerAdmission: storeTrips, fidelity, markdown };
  });
}

// ---------------------------------------------------------------------------------------------
// Weighted admissions (token caps) through Redis against rate-limiter-flexible's
// `consume(key, points)`, same redis-server, same run.

/**
 * Admissions per second with a cost (5 tokens: 3 input, 2 output): floodgate's RedisStore
 * checking and taking the cost from its token windows with the request limits in its one script
 * run, against rate-limiter-flexible's `RateLimiterRedis.consume(key, 5)` (one fixed window,
 * INCRBY), and floodgate's unweighted admission as the baseline. Returns `{ skipped, rows, markdown }`.
 */
export function runWeightedRedisBench({ quick = false } = {}) {
  return onPrivateRedis('weighted redis benchmark', quick, async ({ settings, client }) => {
    const managers = [];
    try {
      const admin = client();
      // Limits that never refuse, every window binding (so every one is checked and taken): the
      // windows shortened to 100 ms (Redis then holds 100 ms of records) and caps far above what
      // 100 ms of this run can start.
      const limits = { requestsPerSecond: 1e7, burst: 1e5, requestsPerMinute: 1e5 };
      const weighted = { ...limits, tokensPerMinute: 1e9, inputTokensPerMinute: 1e9 };
      const limiterOf = async (prefix, caps, options = {}) => {
        const store = new RedisStore({ client: client(), prefix, ...testWindow(100), ...options });
        const manager = new ThrottleManager({ store, env: {} });
        managers.push(manager);
        if (options.subscribe !== false) {
          for (const until = Date.now() + 5_000; !storeParts(store).channel.listening; await new Promise((r) => setTimeout(r, 5))) {
            if (Date.now() > until) throw new Error('the RedisStore subscription did not come up');
          }
        }
        manager.configure('bench', { ...caps, maxConcurrent: Infinity, retryAttempts: 0, timeoutMs: 0, maxWaitMs: Infinity, maxQueue: Infinity });
        return { manager, limiter: store.createLimiter('bench', caps, Date.now()) };
      };
      const plain = await limiterOf('bench:w0:', limits, { maxCredits: 0, subscribe: false });
      const exact = await limiterOf('bench:w1:', weighted, { maxCredits: 0, subscribe: false });
      const credited = await limiterOf('bench:w2:', weighted);
      const rlf = new RateLimiterRedis({ storeClient: client(), keyPrefix: 'bench:wrlf', points: 1e12, duration: 60 });
      // The limiter writes each admission's ticket into its cost: one object per case is enough here.
      const costOf = () => ({ input: 3, output: 2, ticket: -1 });
      const exactCost = costOf();
      const creditedCost = costOf();
      const noop = async () => undefined;
      const reports = async (_signal, call) => call.reportUsage({ input: 2, output: 1 });
      const cost = { input: 3, output: 2 };

      const cases = [
        { name: 'rate-limiter-flexible RateLimiterRedis.consume(key, 5)', group: 'peer', call: () => rlf.consume('bench', 5) },
        { name: 'floodgate RedisStore admission, unweighted, maxCredits: 0 (baseline)', group: 'floodgate', call: () => plain.limiter.tryAcquire(Date.now()) },
        { name: 'floodgate RedisStore admission with cost 5, maxCredits: 0', group: 'floodgate', call: () => exact.limiter.tryAcquire(Date.now(), exactCost) },
        { name: 'floodgate RedisStore admission with cost 5, credits (the default)', group: 'floodgate', call: () => credited.limiter.tryAcquire(Date.now(), creditedCost) },
        { name: 'floodgate execute() with cost 5 through RedisStore, maxCredits: 0', group: 'floodgate', call: () => exact.manager.execute('bench', noop, { cost }) },
        { name: 'the same, the call reporting its usage (reconciled in Redis: one EVAL more)', group: 'floodgate', call: () => exact.manager.execute('bench', reports, { cost }) },
      ];
      const sequential = await compare(cases, { mode: 'sequential', ...settings });
      const few = await compare(cases, { mode: 'inflight', inFlight: FEW_IN_FLIGHT, ...settings, minOps: FEW_IN_FLIGHT });
      const inflight = await compare(cases, { mode: 'inflight', inFlight: IN_FLIGHT, ...settings, minOps: IN_FLIGHT });
      const costs = [];
      for (const c of cases) costs.push(await serverCostPerOp(admin, c.call, quick ? 500 : 2_000));
      const rows = cases.map((c, i) => ({
        name: c.name,
        sequentialOpsPerSec: 1e9 / sequential[i].nsPerOp,
        fewOpsPerSec: 1e9 / few[i].nsPerOp,
        inflightOpsPerSec: 1e9 / inflight[i].nsPerOp,
        commandsPerOp: costs[i].commands,
        serverUsPerOp: costs[i].usec,
      }));
      const fmtOps = (ops) => `${Math.round(ops).toLocaleString('en-US')}/s`;
      const ratio = (a, b, key) => (rows[a][key] / rows[b][key]).toFixed(2);
      const ratios = [
        [2, 0],
        [3, 0],
        [2, 1],
      ].map(([a, b]) => `${rows[a].name} ÷ ${rows[b].name}: ${ratio(a, b, 'sequentialOpsPerSec')}× sequential, ${ratio(a, b, 'fewOpsPerSec')}× ${FEW_IN_FLIGHT} in flight, ${ratio(a, b, 'inflightOpsPerSec')}× ${IN_FLIGHT} in flight`);
      const markdown = [
        `## Fleet mode: weighted admissions (token caps) through Redis`,
        '',
        `One private redis-server on 127.0.0.1 (no persistence), one ioredis connection per row, same run, interleaved rounds. ` +
          `Each admission costs 5 tokens (3 input, 2 output). floodgate's script checks and takes the cost from exact rolling token ` +
          `windows (total and input capped) with the strict request window and the token bucket, in its one round trip; ` +
          `rate-limiter-flexible's \`consume(key, 5)\` adds 5 to one fixed window. Redis commands and µs inside Redis are per ` +
          `sequential call (the script's own commands counted inside its time).`,
        '',
        table(
          ['case', 'sequential', `${FEW_IN_FLIGHT} in flight`, `${IN_FLIGHT} in flight`, 'Redis commands per call', 'µs inside Redis per call'],
          rows.map((r) => [r.name, fmtOps(r.sequentialOpsPerSec), fmtOps(r.fewOpsPerSec), fmtOps(r.inflightOpsPerSec), r.commandsPerOp.toFixed(2), r.serverUsPerOp.toFixed(2)]),
        ),
        '',
        ...ratios.map((line) => `- ${line}`),
        '',
      ].join('\n');
      return { skipped: null, rows, markdown };
    } finally {
      for (const manager of managers) await manager.close();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Redis Cluster against one node: the same admissions on a three-node cluster (every node a
// master, on 127.0.0.1) and on one redis-server, with the cluster and standalone clients of both
// libraries, in the same run.

/**
 * Admissions per second, floodgate's RedisStore on a three-node cluster against one node, with
 * ioredis (Redis / Cluster) and node-redis (createClient / createCluster), with credits (the
 * default) and without (`maxCredits: 0`: each admission, or each tick's batch, a round trip).
 * Returns `{ skipped, rows, markdown }`.
 */
export async function runClusterBench({ quick = false } = {}) {
  const skip = (why) => ({ skipped: `cluster benchmark skipped: ${why}`, rows: [], markdown: `_cluster benchmark skipped: ${why}_\n` });
  for (const tool of ['redis-server', 'redis-cli']) {
    const missing = missingTool(tool);
    if (missing !== null) return skip(missing);
  }
  const { createClient, createCluster } = await import('redis');
  const { Cluster } = await import('ioredis');
  const settings = quick ? { rounds: 5, roundMs: 60, warmupMs: 60, maxOps: 50_000 } : { rounds: 9, roundMs: 200, warmupMs: 300, maxOps: 400_000 };
  let single;
  let cluster;
  const closers = [];
  try {
    single = await startRedis();
    cluster = await startRedisCluster();
    const { port } = single;
    const clients = {
      'ioredis, one node': async () => {
        const c = new Redis({ host: '127.0.0.1', port });
        closers.push(() => c.disconnect());
        return c;
      },
      'ioredis Cluster, three nodes': async () => {
        const c = new Cluster(cluster.ports.map((p) => ({ host: '127.0.0.1', port: p })));
        closers.push(() => c.disconnect());
        await new Promise((resolve) => c.once('ready', resolve));
        return c;
      },
      'node-redis, one node': async () => {
        const c = createClient({ socket: { host: '127.0.0.1', port } });
        c.on('error', () => {});
        closers.push(() => c.destroy());
        return c.connect();
      },
      'node-redis createCluster, three nodes': async () => {
        const c = createCluster({ rootNodes: cluster.ports.map((p) => ({ url: `redis://127.0.0.1:${p}` })) });
        c.on('error', () => {});
        closers.push(() => c.destroy());
        return c.connect();
      },
    };
    const limits = { requestsPerSecond: 1e7, burst: 1e5, requestsPerMinute: 1e5 };
    const cases = [];
    /** One manager per store (closing it closes the store). */
    const stores = [];
    for (const [name, connect] of Object.entries(clients)) {
      for (const maxCredits of [undefined, 0]) {
        const store = new RedisStore({ client: await connect(), prefix: `bench:cl${cases.length}:`, ...testWindow(100), ...(maxCredits === 0 ? { maxCredits: 0, subscribe: false } : {}) });
        // A manager attaches to the store: that is when it subscribes (credits need the subscription).
        stores.push(new ThrottleManager({ store, env: {} }));
        if (maxCredits === undefined) {
          for (const until = Date.now() + 10_000; !storeParts(store).channel.listening; await new Promise((r) => setTimeout(r, 5))) {
            if (Date.now() > until) throw new Error(`the subscription of ${name} did not come up`);
          }
        }
        const limiter = store.createLimiter('bench', limits, Date.now());
        cases.push({ name: `${name}${maxCredits === 0 ? ', maxCredits: 0' : ''}`, group: name, call: () => limiter.tryAcquire(Date.now()) });
      }
    }
    const sequential = await compare(cases, { mode: 'sequential', ...settings });
    const few = await compare(cases, { mode: 'inflight', inFlight: FEW_IN_FLIGHT, ...settings, minOps: FEW_IN_FLIGHT });
    const inflight = await compare(cases, { mode: 'inflight', inFlight: IN_FLIGHT, ...settings, minOps: IN_FLIGHT });
    const rows = cases.map((c, i) => ({
      name: c.name,
      sequentialOpsPerSec: 1e9 / sequential[i].nsPerOp,
      fewOpsPerSec: 1e9 / few[i].nsPerOp,
      inflightOpsPerSec: 1e9 / inflight[i].nsPerOp,
    }));
    const fmtOps = (ops) => `${Math.round(ops).toLocaleString('en-US')}/s`;
    /** Cluster ÷ one node, for the same library and credit setting (rows come in that order). */
    const ratio = (i, key) => (rows[i + 2][key] / rows[i][key]).toFixed(2);
    const ratios = [0, 1, 4, 5].map((i) => `${rows[i + 2].name} ÷ ${rows[i].name}: ${ratio(i, 'sequentialOpsPerSec')}× sequential, ${ratio(i, 'fewOpsPerSec')}× ${FEW_IN_FLIGHT} in flight, ${ratio(i, 'inflightOpsPerSec')}× ${IN_FLIGHT} in flight`);
    const markdown = [
      `## Fleet mode on Redis Cluster: admissions per second, three nodes against one`,
      '',
      `One redis-server, and a three-node Redis Cluster (every node a master), all on 127.0.0.1, in the same run; one scope ` +
        `(so one node of the cluster serves it: a scope's key carries its hash tag). Admissions are RedisStore's own ` +
        `(\`tryAcquire\`), limits that never refuse; "maxCredits: 0" rows make every admission (or every tick's batch) a round trip.`,
      '',
      table(
        ['client', 'sequential', `${FEW_IN_FLIGHT} in flight`, `${IN_FLIGHT} in flight`],
        rows.map((r) => [r.name, fmtOps(r.sequentialOpsPerSec), fmtOps(r.fewOpsPerSec), fmtOps(r.inflightOpsPerSec)]),
      ),
      '',
      ...ratios.map((line) => `- ${line}`),
      '',
    ].join('\n');
    for (const manager of stores) await manager.close();
    return { skipped: null, rows, markdown };
  } catch (error) {
    return skip(error.message);
  } finally {
    for (const close of closers) {
      try {
        close();
      } catch {
        // already closed
      }
    }
    await single?.stop();
    await cluster?.stop();
  }
}

// Run alone: `node bench/redis.mjs [--quick]` (after `npm run build`).
// `--weighted`: only the weighted admissions section.
if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  if (process.argv.includes('--weighted')) process.stdout.write((await runWeightedRedisBench({ quick })).markdown);
  else {
    const result = await runRedisBench({ quick });
    process.stdout.write(result.markdown);
    process.stdout.write(`\n${(await runWeightedRedisBench({ quick })).markdown}`);
    process.stdout.write(`\n${(await runClusterBench({ quick })).markdown}`);
  }
}
