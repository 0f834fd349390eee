/**
 * One process of fleet.test.ts, through a RedisStore-backed manager. `mode: 'pause'`: one
 * createFetch call to a provider whose headers say nothing remains. `mode: 'guard'`: two calls
 * under a guard of one per minute, which trips it. Exits once what it published has reached
 * Redis. Run as `node --import tsx test/outbound/fleet-worker.ts` with OUTBOUND_WORKER set to
 * JSON `{ mode, redisPort, prefix, url }`; prints what it saw.
 */
import { Redis } from 'ioredis';
import { createFetch, RedisStore, ThrottleManager } from '../../src/index.js';

const { mode, redisPort, prefix, url } = JSON.parse(process.env.OUTBOUND_WORKER ?? '{}') as { mode: 'pause' | 'guard'; redisPort: number; prefix: string; url: string };
const client = new Redis({ port: redisPort, host: '127.0.0.1' });
const manager = new ThrottleManager({ env: {}, store: new RedisStore({ client, prefix }), ...(mode === 'guard' ? { guard: { maxPerMinute: 1 } } : {}) });
manager.configure('http', { requestsPerSecond: 100, burst: 10, requestsPerMinute: 1000, maxConcurrent: 10 });
const f = createFetch({ provider: 'shared', manager });
const res = await f(url);
await res.arrayBuffer();
const second = mode === 'guard' ? await f(url).then(() => 'answered', (e: unknown) => (e as Error).name) : null;
// The pause is published without blocking the call; a command sent after it answers after it ran.
await new Promise((resolve) => setImmediate(resolve));
await client.ping();
const report = manager.getStatusReport();
process.stdout.write(`${JSON.stringify({ status: res.status, second, pausedUntil: report.scopes['http:shared']?.pausedUntil ?? null, guard: report.guard.state })}\n`);
await manager.close();
client.disconnect();
