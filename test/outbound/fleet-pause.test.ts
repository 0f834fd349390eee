/**
 * Fleet mode: a pause read from a provider's rate-limit headers in one process holds the same
 * scope in another, through a real Redis on loopback (two processes: this one and a worker).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createFetch, isRateLimitedError, RedisStore, ThrottleManager } from 'floodgate';
import { startRedis, type RedisServer } from '../stores/redis-server.js';
import { startServer, waitFor, type TestServer } from './http-server.js';

const WORKER = fileURLToPath(new URL('./fleet-worker.ts', import.meta.url));
let redis: RedisServer;
let server: TestServer;

beforeAll(async () => {
  redis = await startRedis();
  server = await startServer((_req, res) => {
    res.writeHead(200, { 'x-ratelimit-limit-requests': '100', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '6m0s' });
    res.end('{}');
  });
}, 20_000);

afterAll(async () => {
  await server?.close();
  await redis?.stop();
});

function runWorker(spec: object): Promise<{ status: number; pausedUntil: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER], { env: { ...process.env, OUTBOUND_WORKER: JSON.stringify(spec) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim()) as { status: number; pausedUntil: number | null }) : reject(new Error(`worker exited ${code}: ${err}`))));
  });
}

it('a pause from OpenAI headers in one process holds the scope in another; its next call never reaches the provider', async () => {
  const prefix = `outbound-${process.pid}:`;
  const client: Redis = redis.client();
  const manager = new ThrottleManager({ env: {}, store: new RedisStore({ client, prefix }) });
  try {
    manager.configure('http', { requestsPerSecond: 100, burst: 10, requestsPerMinute: 1000, maxConcurrent: 10, maxWaitMs: 1_000 });
    const f = createFetch({ provider: 'shared', manager });
    const before = Date.now();
    const worker = await runWorker({ redisPort: redis.port, prefix, url: `${server.origin}/v1/chat/completions` });
    expect(worker.status).toBe(200);
    expect(worker.pausedUntil).toBeGreaterThanOrEqual(before + 360_000);
    await waitFor(() => manager.getStatusReport().scopes['http:shared']?.pausedUntil != null, 'the pause to reach this process');
    const outcome = await f(`${server.origin}/v1/chat/completions`).catch((e: unknown) => e);
    expect(isRateLimitedError(outcome) && outcome.reason).toBe('paused');
    expect(server.seen).toHaveLength(1);
  } finally {
    await manager.close();
  }
}, 30_000);
