/**
 * Fleet mode through a real Redis on loopback, two processes (this one and a worker): a pause
 * read from a provider's rate-limit headers, and the anti-loop guard's degraded mode.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createFetch, isDegradedError, isRateLimitedError, RedisStore, ThrottleManager, type DegradedEvent } from 'floodgate';
import { startRedis, type RedisServer } from '../stores/redis-server.js';
import { startServer, waitFor, type TestServer } from './http-server.js';

const WORKER = fileURLToPath(new URL('./fleet-worker.ts', import.meta.url));
let redis: RedisServer;
let server: TestServer;

beforeAll(async () => {
  redis = await startRedis();
  // `/limited` says nothing remains (OpenAI style); any other path is a plain 200.
  server = await startServer((req, res) => {
    if (req.url === '/limited') res.writeHead(200, { 'x-ratelimit-limit-requests': '100', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '6m0s' });
    res.end('{}');
  });
}, 20_000);

afterAll(async () => {
  await server?.close();
  await redis?.stop();
});

interface WorkerOutput {
  status: number;
  second: string | null;
  pausedUntil: number | null;
  guard: string;
}

function runWorker(spec: object): Promise<WorkerOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER], { env: { ...process.env, OUTBOUND_WORKER: JSON.stringify(spec) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim()) as WorkerOutput) : reject(new Error(`worker exited ${code}: ${err}`))));
  });
}

it('a pause from OpenAI headers in one process holds the scope in another; its next call never reaches the provider', async () => {
  const prefix = `outbound-pause-${process.pid}:`;
  const client: Redis = redis.client();
  const manager = new ThrottleManager({ env: {}, store: new RedisStore({ client, prefix }) });
  try {
    manager.configure('http', { requestsPerSecond: 100, burst: 10, requestsPerMinute: 1000, maxConcurrent: 10, maxWaitMs: 1_000 });
    const f = createFetch({ provider: 'shared', manager });
    const before = Date.now();
    const worker = await runWorker({ mode: 'pause', redisPort: redis.port, prefix, url: `${server.origin}/limited` });
    expect(worker.status).toBe(200);
    expect(worker.pausedUntil).toBeGreaterThanOrEqual(before + 360_000);
    await waitFor(() => manager.getStatusReport().scopes['http:shared']?.pausedUntil != null, 'the pause to reach this process');
    const seenBefore = server.seen.length;
    const outcome = await f(`${server.origin}/limited`).catch((e: unknown) => e);
    expect(isRateLimitedError(outcome) && outcome.reason).toBe('paused');
    expect(server.seen).toHaveLength(seenBefore);
  } finally {
    await manager.close();
  }
}, 30_000);

it("the anti-loop guard tripping in one process puts the other in degraded mode for the same cooldown", async () => {
  const prefix = `outbound-guard-${process.pid}:`;
  const client: Redis = redis.client();
  const manager = new ThrottleManager({ env: {}, store: new RedisStore({ client, prefix }) });
  const events: DegradedEvent[] = [];
  manager.on('degraded', (e) => events.push(e));
  try {
    manager.configure('http', { requestsPerSecond: 100, burst: 10, requestsPerMinute: 1000, maxConcurrent: 10 });
    const f = createFetch({ provider: 'elsewhere', manager });
    await (await f(`${server.origin}/ok`)).arrayBuffer();
    // Subscribed before the worker publishes: a message is not stored, only delivered.
    const probe = redis.client();
    let subscribers = 0;
    const count = (): void => {
      void probe.pubsub('NUMSUB', `${prefix}events`).then((reply) => (subscribers = Number((reply as unknown[])[1])));
    };
    await waitFor(() => (count(), subscribers >= 1), 'this process to subscribe');
    const seenBefore = server.seen.length;
    const before = Date.now();
    const worker = await runWorker({ mode: 'guard', redisPort: redis.port, prefix, url: `${server.origin}/ok` });
    expect(worker).toMatchObject({ second: 'DegradedError', guard: 'degraded' });
    await waitFor(() => events.length === 1, 'the degraded message to reach this process');
    expect(events[0]!.reason).toBe('max_per_minute');
    expect(events[0]!.until).toBeGreaterThanOrEqual(before + 60_000 - 1_000);
    expect(manager.getStatusReport().guard.state).toBe('degraded');
    const outcome = await f(`${server.origin}/ok`).catch((e: unknown) => e);
    expect(isDegradedError(outcome)).toBe(true);
    expect(server.seen.length).toBe(seenBefore + 1); // only the worker's first call
  } finally {
    await manager.close();
  }
}, 30_000);
