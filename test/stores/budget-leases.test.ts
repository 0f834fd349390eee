/**
 * Fleet budgets (README "LLM spend", fleet mode): each reservation is a lease that its process
 * renews while the call is in flight, so a process that dies leaves it counted for
 * `reservationLeaseMs` at most, and a settlement after its lease lapsed releases nothing twice.
 * On a real redis-server, with a real process killed for the crash.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { isBudgetExceededError, RedisStore, ThrottleManager, type RedisStoreOptions } from 'floodgate';
import { storeParts } from '../../src/stores/redis/store.js';
import type { LeaseHolderSpec } from './lease-holder.js';
import { TEST_CLIENT, until, useRedisServer } from './redis-server.js';

const SVC = 'leased';
// gpt-4o input at $2.50 per million tokens: each call reserves and spends $0.0025.
const CALL = { cost: { input: 1_000, output: 0 }, model: 'gpt-4o' };
const PER_CALL = 0.0025;
const budgetFor = (calls: number) => ({ requestsPerMinute: Infinity, burst: 1_000, maxWaitMs: 0, budget: { usd: calls * PER_CALL, period: 'day' as const } });
const HOLDER = fileURLToPath(new URL('./lease-holder.ts', import.meta.url));

const server = useRedisServer();
const managers: ThrottleManager[] = [];
let prefixCount = 0;

afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.close();
});

function newPrefix(): string {
  return `lease${process.pid}-${++prefixCount}-${Math.random().toString(36).slice(2, 8)}:`;
}

function member(prefix: string, calls: number, options: Partial<RedisStoreOptions> = {}): { manager: ThrottleManager; store: RedisStore } {
  const store = new RedisStore({ client: server().storeClient(), prefix, timeoutMs: 10_000, ...options });
  const manager = new ThrottleManager({ store, env: {} });
  manager.configure(SVC, budgetFor(calls));
  managers.push(manager);
  return { manager, store };
}

/** Starts a metered call that runs until `end()` is called; resolves once it started (its reservation made). */
async function heldCall(manager: ThrottleManager): Promise<{ end: () => void; done: Promise<unknown> }> {
  let end: () => void = () => {};
  let started = false;
  const done = manager.execute(SVC, () => {
    started = true;
    return new Promise<void>((resolve) => (end = resolve));
  }, CALL);
  await until(() => started, 20_000, 'the held call to start');
  return { end: () => end(), done };
}

/** The period's hash (`s` spent, `r` reserved) and its leases, as Redis holds them. */
async function budgetIn(prefix: string): Promise<{ spent: number; reserved: number; leases: { member: string; lapsesAt: number }[]; now: number }> {
  const admin = server().client();
  try {
    const [hash] = (await admin.keys(`${prefix}*:b:*`)).filter((key) => !key.endsWith(':l'));
    const [spent, reserved] = await admin.hmget(hash!, 's', 'r');
    const flat = await admin.zrange(`${hash}:l`, 0, -1, 'WITHSCORES');
    const leases = [];
    for (let i = 0; i < flat.length; i += 2) leases.push({ member: flat[i]!, lapsesAt: Number(flat[i + 1]) });
    const [seconds, micros] = await admin.time();
    return { spent: Number(spent ?? 0), reserved: Number(reserved ?? 0), leases, now: Number(seconds) * 1_000 + Number(micros) / 1_000 };
  } finally {
    admin.disconnect();
  }
}

describe('fleet budget reservations are leases', () => {
  it("a process killed with a call in flight: its reservation holds the budget until its lease lapses, then the fleet's budget is free again", async () => {
    const prefix = newPrefix();
    const spec: LeaseHolderSpec = { port: server().port, client: TEST_CLIENT, prefix, service: SVC, config: budgetFor(1), call: CALL, reservationLeaseMs: 3_000 };
    const holder = spawn(process.execPath, ['--import', 'tsx', HOLDER], { env: { ...process.env, LEASE_HOLDER: JSON.stringify(spec, (_, v: unknown) => (v === Infinity ? 'Infinity' : v)) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.on('message', (message: { t: string; message?: string }) => (message.t === 'held' ? resolve() : reject(new Error(message.message))));
        holder.on('exit', (code) => reject(new Error(`the holder exited with ${code}`)));
      });
      const b = member(prefix, 1);
      // The holder's call reserved the whole budget: b is refused while the holder lives.
      await expect(b.manager.execute(SVC, async () => 'b', CALL)).rejects.toSatisfy(isBudgetExceededError);
      expect((await budgetIn(prefix)).leases).toHaveLength(1);
      holder.kill('SIGKILL');
      // Nobody renews the lease now: once it lapses, the next reservation takes it off.
      await until(async () => {
        try {
          return (await b.manager.execute(SVC, async () => 'b', CALL)) === 'b';
        } catch (error) {
          if (isBudgetExceededError(error)) return false;
          throw error;
        }
      }, 30_000, "b's call to find the dead holder's reservation gone");
      const after = await budgetIn(prefix);
      expect(after.spent).toBeCloseTo(PER_CALL, 12);
      expect(after.reserved).toBe(0);
      expect(after.leases).toEqual([]);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('a living process renews the leases of its calls in flight, and a settlement takes its lease off', async () => {
    const prefix = newPrefix();
    const a = member(prefix, 2, { reservationLeaseMs: 1_000 });
    const call = await heldCall(a.manager);
    const [first] = (await budgetIn(prefix)).leases;
    expect(first).toBeDefined();
    await until(async () => (await budgetIn(prefix)).leases[0]!.lapsesAt > first!.lapsesAt, 20_000, 'the lease to be renewed');
    expect((await budgetIn(prefix)).reserved).toBeCloseTo(PER_CALL, 12);
    call.end();
    await call.done;
    await until(async () => (await budgetIn(prefix)).leases.length === 0, 20_000, 'the settlement to take the lease off');
    const after = await budgetIn(prefix);
    expect(after.spent).toBeCloseTo(PER_CALL, 12);
    expect(after.reserved).toBe(0);
  });

  it('a call whose lease lapsed (its process cut off from renewing) settles its spend and releases nothing twice', async () => {
    const prefix = newPrefix();
    const a = member(prefix, 3, { reservationLeaseMs: 1_000 });
    const b = member(prefix, 3);
    const callA = await heldCall(a.manager);
    // a stops renewing, as a process cut off from Redis would: its lease lapses on Redis's clock.
    storeParts(a.store).leases.stop();
    await until(async () => {
      const { leases, now } = await budgetIn(prefix);
      return leases.length === 1 && leases[0]!.lapsesAt < now;
    }, 20_000, "a's lease to lapse");
    // b's reservation takes the lapsed one off; b's call stays in flight.
    const callB = await heldCall(b.manager);
    expect((await budgetIn(prefix)).reserved).toBeCloseTo(PER_CALL, 12);
    callA.end();
    await callA.done;
    // a's call spent its cost; its reservation, already taken off, is not released again: b's stays.
    await until(async () => (await budgetIn(prefix)).spent > 0, 20_000, "a's settlement");
    const mid = await budgetIn(prefix);
    expect(mid.spent).toBeCloseTo(PER_CALL, 12);
    expect(mid.reserved).toBeCloseTo(PER_CALL, 12);
    callB.end();
    await callB.done;
    await until(async () => (await budgetIn(prefix)).reserved === 0, 20_000, "b's settlement");
    expect((await budgetIn(prefix)).spent).toBeCloseTo(2 * PER_CALL, 12);
  });

  it('reservationLeaseMs is checked: a bad value names the option, the value and the rule', () => {
    for (const bad of [999, 0, -1, Infinity, Number.NaN, '30000']) {
      expect(() => new RedisStore({ client: server().storeClient(), reservationLeaseMs: bad as number })).toThrow(/RedisStore\.reservationLeaseMs.*>= 1000/);
    }
  });
});
