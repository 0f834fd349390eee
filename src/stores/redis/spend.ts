import type { SharedSpend } from '../types.js';
import type { RedisConnection } from './connection.js';
import { NOW } from './lua.js';

// Budgets shared by the fleet (README "LLM spend", fleet mode): a scope's spend in a budget period
// lives in one hash per period, `<scope key>:b:<period end>` (the scope's hash tag: the same
// cluster slot), with `s` the USD spent and `r` the USD reserved by calls in flight. Reserving
// checks and takes in one script run, so concurrent calls across processes cannot pass the
// budget on their estimates (reserve, then reconcile), as in one process.
//
// Each reservation is also a lease, a member `<ticket>|<usd>` of the sorted set `<hash>:l`
// scored by when it lapses (server clock). The process renews the leases of its calls in flight
// (a third of the lease, see ReservationLeases); a process that died stops renewing, and the
// next script run on the period takes its lapsed reservations off `r`.
//
// Why `r` stays exact: the invariant is `r` = the USD of the members in the set (plus, for a
// custom caller settling without a ticket, its lease-less reservations not yet settled). RESERVE
// adds a member and its USD in one script run; RECLAIM removes lapsed members and subtracts
// their USD in one run; SETTLE subtracts a ticket's USD only when its ZREM removed the member.
// Scripts run one at a time, and a member leaves the set once (ZREM or ZREMRANGEBYSCORE), so
// each reservation's USD leaves `r` exactly once: a settlement after its lease lapsed releases
// nothing twice, and a renewal (ZADD XX) never brings back a member already taken off.

/** Takes the lapsed leases off `r` and off the set; leaves `r` (USD reserved) and `now` (server ms) in locals. KEYS: 1 the hash, 2 the leases. */
const RECLAIM = `${NOW}
local r = tonumber(redis.call('HGET', KEYS[1], 'r')) or 0
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
if #lapsed > 0 then
  for _, m in ipairs(lapsed) do r = r - tonumber(string.match(m, '|(.*)$')) end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if r < 1e-12 then r = 0 end
  redis.call('HSET', KEYS[1], 'r', string.format('%.17g', r))
end`;

/**
 * Reserves ARGV 2 USD of a budget of ARGV 1 USD, unless the spend plus the reservations plus it
 * would pass the budget (or the budget is used up already). KEYS: 1 the period's hash, 2 its
 * leases. ARGV: 1 budget, 2 USD, 3 when the keys expire (epoch ms), 4 the lease's member ('': no
 * lease, for $0), 5 its length (ms). Replies `{granted 0 | 1, committed}`: the spend plus the reservations after the
 * run (a string: Redis truncates numbers in replies).
 */
const RESERVE_SCRIPT = `${RECLAIM}
local committed = (tonumber(redis.call('HGET', KEYS[1], 's')) or 0) + r
local usd = tonumber(ARGV[2])
local limit = tonumber(ARGV[1])
if committed + usd > limit + 1e-12 or committed >= limit then return {0, string.format('%.17g', committed)} end
redis.call('HSET', KEYS[1], 'r', string.format('%.17g', r + usd))
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), ARGV[4])
  redis.call('PEXPIREAT', KEYS[2], ARGV[3])
end
return {1, string.format('%.17g', committed + usd)}
`;

/**
 * A call ended: releases its reservation (ARGV 1 USD; nothing when its lease, ARGV 4, lapsed
 * and was taken off already; '' for a reservation without a lease) and adds what it spent
 * (ARGV 2), in the period it reserved in. KEYS: 1 the period's hash, 2 its leases. ARGV 3: when
 * the keys expire. Replies the spend plus the reservations after the run.
 */
const SETTLE_SCRIPT = `${RECLAIM}
if ARGV[4] == '' or redis.call('ZREM', KEYS[2], ARGV[4]) == 1 then r = r - tonumber(ARGV[1]) end
if r < 1e-12 then r = 0 end
local s = (tonumber(redis.call('HGET', KEYS[1], 's')) or 0) + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 's', string.format('%.17g', s), 'r', string.format('%.17g', r))
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return string.format('%.17g', s + r)
`;

/** Renews the leases ARGV 2.. that are still held for ARGV 1 ms from now (a lapsed one taken off stays off). KEYS: 1 the leases. */
const RENEW_SCRIPT = `${NOW}
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i]) end
`;

/** A period's hash is kept this long after the period ends: calls that ran across its end settle into it. */
const KEEP_AFTER_MS = 3_600_000;

/**
 * The leases of this store's reservations in flight, renewed every third of `leaseMs` by one
 * timer (unref'ed: it never keeps the process alive), one script run per period's set.
 */
export class ReservationLeases {
  /** Lease member → its set's key. */
  private readonly live = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private seq = 0;

  constructor(
    private readonly connection: RedisConnection,
    private readonly origin: string,
    readonly leaseMs: number,
  ) {}

  /** A member for a lease of `usd` (unique in the fleet: the store's origin and a sequence). */
  member(usd: number): string {
    return `${this.origin}.${++this.seq}|${usd}`;
  }

  hold(leasesKey: string, member: string): void {
    this.live.set(member, leasesKey);
    if (this.timer === null) {
      this.timer = setInterval(() => this.renew(), Math.max(1, Math.floor(this.leaseMs / 3)));
      this.timer.unref();
    }
  }

  release(member: string): void {
    this.live.delete(member);
    if (this.live.size === 0) this.stop();
  }

  /** No more renewals (the store closes): the leases of calls still in flight lapse. */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private renew(): void {
    if (!this.connection.isHealthy) return;
    const bySet = new Map<string, string[]>();
    for (const [member, key] of this.live) {
      const members = bySet.get(key);
      if (members === undefined) bySet.set(key, [member]);
      else members.push(member);
    }
    // A renewal that fails is tried again at the next tick; the lease is three ticks long.
    for (const [key, members] of bySet) this.connection.eval([RENEW_SCRIPT, 1, key, this.leaseMs, ...members]).catch(() => {});
  }
}

/** The budget of one scope, held in Redis for the fleet. */
export class RedisSpend implements SharedSpend {
  constructor(
    private readonly connection: RedisConnection,
    private readonly leases: ReservationLeases,
    private readonly scopeKey: string,
    private readonly timeoutMs: number,
  ) {}

  async reserve(limitUsd: number, periodEnd: number, usd: number): Promise<{ granted: boolean; committedUsd: number; ticket?: string } | null> {
    const [hash, leasesKey] = this.keysOf(periodEnd);
    // A reservation of $0 (a model without a price) holds nothing: no lease, no ticket.
    const member = usd > 0 ? this.leases.member(usd) : '';
    const args = [RESERVE_SCRIPT, 2, hash, leasesKey, limitUsd, usd, periodEnd + KEEP_AFTER_MS, member, this.leases.leaseMs];
    const reply = await this.ask(args, (late) => {
      // Answered after the call went on without it: a reservation nobody will settle goes back.
      const [granted] = late as [number, string];
      if (Number(granted) === 1 && member !== '') void this.settle(periodEnd, usd, 0, member);
    });
    if (reply === null) return null;
    const [granted, committed] = reply as [number, string];
    if (Number(granted) !== 1 || member === '') return { granted: Number(granted) === 1, committedUsd: Number(committed) };
    this.leases.hold(leasesKey, member);
    return { granted: true, committedUsd: Number(committed), ticket: member };
  }

  async settle(periodEnd: number, reservedUsd: number, spentUsd: number, ticket?: string): Promise<number | null> {
    const [hash, leasesKey] = this.keysOf(periodEnd);
    if (ticket !== undefined) this.leases.release(ticket);
    const reply = await this.ask([SETTLE_SCRIPT, 2, hash, leasesKey, reservedUsd, spentUsd, periodEnd + KEEP_AFTER_MS, ticket ?? ''], null);
    return reply === null ? null : Number(reply);
  }

  /** The period's hash and its leases' set (one slot: the scope's hash tag). */
  private keysOf(periodEnd: number): [string, string] {
    const hash = `${this.scopeKey}:b:${periodEnd}`;
    return [hash, `${hash}:l`];
  }

  /**
   * EVAL within the store's `timeoutMs`; null when Redis is down, fails or is late (the process's
   * own budget then stands alone). `late` receives an answer that came after the deadline.
   */
  private ask(args: (string | number)[], late: ((reply: unknown) => void) | null): Promise<unknown> {
    const connection = this.connection;
    if (!connection.isHealthy) return Promise.resolve(null);
    return new Promise((resolve) => {
      let done = false;
      const timer = setTimeout(() => {
        done = true;
        resolve(null);
      }, this.timeoutMs);
      timer.unref();
      connection.eval(args).then(
        (reply) => {
          clearTimeout(timer);
          if (!done) resolve(reply);
          else late?.(reply);
          done = true;
        },
        () => {
          clearTimeout(timer);
          if (!done) resolve(null);
          done = true;
        },
      );
    });
  }
}
