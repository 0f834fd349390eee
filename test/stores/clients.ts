/**
 * The Redis clients of the fleet tests, of each supported library (no vitest here: the worker
 * processes use it too).
 */
import { Cluster, Redis } from 'ioredis';
import { Cluster as Cluster6, Redis as Redis6 } from 'ioredis6';
import { createClient as createClient5, createCluster as createCluster5 } from 'redis';
import { createClient as createClient6, createCluster as createCluster6 } from 'redis6';
import type { RedisClient } from '../../src/index.js';

/** The client libraries floodgate supports, each major apart. */
export const CLIENT_KINDS = ['ioredis5', 'ioredis6', 'node-redis5', 'node-redis6'] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

/**
 * The library the stores under test use in this run: vitest.config.ts runs the fleet test files
 * once per client (`FLOODGATE_TEST_CLIENT`); ioredis 5 when unset. Admin clients of the tests
 * themselves (reading keys, pausing Redis) are always ioredis 5.
 */
export const TEST_CLIENT: ClientKind = clientKindOf(process.env['FLOODGATE_TEST_CLIENT']);

export function clientKindOf(name: string | undefined): ClientKind {
  if (name === undefined || name === '') return 'ioredis5';
  if (!(CLIENT_KINDS as readonly string[]).includes(name)) throw new Error(`FLOODGATE_TEST_CLIENT=${name}: expected one of ${CLIENT_KINDS.join(', ')}`);
  return name as ClientKind;
}

/** A closable client of any kind (what stop() needs). */
export interface OpenClient {
  readonly client: RedisClient;
  close(): void;
}

/**
 * A client of `kind` for a store, connecting to 127.0.0.1:`port` (node-redis: `connect()`
 * called, not awaited: commands wait until it is ready, as ioredis's do). Connection errors
 * while a test kills the server are expected; the store reports them.
 */
export function connectClient(kind: ClientKind, port: number): OpenClient {
  if (kind === 'ioredis5' || kind === 'ioredis6') {
    const client = kind === 'ioredis5' ? new Redis({ host: '127.0.0.1', port }) : new Redis6({ host: '127.0.0.1', port });
    client.on('error', () => {});
    return { client, close: () => client.disconnect() };
  }
  const options = { socket: { host: '127.0.0.1', port } };
  const client = kind === 'node-redis5' ? createClient5(options) : createClient6(options);
  client.on('error', () => {});
  client.connect().catch(() => {});
  return { client, close: () => closeNodeRedis(client) };
}

/** A cluster client of the library of `kind` (ioredis or node-redis), connected (awaited). */
export async function connectCluster(kind: ClientKind, ports: readonly number[]): Promise<OpenClient> {
  if (kind === 'ioredis5' || kind === 'ioredis6') {
    const nodes = ports.map((port) => ({ host: '127.0.0.1', port }));
    const client = kind === 'ioredis5' ? new Cluster(nodes) : new Cluster6(nodes);
    client.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve);
      client.once('end', () => reject(new Error('cluster client ended before it was ready')));
    });
    return { client, close: () => client.disconnect() };
  }
  const options = { rootNodes: ports.map((port) => ({ url: `redis://127.0.0.1:${port}` })) };
  const client = kind === 'node-redis5' ? createCluster5(options) : createCluster6(options);
  client.on('error', () => {});
  await client.connect();
  return { client, close: () => closeNodeRedis(client) };
}

function closeNodeRedis(client: { destroy(): void }): void {
  try {
    client.destroy();
  } catch {
    // Already closed.
  }
}
