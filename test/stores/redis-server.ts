/**
 * Starts and stops a private redis-server for the fleet tests: 127.0.0.1 only, a free port,
 * persistence off (`--save '' --appendonly no`). Nothing is skipped: without redis-server
 * every fleet test fails, each with a message that says how to install it (CI installs it in
 * .ci/run). A failing `beforeAll` would only mark them skipped, and the run would read green.
 */
import type { ChildProcess } from 'node:child_process';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import type { RedisClient } from 'floodgate';
import { connectClient, TEST_CLIENT } from './clients.js';
import { freePort, killProcess, launchRedis, missingTool, sleep } from './redis-processes.mjs';

export * from './clients.js';
export { freePort, pingOnce, sleep } from './redis-processes.mjs';

export interface RedisServer {
  readonly port: number;
  /** Kills the server abruptly (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty (no persistence): scripts must be loaded again. */
  restart(): Promise<void>;
  /** Stops it for good. */
  stop(): Promise<void>;
  /** A new ioredis 5 client of this server (for the tests' own reads); every client made here is closed by stop(). */
  client(options?: RedisOptions): Redis;
  /** A new client of this run's library ({@link TEST_CLIENT}) for a store; closed by stop(). */
  storeClient(): RedisClient;
}

/**
 * One redis-server for the tests of the calling file: started before them, stopped after.
 * Returns the accessor each test calls; when the server could not start (not installed), the
 * accessor throws why, so every test that needs Redis fails with that message.
 */
export function useRedisServer(): () => RedisServer {
  return useStarted(startRedis, 20_000, 'redis-server');
}

/** Something started before the file's tests and stopped after them (see useRedisServer). */
export function useStarted<T extends { stop(): Promise<void> }>(start: () => Promise<T>, timeoutMs: number, what: string): () => T {
  let started: T | undefined;
  let failure: unknown;
  beforeAll(async () => {
    try {
      started = await start();
    } catch (error) {
      failure = error;
    }
  }, timeoutMs);
  afterAll(async () => {
    await started?.stop();
  });
  return () => {
    if (started === undefined) throw failure ?? new Error(`${what} was not started`);
    return started;
  };
}

/** What every test member's scope is configured with, before a test's own settings: nothing refused but by the limits under test. */
export const MEMBER_CONFIG = {
  requestsPerSecond: Infinity,
  burst: 10,
  requestsPerMinute: 10,
  maxConcurrent: Infinity,
  retryAttempts: 0,
  timeoutMs: 0,
  maxWaitMs: 0,
  maxQueue: 1_000,
  circuitBreakerThreshold: 1_000,
} as const;

/** Throws, saying how to install it, when redis-server is not on PATH. */
export function requireRedisServer(): void {
  if (missingTool('redis-server') === null) return;
  throw new Error(
    'redis-server is required by the fleet-mode tests (test/stores) and was not found on PATH. ' +
      'Install it (Debian/Ubuntu: `apt-get install -y redis-server`); .ci/run installs it when missing.',
  );
}

export async function startRedis(): Promise<RedisServer> {
  requireRedisServer();
  const port = await freePort();
  let child: ChildProcess | undefined;
  const clients = new Set<{ disconnect(): void }>();

  const launch = async (): Promise<void> => {
    child = await launchRedis(port);
  };

  const kill = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    await killProcess(proc);
  };

  await launch();
  return {
    port,
    kill,
    restart: launch,
    async stop() {
      for (const client of clients) client.disconnect();
      clients.clear();
      await kill();
    },
    storeClient() {
      const { client, close } = connectClient(TEST_CLIENT, port);
      clients.add({ disconnect: close });
      return client;
    },
    client(options: RedisOptions = {}) {
      const client = new Redis({ host: '127.0.0.1', port, lazyConnect: false, ...options });
      // Connection errors while a test kills the server are expected; the store reports them.
      client.on('error', () => {});
      clients.add(client);
      return client;
    },
  };
}

/** Polls `check` every 10 ms until it returns true, or fails after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * Drops every subscribed connection, as a network fault would. By the subscription (`sub=` in
 * CLIENT LIST), not `CLIENT KILL TYPE pubsub`: Redis does not count a RESP3 connection (node-redis
 * 6's default) as of type pubsub.
 */
export async function killSubscribers(admin: Redis): Promise<number> {
  const list = String(await admin.client('LIST'));
  const ids = [...list.matchAll(/^id=(\d+) .* sub=([1-9]\d*) /gm)].map((m) => m[1]!);
  for (const id of ids) await admin.client('KILL', 'ID', id);
  return ids.length;
}

/**
 * How many starts the strict window's ring of a scope's hash holds (see ADMIT_SCRIPT: the
 * packed `H` field, `<ddddB`: the bucket's tat, expiry, next slot, ring length, full).
 */
export async function ringStarts(client: Redis, scopeKey: string): Promise<number> {
  const header = await client.hgetBuffer(scopeKey, 'H');
  if (header === null) return 0;
  const next = header.readDoubleLE(16);
  const length = header.readDoubleLE(24);
  return header.readUInt8(32) === 1 ? length : next;
}

/** The most starts inside any span of `ms` (start times in ms, in any order). */
export function busiestWindow(starts: readonly number[], ms: number): number {
  const sorted = [...starts].sort((x, y) => x - y);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= ms) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

/** A TCP proxy to a Redis port (see {@link holdingProxy}). */
export interface HoldingProxy {
  readonly port: number;
  /** Lets the connections held so far (and every later one) through. */
  release(): void;
  close(): Promise<void>;
}

/**
 * A proxy on a free loopback port to Redis on `port` that lets the first connection through
 * and holds every later one (accepted, not forwarded) until `release()`: a store's client
 * connects first, its subscription on a connection of its own after, so the subscription comes
 * up exactly when the test says.
 */
export async function holdingProxy(port: number): Promise<HoldingProxy> {
  const sockets = new Set<Socket>();
  const held: (() => void)[] = [];
  let released = false;
  let accepted = 0;
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.pause();
    const forward = (): void => {
      const upstream = connect(port, '127.0.0.1');
      sockets.add(upstream);
      upstream.on('close', () => (sockets.delete(upstream), socket.destroy()));
      upstream.on('error', () => {});
      socket.on('close', () => upstream.destroy());
      socket.pipe(upstream).pipe(socket);
    };
    if (accepted++ === 0 || released) forward();
    else held.push(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    release() {
      released = true;
      for (const forward of held.splice(0)) forward();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The most starts (weighted by `weight`) certainly made within one `ms`-long span: each start
 * was admitted between its call's `begun` and its `at` (when it ran), so the starts begun at or
 * after some start's `begun` that ran before that + `ms` all lie inside that span, however late
 * each was delivered or recorded. No slack: a loaded machine only widens the bounds.
 */
export function busiestCertainWindow<T extends { readonly begun: number; readonly at: number }>(starts: readonly T[], ms: number, weight: (start: T) => number = () => 1): number {
  const sorted = [...starts].sort((x, y) => x.begun - y.begun);
  let most = 0;
  for (let i = 0; i < sorted.length; i++) {
    const from = sorted[i]!.begun;
    let inside = 0;
    for (let j = i; j < sorted.length; j++) if (sorted[j]!.at < from + ms) inside += weight(sorted[j]!);
    if (inside > most) most = inside;
  }
  return most;
}
