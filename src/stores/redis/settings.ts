import { randomBytes } from 'node:crypto';
import { ConfigError } from '../../errors/errors.js';
import { WINDOW_MS } from '../../limiter/rolling-window.js';
import { adaptClient, CLIENT_RULE, type FleetClient, type RedisClient } from './client.js';

/** What admissions do while Redis is unreachable, slow or failing. */
export type RedisFallback =
  /** Admit through a limiter in this process holding `share` (0 < share <= 1) of each limit. */
  | { readonly mode: 'local'; readonly share: number }
  /** Admit nothing (fail closed): callers wait, up to `maxWaitMs`, for Redis to come back. */
  | { readonly mode: 'deny' };

export interface RedisStoreOptions {
  /**
   * A client that you own, connected: floodgate never closes it. ioredis 5 or 6 (`new Redis()`,
   * `new Cluster()`) or node-redis 5 or 6 (`createClient()`, `createCluster()`, after
   * `await client.connect()`), recognised by its shape.
   */
  readonly client: RedisClient;
  /** Prepended to every key and to the pub/sub channel. @default 'floodgate:' */
  readonly prefix?: string;
  /** Deadline of each store call; past it the call is answered by the fallback. @default 250 */
  readonly timeoutMs?: number;
  /**
   * While Redis is down. With N processes, `share: 1 / N` keeps the fleet within the limit.
   * @default { mode: 'local', share: 1 } (each process keeps the whole limit, as without Redis)
   */
  readonly fallback?: RedisFallback;
  /** While degraded, how often Redis is tried again. @default 1000 */
  readonly probeIntervalMs?: number;
  /**
   * Subscribe (on a second connection, `client.duplicate()`) to suspensions, resumes and
   * pauses made by other processes, so idle processes learn of them at once. Without it
   * they learn at their next admission (one round trip). @default true
   */
  readonly subscribe?: boolean;
  /**
   * Share circuit breakers across the fleet: a circuit that opens in one process opens the
   * scope in every process (until the circuit's `circuitBreakerResetMs` has passed), and then
   * exactly one process in the fleet sends the half-open probe; its success closes the circuit
   * everywhere, its failure opens it everywhere again. While Redis is down each process keeps
   * its own circuit. @default false (each process keeps its own circuit)
   */
  readonly shareCircuit?: boolean;
  /**
   * Credits: while a scope's limits have room to spare, an admission may bring up to this
   * many more starts, which this process then makes without a round trip, within `creditMs`.
   * Redis records each of them as if made at the end of that lease and checks it as if made
   * now, so the strict window and the token bucket hold exactly however they are used. A
   * scope asks for credits only after 8 admissions or more in the last `creditMs`, about half
   * as many as it asked for, and Redis grants at most a quarter of the room left in each limit;
   * with `subscribe: false` none are asked for (a ban elsewhere must reach the process first).
   * 0: every admission is its own round trip (or shares one with its tick). @default 16
   */
  readonly maxCredits?: number;
  /**
   * How long credits stay usable, at most (a scope's lease is at most half its bucket's burst
   * tolerance, `(burst - 1) / requestsPerSecond`, so that the starts after a grant are not held
   * back); those unused when it ends are given back to the fleet. @default 20
   */
  readonly creditMs?: number;
  /**
   * How long a budget reservation (README "LLM spend", fleet mode) outlives the process that
   * made it: a process renews the reservations of its calls in flight every third of this, so
   * one that dies (or loses Redis) leaves them counted for this long at most, instead of until
   * the period ends. @default 30000
   */
  readonly reservationLeaseMs?: number;
}

/** A {@link RedisStore}'s settings, validated: plain data, read once from the options. */
export interface RedisSettings {
  /** The user's client, adapted. */
  readonly client: FleetClient;
  readonly prefix: string;
  readonly timeoutMs: number;
  readonly fallback: RedisFallback;
  readonly probeIntervalMs: number;
  readonly subscribe: boolean;
  readonly shareCircuit: boolean;
  readonly maxCredits: number;
  readonly creditMs: number;
  readonly reservationLeaseMs: number;
  /** The length of the strict window (60 s; tests shorten it, see {@link testWindow}). */
  readonly windowMs: number;
  /** The pub/sub channel: `<prefix>events`. */
  readonly channel: string;
  /** Tells this store's own messages from others'. */
  readonly origin: string;
}

/** Where test hooks ride on the options: a symbol no user type names. */
const TEST_HOOKS = Symbol('floodgate.redisStore.testHooks');

/** Test hook (not public API): options that shorten the strict window to `windowMs`, so a test sees it slide. */
export function testWindow(windowMs: number): object {
  return { [TEST_HOOKS]: { windowMs } };
}

const isPositive = (v: unknown): v is number => typeof v === 'number' && v > 0 && Number.isFinite(v);
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';

/** Reads and checks every option once; a bad one is a ConfigError naming it, its value and the rule. */
export function resolveSettings(options: RedisStoreOptions): RedisSettings {
  if (options === null || typeof options !== 'object') throw new ConfigError('RedisStore options', options, 'must be an object with a `client`');
  const given: unknown = options.client;
  if (given === undefined || given === null) throw new ConfigError('RedisStore.client', given, `is required: it ${CLIENT_RULE}`);
  const client = adaptClient(given);
  if (client === null) throw new ConfigError('RedisStore.client', given, CLIENT_RULE);
  const prefix = option(options.prefix, 'floodgate:', 'prefix', (v): v is string => typeof v === 'string', 'must be a string');
  const maxCredits = option(options.maxCredits, 16, 'maxCredits', (v): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 256, 'must be an integer from 0 to 256');
  const fallback = readFallback(options.fallback);
  const hooks = (options as { [TEST_HOOKS]?: { windowMs: number } })[TEST_HOOKS];
  return {
    client,
    prefix,
    timeoutMs: option(options.timeoutMs, 250, 'timeoutMs', isPositive, 'must be a finite number > 0'),
    fallback,
    probeIntervalMs: option(options.probeIntervalMs, 1_000, 'probeIntervalMs', isPositive, 'must be a finite number > 0'),
    subscribe: option(options.subscribe, true, 'subscribe', isBoolean, 'must be a boolean'),
    shareCircuit: option(options.shareCircuit, false, 'shareCircuit', isBoolean, 'must be a boolean'),
    maxCredits,
    creditMs: option(options.creditMs, 20, 'creditMs', isPositive, 'must be a finite number > 0'),
    reservationLeaseMs: option(options.reservationLeaseMs, 30_000, 'reservationLeaseMs', (v): v is number => typeof v === 'number' && v >= 1_000 && Number.isFinite(v), 'must be a finite number of ms >= 1000'),
    windowMs: hooks === undefined ? WINDOW_MS : option(hooks.windowMs, WINDOW_MS, 'windowMs', isPositive, 'must be a finite number > 0'),
    channel: `${prefix}events`,
    origin: randomBytes(8).toString('hex'),
  };
}

function option<T>(value: unknown, fallback: T, field: string, valid: (v: unknown) => v is T, rule: string): T {
  if (value === undefined) return fallback;
  if (!valid(value)) throw new ConfigError(`RedisStore.${field}`, value, rule);
  return value;
}

/** Reads `mode` and `share` once each (a getter cannot answer one thing to the check and another to the store). */
function readFallback(value: unknown): RedisFallback {
  if (value === undefined) return { mode: 'local', share: 1 };
  const rule = "must be { mode: 'local', share } with 0 < share <= 1, or { mode: 'deny' }";
  if (value === null || typeof value !== 'object') throw new ConfigError('RedisStore.fallback', value, rule);
  const { mode, share } = value as { mode?: unknown; share?: unknown };
  if (mode === 'deny') return { mode: 'deny' };
  if (mode === 'local' && typeof share === 'number' && share > 0 && share <= 1) return { mode: 'local', share };
  throw new ConfigError('RedisStore.fallback', value, rule);
}
