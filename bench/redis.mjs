// Fleet mode: admissions through Redis. floodgate's RedisStore (one EVALSHA: suspension +
// pause + strict rolling window + token bucket) against rate-limiter-flexible's
// RateLimiterRedis (one fixed window) on the same private redis-server in the same run, with
// the ioredis PING round trip as the floor. Skipped, with a note, when redis-server is missing.
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { RedisStore, ThrottleManager } from '../dist/index.js';
import { compare, formatNs, table } from './harness.mjs';

const IN_FLIGHT = 64;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startRedis() {
  const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (found.error || found.status !== 0) return null;
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      break;
    } catch {
      probe.disconnect();
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill('SIGKILL');
        throw new Error(`redis-server did not start on port ${port}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return {
    port,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

/** Commands the server ran per operation: `total_commands_processed` over `n` sequential calls. */
async function commandsPerOp(admin, call, n) {
  const processed = async () => Number(/total_commands_processed:(\d+)/.exec(await admin.info('stats'))[1]);
  await call(); // warm (scripts loaded)
  const before = await processed();
  for (let i = 0; i < n; i++) await call();
  // The two INFO calls count too: one before is excluded, the one after is included.
  return ((await processed()) - before - 1) / n;
}

/**
 * Runs the Redis benchmark. Returns `{ skipped, rows, markdown }`: `skipped` is a reason (and
 * `rows` empty) when no redis-server is available.
 */
export async function runRedisBench({ quick = false } = {}) {
  let server;
  try {
    server = await startRedis();
  } catch (error) {
    const skipped = `redis benchmark skipped: ${error.message}`;
    return { skipped, rows: [], markdown: `_${skipped}_\n` };
  }
  if (server === null) {
    const skipped = 'redis benchmark skipped: redis-server not found (Debian/Ubuntu: apt-get install -y redis-server)';
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
    const pingClient = client();
    const rlfClient = client();
    const fgClient = client();
    const admin = client();

    // Limits that never refuse, with both of floodgate's windows binding (so both are checked
    // and taken on every admission). The strict window is shortened to 1 s in the benchmark so
    // Redis does not hold a minute of starts; every admission still pushes one start and drops
    // the ones that aged out.
    const store = new RedisStore({ client: fgClient, prefix: 'bench:fg:', windowMs: 1_000, subscribe: false });
    const limits = { requestsPerSecond: 1e7, burst: 1e7, requestsPerMinute: 1e8 };
    const limiter = store.createLimiter('bench', limits, Date.now());
    const manager = new ThrottleManager({ store, env: {} });
    manager.configure('bench', { ...limits, maxConcurrent: Infinity, retryAttempts: 0, timeoutMs: 0, maxWaitMs: Infinity, maxQueue: Infinity });
    const noop = async () => undefined;
    const rlf = new RateLimiterRedis({ storeClient: rlfClient, keyPrefix: 'bench:rlf', points: 1e9, duration: 60 });

    const cases = [
      { name: 'ioredis PING (floor)', group: 'floor', call: () => pingClient.ping() },
      { name: 'rate-limiter-flexible RateLimiterRedis.consume', group: 'peer', call: () => rlf.consume('bench') },
      { name: 'floodgate RedisStore admission (tryAcquire)', group: 'floodgate', call: () => limiter.tryAcquire(Date.now()) },
      { name: 'floodgate execute() through RedisStore', group: 'floodgate', call: () => manager.execute('bench', noop) },
    ];

    const sequential = await compare(cases, { mode: 'sequential', ...settings });
    const inflight = await compare(cases, { mode: 'inflight', inFlight: IN_FLIGHT, ...settings, minOps: IN_FLIGHT });
    const trips = [];
    for (const c of cases) trips.push(await commandsPerOp(admin, c.call, quick ? 500 : 2_000));
    const storeTrips = store.roundTrips / Math.max(1, store.answered);

    const rows = cases.map((c, i) => ({
      name: c.name,
      group: c.group,
      sequentialNs: sequential[i].nsPerOp,
      sequentialOpsPerSec: 1e9 / sequential[i].nsPerOp,
      inflightNs: inflight[i].nsPerOp,
      inflightOpsPerSec: 1e9 / inflight[i].nsPerOp,
      commandsPerOp: trips[i],
    }));
    const fmtOps = (ops) => `${Math.round(ops).toLocaleString('en-US')}/s`;
    const markdown = [
      `## Fleet mode: admissions through Redis`,
      '',
      `One private redis-server on 127.0.0.1 (no persistence), one ioredis connection per row, same run. ` +
        `"In flight" keeps ${IN_FLIGHT} admissions outstanding. floodgate's admission checks the scope's suspension and ` +
        `provider pause, a strict rolling window and a token bucket in one script; rate-limiter-flexible's checks one fixed window.`,
      '',
      table(
        ['case', 'sequential', `${IN_FLIGHT} in flight`, 'Redis commands per call'],
        rows.map((r) => [
          r.name,
          `${fmtOps(r.sequentialOpsPerSec)} (${formatNs(r.sequentialNs)})`,
          `${fmtOps(r.inflightOpsPerSec)} (${formatNs(r.inflightNs)})`,
          r.commandsPerOp.toFixed(2),
        ]),
      ),
      '',
      `floodgate round trips per admission over the whole run (EVALSHA, plus EVAL after NOSCRIPT): ${storeTrips.toFixed(3)}.`,
      '',
    ].join('\n');
    await manager.close();
    return { skipped: null, rows, storeTripsPerAdmission: storeTrips, markdown };
  } finally {
    for (const c of clients) c.disconnect();
    await server.stop();
  }
}

// Run alone: `node bench/redis.mjs [--quick]` (after `npm run build`).
if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runRedisBench({ quick: process.argv.includes('--quick') });
  process.stdout.write(result.markdown);
}
