import type { StoreHealth } from '../types.js';
import type { ClientSubscription, FleetClient, SubscriptionHandlers } from './client.js';
import type { RedisSettings } from './settings.js';

/** Told when Redis stops answering, and when it answers again. */
export interface HealthListener {
  down(): void;
  up(): void;
}

/**
 * The user's client (adapted: see client.ts) and the store's health. Every command the store
 * sends to Redis goes through here (admissions, the scripts that change shared state, pub/sub). Healthy until the first failure; degraded then
 * until a PING is answered (probed every `probeIntervalMs`, or at once when the subscription
 * reconnects).
 */
export class RedisConnection {
  private readonly client: FleetClient;
  private healthy = true;
  private since: number | null = null;
  private lastError: string | null = null;
  private probeTimer: ReturnType<typeof setTimeout> | undefined;
  private probing = false;
  private closed = false;

  constructor(
    private readonly settings: RedisSettings,
    private readonly listener: HealthListener,
  ) {
    this.client = settings.client;
  }

  /** Whether admissions go to Redis now (false: the fallback answers). */
  get isHealthy(): boolean {
    return this.healthy;
  }

  /** The client cannot send now (a command would only wait in its offline queue). */
  get isDisconnected(): boolean {
    return this.client.disconnected;
  }

  /** The client's connection state, for messages. */
  get status(): string {
    return this.client.status;
  }

  health(): StoreHealth {
    return {
      status: this.healthy ? 'ok' : 'degraded',
      mode: this.healthy ? 'shared' : this.settings.fallback.mode === 'local' ? 'fallback_local' : 'fallback_deny',
      since: this.since,
      lastError: this.lastError,
    };
  }

  /** EVALSHA with the whole command (sha, numkeys, keys, args) as one array. */
  evalsha(args: readonly (string | number)[]): Promise<unknown> {
    return this.client.evalsha(args);
  }

  /** EVAL with the whole command (script, numkeys, keys, args) as one array. */
  eval(args: readonly (string | number)[]): Promise<unknown> {
    return this.client.eval(args);
  }

  /**
   * Subscribes to `channel` on a connection of its own (`message` gets each message's text,
   * `dropped` is told when the connection drops). It never keeps the process alive by itself.
   */
  subscribe(channel: string, handlers: Omit<SubscriptionHandlers, 'ready'>): ClientSubscription {
    return this.client.subscribe(channel, {
      ...handlers,
      // A reconnected subscriber is the first sign that Redis is back: try it now, not at the next probe.
      ready: () => this.probeNow(),
    });
  }

  /** Redis failed to answer (an error, a deadline, a dropped connection): degraded until a PING is answered. */
  degrade(reason: string): void {
    this.lastError = reason;
    if (!this.healthy) return;
    this.healthy = false;
    this.since = Date.now();
    this.listener.down();
    this.scheduleProbe();
  }

  /** While degraded, tries Redis now rather than at the next probe. */
  probeNow(): void {
    if (!this.healthy) this.probe();
  }

  close(): void {
    this.closed = true;
    if (this.probeTimer !== undefined) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
  }

  private recover(): void {
    if (this.healthy || this.closed) return;
    this.healthy = true;
    this.since = Date.now();
    this.listener.up();
  }

  private scheduleProbe(): void {
    if (this.probeTimer !== undefined || this.closed) return;
    // Unref'd: probing never keeps a process alive.
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      this.probe();
    }, this.settings.probeIntervalMs);
    this.probeTimer.unref?.();
  }

  /** While degraded: one PING with a deadline; an answer brings the shared state back. */
  private probe(): void {
    if (this.healthy || this.probing || this.closed) return;
    if (this.isDisconnected) return this.scheduleProbe();
    this.probing = true;
    const timeoutMs = this.settings.timeoutMs;
    let settled = false;
    const done = (ok: boolean, error?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.probing = false;
      if (ok) this.recover();
      else {
        this.lastError = error === undefined ? `no answer to PING within ${timeoutMs} ms` : describe(error);
        this.scheduleProbe();
      }
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    timer.unref?.();
    this.client.ping().then(
      () => done(true),
      (error: unknown) => done(false, error),
    );
  }
}

/** An error as the health report shows it. */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
