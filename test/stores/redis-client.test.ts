/**
 * The client layer: RedisStore takes ioredis (5, 6; Redis and Cluster) and node-redis (5, 6;
 * createClient and createCluster) clients, recognised by their shape. Nothing is sent here:
 * the clients are real but never connected. The fleet tests run every store test with each.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { Cluster as Cluster5, Redis as Redis5 } from 'ioredis';
import { Cluster as Cluster6, Redis as Redis6 } from 'ioredis6';
import { createClient as createClient5, createCluster as createCluster5 } from 'redis';
import { createClient as createClient6, createCluster as createCluster6 } from 'redis6';
import { RedisStore, type ConfigError, type RedisClient, type RedisStoreOptions } from 'floodgate';
import { configErrorOf } from '../helpers.js';
import { adaptClient } from '../../src/stores/redis/client.js';
import { storeParts } from '../../src/stores/redis/store.js';

const rootNodes = [{ url: 'redis://127.0.0.1:1' }];
const clients = {
  ioredis5: () => new Redis5({ lazyConnect: true }),
  ioredis6: () => new Redis6({ lazyConnect: true }),
  ioredis5Cluster: () => new Cluster5([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true }),
  ioredis6Cluster: () => new Cluster6([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true }),
  nodeRedis5: () => createClient5(),
  nodeRedis6: () => createClient6(),
  nodeRedis5Cluster: () => createCluster5({ rootNodes }),
  nodeRedis6Cluster: () => createCluster6({ rootNodes }),
};

function refusal(client: unknown): ConfigError {
  return configErrorOf(() => new RedisStore({ client } as RedisStoreOptions));
}

describe('RedisStore clients', () => {
  it.each([
    ['ioredis5', 'ioredis'],
    ['ioredis6', 'ioredis'],
    ['ioredis5Cluster', 'ioredis-cluster'],
    ['ioredis6Cluster', 'ioredis-cluster'],
    ['nodeRedis5', 'node-redis'],
    ['nodeRedis6', 'node-redis'],
    ['nodeRedis5Cluster', 'node-redis-cluster'],
    ['nodeRedis6Cluster', 'node-redis-cluster'],
  ] as const)('%s is taken as it comes, and recognised as %s', async (name, kind) => {
    const store = new RedisStore({ client: clients[name](), subscribe: false });
    expect(storeParts(store).settings.client.kind).toBe(kind);
    // Not connected: a command would only wait, so admissions go to the fallback.
    expect(storeParts(store).connection.isDisconnected || store.health().status === 'ok').toBe(true);
    await store.close();
  });

  it('the public type takes every supported client, and the published types name neither library', () => {
    expectTypeOf(clients.ioredis5()).toExtend<RedisClient>();
    expectTypeOf(clients.ioredis6()).toExtend<RedisClient>();
    expectTypeOf(clients.ioredis5Cluster()).toExtend<RedisClient>();
    expectTypeOf(clients.ioredis6Cluster()).toExtend<RedisClient>();
    expectTypeOf(clients.nodeRedis5()).toExtend<RedisClient>();
    expectTypeOf(clients.nodeRedis6()).toExtend<RedisClient>();
    expectTypeOf(clients.nodeRedis5Cluster()).toExtend<RedisClient>();
    expectTypeOf(clients.nodeRedis6Cluster()).toExtend<RedisClient>();
    expectTypeOf<{ host: string }>().not.toExtend<RedisClient>();
    expectTypeOf<RedisStoreOptions['client']>().toEqualTypeOf<RedisClient>();
  });

  it('anything else is a ConfigError naming the field, the value and what it must be', () => {
    const rule = 'must be an ioredis client (Redis or Cluster, 5 or 6) or a node-redis client (createClient or createCluster, 5 or 6)';
    expect(refusal({ host: '127.0.0.1' }).message).toBe(`Invalid RedisStore.client: {"host":"127.0.0.1"} (${rule})`);
    expect(refusal('redis://127.0.0.1')).toMatchObject({ field: 'RedisStore.client', value: 'redis://127.0.0.1', rule });
    expect(refusal(undefined).rule).toBe(`is required: it ${rule}`);
  });

  it('a client whose members throw when read is not recognised (never an error of another kind)', () => {
    const hostile = new Proxy(clients.ioredis5(), {
      get() {
        throw new Error('no');
      },
    });
    expect(adaptClient(hostile)).toBeNull();
    expect(adaptClient(clients.nodeRedis6())?.kind).toBe('node-redis');
  });
});
