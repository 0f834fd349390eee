/**
 * Fleet mode on a real three-node Redis Cluster (started by this file on 127.0.0.1), with the
 * cluster clients of both libraries: ioredis `Cluster` and node-redis `createCluster`, each
 * major. Every key of a scope carries the scope as its hash tag, so one scope lives on one
 * node (its script runs there with its key in KEYS), and different scopes spread over the
 * nodes; suspensions travel by classic PUBLISH, which a cluster sends to every node.
 * Several managers, each with its own cluster client, stand in for processes; worker
 * processes on the cluster are in fleet-processes.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { isPlatformSuspendedError, isRateLimitedError, RedisStore, ThrottleManager, type RedisStoreOptions, type ThrottleConfig } from 'floodgate';
import { scopeKeyIn } from '../../src/stores/redis/lua.js';
import { storeParts, type RedisStoreParts } from '../../src/stores/redis/store.js';
import { CLIENT_KINDS, connectCluster, type OpenClient } from './clients.js';
import { useRedisCluster } from './redis-cluster-server.js';
import { MEMBER_CONFIG, until } from './redis-server.js';

const SVC = 'cluster_svc';
const cluster = useRedisCluster();
const open: { manager: ThrottleManager; client: OpenClient }[] = [];
let prefixCount = 0;

afterEach(async () => {
  for (const { manager, client } of open.splice(0)) {
    await manager.close();
    client.close();
  }
});

const newPrefix = (): string => `c${process.pid}-${++prefixCount}:`;

/** Platforms of SVC whose scopes' keys land on three different nodes (found by asking the cluster). */
async function platformsOnEveryNode(prefix: string): Promise<{ platform: string; port: number; key: string }[]> {
  const byNode = new Map<number, { platform: string; port: number; key: string }>();
  for (let i = 0; byNode.size < 3 && i < 500; i++) {
    const platform = `p${i}`;
    const key = scopeKeyIn(prefix, `${SVC}:${platform}`);
    const port = await cluster().nodeOf(key);
    if (!byNode.has(port)) byNode.set(port, { platform, port, key });
  }
  return [...byNode.values()];
}

async function burst(manager: ThrottleManager, n: number, platform: string): Promise<{ started: number; errors: unknown[] }> {
  let started = 0;
  const outcomes = await Promise.allSettled(Array.from({ length: n }, () => manager.execute(SVC, async () => void started++, { platform })));
  return { started, errors: outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason] : [])) };
}

describe.each(CLIENT_KINDS)('Redis Cluster, three nodes, %s cluster clients', (kind) => {
  /** One "process": its own cluster client, store and manager. */
  async function member(prefix: string, config: Partial<ThrottleConfig> = {}, options: Partial<RedisStoreOptions> = {}): Promise<{ manager: ThrottleManager; parts: RedisStoreParts }> {
    const client = await connectCluster(kind, cluster().ports);
    // A deadline a loaded machine cannot reach by accident.
    const store = new RedisStore({ client: client.client, prefix, timeoutMs: 10_000, ...options });
    const manager = new ThrottleManager({ store, env: {} });
    manager.configure(SVC, { ...MEMBER_CONFIG, ...config });
    open.push({ manager, client });
    return { manager, parts: storeParts(store) };
  }

  it('three processes share each scope’s cap, whichever node holds the scope', async () => {
    const prefix = newPrefix();
    const spread = await platformsOnEveryNode(prefix);
    expect(new Set(spread.map((s) => s.port)).size).toBe(3);
    const fleet = [await member(prefix), await member(prefix), await member(prefix)];
    expect(fleet[0]!.parts.settings.client.kind).toBe(kind.startsWith('ioredis') ? 'ioredis-cluster' : 'node-redis-cluster');
    for (const { platform, port, key } of spread) {
      const results = await Promise.all(fleet.map(({ manager }) => burst(manager, 8, platform)));
      expect(results.reduce((n, r) => n + r.started, 0)).toBe(10);
      for (const r of results) for (const error of r.errors) expect(isRateLimitedError(error)).toBe(true);
      // The scope's state is on its own node, in one key.
      expect(await cluster().node(port).exists(key)).toBe(1);
    }
    for (const { parts } of fleet) expect(parts.connection.health().status).toBe('ok');
  }, 30_000);

  it('a ban seen in one process suspends its scope in the others (PUBLISH reaches every node), and resume() lifts it everywhere', async () => {
    const prefix = newPrefix();
    const spread = await platformsOnEveryNode(prefix);
    expect(new Set(spread.map((s) => s.port)).size).toBe(3);
    const [a, b, c] = [await member(prefix), await member(prefix), await member(prefix)];
    await until(() => [a, b, c].every((m) => m.parts.channel.listening), 10_000, 'every subscription');
    // b and c know the scopes (they made a call in each) and are idle now.
    for (const { platform } of spread) for (const m of [b, c]) expect((await burst(m.manager, 1, platform)).started).toBe(1);
    const suspended: string[] = [];
    b.manager.on('suspended', (e) => suspended.push(`b ${e.scope}`));
    c.manager.on('suspended', (e) => suspended.push(`c ${e.scope}`));
    const ban = Object.assign(new Error('403 Forbidden: account suspended'), { status: 403 });
    for (const { platform } of spread) await expect(a.manager.execute(SVC, () => Promise.reject(ban), { platform })).rejects.toBe(ban);
    // Each scope's script ran on its own node and published there; b and c heard all three.
    await until(() => suspended.length === 6, 5_000, 'the three suspensions to reach b and c');
    expect(suspended.sort()).toEqual(spread.flatMap(({ platform }) => [`b ${SVC}:${platform}`, `c ${SVC}:${platform}`]).sort());
    for (const { platform } of spread) {
      const refused = await burst(b.manager, 2, platform);
      expect(refused.started).toBe(0);
      for (const error of refused.errors) expect(isPlatformSuspendedError(error)).toBe(true);
    }
    // A process that never heard of it (it subscribed later) is refused by its first admission.
    const late = await member(prefix);
    expect((await burst(late.manager, 1, spread[1]!.platform)).started).toBe(0);
    // Another platform is not suspended.
    expect((await burst(b.manager, 1, 'elsewhere')).started).toBe(1);

    const resumed: string[] = [];
    for (const [name, m] of [['a', a], ['b', b]] as const) m.manager.on('resumed', (e) => resumed.push(`${name} ${e.scope}`));
    for (const { platform } of spread) c.manager.resume(SVC, { platform });
    await until(() => resumed.length === 6, 5_000, 'the resumes to reach a and b');
    for (const { platform } of spread) expect((await burst(a.manager, 1, platform)).started).toBe(1);
  }, 30_000);
});
