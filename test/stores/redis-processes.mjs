// Private redis-server processes on 127.0.0.1 (persistence off), shared by the fleet tests'
// helpers (redis-server.ts, redis-cluster-server.ts) and the Redis benchmarks (bench/redis.mjs).
// Plain JavaScript, so that `node bench/...` runs it without a build; types in the .d.mts beside.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Why `tool` (redis-server, redis-cli) cannot run here, or null when it can. */
export function missingTool(tool) {
  const found = spawnSync(tool, ['--version'], { encoding: 'utf8' });
  return found.error !== undefined || found.status !== 0 ? `${tool} was not found on PATH (Debian/Ubuntu: apt-get install -y redis-server)` : null;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** One PING on a fresh connection: true when the server answers. */
export function pingOnce(port) {
  return new Promise((resolve) => {
    const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
    client.on('error', () => {});
    client
      .connect()
      .then(() => client.ping())
      .then(
        () => resolve(true),
        () => resolve(false),
      )
      .finally(() => client.disconnect());
  });
}

/**
 * Starts redis-server on 127.0.0.1:`port` (persistence off, `extraArgs` after) and resolves with
 * its process once it answers PING (polled, never waited for by the clock). Rejects, with what
 * it printed, when it exits first or does not answer within 10 s (then it is killed).
 */
export async function launchRedis(port, extraArgs = []) {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--loglevel', 'warning', ...extraArgs];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk.toString()));
  child.stderr.on('data', (chunk) => (output += chunk.toString()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}) on port ${port}: ${output}`);
    if (await pingOnce(port)) return child;
    if (Date.now() > deadline) {
      await killProcess(child);
      throw new Error(`redis-server did not answer on port ${port} within 10 s: ${output}`);
    }
    await sleep(20);
  }
}

/** Kills a process abruptly (SIGKILL), as a crash would; resolves once it has exited. */
export function killProcess(child) {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  return exited;
}

/**
 * A three-node Redis Cluster on 127.0.0.1 (every node a master, its own config file and bus port
 * in a temporary folder), joined by `redis-cli --cluster create`, resolved once every node says
 * `cluster_state:ok`. `stop()` kills the nodes and removes the folder.
 */
export async function startRedisCluster() {
  const dir = mkdtempSync(join(tmpdir(), 'floodgate-cluster-'));
  const children = [];
  const stop = async () => {
    await Promise.all(children.map(killProcess));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ports = [];
    for (let i = 0; i < 3; i++) {
      const [port, busPort] = [await freePort(), await freePort()];
      ports.push(port);
      // The bus port is given (Redis 7): the default, port + 10000, may be taken or past 65535.
      children.push(await launchRedis(port, ['--cluster-enabled', 'yes', '--cluster-port', String(busPort), '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir]));
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    // Every node must see every slot served before a client is pointed at the cluster.
    const admins = ports.map((port) => new Redis({ host: '127.0.0.1', port }).on('error', () => {}));
    try {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const infos = await Promise.all(admins.map((admin) => admin.cluster('INFO')));
        if (infos.every((info) => info.includes('cluster_state:ok'))) break;
        if (Date.now() > deadline) throw new Error(`the cluster did not reach cluster_state:ok within 30 s:\n${infos.join('\n')}`);
        await sleep(20);
      }
    } finally {
      for (const admin of admins) admin.disconnect();
    }
    return { ports, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function run(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk.toString()));
    child.stderr.on('data', (chunk) => (output += chunk.toString()));
    child.on('error', (error) => reject(new Error(`${command} is needed to start a Redis Cluster (Debian/Ubuntu: it comes with redis-server, package redis-tools): ${error.message}`)));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${output}`))));
  });
}
