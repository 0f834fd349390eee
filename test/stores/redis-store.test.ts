/**
 * Fleet mode against a real Redis (started by this file on 127.0.0.1, a free port, no
 * persistence). Several managers, each with its own client and RedisStore, stand in for
 * processes here; worker processes are in fleet-processes.test.ts. The clients are of this
 * run's library (TEST_CLIENT: vitest.config.ts runs this file with each one).
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  type RedisClient,
  isBudgetExceededError,
  isCircuitOpenError,
  isPlatformSuspendedError,
  isRateLimitedError,
  RedisStore,
  ThrottleManager,
  type RedisStoreOptions,
  type StoreHealthEvent,
  type ThrottleConfig,
} from 'floodgate';
import { testWindow } from '../../src/stores/redis/settings.js';
import { storeParts, type RedisStoreParts } from '../../src/stores/redis/store.js';
import { busiestCertainWindow, connectClient, holdingProxy, killSubscribers, MEMBER_CONFIG, ringStarts, sleep, startRedis, TEST_CLIENT, until, useRedisServer } from './redis-server.js';

const SVC = 'fleet_svc';
/** The file's redis-server (every test fails, saying why, when it cannot start). */
const server = useRedisServer();
let prefixCount = 0;
const managers: ThrottleManager[] = [];

afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.close();
});

/** A fresh key prefix per test: tests never see each other's keys. */
function newPrefix(): string {
  return `t${process.pid}-${++prefixCount}-${Math.random().toString(36).slice(2, 8)}:`;
}

interface Member {
  readonly manager: ThrottleManager;
  readonly store: RedisStore;
  /** The store's parts and counters (test hooks, not public API). */
  readonly parts: RedisStoreParts;
  readonly client: RedisClient;
}

/** One "process": its own client (by default one of the file's server), store and manager. */
function member(prefix: string, config: Partial<ThrottleConfig>, options: Partial<RedisStoreOptions> = {}, client: RedisClient = server().storeClient()): Member {
  // A deadline a loaded machine cannot reach by accident (tests of a slow Redis set their own).
  const store = new RedisStore({ client, prefix, timeoutMs: 10_000, ...options });
  const manager = new ThrottleManager({ store, env: {} });
  manager.configure(SVC, { ...MEMBER_CONFIG, ...config });
  managers.push(manager);
  return { manager, store, parts: storeParts(store), client };
}

/** Runs `n` calls at once; returns how many were admitted and the errors of the others. */
async function burst(manager: ThrottleManager, n: number, options: { platform?: string } = {}): Promise<{ started: number; errors: unknown[] }> {
  let started = 0;
  const outcomes = await Promise.allSettled(
    Array.from({ length: n }, () =>
      manager.execute(
        SVC,
        async () => {
          started++;
        },
        options,
      ),
    ),
  );
  return { started, errors: outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason] : [])) };
}

async function keysOf(prefix: string): Promise<string[]> {
  const admin = server().client();
  try {
    return await admin.keys(`${prefix}*`);
  } finally {
    admin.disconnect();
  }
}

describe('RedisStore: shared limits', () => {
  it(`runs with this run's client library (${TEST_CLIENT})`, () => {
    const m = member(newPrefix(), {});
    expect(m.parts.settings.client.kind).toBe(TEST_CLIENT.startsWith('ioredis') ? 'ioredis' : 'node-redis');
  });

  it('three managers share one per-window cap and one token bucket', async () => {
    const prefix = newPrefix();
    const fleet = [member(prefix, {}), member(prefix, {}), member(prefix, {})];
    const results = await Promise.all(fleet.map(({ manager }) => burst(manager, 8)));
    const started = results.reduce((sum, r) => sum + r.started, 0);
    expect(started).toBe(10);
    for (const r of results) for (const error of r.errors) expect(isRateLimitedError(error)).toBe(true);

    const bucketOnly = newPrefix();
    const pair = [
      member(bucketOnly, { requestsPerSecond: 0.001, burst: 4, requestsPerMinute: Infinity }),
      member(bucketOnly, { requestsPerSecond: 0.001, burst: 4, requestsPerMinute: Infinity }),
    ];
    const [a, b] = await Promise.all(pair.map(({ manager }) => burst(manager, 4)));
    expect(a!.started + b!.started).toBe(4);
  });

  it('admissions asked for in the same tick go out as one trip, and the ring of the window stays exact as it wraps', async () => {
    const prefix = newPrefix();
    // Time scaled down: a 2 s window holding 5 starts (longer than any pause of a loaded machine
    // between the rounds that must fall inside one window).
    const W = 2_000;
    const m = member(prefix, { burst: 5, requestsPerMinute: 5, maxWaitMs: 0 }, testWindow(W));
    await burst(m.manager, 1, { platform: 'warm-up' }); // the script is loaded
    // Trips are counted once the subscription is live (its coming up makes a waiting scope ask once more).
    await until(() => m.parts.channel.listening, 10_000, 'the subscription');
    /** Each start: when its round was asked for (before Redis admitted it) and when it ran (after). */
    const starts: { asked: number; ran: number }[] = [];
    /** `n` calls at once: how many started, and in how many trips. */
    const round = async (n: number): Promise<[number, number]> => {
      const before = m.parts.stats.roundTrips;
      const asked = Date.now();
      const outcomes = await Promise.allSettled(Array.from({ length: n }, () => m.manager.execute(SVC, async () => void starts.push({ asked, ran: Date.now() }))));
      for (const o of outcomes) if (o.status === 'rejected') expect(isRateLimitedError(o.reason)).toBe(true);
      return [outcomes.filter((o) => o.status === 'fulfilled').length, m.parts.stats.roundTrips - before];
    };
    /** Waits until every start so far has left the window (on the clock Redis reads too). */
    const windowPassed = (): Promise<void> => until(() => Date.now() > starts.at(-1)!.ran + W, W + 10_000, 'the window to pass');
    expect(await round(3)).toEqual([3, 1]);
    // Two slots left unused, then the ring is full and the rest must wait for the window.
    expect(await round(4)).toEqual([2, 1]);
    // The answer named when the window frees a slot: refused without asking.
    expect(await round(2)).toEqual([0, 0]);
    await windowPassed();
    // Every slot reusable again: five of twelve, the ring wrapping in the middle of the batch.
    expect(await round(12)).toEqual([5, 1]);
    expect(await round(3)).toEqual([0, 0]);
    await windowPassed();
    expect(await round(8)).toEqual([5, 1]);
    // No window held more than 5: each start ran at least W after the one 5 before it was admitted
    // (Redis admitted each between its round's ask and its run: these bounds hold exactly).
    for (let i = 5; i < starts.length; i++) expect(starts[i]!.ran - starts[i - 5]!.asked).toBeGreaterThanOrEqual(W);
  });

  it('the ring slot a process expects to reuse is read with the state; when another process took it, the script reads the right one', async () => {
    const prefix = newPrefix();
    const admin = server().client();
    // Time scaled down: a 2 s window holding 4 starts (longer than any pause of a loaded machine
    // between turns), two processes taking turns (without credits: each admission is a round trip
    // of its own).
    const W = 2_000;
    const options = { ...testWindow(W), maxCredits: 0 };
    const [a, b] = [member(prefix, { burst: 4, requestsPerMinute: 4 }, options), member(prefix, { burst: 4, requestsPerMinute: 4 }, options)];
    // Trips are counted once the subscriptions are live (one coming up makes a waiting scope ask once more).
    await until(() => a.parts.channel.listening && b.parts.channel.listening, 10_000, 'the subscriptions');
    let lastStart = 0;
    const one = async (m: Member): Promise<boolean> => {
      const started = (await burst(m.manager, 1)).started === 1;
      if (started) lastStart = Date.now();
      return started;
    };
    /** Waits until every start so far has left the window (on the clock Redis reads too). */
    const windowPassed = (): Promise<void> => until(() => Date.now() > lastStart + W, W + 10_000, 'the window to pass');
    const turns = async (): Promise<boolean[]> => [await one(a), await one(b), await one(a), await one(b), await one(a)];
    // Each turn finds the slot its process expected taken by the other: still exactly 4.
    expect(await turns()).toEqual([true, true, true, true, false]);
    await windowPassed();
    expect(await turns()).toEqual([true, true, true, true, false]);
    await windowPassed();
    // Alone, a process's hint is right: one HMGET per admission (state, marker and the slots).
    await one(a); // its hint is stale once (b took the slot after a's last start)
    await admin.config('RESETSTAT');
    expect([await one(a), await one(a), await one(a)]).toEqual([true, true, true]);
    const stats = await admin.info('commandstats');
    const calls = (name: string): number => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    expect(calls('evalsha')).toBe(3);
    expect(calls('hmget')).toBe(3);
    expect(await one(b)).toBe(false);
    admin.disconnect();
  });

  it('one round trip per admission, and the report shows the fleet-wide figures and the store health', async () => {
    const prefix = newPrefix();
    const one = member(prefix, { burst: 5, requestsPerMinute: 5 });
    const two = member(prefix, { burst: 5, requestsPerMinute: 5 });
    await burst(one.manager, 3);
    const before = two.parts.stats.roundTrips;
    await burst(two.manager, 1);
    expect(two.parts.stats.roundTrips - before).toBe(1);
    const report = two.manager.getStatusReport();
    expect(report.store).toBe('redis');
    expect(report.storeHealth).toEqual({ status: 'ok', mode: 'shared', since: null, lastError: null });
    // Four of five starts were taken in the fleet, one of them here.
    expect(report.scopes[SVC]!.limits.minuteRemaining).toBe(1);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it('waiting callers are woken from the script answer, without polling', async () => {
    const prefix = newPrefix();
    const m = member(prefix, { requestsPerSecond: 20, burst: 1, requestsPerMinute: 100, maxWaitMs: 5_000 });
    await burst(m.manager, 1, { platform: 'warm-up' }); // the script is loaded
    // Trips are counted once the subscription is live (its coming up makes a waiting scope ask once more).
    await until(() => m.parts.channel.listening, 10_000, 'the subscription');
    m.parts.stats.roundTrips = 0;
    const started: number[] = [];
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 6 }, () => m.manager.execute(SVC, async () => void started.push(Date.now() - t0))));
    // 1 now, then one every 50 ms.
    expect(started.at(-1)!).toBeGreaterThanOrEqual(240);
    // The six first tries go out together; after that one trip per start: each answer
    // names the time before which nothing can be admitted, and no one asks before then.
    expect(m.parts.stats.roundTrips).toBeLessThanOrEqual(6 + 5 + 1);
  });

  it('reloads its script after SCRIPT FLUSH (NOSCRIPT) by itself', async () => {
    const prefix = newPrefix();
    const m = member(prefix, { burst: 100, requestsPerMinute: 100 });
    expect((await burst(m.manager, 3)).started).toBe(3);
    const admin = server().client();
    await admin.script('FLUSH');
    admin.disconnect();
    expect((await burst(m.manager, 3)).started).toBe(3);
    expect(m.store.health().status).toBe('ok');
  });

  it('keys expire: an idle fleet leaves nothing behind', async () => {
    const prefix = newPrefix();
    const m = member(prefix, { requestsPerSecond: 100, burst: 5, requestsPerMinute: 20 }, testWindow(300));
    await burst(m.manager, 5);
    m.manager.suspend(SVC, { platform: 'x', durationMs: 200, reason: 'test' });
    expect((await keysOf(prefix)).length).toBeGreaterThan(0);
    await sleep(700);
    expect(await keysOf(prefix)).toEqual([]);
  });
});

/**
 * Calls one after another (each awaited) for `ms`; returns the start times of the admitted
 * ones. With `restEvery`, rests `restMs` after that many calls (credits then wait to be used);
 * `stopWhen` ends it early, given the errors so far (other than refusals for capacity) and the refusals so far.
 */
async function hammer(
  m: Member,
  ms: number,
  options: { platform?: string } = {},
  { restEvery = Infinity, restMs = 0, stopWhen = (_errors: readonly unknown[], _refused: number): boolean => false } = {},
): Promise<{ starts: number[]; begun: number[]; refused: number; errors: unknown[] }> {
  const starts: number[] = [];
  /** When each started call was begun (asked for admission), in the order of `starts`. */
  const begun: number[] = [];
  const errors: unknown[] = [];
  let refused = 0;
  for (let n = 1, end = Date.now() + ms; Date.now() < end && !stopWhen(errors, refused); n++) {
    if (n % restEvery === 0) await sleep(restMs);
    const begunAt = performance.now();
    try {
      await m.manager.execute(SVC, async () => void (starts.push(performance.now()), begun.push(begunAt)), options);
    } catch (error) {
      if (isRateLimitedError(error)) refused++;
      else errors.push(error);
    }
  }
  return { starts, begun, refused, errors };
}

/**
 * Calls one after another (`call`, by default a call of `m`) until Redis records more starts
 * than were made (`recorded`): `m` then holds credits it has not used. Returns the calls made.
 */
async function callUntilHoldingCredits(
  m: Member,
  recorded: () => Promise<number>,
  call: () => Promise<unknown> = () => m.manager.execute(SVC, async () => undefined),
): Promise<number> {
  let made = 0;
  while (made < 200) {
    await call();
    made++;
    if (m.parts.stats.creditsUsed > 0 && (await recorded()) > made) break;
  }
  return made;
}

describe('RedisStore: credits', () => {
  it('a process calling one call after another takes credits: a few round trips for many starts, and the cap stays exact', async () => {
    const prefix = newPrefix();
    // The 60 s window: however slowly a loaded machine makes the calls, they all fall inside it.
    const m = member(prefix, { burst: 300, requestsPerMinute: 300 });
    await until(() => m.parts.channel.listening, 10_000, 'the subscription');
    const { starts, refused, errors } = await hammer(m, 50_000, {}, { stopWhen: (_errors, refused) => refused >= 20 });
    expect(errors).toEqual([]);
    // Within one window: exactly the cap started, the rest was refused.
    expect(starts.length).toBe(300);
    expect(refused).toBeGreaterThan(0);
    expect(m.parts.stats.creditsUsed).toBeGreaterThan(150);
    expect(m.parts.stats.roundTrips).toBeLessThan(300 - 150);
  });

  it('credits keep the token bucket exact however early or late they are used, with two processes', async () => {
    const prefix = newPrefix();
    // 500 per s, burst 50: the bucket binds all along (a 60 s cap of 10,000 does not).
    const config = { requestsPerSecond: 500, burst: 50, requestsPerMinute: 10_000 };
    const [a, b] = [member(prefix, config), member(prefix, config)];
    await until(() => a.parts.channel.listening && b.parts.channel.listening, 2_000, 'the subscriptions');
    // a rests now and then, holding its credits; it uses them late in their lease, while b calls on.
    const [ra, rb] = await Promise.all([hammer(a, 600, {}, { restEvery: 12, restMs: 12 }), hammer(b, 600)]);
    const starts = [...ra.starts, ...rb.starts];
    expect(a.parts.stats.creditsUsed + b.parts.stats.creditsUsed).toBeGreaterThan(0);
    // No span holds more than burst + rate x span (each start lies between when its call was
    // begun and when it ran: checked on those bounds, without slack).
    const bounded = [ra, rb].flatMap((r) => r.starts.map((at, i) => ({ begun: r.begun[i]!, at })));
    for (const span of [5, 20, 100, 300]) expect(busiestCertainWindow(bounded, span), `${span} ms`).toBeLessThanOrEqual(50 + (500 * span) / 1000);
    // That the bucket is used, not wasted, is shown where callers wait for it (the fleet's
    // per-second bucket test): here how many calls two loops make depends on the machine's load.
    expect(starts.length).toBeGreaterThan(50);
  });

  it('credits used late in their lease, together with a full burst from another process, stay within the burst', async () => {
    const prefix = newPrefix();
    const admin = server().client();
    const config = { requestsPerSecond: 250, burst: 250, requestsPerMinute: 10_000 };
    // Leases of 498 ms here (half the bucket's tolerance of 996 ms), so that a 140 ms rest lies
    // well inside one, however loaded the machine.
    const [a, b] = [member(prefix, config, { creditMs: 1_000 }), member(prefix, config, { creditMs: 1_000 })];
    await until(() => a.parts.channel.listening, 2_000, 'the subscription');
    const key = `${prefix}{${SVC}}`;
    const starts: number[] = [];
    const call = (m: Member): Promise<void> => m.manager.execute(SVC, async () => void starts.push(performance.now())).catch(() => undefined);
    // a calls fast until it holds credits, then rests.
    await callUntilHoldingCredits(a, () => ringStarts(admin, key), () => call(a));
    const held = (await ringStarts(admin, key)) - starts.length;
    expect(held).toBeGreaterThan(0);
    await sleep(140);
    // Had the credits been counted at their grant, the bucket would be full again by now: b's
    // burst would take all 250 while a uses its credits.
    const usedBefore = a.parts.stats.creditsUsed;
    const from = performance.now();
    const [burstOfB] = await Promise.all([burst(b.manager, 300), (async () => { for (let i = 0; i < held; i++) await call(a); })()]);
    const span = performance.now() - from;
    expect(a.parts.stats.creditsUsed - usedBefore).toBe(held);
    expect(burstOfB.started).toBeGreaterThan(0);
    expect(burstOfB.started + held).toBeLessThanOrEqual(Math.floor(250 + (250 * span) / 1000));
    admin.disconnect();
  });

  it('a ban seen in another process stops a process that holds credits, at the message', async () => {
    const prefix = newPrefix();
    const [a, b] = [member(prefix, { burst: 100_000, requestsPerMinute: 100_000 }), member(prefix, { burst: 100_000, requestsPerMinute: 100_000 })];
    await until(() => a.parts.channel.listening, 2_000, 'the subscription');
    let heardAt = Infinity;
    a.manager.on('suspended', () => (heardAt = performance.now()));
    // a calls until it has been refused five times after the ban (the test's timeout is the guard).
    const running = hammer(a, 60_000, { platform: 'reddit' }, { stopWhen: (errors) => errors.length >= 5 });
    await until(() => a.parts.stats.creditsUsed > 0, 30_000, 'a to use credits');
    const ban = Object.assign(new Error('403 Forbidden: account suspended'), { status: 403 });
    await expect(b.manager.execute(SVC, () => Promise.reject(ban), { platform: 'reddit' })).rejects.toBe(ban);
    const { begun, errors } = await running;
    expect(heardAt).toBeLessThan(Infinity);
    expect(a.parts.stats.creditsUsed).toBeGreaterThan(0);
    // Not one call begun after a heard of the ban started (credits held or not); every later
    // call was refused as suspended. (A call begun before may still start after: its admission
    // can be answered by Redis before the ban and reach a after the ban's message.)
    expect(begun.filter((at) => at > heardAt)).toEqual([]);
    expect(errors.length).toBeGreaterThan(0);
    for (const error of errors) expect(isPlatformSuspendedError(error)).toBe(true);
  });

  it('credits left unused go back when they lapse: the window is not short of them', async () => {
    const prefix = newPrefix();
    const admin = server().client();
    const [a, b] = [member(prefix, { burst: 100, requestsPerMinute: 100 }), member(prefix, { burst: 100, requestsPerMinute: 100 })];
    await until(() => a.parts.channel.listening, 2_000, 'the subscription');
    // a calls fast enough to be granted credits, then stops while it still holds some.
    const made = await callUntilHoldingCredits(a, () => ringStarts(admin, `${prefix}{${SVC}}`));
    expect(await ringStarts(admin, `${prefix}{${SVC}}`)).toBeGreaterThan(made);
    // After the lease, the unused ones are returned by themselves (however late a loaded machine
    // runs a's lapse): b gets all the rest.
    await until(async () => (await ringStarts(admin, `${prefix}{${SVC}}`)) === made, 10_000, 'the lapsed credits to go back');
    expect((await burst(b.manager, 150)).started).toBe(100 - made);
    admin.disconnect();
  });

  it('credits given back after others took the rest of the window are the fleet\'s again at once: a caller refused while they were held waits for them, and is woken by the give-back', async () => {
    const prefix = newPrefix();
    const admin = server().client();
    const key = `${prefix}{${SVC}}`;
    // a's credits last a minute unless given back: here they go back when a's limits are set
    // again (an event of the test's choosing, not a lapse of time).
    const config = { burst: 100, requestsPerMinute: 100 };
    const a = member(prefix, config, { creditMs: 60_000 });
    const b = member(prefix, { ...config, maxWaitMs: 120_000 });
    await until(() => a.parts.channel.listening && b.parts.channel.listening, 2_000, 'the subscriptions');
    const made = await callUntilHoldingCredits(a, () => ringStarts(admin, key));
    const held = (await ringStarts(admin, key)) - made;
    expect(held).toBeGreaterThan(0);
    // b takes the rest of the window: it is full, the last slots taken after a's credits.
    expect((await burst(b.manager, 100 - made - held)).started).toBe(100 - made - held);
    expect(await ringStarts(admin, key)).toBe(100);
    // b's next callers are told the best case (when a's credits may come back), so they wait
    // rather than being refused for a minute; a gives them back; b's callers start from them.
    const waiting = burst(b.manager, held);
    await until(() => (b.manager.getStatusReport().scopes[SVC]?.waiting ?? 0) > 0, 5_000, "b's callers to wait");
    a.manager.configure(SVC, config);
    const { started, errors } = await waiting;
    expect(errors).toEqual([]);
    expect(started).toBe(held);
    // Exactly the cap: nothing more fits now (a does not wait).
    expect((await burst(a.manager, 1)).started).toBe(0);
    admin.disconnect();
  }, 30_000);

  it('a waiter whose subscription came up after a give-back was published is not left waiting for it: it asks Redis once more when its subscription is live', async () => {
    const prefix = newPrefix();
    const admin = server().client();
    const key = `${prefix}{${SVC}}`;
    const config = { burst: 100, requestsPerMinute: 100 };
    const a = member(prefix, config, { creditMs: 60_000 });
    // b reaches Redis through a proxy that holds its subscription's connection until the test lets it through.
    const proxy = await holdingProxy(server().port);
    const opened = connectClient(TEST_CLIENT, proxy.port);
    const b = member(prefix, { ...config, maxWaitMs: 120_000 }, {}, opened.client);
    try {
      const heard: string[] = [];
      const listener = server().client();
      listener.on('message', (_channel: string, text: string) => heard.push(JSON.parse(text).t));
      await listener.subscribe(`${prefix}events`);
      await until(() => a.parts.channel.listening, 5_000, "a's subscription");
      const made = await callUntilHoldingCredits(a, () => ringStarts(admin, key));
      const held = (await ringStarts(admin, key)) - made;
      expect(held).toBeGreaterThan(0);
      expect((await burst(b.manager, 100 - made - held)).started).toBe(100 - made - held);
      // b's next callers wait for a's credits (the best case: they may come back before their lease ends).
      let settled = false;
      const waiting = burst(b.manager, held).finally(() => (settled = true));
      await until(() => (b.manager.getStatusReport().scopes[SVC]?.waiting ?? 0) > 0, 5_000, "b's callers to wait");
      // a gives its credits back; the wake-up is published while b does not listen yet.
      a.manager.configure(SVC, config);
      await until(() => heard.includes('g'), 5_000, "a's give-back to be published");
      expect(b.parts.channel.listening).toBe(false);
      proxy.release();
      // Without the second ask, b's callers would wait out a's lease (60 s).
      await until(() => settled, 20_000, "b's callers to start from the give-back");
      const { started, errors } = await waiting;
      expect(errors).toEqual([]);
      expect(started).toBe(held);
      expect(await ringStarts(admin, key)).toBe(100);
      listener.disconnect();
      admin.disconnect();
    } finally {
      await managers.splice(managers.indexOf(b.manager), 1)[0]!.close();
      opened.close();
      await proxy.close();
    }
  }, 30_000);

  it('credits left unused go back to the bucket too, when the window does not bind', async () => {
    const prefix = newPrefix();
    const admin = server().client();
    // One token a second, burst 100: no refill to speak of during the test; no 60 s cap.
    const config = { requestsPerSecond: 1, burst: 100, requestsPerMinute: Infinity };
    const [a, b] = [member(prefix, config), member(prefix, config)];
    await until(() => a.parts.channel.listening, 2_000, 'the subscription');
    const key = `${prefix}{${SVC}}`;
    /** Tokens the bucket has given out, from its packed state (`tat`, then the server's clock). */
    const taken = async (): Promise<number> => {
      const [state, [seconds, micros]] = await Promise.all([admin.hgetBuffer(key, 'H'), admin.time() as Promise<[number, number]>]);
      const now = Number(seconds) * 1000 + Number(micros) / 1000;
      return Math.round((state!.readDoubleLE(0) - now) / 1000);
    };
    const made = await callUntilHoldingCredits(a, taken);
    expect(await taken()).toBeGreaterThan(made);
    await until(async () => (await taken()) === made, 10_000, 'the lapsed credits to go back to the bucket');
    expect((await burst(b.manager, 150)).started).toBe(100 - made);
    admin.disconnect();
  });

  it('credits held stop when the subscription drops (a ban elsewhere could not reach the process)', async () => {
    const prefix = newPrefix();
    const admin = server().client();
    const a = member(prefix, { burst: 100, requestsPerMinute: 100 }, { creditMs: 1_000 });
    await until(() => a.parts.channel.listening, 2_000, 'the subscription');
    const key = `${prefix}{${SVC}}`;
    const made = await callUntilHoldingCredits(a, () => ringStarts(admin, key));
    expect(await ringStarts(admin, key)).toBeGreaterThan(made);
    expect(await killSubscribers(admin)).toBeGreaterThan(0);
    await until(() => !a.parts.channel.listening, 2_000, 'the subscription to drop');
    const [trips, used] = [a.parts.stats.roundTrips, a.parts.stats.creditsUsed];
    await a.manager.execute(SVC, async () => undefined);
    expect(a.parts.stats.creditsUsed).toBe(used);
    expect(a.parts.stats.roundTrips).toBeGreaterThan(trips);
    admin.disconnect();
  });

  it('no credits without the subscription (a ban elsewhere could not reach the process), or with maxCredits: 0', async () => {
    for (const options of [{ subscribe: false }, { maxCredits: 0 }]) {
      const m = member(newPrefix(), { burst: 300, requestsPerMinute: 300 }, { ...testWindow(2_000), ...options });
      await sleep(50);
      const { starts } = await hammer(m, 100);
      expect(m.parts.stats.creditsUsed).toBe(0);
      expect(m.parts.stats.roundTrips).toBe(starts.length);
    }
  });
});

describe('RedisStore: shared suspension and pause', () => {
  it('a ban seen by one manager suspends the scope in the others (pub/sub), and resume() in one lifts it in all', async () => {
    const prefix = newPrefix();
    const [a, b, c] = [member(prefix, {}), member(prefix, {}), member(prefix, {})];
    // b and c know the scope (they made a call) and are idle now; every one is subscribed.
    await burst(b.manager, 1, { platform: 'reddit' });
    await burst(c.manager, 1, { platform: 'reddit' });
    await until(() => [a, b, c].every((m) => m.parts.channel.listening), 5_000, 'every subscription');
    const suspended: string[] = [];
    b.manager.on('suspended', (e) => suspended.push(`b:${e.scope}`));
    c.manager.on('suspended', (e) => suspended.push(`c:${e.scope}`));

    const ban = Object.assign(new Error('403 Forbidden: account suspended'), { status: 403 });
    await expect(a.manager.execute(SVC, () => Promise.reject(ban), { platform: 'reddit' })).rejects.toBe(ban);
    await until(() => suspended.length === 2, 2_000, 'the suspension to reach b and c');
    expect(suspended.sort()).toEqual([`b:${SVC}:reddit`, `c:${SVC}:reddit`]);
    const report = b.manager.getStatusReport().scopes[`${SVC}:reddit`]!;
    expect(report.state).toBe('suspended');
    expect(report.suspension!.reason).toMatch(/ban detected/);
    // Another platform is not touched.
    expect((await burst(b.manager, 1, { platform: 'twitter' })).started).toBe(1);

    const resumed: string[] = [];
    a.manager.on('resumed', () => resumed.push('a'));
    b.manager.on('resumed', () => resumed.push('b'));
    c.manager.on('resumed', () => resumed.push('c'));
    c.manager.resume(SVC, { platform: 'reddit' });
    await until(() => resumed.length === 3, 2_000, 'the resume to reach a and b');
    expect((await burst(a.manager, 1, { platform: 'reddit' })).started).toBe(1);
  });

  it("a suspension reason from another process is redacted on arrival (pub/sub and admission answers): no secret reaches this process's report, events, errors or history", async () => {
    const SECRET = 'sk-live-4f9aQ7zX2mB8nC1vD6eR3tY5uI0oP9aS';
    const raw = `banned by the proxy: api_key=${SECRET}`;
    const prefix = newPrefix();
    const b = member(prefix, {});
    await burst(b.manager, 1, { platform: 'reddit' });
    await until(() => b.parts.channel.listening, 5_000, 'the subscription');
    const seen: string[] = [];
    b.manager.on('suspended', (e) => seen.push(JSON.stringify(e)));
    const admin = server().client();
    // An older version or a hostile publisher: a raw message, not sent through floodgate.
    await admin.publish(`${prefix}events`, JSON.stringify({ t: 's', o: 'elsewhere', k: `${SVC}:reddit`, ms: 60_000, r: raw }));
    await until(() => seen.length === 1, 5_000, 'the suspension to arrive');
    const refused = await b.manager.execute(SVC, () => 'ran', { platform: 'reddit' }).catch((e: unknown) => e);
    expect(isPlatformSuspendedError(refused)).toBe(true);

    // A process that never saw the message reads the reason from the scope's hash in Redis.
    const [seconds, micros] = (await admin.time()) as [number | string, number | string];
    await admin.hset(`${prefix}{${SVC}:twitter}`, 'su', Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) + 60_000, 's', raw, 'x', 1);
    const c = member(prefix, {});
    c.manager.on('suspended', (e) => seen.push(JSON.stringify(e)));
    const first = await c.manager.execute(SVC, () => 'ran', { platform: 'twitter' }).catch((e: unknown) => e);
    expect(isPlatformSuspendedError(first)).toBe(true);
    await until(() => seen.length === 2, 5_000, 'the suspension from the admission answer');
    admin.disconnect();

    const surfaces = [
      ...seen,
      JSON.stringify(b.manager.getStatusReport()),
      JSON.stringify(c.manager.getStatusReport()),
      JSON.stringify(b.manager.getErrorStatistics()),
      String(refused),
      JSON.stringify(refused),
      String(first),
      JSON.stringify(first),
    ];
    for (const text of surfaces) expect(text).not.toContain(SECRET);
    expect((refused as { reason: string }).reason).toBe('banned by the proxy: api_key=[REDACTED]');
    expect((first as { reason: string }).reason).toBe('banned by the proxy: api_key=[REDACTED]');
    expect(c.manager.getStatusReport().scopes[`${SVC}:twitter`]!.suspension!.reason).toBe('banned by the proxy: api_key=[REDACTED]');
  });

  it('a process that never saw the ban is refused at its first call (one round trip), and a suspension outlives every process', async () => {
    const prefix = newPrefix();
    const a = member(prefix, {});
    a.manager.suspend(SVC, { durationMs: 60_000, reason: 'manual stop' });
    await a.manager.close();
    // A "restarted" process: nothing in memory.
    const fresh = member(prefix, {});
    const error = await fresh.manager.execute(SVC, async () => 'ran').catch((e: unknown) => e);
    expect(isPlatformSuspendedError(error)).toBe(true);
    expect((error as { reason: string }).reason).toBe('manual stop');
    expect((error as { suspendedUntil: number }).suspendedUntil).toBeGreaterThan(Date.now() + 50_000);
    // From then on it refuses locally, without a trip.
    const trips = fresh.parts.stats.roundTrips;
    await expect(fresh.manager.execute(SVC, async () => 'ran')).rejects.toSatisfy(isPlatformSuspendedError);
    expect(fresh.parts.stats.roundTrips).toBe(trips);
    fresh.manager.resume(SVC);
    await until(async () => (await burst(fresh.manager, 1)).started === 1, 2_000, 'the resume');
  });

  it('the suspension fields are read only while one may apply: the marker goes once it is over, and a new suspension sets it again', async () => {
    const prefix = newPrefix();
    // No subscriptions: b learns of a's suspensions from its admissions alone.
    const a = member(prefix, {}, { subscribe: false });
    const b = member(prefix, {}, { subscribe: false });
    const admin = server().client();
    const key = `${prefix}{${SVC}}`;
    expect((await burst(b.manager, 1)).started).toBe(1);
    expect(await admin.hexists(key, 'x')).toBe(0);
    // Long enough that b's call surely comes before its end; its end is then awaited on Redis's clock.
    a.manager.suspend(SVC, { durationMs: 2_000, reason: 'short' });
    await until(async () => (await admin.hget(key, 'x')) !== null, 10_000, 'the suspension in Redis');
    const refused = await b.manager.execute(SVC, async () => 'ran').catch((e: unknown) => e);
    expect(isPlatformSuspendedError(refused)).toBe(true);
    await until(
      async () => {
        if (b.manager.getStatusReport().scopes[SVC]?.suspension !== null) return false;
        const [[until], [seconds, micros]] = await Promise.all([admin.hmget(key, 'su'), admin.time() as Promise<[number, number]>]);
        return Number(until) <= Number(seconds) * 1000 + Number(micros) / 1000;
      },
      10_000,
      'the suspension to end in b and in Redis',
    );
    // Over: the first admission after it starts, and clears the marker and the stale fields.
    expect((await burst(b.manager, 1)).started).toBe(1);
    expect(await admin.hmget(key, 'x', 'su', 's', 'pu')).toEqual([null, null, null, null]);
    expect((await burst(b.manager, 1)).started).toBe(1);
    a.manager.suspend(SVC, { durationMs: 60_000, reason: 'again' });
    await until(async () => (await admin.hget(key, 'x')) !== null, 2_000, 'the second suspension in Redis');
    const again = await b.manager.execute(SVC, async () => 'ran').catch((e: unknown) => e);
    expect(isPlatformSuspendedError(again)).toBe(true);
    expect((again as { reason: string }).reason).toBe('again');
    admin.disconnect();
  });

  it("a provider's Retry-After pauses the scope in every process", async () => {
    const prefix = newPrefix();
    const [a, b] = [member(prefix, { maxWaitMs: 0 }), member(prefix, { maxWaitMs: 0 })];
    await burst(b.manager, 1);
    // b hears messages once its subscription is up (it connects apart, at its own pace).
    await until(() => b.parts.channel.listening, 5_000, "b's subscription");
    const limited = Object.assign(new Error('429 Too Many Requests'), { status: 429, headers: { 'retry-after': '2' } });
    await expect(a.manager.execute(SVC, () => Promise.reject(limited))).rejects.toBe(limited);
    await until(() => b.manager.getStatusReport().scopes[SVC]!.pausedUntil !== null, 2_000, 'the pause to reach b');
    const error = await b.manager.execute(SVC, async () => 'ran').catch((e: unknown) => e);
    expect(isRateLimitedError(error)).toBe(true);
    expect((error as { reason: string }).reason).toBe('paused');
    // A fresh process learns it from its first admission.
    const c = member(prefix, { maxWaitMs: 0 });
    const third = await c.manager.execute(SVC, async () => 'ran').catch((e: unknown) => e);
    expect(isRateLimitedError(third)).toBe(true);
  });
});

describe('RedisStore: a provider pause has a ceiling and resume() lifts it', () => {
  const DAY = 24 * 60 * 60 * 1000;
  /** Records what a store tells a listener about the fleet. */
  function heard(store: RedisStore): string[] {
    const told: string[] = [];
    const noop = (): void => {};
    store.shared!.attach({
      onSuspended: noop,
      onResumed: (scope) => told.push(`resumed ${scope}`),
      onPaused: (scope, ms) => told.push(`paused ${scope} ${ms}`),
      onCircuitOpened: noop,
      onCircuitClosed: noop,
      onHealthChange: noop,
    });
    return told;
  }

  it('a pause of centuries published to the fleet is kept to 24 h, in Redis and in every process; one heard from elsewhere too', async () => {
    const prefix = newPrefix();
    const [a, b] = [member(prefix, {}), member(prefix, {})];
    await until(() => a.parts.channel.listening && b.parts.channel.listening, 2_000, 'the subscriptions');
    const told = heard(b.store);
    a.store.shared!.publishPause(SVC, 1e12);
    await until(() => told.length > 0, 2_000, 'the pause to reach b');
    expect(told).toEqual([`paused ${SVC} ${DAY}`]);
    const admin = server().client();
    const [pausedUntil, [seconds]] = await Promise.all([admin.hget(`${prefix}{${SVC}}`, 'pu'), admin.time() as Promise<[number, number]>]);
    expect(Number(pausedUntil) - Number(seconds) * 1000).toBeLessThanOrEqual(DAY + 1_000);
    expect(Number(pausedUntil) - Number(seconds) * 1000).toBeGreaterThan(DAY - 60_000);
    // A process that publishes a huge pause itself (another version, a bug) is kept to it too.
    await admin.publish(`${prefix}events`, JSON.stringify({ t: 'p', o: 'elsewhere', k: 'other', ms: 1e15 }));
    await until(() => told.length > 1, 2_000, 'the message');
    expect(told[1]).toBe(`paused other ${DAY}`);
    admin.disconnect();
  });

  it('resume() lifts the pause fleet-wide: in Redis (a fresh process is admitted) and in every process (told to resume)', async () => {
    const prefix = newPrefix();
    const [a, b] = [member(prefix, { maxWaitMs: 0 }), member(prefix, { maxWaitMs: 0 })];
    await until(() => a.parts.channel.listening && b.parts.channel.listening, 2_000, 'the subscriptions');
    const told = heard(b.store);
    const limited = Object.assign(new Error('429 Too Many Requests'), { status: 429, headers: { 'retry-after': '600' } });
    await expect(a.manager.execute(SVC, () => Promise.reject(limited))).rejects.toBe(limited);
    await until(() => told.some((t) => t.startsWith('paused')), 2_000, 'the pause to reach b');
    // Paused in Redis: a fresh process is refused at its first call.
    const refused = await member(prefix, { maxWaitMs: 0 }).manager.execute(SVC, async () => 'ran').catch((e: unknown) => e);
    expect((refused as { reason?: string }).reason).toBe('paused');
    a.manager.resume(SVC);
    await until(() => told.includes(`resumed ${SVC}`), 2_000, 'the resume to reach b');
    const admin = server().client();
    expect(await admin.hget(`${prefix}{${SVC}}`, 'pu')).toBeNull();
    admin.disconnect();
    // Lifted in Redis: another fresh process is admitted.
    expect((await burst(member(prefix, { maxWaitMs: 0 }).manager, 1)).started).toBe(1);
  });
});

describe('RedisStore: shared circuit (shareCircuit)', () => {
  // A reset period no pause of a loaded machine reaches between two steps of a test: the tests
  // wait for it to end by the state that ends it (in Redis and in every member), never by a sleep.
  const RESET_MS = 2_000;
  const circuitConfig = { circuitBreakerThreshold: 2, circuitBreakerResetMs: RESET_MS, burst: 100, requestsPerMinute: 100 };
  const down = (): Promise<never> => Promise.reject(Object.assign(new Error('503 Service Unavailable'), { status: 503 }));
  const stateOf = (m: Member): string | undefined => m.manager.getStatusReport().scopes[SVC]?.circuit.state;
  const retryAtOf = (m: Member): number => m.manager.getStatusReport().scopes[SVC]?.circuit.retryAt ?? 0;
  const changesOf = (m: Member): string[] => {
    const changes: string[] = [];
    m.manager.on('circuitStateChange', (e) => changes.push(`${e.from}>${e.to}`));
    return changes;
  };
  /** Opens the circuit in `m` (two failures), then waits until every member of `others` saw it. */
  async function open(m: Member, others: readonly Member[]): Promise<void> {
    for (let i = 0; i < 2; i++) await m.manager.execute(SVC, down).catch(() => {});
    expect(stateOf(m)).toBe('open');
    await until(() => others.every((o) => stateOf(o) === 'open'), 10_000, 'the opening to reach the others');
  }
  /**
   * Waits until the reset period is over everywhere: in Redis on its own clock (the opening and
   * any probe's lock have lapsed) and in every member's circuit. The next admission probes.
   */
  async function resetPeriodOver(prefix: string, fleet: readonly Member[]): Promise<void> {
    const admin = server().client();
    try {
      await until(
        async () => {
          const now = Date.now();
          if (!fleet.every((m) => retryAtOf(m) <= now)) return false;
          const [[openUntil, probeLock], [seconds, micros]] = await Promise.all([admin.hmget(`${prefix}{${SVC}}`, 'co', 'cp'), admin.time() as Promise<[number, number]>]);
          const redisNow = Number(seconds) * 1000 + Number(micros) / 1000;
          return Number(openUntil ?? 0) <= redisNow && Number(probeLock ?? 0) <= redisNow;
        },
        RESET_MS + 10_000,
        'the reset period to end in Redis and in every member',
      );
    } finally {
      admin.disconnect();
    }
  }
  /**
   * Three calls at once from every member; returns how many reached the provider. `fn` gets a
   * promise that settles once every other call was refused or reached the provider too: a probe
   * that awaits it holds the fleet's probe until no other call can still be admitted after it.
   */
  async function everyoneCalls(fleet: readonly Member[], fn: (othersDone: Promise<void>) => Promise<unknown>): Promise<{ calls: number; errors: unknown[] }> {
    const total = fleet.length * 3;
    let calls = 0;
    let refused = 0;
    let markDone: () => void = () => {};
    const othersDone = new Promise<void>((resolve) => (markDone = resolve));
    const outcomes = await Promise.allSettled(
      fleet.flatMap((m) =>
        [1, 2, 3].map(() => {
          let reached = false;
          return m.manager
            .execute(SVC, () => {
              reached = true;
              if (++calls + refused === total) markDone();
              return fn(othersDone);
            })
            .catch((error: unknown) => {
              if (!reached && calls + ++refused === total) markDone();
              throw error;
            });
        }),
      ),
    );
    return { calls, errors: outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason] : [])) };
  }

  it('an opening in one process refuses calls in the others at once, without calling the provider; a process that missed the message is refused by its first admission', async () => {
    const prefix = newPrefix();
    const [a, b] = [member(prefix, circuitConfig, { shareCircuit: true }), member(prefix, circuitConfig, { shareCircuit: true })];
    await burst(b.manager, 1);
    const changes = changesOf(b);
    const before = Date.now();
    await open(a, [b]);
    expect(changes).toEqual(['closed>open']);
    let called = 0;
    const error = await b.manager.execute(SVC, async () => void called++).catch((e: unknown) => e);
    expect(isCircuitOpenError(error)).toBe(true);
    // A whole reset period from a's opening (b heard of it after it was made).
    expect((error as { retryAt: number }).retryAt).toBeGreaterThanOrEqual(before + RESET_MS);
    // No subscription: it learns from the answer to its first admission (one round trip).
    const deaf = member(prefix, circuitConfig, { shareCircuit: true, subscribe: false });
    const deafChanges = changesOf(deaf);
    const refused = await deaf.manager.execute(SVC, async () => void called++).catch((e: unknown) => e);
    expect(isCircuitOpenError(refused)).toBe(true);
    expect(deafChanges).toEqual(['closed>open']);
    // Then it refuses locally, without a trip.
    const trips = deaf.parts.stats.roundTrips;
    await expect(deaf.manager.execute(SVC, async () => void called++)).rejects.toSatisfy(isCircuitOpenError);
    expect(deaf.parts.stats.roundTrips).toBe(trips);
    expect(called).toBe(0);
  });

  it('after the reset period exactly one call in the fleet probes; its success closes every circuit', async () => {
    const prefix = newPrefix();
    const fleet = [0, 1, 2].map(() => member(prefix, circuitConfig, { shareCircuit: true }));
    await Promise.all(fleet.map((m) => burst(m.manager, 1)));
    const changes = fleet.map(changesOf);
    await open(fleet[0]!, fleet.slice(1));
    await resetPeriodOver(prefix, fleet);
    const probe = await everyoneCalls(fleet, (othersDone) => othersDone);
    expect(probe.calls).toBe(1);
    for (const error of probe.errors) expect(isCircuitOpenError(error)).toBe(true);
    await until(() => fleet.every((m) => stateOf(m) === 'closed'), 10_000, 'every circuit to close');
    // The prober went half-open then closed; the others closed on its word.
    expect(changes.filter((c) => c.includes('closed>open') && c.includes('half_open>closed')).length).toBe(1);
    for (const c of changes) expect(c.at(-1)).toMatch(/>closed$/);
    const after = await everyoneCalls(fleet, async () => undefined);
    expect(after.calls).toBe(9);
  });

  it("the probe's failure opens every circuit again for another reset period, then one probe again", async () => {
    const prefix = newPrefix();
    const fleet = [0, 1, 2].map(() => member(prefix, circuitConfig, { shareCircuit: true }));
    await Promise.all(fleet.map((m) => burst(m.manager, 1)));
    await open(fleet[1]!, [fleet[0]!, fleet[2]!]);
    await resetPeriodOver(prefix, fleet);
    let failedAt = 0;
    const failed = await everyoneCalls(fleet, (othersDone) =>
      othersDone.then(() => {
        failedAt = Date.now();
        return down();
      }),
    );
    expect(failed.calls).toBe(1);
    for (const m of fleet) expect(stateOf(m)).toBe('open');
    // Every member hears of the new opening (the prober opened at its failure, the others at
    // its message): none lets a call through before a whole reset period after the failure.
    await until(() => fleet.every((m) => retryAtOf(m) >= failedAt + RESET_MS), 10_000, 'every member to hear of the new opening');
    const during = await everyoneCalls(fleet, async () => undefined);
    expect(during.calls).toBe(0);
    expect(during.errors.length).toBe(9);
    for (const error of during.errors) {
      expect(isCircuitOpenError(error)).toBe(true);
      expect((error as { retryAt: number }).retryAt).toBeGreaterThanOrEqual(failedAt + RESET_MS);
    }
    await resetPeriodOver(prefix, fleet);
    const second = await everyoneCalls(fleet, (othersDone) => othersDone);
    expect(second.calls).toBe(1);
    await until(() => fleet.every((m) => stateOf(m) === 'closed'), 10_000, 'every circuit to close');
  });

  it('by default each process keeps its own circuit', async () => {
    const prefix = newPrefix();
    const [a, b] = [member(prefix, circuitConfig), member(prefix, circuitConfig)];
    await burst(b.manager, 1);
    for (let i = 0; i < 2; i++) await a.manager.execute(SVC, down).catch(() => {});
    expect(stateOf(a)).toBe('open');
    await sleep(50);
    expect((await burst(b.manager, 1)).started).toBe(1);
    expect(stateOf(b)).toBe('closed');
  });
});

/**
 * The answer deadline of the tests of a slow Redis: one a loaded machine's round trip does not
 * reach, and Redis paused well beyond it (every answer during the pause is then the fallback's).
 */
const DEADLINE_MS = 1_000;
const PAUSE_MS = 3_000;

describe('RedisStore: Redis down is not an outage', () => {
  it('slow Redis: admissions are answered by the fallback within the deadline, and the shared state comes back by itself', async () => {
    const prefix = newPrefix();
    const m = member(prefix, { burst: 100, requestsPerMinute: 100 }, { timeoutMs: DEADLINE_MS, probeIntervalMs: 100, fallback: { mode: 'local', share: 0.5 } });
    const events: StoreHealthEvent[] = [];
    m.manager.on('storeHealth', (e) => events.push(e));
    expect((await burst(m.manager, 2)).started).toBe(2);
    const admin = server().client();
    await admin.client('PAUSE', PAUSE_MS, 'ALL');
    const t0 = Date.now();
    const during = await burst(m.manager, 80);
    // Answered while Redis was still paused: by the deadline.
    expect(Date.now() - t0).toBeLessThan(PAUSE_MS);
    // The fallback holds half the limit.
    expect(during.started).toBe(50);
    expect(m.manager.getStatusReport().storeHealth).toMatchObject({ status: 'degraded', mode: 'fallback_local' });
    await until(() => m.store.health().status === 'ok', 15_000, 'recovery');
    expect(events.map((e) => e.status)).toEqual(['degraded', 'ok']);
    admin.disconnect();
    // Shared again, and the shared window counts the fallback's starts: 2 + 50 of 100 taken.
    // (The admissions Redis ran after their deadline were given back.)
    expect((await burst(m.manager, 60)).started).toBe(48);
  });

  it('one deadline timer for the admissions in flight: kept between them, it holds the process only while one is in flight', async () => {
    const m = member(newPrefix(), {}, { timeoutMs: DEADLINE_MS });
    const limiter = m.store.createLimiter('direct', { requestsPerSecond: Infinity, burst: 100, requestsPerMinute: 100 }, Date.now());
    const timer = (): ReturnType<typeof setTimeout> | undefined => (m.parts.admissions as unknown as { deadlineTimer?: ReturnType<typeof setTimeout> }).deadlineTimer;
    const admit = async (): Promise<ReturnType<typeof setTimeout> | undefined> => {
      const answer = limiter.tryAcquire(Date.now());
      await new Promise<void>((resolve) => queueMicrotask(resolve)); // sent now
      const armed = timer();
      expect(armed?.hasRef()).toBe(true);
      expect(await answer).toBe(0);
      expect(timer()?.hasRef() ?? false).toBe(false);
      return armed;
    };
    const first = await admit();
    // The same timer serves the next admission: no timer armed and cleared per call.
    expect(await admit()).toBe(first);
    // Past its deadline with nothing in flight, it ends by itself.
    await until(() => timer() === undefined, DEADLINE_MS + 10_000, 'the deadline timer to end');
    await admit();
    // Redis stops answering: the deadline still answers by the fallback.
    const admin = server().client();
    await admin.client('PAUSE', PAUSE_MS, 'ALL');
    const t0 = Date.now();
    expect(await limiter.tryAcquire(Date.now())).toBe(0);
    // Answered while Redis was still paused: by the deadline.
    expect(Date.now() - t0).toBeLessThan(PAUSE_MS);
    expect(m.store.health().status).toBe('degraded');
    admin.disconnect();
    await until(() => m.store.health().status === 'ok', 15_000, 'recovery');
  });

  it("fallback 'deny' fails closed while Redis is down, and admits again once it is back", async () => {
    const local = await startRedis();
    try {
      const client = local.storeClient();
      const store = new RedisStore({ client, prefix: newPrefix(), timeoutMs: DEADLINE_MS, probeIntervalMs: 100, fallback: { mode: 'deny' } });
      const manager = new ThrottleManager({ store, env: {} });
      managers.push(manager);
      manager.configure(SVC, { requestsPerSecond: Infinity, burst: 10, requestsPerMinute: 10, maxWaitMs: 200, retryAttempts: 0 });
      expect((await burst(manager, 1)).started).toBe(1);
      await local.kill();
      const down = await burst(manager, 3);
      expect(down.started).toBe(0);
      for (const error of down.errors) expect(isRateLimitedError(error)).toBe(true);
      await local.restart();
      await until(() => store.health().status === 'ok', 10_000, 'recovery');
      expect((await burst(manager, 3)).started).toBe(3);
    } finally {
      await local.stop();
    }
  });
});

describe('token caps in Redis (weighted calls)', () => {
  const weighted = { requestsPerMinute: Infinity, burst: 1_000, maxWaitMs: 0, tokensPerMinute: 100 };

  it('members share tokensPerMinute: 100 concurrent calls of cost 30 against 100 tokens start 3 in all; a cost above the cap is refused at once; the report shows what is left', async () => {
    const prefix = newPrefix();
    const a = member(prefix, weighted);
    const b = member(prefix, weighted);
    let started = 0;
    const run = (m: Member): Promise<unknown> => m.manager.execute(SVC, async () => void started++, { cost: 30 });
    const outcomes = await Promise.allSettled([...Array.from({ length: 50 }, () => run(a)), ...Array.from({ length: 50 }, () => run(b))]);
    expect(started).toBe(3);
    expect(outcomes.filter((o) => o.status === 'rejected').every((o) => isRateLimitedError((o as PromiseRejectedResult).reason))).toBe(true);
    const tooBig = await a.manager.execute(SVC, async () => {}, { cost: 101 }).catch((error: unknown) => error);
    expect(isRateLimitedError(tooBig) && tooBig.reason).toBe('cost_exceeds_limit');
    // As of each member's last answer from Redis: 10 tokens left of 100 at most.
    const left = [a, b].map((m) => m.manager.getStatusReport().scopes[SVC]!.limits.tokensRemaining?.total);
    expect(Math.min(...(left as number[]))).toBe(10);
  });

  it('Redis slow: the fallback holds its share of the token cap; admissions Redis ran after their deadline give their token records back', async () => {
    const prefix = newPrefix();
    const m = member(prefix, { ...weighted, tokensPerMinute: 1_000 }, { timeoutMs: DEADLINE_MS, probeIntervalMs: 100, fallback: { mode: 'local', share: 0.5 } });
    const calls = (n: number): Promise<number> => Promise.allSettled(Array.from({ length: n }, () => m.manager.execute(SVC, async () => {}, { cost: 10 }))).then((all) => all.filter((o) => o.status === 'fulfilled').length);
    // The first calls must reach Redis, not the fallback: a node-redis client may still be connecting.
    await until(() => !m.parts.connection.isDisconnected, 10_000, "the store's client to connect");
    expect(await calls(2)).toBe(2);
    expect(m.parts.stats.answered).toBe(2);
    const admin = server().client();
    await admin.client('PAUSE', PAUSE_MS, 'ALL');
    // The fallback holds half of 1,000 tokens: 50 calls of 10.
    expect(await calls(80)).toBe(50);
    await until(() => m.store.health().status === 'ok', 15_000, 'recovery');
    admin.disconnect();
    // Redis ran the 80 admissions after their deadline and took their tokens: given back, the
    // shared window holds the 2 first calls' 20 tokens only (the fallback's own are not imported).
    expect(await calls(100)).toBe(98);
  });

  it("credits carry tokens; what the grant's tokens no call took goes back with them when the store is closed", async () => {
    const prefix = newPrefix();
    const m = member(prefix, { ...weighted, tokensPerMinute: 1e9 }, { creditMs: 10_000 });
    const admin = server().client();
    /** The tokens in the window (the sums kept with the scope's state in Redis), in calls of 7. */
    const recorded = async (): Promise<number> => {
      const state = await admin.hgetBuffer(`${prefix}{${SVC}}`, 'T');
      return state === null ? 0 : (state.readDoubleLE(0) + state.readDoubleLE(8)) / 7;
    };
    // Calls of 7 tokens one after another, until Redis holds more tokens than the calls made took.
    const made = await callUntilHoldingCredits(m, recorded, () => m.manager.execute(SVC, async () => {}, { cost: 7 }));
    expect(m.parts.stats.creditsUsed).toBeGreaterThan(0);
    expect(await recorded()).toBeGreaterThan(made);
    await managers.splice(managers.indexOf(m.manager), 1)[0]!.close();
    expect(await recorded()).toBe(made);
    admin.disconnect();
  });

  it('reconciliation is applied in Redis: a failed call gives back its estimate, a call that reports less frees the rest, for every member', async () => {
    const prefix = newPrefix();
    const a = member(prefix, weighted);
    const b = member(prefix, weighted);
    /** Every member subscribed before the give-back it waits for is published (a message sent earlier is not replayed). */
    const listening = async (...members: Member[]): Promise<void> => {
      for (const m of members) await m.manager.execute(SVC, async () => {}, { cost: 0 });
      await until(() => members.every((m) => m.parts.channel.listening), 5_000, 'every subscription');
    };
    await listening(a, b);
    const fits = (m: Member, cost: number): (() => Promise<boolean>) => async () =>
      m.manager.execute(SVC, async () => {}, { cost }).then(
        () => true,
        (error: unknown) => {
          if (!isRateLimitedError(error)) throw error;
          return false;
        },
      );
    // a's failed call used nothing: once its give-back is in Redis, b's call of the whole cap fits.
    await expect(a.manager.execute(SVC, async () => { throw new Error('provider down'); }, { cost: 60 })).rejects.toThrow('provider down');
    await until(fits(b, 100), 20_000, "b's call of 100 tokens to fit");
    // The window is full now; nothing fits, not even a zero-cost call.
    expect(await fits(a, 0)()).toBe(false);

    const other = `${prefix}x`;
    const c = member(other, weighted);
    const d = member(other, weighted);
    await listening(c, d);
    // c's call estimated 90 and reported 20: 80 free for d, once the reconciliation is in Redis.
    await c.manager.execute(SVC, async (_signal, call) => call.reportUsage(20), { cost: 90 });
    await until(fits(d, 80), 20_000, "d's call of 80 tokens to fit");
    expect(await fits(d, 1)()).toBe(false);
  });
});

describe('budgets in Redis (the fleet\'s spend)', () => {
  // gpt-4o input at $2.50 per million tokens: 1,000 tokens cost $0.0025; $0.025 is room for 10.
  const budgeted = { requestsPerMinute: Infinity, burst: 1_000, maxWaitMs: 0, budget: { usd: 0.025, period: 'day' as const } };
  const call = { cost: { input: 1_000, output: 0 }, model: 'gpt-4o' };

  it('100 concurrent calls across two members against a budget with room for 10 start exactly 10; the others are refused with BudgetExceededError', async () => {
    const prefix = newPrefix();
    const a = member(prefix, budgeted);
    const b = member(prefix, budgeted);
    let started = 0;
    const run = (m: Member): Promise<unknown> => m.manager.execute(SVC, async () => void started++, call);
    const outcomes = await Promise.allSettled([...Array.from({ length: 50 }, () => run(a)), ...Array.from({ length: 50 }, () => run(b))]);
    expect(started).toBe(10);
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
    expect(refused.length).toBe(90);
    expect(refused.every(isBudgetExceededError)).toBe(true);
  });

  it("each member's cost summary shows the fleet's spend in its budget (its own calls and tokens stay its own); a failed call gives back its reservation", async () => {
    const prefix = newPrefix();
    const a = member(prefix, budgeted);
    const b = member(prefix, budgeted);
    for (let i = 0; i < 4; i++) await a.manager.execute(SVC, async () => {}, call);
    // A failed call spends what it reported using (nothing here): its reservation goes back.
    await expect(a.manager.execute(SVC, async () => { throw new Error('provider down'); }, call)).rejects.toThrow('provider down');
    await b.manager.execute(SVC, async () => {}, call);
    // b's settlement answer carries the fleet's spend: 5 calls of $0.0025.
    await until(() => Math.abs((b.manager.getCostSummary().scopes[SVC]?.budget?.spentUsd ?? 0) - 0.0125) < 1e-9, 20_000, "b's summary to show the fleet's spend");
    const summary = b.manager.getCostSummary().scopes[SVC]!;
    expect(summary.budget).toMatchObject({ shared: true, usd: 0.025 });
    expect(summary.budget!.leftUsd).toBeCloseTo(0.0125, 9);
    expect(summary.models['gpt-4o']!.calls).toBe(1);
    expect(summary.inputTokens).toBe(1_000);
    expect(b.manager.getStatusReport().scopes[SVC]!.costs?.budget?.spentUsd).toBeCloseTo(0.0125, 9);
  });
});

describe('RedisStore.close()', () => {
  it('gives back the credits the process holds unused: the shared window counts only the starts made, at once', async () => {
    const prefix = newPrefix();
    // A long lease: without the give-back on close, the credits would hold their slots for 10 s.
    const m = member(prefix, { requestsPerMinute: 1_000, burst: 1_000 }, { creditMs: 10_000 });
    const admin = server().client();
    const scopeKey = `${prefix}{${SVC}}`;
    const made = await callUntilHoldingCredits(m, () => ringStarts(admin, scopeKey));
    expect(await ringStarts(admin, scopeKey)).toBeGreaterThan(made);
    await managers.splice(managers.indexOf(m.manager), 1)[0]!.close();
    expect(await ringStarts(admin, scopeKey)).toBe(made);
    admin.disconnect();
  });
});
