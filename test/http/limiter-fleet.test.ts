/** Fleet mode: two servers, each with its own manager, share one inbound limit through one real redis-server. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore, ThrottleManager } from 'floodgate';
import { createLimiter, type LimiterOptions } from 'floodgate/http';
import { configErrorOf } from '../helpers.js';
import { startRedis, type RedisServer } from '../stores/redis-server.js';

let redis: RedisServer;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  redis = await startRedis();
}, 20_000);
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

const SECRET = 'fleet-shared-secret-0123456789';

/** One instance of the app: its own Redis client, store, manager, limiter and server. */
async function instance(prefix: string, options: LimiterOptions): Promise<{ origin: string; manager: ThrottleManager }> {
  const manager = new ThrottleManager({ store: new RedisStore({ client: redis.client(), prefix }), env: {} });
  const limiter = createLimiter({ manager, ...options });
  const server = http.createServer(async (req, res) => {
    if (!(await limiter.check(req, res))) return;
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await manager.close();
  });
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, manager };
}

async function get(origin: string, headers: Record<string, string> = {}): Promise<number> {
  const response = await fetch(`${origin}/api/v1/chat/send`, { headers });
  await response.arrayBuffer();
  return response.status;
}

describe('inbound limits in fleet mode (Redis)', () => {
  it('two servers with their own managers share one limit per key', async () => {
    const prefix = `inbound-${process.pid}-${Date.now()}:`;
    const options: LimiterOptions = { groups: { '/api/v1/chat/*': { requestsPerMinute: 6, name: 'chat' } }, keys: { secret: SECRET, headersFrom: 'anyone' } };
    const a = await instance(prefix, options);
    const b = await instance(prefix, options);
    const seen: number[] = [];
    for (let i = 0; i < 10; i++) seen.push(await get(i % 2 === 0 ? a.origin : b.origin, { 'x-actor': 'alice' }));
    // Six in the fleet, whichever instance answered: never more.
    expect(seen.filter((status) => status === 200)).toHaveLength(6);
    expect(seen.slice(6)).toEqual([429, 429, 429, 429]);
    // Another key has its own quota, on either instance.
    expect(await get(b.origin, { 'x-actor': 'bob' })).toBe(200);
    // Both instances hash alice to the same scope (the shared secret); only b saw bob.
    const keysOf = (manager: ThrottleManager): string[] => Object.keys(manager.getStatusReport().scopes);
    expect(keysOf(a.manager)).toHaveLength(1);
    expect(keysOf(b.manager)).toHaveLength(2);
    expect(keysOf(b.manager)).toContain(keysOf(a.manager)[0]);
  });

  it('two servers share one group-wide limit across every key', async () => {
    const prefix = `inbound-total-${process.pid}-${Date.now()}:`;
    const options: LimiterOptions = { groups: { '/api/v1/chat/*': { requestsPerMinute: 100, name: 'chat', total: { requestsPerMinute: 5 } } }, keys: { secret: SECRET, headersFrom: 'anyone' } };
    const a = await instance(prefix, options);
    const b = await instance(prefix, options);
    const seen: number[] = [];
    for (let i = 0; i < 8; i++) seen.push(await get(i % 2 === 0 ? a.origin : b.origin, { 'x-actor': `user-${i}` }));
    // Eight different keys, two instances: five in the fleet, then the group is full everywhere.
    expect(seen).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
  });

  it('refuses to start on a shared store without a shared secret (each instance would count apart)', () => {
    const manager = new ThrottleManager({ store: new RedisStore({ client: redis.client(), prefix: 'nosecret:' }), env: {} });
    cleanup.push(() => manager.close());
    expect(configErrorOf(() => createLimiter({ manager })).field).toBe('keys.secret');
  });
});
