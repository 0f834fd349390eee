import type { SharedSpend } from '../types.js';
import type { RedisConnection } from './connection.js';

// Budgets shared by the fleet (README "LLM spend", fleet mode): a scope's spend in a budget period
// lives in one hash per period, `<scope key>:b:<period end>` (the scope's hash tag: the same
// cluster slot), with `s` the USD spent and `r` the USD reserved by calls in flight. Reserving
// checks and takes in one script run, so concurrent calls across processes cannot pass the
// budget on their estimates (reserve, then reconcile), as in one process.

/**
 * Reserves ARGV 2 USD of a budget of ARGV 1 USD, unless the spend plus the reservations plus it
 * would pass the budget (or the budget is used up already). KEYS: 1 the period's hash.
 * ARGV: 1 budget, 2 USD, 3 when the hash expires (epoch ms). Replies `{granted 0 | 1, committed}`:
 * the spend plus the reservations after the run (a string: Redis truncates numbers in replies).
 */
const RESERVE_SCRIPT = `
local b = redis.call('HMGET', KEYS[1], 's', 'r')
local committed = (tonumber(b[1]) or 0) + (tonumber(b[2]) or 0)
local usd = tonumber(ARGV[2])
local limit = tonumber(ARGV[1])
if committed + usd > limit + 1e-12 or committed >= limit then return {0, string.format('%.17g', committed)} end
redis.call('HSET', KEYS[1], 'r', string.format('%.17g', (tonumber(b[2]) or 0) + usd))
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return {1, string.format('%.17g', committed + usd)}
`;

/**
 * A call ended: releases its reservation (ARGV 1 USD, never below 0) and adds what it spent
 * (ARGV 2), in the period it reserved in. KEYS: 1 the period's hash. ARGV 3: when it expires.
 * Replies the spend plus the reservations after the run.
 */
const SETTLE_SCRIPT = `
local b = redis.call('HMGET', KEYS[1], 's', 'r')
local r = (tonumber(b[2]) or 0) - tonumber(ARGV[1])
if r < 1e-12 then r = 0 end
local s = (tonumber(b[1]) or 0) + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 's', string.format('%.17g', s), 'r', string.format('%.17g', r))
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return string.format('%.17g', s + r)
`;

/** A period's hash is kept this long after the period ends: calls that ran across its end settle into it. */
const KEEP_AFTER_MS = 3_600_000;

/** The budget of one scope, held in Redis for the fleet. */
export class RedisSpend implements SharedSpend {
  constructor(
    private readonly connection: RedisConnection,
    private readonly scopeKey: string,
    private readonly timeoutMs: number,
  ) {}

  async reserve(limitUsd: number, periodEnd: number, usd: number): Promise<{ granted: boolean; committedUsd: number } | null> {
    const args = [RESERVE_SCRIPT, 1, this.keyOf(periodEnd), limitUsd, usd, periodEnd + KEEP_AFTER_MS];
    const reply = await this.ask(args, (late) => {
      // Answered after the call went on without it: a reservation nobody will settle goes back.
      const [granted] = late as [number, string];
      if (Number(granted) === 1) void this.settle(periodEnd, usd, 0);
    });
    if (reply === null) return null;
    const [granted, committed] = reply as [number, string];
    return { granted: Number(granted) === 1, committedUsd: Number(committed) };
  }

  async settle(periodEnd: number, reservedUsd: number, spentUsd: number): Promise<number | null> {
    const reply = await this.ask([SETTLE_SCRIPT, 1, this.keyOf(periodEnd), reservedUsd, spentUsd, periodEnd + KEEP_AFTER_MS], null);
    return reply === null ? null : Number(reply);
  }

  private keyOf(periodEnd: number): string {
    return `${this.scopeKey}:b:${periodEnd}`;
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
