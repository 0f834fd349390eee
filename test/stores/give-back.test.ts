/**
 * REFUND_SCRIPT against a real Redis, on hand-made ring states: what it frees, where it puts
 * the free slots, and what it must never touch (a record that may be another grant's credits).
 */
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { RedisStore } from '../../src/index.js';
import { encodeRefund } from '../../src/stores/redis/admit-protocol.js';
import { useRedisServer } from './redis-server.js';

const server = useRedisServer();
const L = 6;
let keys = 0;

/** Writes a scope's hash: the packed state (see lua.ts: tat, expiry, next slot, ring length, full, credit lease end) and the ring. */
async function ring(client: Redis, slots: readonly number[], next: number, full: boolean): Promise<string> {
  const key = `gb${process.pid}-${++keys}:{s}`;
  const state = Buffer.alloc(8 * 4 + 1 + 8);
  state.writeDoubleLE(0, 0);
  state.writeDoubleLE(Date.now() + 120_000, 8);
  state.writeDoubleLE(next, 16);
  state.writeDoubleLE(L, 24);
  state.writeUInt8(full ? 1 : 0, 32);
  state.writeDoubleLE(0, 33);
  const fields: (string | Buffer | number)[] = ['H', state];
  slots.forEach((stamp, slot) => fields.push(slot, stamp));
  await client.hset(key, ...(fields as [string, Buffer]));
  return key;
}

async function read(client: Redis, key: string): Promise<{ slots: number[]; next: number }> {
  const values = await client.hmget(key, ...Array.from({ length: L }, (_, i) => String(i)));
  const state = (await client.hgetBuffer(key, 'H'))!;
  return { slots: values.map((v) => Number(v ?? 0)), next: state.readDoubleLE(16) };
}

async function giveBack(client: Redis, key: string, slot: number, count: number, stamp: number): Promise<void> {
  await client.eval(...(encodeRefund({ key, scope: 's', ringLength: L, slot, count, stamp, probe: false, step: 0 }, 'gb-events')! as [string, number, ...string[]]));
}

describe('giving credits back', () => {
  it('credits with nobody after them: the ring\'s next slot moves back to them', async () => {
    const client = server().client();
    const now = Date.now();
    const lease = now + 50_000;
    const key = await ring(client, [now - 5, now - 4, lease, lease, 0, 0], 4, false);
    await giveBack(client, key, 2, 2, lease);
    expect(await read(client, key)).toEqual({ slots: [now - 5, now - 4, 0, 0, 0, 0], next: 2 });
  });

  it('credits with others after them in a full ring: the starts where the next admissions look move into the freed slots', async () => {
    const client = server().client();
    const now = Date.now();
    const lease = now + 50_000;
    // Next slot 4 (the oldest starts: 4, 5, 0), credits at 1 and 2, a start made after them at 3.
    const key = await ring(client, [now - 30, lease, lease, now - 1, now - 50, now - 40], 4, true);
    await giveBack(client, key, 1, 2, lease);
    const after = await read(client, key);
    // Slots 4 and 5 are free (looked at next), their starts sit in 1 and 2 (order aside, nothing lost).
    expect(after.next).toBe(4);
    expect(after.slots[4]).toBe(0);
    expect(after.slots[5]).toBe(0);
    expect([after.slots[1], after.slots[2]].sort()).toEqual([now - 50, now - 40].sort());
    expect(after.slots.filter((s) => s > 0).sort()).toEqual([now - 50, now - 40, now - 30, now - 1].sort());
  });

  it('never moves a record stamped later than now (another grant\'s credits): the walk stops there', async () => {
    const client = server().client();
    const now = Date.now();
    const mine = now + 50_000;
    const theirs = now + 40_000;
    // Next slot 0 holds another process's credits; mine at 3 and 4.
    const key = await ring(client, [theirs, theirs, now - 9, mine, mine, now - 8], 0, true);
    await giveBack(client, key, 3, 2, mine);
    expect(await read(client, key)).toEqual({ slots: [theirs, theirs, now - 9, 0, 0, now - 8], next: 0 });
    // Their own give-back still finds them where they were put.
    await giveBack(client, key, 0, 2, theirs);
    const after = await read(client, key);
    expect(after.slots.filter((s) => s > 0).sort()).toEqual([now - 9, now - 8].sort());
    expect([after.slots[0], after.slots[1]]).toEqual([0, 0]);
  });

  it('in a ring never full yet, the freed slots come right after the unused ones (the starts from slot 0 move into them)', async () => {
    const client = server().client();
    const now = Date.now();
    const lease = now + 50_000;
    const key = await ring(client, [now - 20, lease, now - 3, 0, 0, 0], 3, false);
    await giveBack(client, key, 1, 1, lease);
    expect(await read(client, key)).toEqual({ slots: [0, now - 20, now - 3, 0, 0, 0], next: 3 });
  });

  it('frees nothing whose stamp is not the grant\'s (the slot was reused since)', async () => {
    const client = server().client();
    const now = Date.now();
    const key = await ring(client, [now - 5, now - 4, now - 3, 0, 0, 0], 3, false);
    await giveBack(client, key, 1, 2, now + 50_000);
    expect(await read(client, key)).toEqual({ slots: [now - 5, now - 4, now - 3, 0, 0, 0], next: 3 });
  });
});

describe('the packed state of the version before', () => {
  it('is still read (no credits granted), so both versions can share a fleet while it is upgraded', async () => {
    const client = server().client();
    const now = Date.now();
    const prefix = `old${process.pid}:`;
    const key = `${prefix}{s}`;
    // tat, expiry, next slot, ring length, full: 33 bytes, as written before.
    const old = Buffer.alloc(33);
    old.writeDoubleLE(0, 0);
    old.writeDoubleLE(now + 120_000, 8);
    old.writeDoubleLE(2, 16);
    old.writeDoubleLE(L, 24);
    await client.hset(key, 'H', old, '0', now - 5, '1', now - 4);
    const store = new RedisStore({ client, prefix, subscribe: false, timeoutMs: 10_000 });
    const limiter = store.createLimiter('s', { requestsPerSecond: Infinity, burst: L, requestsPerMinute: L }, now);
    expect(await limiter.tryAcquire(Date.now())).toBe(0);
    const after = await read(client, key);
    expect(after.next).toBe(3);
    expect(after.slots.filter((s) => s > 0).length).toBe(3);
    expect((await client.hgetBuffer(key, 'H'))!.length).toBe(41);
    await store.close();
  });
});
