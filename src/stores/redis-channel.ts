// Types only: ioredis is an optional peer dependency, and the user passes the client in.
import type { Cluster, Redis } from 'ioredis';
import { CIRCUIT_CLOSE_SCRIPT, CIRCUIT_OPEN_SCRIPT, PAUSE_SCRIPT, RESUME_SCRIPT, SUSPEND_SCRIPT } from './redis-scripts.js';
import type { RedisStore } from './redis-store.js';
import type { SharedState, SharedStateListener, StoreHealth } from './types.js';

/** A message on the store's channel. */
interface Message {
  /** suspend, resume, pause, circuit open, circuit closed, a message (`k`: its topic, `r`: its payload) */
  readonly t: 's' | 'r' | 'p' | 'o' | 'c' | 'm';
  /** The store instance that sent it (it ignores its own). */
  readonly o: string;
  readonly k: string;
  readonly ms?: number;
  readonly r?: string;
}

type Publication = { readonly kind: 'suspend'; readonly until: number; readonly reason: string } | { readonly kind: 'resume' };

/** ioredis states in which a command would only wait in the offline queue. */
export const DISCONNECTED = new Set(['reconnecting', 'close', 'end']);

/**
 * The fleet-wide state beyond the limits (suspensions, resumes, provider pauses, shared
 * circuits) of one
 * {@link RedisStore}: written by small scripts that also PUBLISH, and received on a second
 * connection so that idle processes hear of it without asking.
 */
export class RedisChannel implements SharedState {
  private readonly listeners = new Set<SharedStateListener>();
  private readonly channel: string;
  private subscriber: Redis | Cluster | undefined;
  /** The subscription has been confirmed once (ioredis renews it by itself on reconnecting). */
  private subscribed = false;
  /**
   * @internal Resumes made here or heard of, any scope: a suspension refusal asked for before
   * one may be stale (its reply can arrive after the resume's message).
   */
  resumes = 0;
  /** Suspensions and resumes made while Redis was down, sent when it answers again. */
  private readonly unsent = new Map<string, Publication>();
  private closed = false;

  constructor(
    private readonly store: RedisStore,
    private readonly subscribeEnabled: boolean,
  ) {
    this.channel = `${store.prefix}events`;
  }

  /** @internal Messages from other processes reach this one now (see RedisStoreOptions.maxCredits). */
  get listening(): boolean {
    return this.subscribed && this.subscriber?.status === 'ready';
  }

  attach(listener: SharedStateListener): () => void {
    this.listeners.add(listener);
    if (this.subscribeEnabled && this.subscriber === undefined && !this.closed) this.startSubscriber();
    return () => {
      this.listeners.delete(listener);
    };
  }

  publishSuspension(scope: string, durationMs: number, reason: string): void {
    if (!(durationMs > 0)) return;
    this.unsent.delete(scope);
    const until = Date.now() + durationMs;
    const { client, origin } = this.store;
    this.publish(scope, { kind: 'suspend', until, reason }, () =>
      client.eval(SUSPEND_SCRIPT, 1, this.store.key(scope), Math.ceil(durationMs), reason, this.channel, origin, scope),
    );
  }

  publishResume(scope: string): void {
    this.resumes++;
    this.unsent.delete(scope);
    const { client, origin } = this.store;
    this.publish(scope, { kind: 'resume' }, () => client.eval(RESUME_SCRIPT, 1, this.store.key(scope), this.channel, origin, scope));
  }

  publishPause(scope: string, durationMs: number): void {
    if (!(durationMs > 0) || !this.store.isHealthy) return;
    const ms = Math.ceil(durationMs);
    const { client, origin } = this.store;
    // A pause is short-lived: one lost while Redis is down is not replayed.
    this.publish(scope, null, () => client.eval(PAUSE_SCRIPT, 1, this.store.key(scope), ms, this.channel, origin, scope));
  }

  publishMessage(topic: string, payload: string): void {
    const { client, origin } = this.store;
    const message: Message = { t: 'm', o: origin, k: topic, r: payload };
    this.publish(topic, null, () => client.publish(this.channel, JSON.stringify(message)));
  }

  /** @internal A circuit of this process opened: open the scope fleet-wide. */
  publishCircuitOpen(scope: string, durationMs: number): void {
    const ms = Math.ceil(durationMs);
    const { client, origin } = this.store;
    // Like a pause, short-lived: while Redis is down every process keeps its own circuit.
    this.publish(scope, null, () => client.eval(CIRCUIT_OPEN_SCRIPT, 1, this.store.key(scope), ms, this.channel, origin, scope));
  }

  /** @internal The fleet's probe succeeded here: close the scope's circuit everywhere. */
  publishCircuitClose(scope: string): void {
    const { client, origin } = this.store;
    this.publish(scope, null, () => client.eval(CIRCUIT_CLOSE_SCRIPT, 1, this.store.key(scope), this.channel, origin, scope));
  }

  // What the store learns from admission answers and health changes, passed on to every manager.

  /** @internal */
  notifySuspended(scope: string, remainingMs: number, reason: string): void {
    for (const listener of this.listeners) safely(() => listener.onSuspended(scope, remainingMs, reason));
  }

  /** @internal */
  notifyPaused(scope: string, remainingMs: number): void {
    for (const listener of this.listeners) safely(() => listener.onPaused(scope, remainingMs));
  }

  /** @internal */
  notifyHealth(health: StoreHealth): void {
    for (const listener of this.listeners) safely(() => listener.onHealthChange(health));
  }

  /** @internal Redis answers again: send what was decided while it did not. */
  flushUnsent(): void {
    const now = Date.now();
    const entries = [...this.unsent];
    this.unsent.clear();
    for (const [scope, publication] of entries) {
      if (publication.kind === 'resume') this.publishResume(scope);
      else if (publication.until > now) this.publishSuspension(scope, publication.until - now, publication.reason);
    }
  }

  /** @internal Stops listening and closes the subscription connection (never the user's client). */
  async close(deadlineMs: number): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    if (subscriber === undefined) return;
    try {
      await withDeadline(subscriber.quit(), deadlineMs);
    } catch {
      // Unreachable: drop the connection instead.
    }
    subscriber.disconnect();
  }

  /**
   * Runs a publishing script (EVAL: rare, and ordered with the commands sent after it) with a
   * deadline; while Redis is down, keeps a suspension or resume to send when it is back.
   */
  private publish(scope: string, replay: Publication | null, run: () => Promise<unknown>): void {
    const store = this.store;
    if (!store.isHealthy || DISCONNECTED.has(store.client.status)) {
      if (replay !== null) this.unsent.set(scope, replay);
      return;
    }
    let settled = false;
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (replay !== null) this.unsent.set(scope, replay);
      store.degrade(describe(error));
    };
    const timer = setTimeout(() => fail(new Error(`no answer within ${store.timeoutMs} ms`)), store.timeoutMs);
    const ok = (): void => {
      settled = true;
      clearTimeout(timer);
    };
    run().then(ok, fail);
  }

  private startSubscriber(): void {
    const subscriber = this.store.client.duplicate();
    this.subscriber = subscriber;
    // The subscription never keeps a process alive by itself.
    const unref = (): void => (subscriber as { stream?: { unref?: () => void } }).stream?.unref?.();
    subscriber.on('connect', unref);
    // A reconnected subscriber is the first sign that Redis is back: try it now, not at the next probe.
    subscriber.on('ready', () => this.store.probeNow());
    // Errors are reported through health; an 'error' listener keeps ioredis from logging them.
    subscriber.on('error', () => {});
    subscriber.on('message', (channel: string, text: string) => {
      if (channel === this.channel) this.receive(text);
    });
    subscriber.subscribe(this.channel).then(
      () => {
        this.subscribed = true;
      },
      () => {
        // Reconnecting re-subscribes by itself; admissions still see the shared state.
      },
    );
  }

  private receive(text: string): void {
    let message: Message;
    try {
      message = JSON.parse(text) as Message;
    } catch {
      return;
    }
    if (message.o === this.store.origin || typeof message.k !== 'string') return;
    if (message.t === 'r') this.resumes++;
    for (const listener of this.listeners) {
      safely(() => {
        if (message.t === 's') listener.onSuspended(message.k, Number(message.ms), String(message.r ?? ''));
        else if (message.t === 'r') listener.onResumed(message.k);
        else if (message.t === 'p') listener.onPaused(message.k, Number(message.ms));
        else if (message.t === 'o') listener.onCircuitOpened(message.k, Number(message.ms));
        else if (message.t === 'c') listener.onCircuitClosed(message.k);
        else if (message.t === 'm') listener.onMessage?.(message.k, String(message.r ?? ''));
      });
    }
  }
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A listener's failure must not break the store.
  }
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timeout')), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
