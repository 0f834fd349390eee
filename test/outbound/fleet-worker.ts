/**
 * One process of fleet-pause.test.ts: makes one createFetch call through a RedisStore-backed
 * manager, to a provider whose headers say nothing remains, then exits once its pause has
 * reached Redis. Run as `node --import tsx test/outbound/fleet-worker.ts` with OUTBOUND_WORKER
 * set to JSON `{ redisPort, prefix, url }`; prints the status it got.
 */
import { Redis } from 'ioredis';
import { createFetch, RedisStore, ThrottleManager } from '../../src/index.js';

const { redisPort, prefix, url } = JSON.parse(process.env.OUTBOUND_WORKER ?? '{}') as { redisPort: number; prefix: string; url: string };
const client = new Redis({ port: redisPort, host: '127.0.0.1' });
const manager = new ThrottleManager({ env: {}, store: new RedisStore({ client, prefix }) });
manager.configure('http', { requestsPerSecond: 100, burst: 10, requestsPerMinute: 1000, maxConcurrent: 10 });
const res = await createFetch({ provider: 'shared', manager })(url);
await res.arrayBuffer();
// The pause is published without blocking the call; a command sent after it answers after it ran.
await new Promise((resolve) => setImmediate(resolve));
await client.ping();
process.stdout.write(`${JSON.stringify({ status: res.status, pausedUntil: manager.getStatusReport().scopes['http:shared']?.pausedUntil ?? null })}\n`);
await manager.close();
client.disconnect();
