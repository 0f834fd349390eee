/**
 * A private three-node Redis Cluster for the cluster tests: three redis-server processes on
 * 127.0.0.1 (`--cluster-enabled yes`, each with its own config file and bus port in a temporary
 * folder, persistence off), joined by `redis-cli --cluster create`, ready once every node says
 * `cluster_state:ok` (polled, never waited for by the clock). Like useRedisServer, every test
 * fails saying why when it cannot start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, pingOnce, redisServerBinary, sleep, useStarted } from './redis-server.js';

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
  const binary = redisServerBinary();
  const dir = mkdtempSync(join(tmpdir(), 'floodgate-cluster-'));
  const children: ChildProcess[] = [];
  const clients = new Set<Redis>();
  const stop = async (): Promise<void> => {
    for (const client of clients) client.disconnect();
    clients.clear();
    await Promise.all(
      children.map((child) => {
        if (child.exitCode !== null) return undefined;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGKILL');
        return exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ports: number[] = [];
    for (let i = 0; i < 3; i++) {
      const [port, busPort] = [await freePort(), await freePort()];
      ports.push(port);
      // The bus port is given (Redis 7): the default, port + 10000, may be taken or past 65535.
      const args = ['--port', String(port), '--cluster-port', String(busPort), '--bind', '127.0.0.1', '--cluster-enabled', 'yes'];
      args.push('--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir, '--save', '', '--appendonly', 'no', '--loglevel', 'warning');
      children.push(spawn(binary, args, { stdio: 'ignore' }));
    }
    for (const port of ports) await answering(port, children);
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    const node = (port: number): Redis => {
      const client = new Redis({ host: '127.0.0.1', port });
      client.on('error', () => {});
      clients.add(client);
      return client;
    };
    // Every node must see every slot served before a client is pointed at the cluster.
    const nodes = ports.map(node);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const infos = await Promise.all(nodes.map((n) => n.cluster('INFO') as Promise<string>));
      if (infos.every((info) => info.includes('cluster_state:ok'))) break;
      if (Date.now() > deadline) throw new Error(`the cluster did not reach cluster_state:ok within 30 s:\n${infos.join('\n')}`);
      await sleep(20);
    }
    return {
      ports,
      node,
      async nodeOf(key: string) {
        const slot = Number(await nodes[0]!.cluster('KEYSLOT', key));
        const ranges = await nodes[0]!.cluster('SLOTS');
        const range = ranges.find(([from, to]) => slot >= from && slot <= to);
        if (range?.[2] === undefined) throw new Error(`no node serves slot ${slot}`);
        return range[2][1];
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function answering(port: number, children: readonly ChildProcess[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await pingOnce(port))) {
    const dead = children.find((c) => c.exitCode !== null);
    if (dead !== undefined) throw new Error(`a cluster node exited (${dead.exitCode}) before answering`);
    if (Date.now() > deadline) throw new Error(`cluster node on port ${port} did not answer within 10 s`);
    await sleep(20);
  }
}

function run(command: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', (error) =>
      reject(new Error(`${command} is required by the cluster test (Debian/Ubuntu: it comes with redis-server, package redis-tools): ${error.message}`)),
    );
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${output}`))));
  });
}
