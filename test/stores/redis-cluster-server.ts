/**
 * A private three-node Redis Cluster for the cluster tests (started by startRedisCluster in
 * redis-processes.mjs, shared with the benchmarks). Like useRedisServer, every test fails saying
 * why when it cannot start.
 */
import { Redis } from 'ioredis';
import { requireRedisServer, useStarted } from './redis-server.js';
import { startRedisCluster } from './redis-processes.mjs';

export interface RedisCluster {
  /** The nodes' ports (every node a master; 16,384 slots split in three). */
  readonly ports: readonly number[];
  /** The port of the node that serves `key`'s slot now. */
  nodeOf(key: string): Promise<number>;
  /** A plain (non-cluster) ioredis client of one node; closed by stop(). */
  node(port: number): Redis;
  stop(): Promise<void>;
}

export function useRedisCluster(): () => RedisCluster {
  return useStarted(startCluster, 60_000, 'the Redis cluster');
}

export async function startCluster(): Promise<RedisCluster> {
  requireRedisServer();
  const cluster = await startRedisCluster();
  const clients = new Set<Redis>();
  const node = (port: number): Redis => {
    const client = new Redis({ host: '127.0.0.1', port });
    client.on('error', () => {});
    clients.add(client);
    return client;
  };
  const first = node(cluster.ports[0]!);
  return {
    ports: cluster.ports,
    node,
    async nodeOf(key: string) {
      const slot = Number(await first.cluster('KEYSLOT', key));
      const ranges = await first.cluster('SLOTS');
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      if (range?.[2] === undefined) throw new Error(`no node serves slot ${slot}`);
      return range[2][1];
    },
    async stop() {
      for (const client of clients) client.disconnect();
      clients.clear();
      await cluster.stop();
    },
  };
}
