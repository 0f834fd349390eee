import type { LimiterLimits, ScopeLimiter, SharedState, StoreHealth, ThrottleStore } from '../types.js';
import { type AdmissionStats, RedisAdmissions } from './admissions.js';
import { RedisChannel } from './channel.js';
import { RedisConnection } from './connection.js';
import type { CreditsHost } from './credits.js';
import { type LimiterParts, RedisLimiter } from './limiter.js';
import { type RedisSettings, type RedisStoreOptions, resolveSettings } from './settings.js';
import { ReservationLeases } from './spend.js';

/** A store's parts, for tests and the benchmark (not public API): see {@link storeParts}. */
export interface RedisStoreParts extends LimiterParts {
  readonly channel: RedisChannel;
}

const partsOf = new WeakMap<RedisStore, RedisStoreParts>();

/** Test and benchmark hook (not public API): the parts a store is made of, and its counters. */
export function storeParts(store: RedisStore): RedisStoreParts {
  return partsOf.get(store)!;
}

/**
 * Limits, suspensions, provider pauses (and with `shareCircuit`, circuits) shared by every
 * process that uses the same Redis and prefix. One admission is one round trip (a Lua script
 * run with EVALSHA, on the server's clock; see admit-protocol.ts), or none while the process
 * holds credits. When Redis cannot answer within `timeoutMs`, admissions fall back to
 * `fallback` until Redis answers again. What one process decides for the fleet travels
 * through the store's channel.
 *
 * Made of parts whose arrows point one way: settings (validated options) ← the connection
 * (the client and the store's health) ← admissions (batches in flight) and the channel
 * (pub/sub) ← each scope's limiter (with its credits) ← this store, which composes them.
 */
export class RedisStore implements ThrottleStore {
  readonly name = 'redis';
  /** Token caps (`tokensPerMinute`, ...) are enforced in the admission script, fleet-wide. */
  readonly weighted = true;
  readonly shared: SharedState;
  readonly #connection: RedisConnection;
  readonly #channel: RedisChannel;
  readonly #settings: RedisSettings;
  readonly #admissions: RedisAdmissions;
  readonly #credits: CreditsHost;
  readonly #leases: ReservationLeases;

  /** @throws ConfigError when an option is missing or invalid, naming it, its value and the rule. */
  constructor(options: RedisStoreOptions) {
    const settings = resolveSettings(options);
    const stats: AdmissionStats = { roundTrips: 0, answered: 0, creditsUsed: 0 };
    // The connection tells the others when Redis stops and starts answering (wired below).
    const connection = new RedisConnection(settings, {
      down: () => {
        admissions.fallBackAll(Date.now());
        channel.notifyHealth(connection.health());
      },
      up: () => {
        channel.notifyHealth(connection.health());
        channel.flushUnsent();
      },
    });
    const admissions = new RedisAdmissions(settings, connection, stats);
    const channel = new RedisChannel(settings, connection);
    const credits: CreditsHost = {
      get listening() {
        return channel.listening;
      },
      get healthy() {
        return connection.isHealthy;
      },
      maxCredits: settings.maxCredits,
      giveBack: (refund) => admissions.giveBack(refund),
      amendTokens: (amend) => admissions.amendTokens(amend),
      held: new Set(),
    };
    this.#settings = settings;
    this.#admissions = admissions;
    this.#credits = credits;
    this.#connection = connection;
    this.#channel = channel;
    this.shared = channel;
    this.#leases = new ReservationLeases(connection, settings.origin, settings.reservationLeaseMs);
    partsOf.set(this, { settings, connection, admissions, fleet: channel, channel, credits, stats, leases: this.#leases });
  }

  createLimiter(scope: string, limits: LimiterLimits, _now: number): ScopeLimiter {
    return new RedisLimiter(storeParts(this), scope, limits);
  }

  health(): StoreHealth {
    return this.#connection.health();
  }

  /**
   * Gives back the credits this process holds unused (and the tokens their grants carry), waiting
   * up to `timeoutMs` for Redis to take them, stops renewing the budget reservations of calls
   * still in flight (they lapse after `reservationLeaseMs`), then closes the subscription connection this store
   * opened; the client you passed stays open.
   */
  async close(): Promise<void> {
    for (const credits of [...this.#credits.held]) credits.drop();
    this.#leases.stop();
    await this.#admissions.flush(this.#settings.timeoutMs);
    this.#connection.close();
    await this.#channel.close(this.#settings.timeoutMs);
  }
}
