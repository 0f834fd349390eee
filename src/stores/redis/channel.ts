import { redactText } from '../../classify/redact.js';
import type { SharedState, SharedStateListener, StoreHealth } from '../types.js';
import { CIRCUIT_CLOSE_SCRIPT, CIRCUIT_OPEN_SCRIPT, MAX_PAUSE_MS, MESSAGE_SCRIPT, PAUSE_SCRIPT, RESUME_SCRIPT, SUSPEND_SCRIPT } from './channel-scripts.js';
import type { ClientSubscription } from './client.js';
import { describe, type RedisConnection } from './connection.js';
import { scopeKeyIn } from './lua.js';
import type { RedisSettings } from './settings.js';

/** A message on the store's channel. */
interface Message {
  /** suspend, resume, pause, circuit open, circuit closed, starts given back, a message (`k`: its topic, `r`: its payload) */
  readonly t: 's' | 'r' | 'p' | 'o' | 'c' | 'g' | 'm';
  /** The store instance that sent it (it ignores its own). */
  readonly o: string;
  readonly k: string;
  readonly ms?: number;
  readonly r?: string;
}

type Publication = { readonly kind: 'suspend'; readonly until: number; readonly reason: string } | { readonly kind: 'resume' };

/** What a scope's limiter tells the fleet, and learns from it, through the channel. */
export interface FleetNotices {
  /** Messages from other processes reach this one now (credits rely on it: a ban elsewhere must stop them). */
  readonly listening: boolean;
  /** Resumes made here or heard of, any scope: a suspension refusal asked for before one may be stale. */
  readonly resumes: number;
  /**
   * Give-backs heard (any scope) and subscriptions made live: a wait named by an answer asked
   * for before one of these may be over already, its wake-up gone by before the scope watched.
   */
  readonly roomNotices: number;
  /** An admission answer found the scope suspended fleet-wide. */
  notifySuspended(scope: string, remainingMs: number, reason: string): void;
  /** An admission answer found the scope paused fleet-wide. */
  notifyPaused(scope: string, remainingMs: number): void;
  /** A circuit of this process opened: open the scope fleet-wide. */
  publishCircuitOpen(scope: string, durationMs: number): void;
  /** The fleet's probe succeeded here: close the scope's circuit everywhere. */
  publishCircuitClose(scope: string): void;
  /**
   * Calls `wake` once, the next time starts are given back to the scope by any process (credits
   * that lapsed unused, admissions answered too late): callers waiting for room try again then.
   */
  watchRoom(scope: string, wake: () => void): void;
  unwatchRoom(scope: string, wake: () => void): void;
}

/**
 * The fleet-wide state beyond the limits (suspensions, resumes, provider pauses, shared
 * circuits): written by small scripts that also PUBLISH, and received on a second connection
 * so that idle processes hear of it without asking.
 */
export class RedisChannel implements SharedState, FleetNotices {
  private readonly listeners = new Set<SharedStateListener>();
  /** Per scope, the limiters waiting for room (see watchRoom); an entry goes with its message. */
  private readonly roomWatch = new Map<string, Set<() => void>>();
  private subscription: ClientSubscription | undefined;
  resumes = 0;
  roomNotices = 0;
  /** Suspensions and resumes made while Redis was down, sent when it answers again. */
  private readonly unsent = new Map<string, Publication>();
  private closed = false;
  /**
   * After the subscription dropped: not listening before this (epoch ms), however fast it came
   * back (node-redis re-subscribes within a few ms). Messages sent meanwhile were lost, so
   * credits granted before the drop must lapse unused: a lease lasts at most `creditMs`.
   */
  private deafUntil = 0;

  constructor(
    private readonly settings: RedisSettings,
    private readonly connection: RedisConnection,
  ) {}

  get listening(): boolean {
    if (this.subscription === undefined || !this.subscription.listening) return false;
    if (this.deafUntil === 0) return true;
    if (Date.now() < this.deafUntil) return false;
    this.deafUntil = 0;
    return true;
  }

  attach(listener: SharedStateListener): () => void {
    this.listeners.add(listener);
    if (this.settings.subscribe && this.subscription === undefined && !this.closed) {
      this.subscription = this.connection.subscribe(this.settings.channel, {
        message: (text) => this.receive(text),
        dropped: () => (this.deafUntil = Date.now() + this.settings.creditMs),
        live: () => this.subscribed(),
      });
    }
    return () => {
      this.listeners.delete(listener);
    };
  }

  publishSuspension(scope: string, durationMs: number, reason: string): void {
    if (!(durationMs > 0)) return;
    this.unsent.delete(scope);
    const until = Date.now() + durationMs;
    this.publish(scope, { kind: 'suspend', until, reason }, [SUSPEND_SCRIPT, Math.ceil(durationMs), reason]);
  }

  /** Lifts the scope's suspension and provider pause, in Redis and in every process (SharedStateListener.onResumed). */
  publishResume(scope: string): void {
    this.resumes++;
    this.unsent.delete(scope);
    this.publish(scope, { kind: 'resume' }, [RESUME_SCRIPT]);
  }

  /** Pauses the scope fleet-wide for `durationMs`, at most {@link MAX_PAUSE_MS}. */
  publishPause(scope: string, durationMs: number): void {
    if (!(durationMs > 0) || !this.connection.isHealthy) return;
    // A pause is short-lived: one lost while Redis is down is not replayed.
    this.publish(scope, null, [PAUSE_SCRIPT, Math.ceil(clampPause(durationMs))]);
  }

  /** Tells the other processes `payload` on `topic` (SharedState.publishMessage): never stored, not replayed after an outage. */
  publishMessage(topic: string, payload: string): void {
    if (!this.connection.isHealthy) return;
    this.publish(topic, null, [MESSAGE_SCRIPT, payload]);
  }

  publishCircuitOpen(scope: string, durationMs: number): void {
    // Like a pause, short-lived: while Redis is down every process keeps its own circuit.
    this.publish(scope, null, [CIRCUIT_OPEN_SCRIPT, Math.ceil(durationMs)]);
  }

  publishCircuitClose(scope: string): void {
    this.publish(scope, null, [CIRCUIT_CLOSE_SCRIPT]);
  }

  watchRoom(scope: string, wake: () => void): void {
    let watchers = this.roomWatch.get(scope);
    if (watchers === undefined) this.roomWatch.set(scope, (watchers = new Set()));
    watchers.add(wake);
  }

  unwatchRoom(scope: string, wake: () => void): void {
    const watchers = this.roomWatch.get(scope);
    if (watchers === undefined) return;
    watchers.delete(wake);
    if (watchers.size === 0) this.roomWatch.delete(scope);
  }

  // What the store learns from admission answers and health changes, passed on to every manager.

  notifySuspended(scope: string, remainingMs: number, reason: string): void {
    for (const listener of this.listeners) safely(() => listener.onSuspended(scope, remainingMs, reason));
  }

  notifyPaused(scope: string, remainingMs: number): void {
    const ms = clampPause(remainingMs);
    for (const listener of this.listeners) safely(() => listener.onPaused(scope, ms));
  }

  notifyHealth(health: StoreHealth): void {
    for (const listener of this.listeners) safely(() => listener.onHealthChange(health));
  }

  /** Redis answers again: send what was decided while it did not. */
  flushUnsent(): void {
    const now = Date.now();
    const entries = [...this.unsent];
    this.unsent.clear();
    for (const [scope, publication] of entries) {
      if (publication.kind === 'resume') this.publishResume(scope);
      else if (publication.until > now) this.publishSuspension(scope, publication.until - now, publication.reason);
    }
  }

  /** Stops listening and closes the subscription's connection. */
  async close(deadlineMs: number): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.roomWatch.clear();
    const subscription = this.subscription;
    this.subscription = undefined;
    await subscription?.close(deadlineMs);
  }

  /**
   * Runs a publishing script (EVAL: rare, and ordered with the commands sent after it) with a
   * deadline; while Redis is down, keeps a suspension or resume to send when it is back.
   * `script`: the script, then its arguments before the channel's (see channel-scripts.ts).
   */
  private publish(scope: string, replay: Publication | null, [script, ...args]: readonly (string | number)[]): void {
    const connection = this.connection;
    if (!connection.isHealthy || connection.isDisconnected) {
      if (replay !== null) this.unsent.set(scope, replay);
      return;
    }
    const { prefix, channel, origin, timeoutMs } = this.settings;
    let settled = false;
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (replay !== null) this.unsent.set(scope, replay);
      connection.degrade(describe(error));
    };
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const ok = (): void => {
      settled = true;
      clearTimeout(timer);
    };
    connection.eval([script!, 1, scopeKeyIn(prefix, scope), ...args, channel, origin, scope]).then(ok, fail);
  }

  /**
   * The subscription is live (again): give-backs published before were not heard, so every
   * scope waiting for room asks Redis once more rather than wait out the wait it was named.
   */
  private subscribed(): void {
    this.roomNotices++;
    const watching = [...this.roomWatch.values()];
    this.roomWatch.clear();
    for (const watchers of watching) for (const wake of watchers) safely(wake);
  }

  private receive(text: string): void {
    let message: Message;
    try {
      message = JSON.parse(text) as Message;
    } catch {
      return;
    }
    if (message.o === this.settings.origin || typeof message.k !== 'string') return;
    if (message.t === 'g') {
      this.roomNotices++;
      const watchers = this.roomWatch.get(message.k);
      this.roomWatch.delete(message.k);
      if (watchers !== undefined) for (const wake of watchers) safely(wake);
      return;
    }
    if (message.t === 'r') this.resumes++;
    for (const listener of this.listeners) {
      safely(() => {
        // A reason from another process (an older version, a hostile publisher) is redacted on arrival.
        if (message.t === 's') listener.onSuspended(message.k, Number(message.ms), redactText(String(message.r ?? '')));
        else if (message.t === 'r') listener.onResumed(message.k);
        else if (message.t === 'p') listener.onPaused(message.k, clampPause(Number(message.ms)));
        else if (message.t === 'o') listener.onCircuitOpened(message.k, Number(message.ms));
        else if (message.t === 'c') listener.onCircuitClosed(message.k);
        else if (message.t === 'm') listener.onMessage?.(message.k, String(message.r ?? ''));
      });
    }
  }
}

/** A pause as the fleet takes it: at most MAX_PAUSE_MS, whoever asked (NaN: none). */
function clampPause(ms: number): number {
  return ms > MAX_PAUSE_MS ? MAX_PAUSE_MS : ms > 0 ? ms : 0;
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A listener's failure must not break the store.
  }
}
