/**
 * The Redis client, whichever library the user chose. floodgate sends few commands (EVALSHA /
 * EVAL with one key, PING, and SUBSCRIBE on a connection of its own), so it speaks to one small
 * interface of its own, {@link FleetClient}, and adapts the client it is given: ioredis (5, 6:
 * `Redis` and `Cluster`) or node-redis (the `redis` package, 5, 6: `createClient` and
 * `createCluster`). Neither library is imported, not even its types: both are optional peers,
 * and the published `.d.ts` must compile where neither is installed. A client is recognised by
 * its shape.
 */

/**
 * An ioredis client: `new Redis(...)` or `new Cluster(...)`, ioredis 5 or 6. Only the members
 * floodgate looks at are named; any real ioredis client fits.
 */
export interface IoredisClient {
  /** ioredis's connection state (`'ready'`, `'reconnecting'`, ...). */
  readonly status: string;
  evalsha(...args: never[]): unknown;
  duplicate(...args: never[]): unknown;
}

/**
 * A node-redis client (the `redis` package, 5 or 6): `createClient(...)` or `createCluster(...)`,
 * connected (`await client.connect()`). Only the members floodgate looks at are named; any real
 * node-redis client or cluster fits.
 */
export interface NodeRedisClient {
  readonly isOpen: boolean;
  sendCommand(...args: never[]): unknown;
  duplicate(...args: never[]): unknown;
}

/** A Redis client floodgate can use: ioredis or node-redis, standalone or cluster. */
export type RedisClient = IoredisClient | NodeRedisClient;

/** The library and deployment a client was recognised as. */
export type RedisClientKind = 'ioredis' | 'ioredis-cluster' | 'node-redis' | 'node-redis-cluster';

/** A subscription to one channel, on a connection of its own. */
export interface ClientSubscription {
  /** Subscribed, and the connection is up: messages reach this process now. */
  readonly listening: boolean;
  /** Unsubscribes and closes what it opened (never the user's client), within `deadlineMs`. */
  close(deadlineMs: number): Promise<void>;
}

/** What a subscription tells its owner. */
export interface SubscriptionHandlers {
  /** A message on the channel (its text). */
  message(text: string): void;
  /** The subscription's connection is (again) up: the first sign that Redis is back. */
  ready(): void;
  /**
   * Redis confirmed the subscription (the first time, or again after a drop): messages published
   * from now on reach this process, and one published before may have been missed.
   */
  live(): void;
  /** The subscription's connection dropped: messages sent until it is back are lost. */
  dropped(): void;
}

/**
 * Everything floodgate asks of a Redis client. Every script command has exactly one key, at
 * index 2 of its arguments (`sha | script, numkeys, key, ...args`), so a cluster client routes
 * it to the key's slot. The caller may reuse an arguments array once the call returned.
 */
export interface FleetClient {
  readonly kind: RedisClientKind;
  /** The connection state, for health messages. */
  readonly status: string;
  /** A command sent now would only wait in the client's offline queue. */
  readonly disconnected: boolean;
  evalsha(args: readonly (string | number)[]): Promise<unknown>;
  eval(args: readonly (string | number)[]): Promise<unknown>;
  ping(): Promise<unknown>;
  subscribe(channel: string, handlers: SubscriptionHandlers): ClientSubscription;
}

/** What a user's client is checked for; a client that fits neither library is refused. */
export const CLIENT_RULE = 'must be an ioredis client (Redis or Cluster, 5 or 6) or a node-redis client (createClient or createCluster, 5 or 6)';

/**
 * Adapts the user's client, or returns null when it is neither library's. Reads each member it
 * needs once; a member that throws when read makes the client unrecognised.
 */
export function adaptClient(client: unknown): FleetClient | null {
  if (client === null || typeof client !== 'object') return null;
  try {
    const c = client as Record<string, unknown>;
    if (typeof c['status'] === 'string' && typeof c['evalsha'] === 'function' && typeof c['duplicate'] === 'function') {
      return new IoredisAdapter(client as IoredisShape, c['isCluster'] === true);
    }
    if (typeof c['isOpen'] === 'boolean' && typeof c['sendCommand'] === 'function' && typeof c['duplicate'] === 'function') {
      // Only a cluster has masters and routes by key (sendCommand(firstKey, isReadonly, args)).
      return typeof c['getRandomNode'] === 'function' ? new NodeRedisClusterAdapter(client as NodeRedisClusterShape) : new NodeRedisAdapter(client as NodeRedisShape);
    }
  } catch {
    // A hostile getter: not a client floodgate can use.
  }
  return null;
}

// The members each library's client is called through (types of floodgate's own, as the client is only ever reached here).

interface Emitter {
  on(event: string, listener: (...args: never[]) => void): unknown;
}

interface IoredisShape extends Emitter {
  readonly status: string;
  /** ioredis flattens an array argument and copies it at once. */
  evalsha(args: readonly (string | number)[]): Promise<unknown>;
  eval(args: readonly (string | number)[]): Promise<unknown>;
  ping(): Promise<unknown>;
  duplicate(): IoredisShape;
  subscribe(channel: string): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
  /** A standalone client's socket (a cluster has none). */
  readonly stream?: { unref?(): void };
}

interface NodeRedisShape extends Emitter {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  /** Keeps the array until the command is written: it must not be reused before then. */
  sendCommand(args: readonly string[]): Promise<unknown>;
  duplicate(): NodeRedisShape;
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  unref(): void;
  close?(): Promise<unknown>;
  quit(): Promise<unknown>;
  destroy(): void;
}

interface NodeRedisClusterShape extends Emitter {
  readonly isOpen: boolean;
  /** node-redis 6 only. */
  readonly isReady?: boolean;
  sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: readonly string[]): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  unsubscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
}

/** ioredis states in which a command would only wait in the offline queue. */
const IOREDIS_DISCONNECTED = new Set(['reconnecting', 'close', 'end']);

class IoredisAdapter implements FleetClient {
  readonly kind: RedisClientKind;

  constructor(
    private readonly client: IoredisShape,
    cluster: boolean,
  ) {
    this.kind = cluster ? 'ioredis-cluster' : 'ioredis';
  }

  get status(): string {
    return this.client.status;
  }

  get disconnected(): boolean {
    return IOREDIS_DISCONNECTED.has(this.client.status);
  }

  evalsha(args: readonly (string | number)[]): Promise<unknown> {
    return this.client.evalsha(args);
  }

  eval(args: readonly (string | number)[]): Promise<unknown> {
    return this.client.eval(args);
  }

  ping(): Promise<unknown> {
    return this.client.ping();
  }

  /** On `client.duplicate()` (a cluster's duplicate subscribes on one of its nodes; PUBLISH reaches every node). */
  subscribe(channel: string, handlers: SubscriptionHandlers): ClientSubscription {
    const subscriber = this.client.duplicate();
    let subscribed = false;
    // The connection never keeps the process alive by itself.
    subscriber.on('connect', () => subscriber.stream?.unref?.());
    subscriber.on('ready', () => {
      handlers.ready();
      // After a drop ioredis re-subscribes by itself, unconfirmed: a SUBSCRIBE of ours, answered
      // after its own on the same connection, tells when the subscription is live again.
      if (subscribed) subscriber.subscribe(channel).then(() => handlers.live(), () => {});
    });
    subscriber.on('close', () => handlers.dropped());
    // Errors are reported through health; an 'error' listener keeps ioredis from logging them.
    subscriber.on('error', () => {});
    subscriber.on('message', (from: string, text: string) => {
      if (from === channel) handlers.message(text);
    });
    subscriber.subscribe(channel).then(
      () => {
        subscribed = true;
        handlers.live();
      },
      // Reconnecting re-subscribes by itself; admissions still see the shared state.
      () => {},
    );
    return {
      get listening() {
        return subscribed && subscriber.status === 'ready';
      },
      async close(deadlineMs: number) {
        await settleWithin(subscriber.quit(), deadlineMs);
        subscriber.disconnect();
      },
    };
  }
}

/** node-redis takes strings only, and keeps the array until it writes the command. */
function command(name: string, args: readonly (string | number)[]): string[] {
  const out = new Array<string>(args.length + 1);
  out[0] = name;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    out[i + 1] = typeof arg === 'string' ? arg : String(arg);
  }
  return out;
}

/**
 * node-redis says `isOpen` (connect() was called, close() was not) and `isReady`; it queues
 * commands while connecting, as ioredis does. A client that is open and not ready after it was
 * ready once is reconnecting: a command would only wait. Before its first `ready` it is
 * connecting: commands wait for it (as with ioredis), within the store's deadline.
 */
class NodeRedisReadiness {
  private wasReady = false;

  disconnected(open: boolean, ready: boolean): boolean {
    if (ready) {
      this.wasReady = true;
      return false;
    }
    return !open || this.wasReady;
  }

  status(open: boolean, ready: boolean): string {
    return ready ? 'ready' : !open ? 'closed' : this.wasReady ? 'reconnecting' : 'connecting';
  }
}

class NodeRedisAdapter implements FleetClient {
  readonly kind = 'node-redis';
  private readonly readiness = new NodeRedisReadiness();

  constructor(private readonly client: NodeRedisShape) {}

  get status(): string {
    return this.readiness.status(this.client.isOpen, this.client.isReady);
  }

  get disconnected(): boolean {
    return this.readiness.disconnected(this.client.isOpen, this.client.isReady);
  }

  evalsha(args: readonly (string | number)[]): Promise<unknown> {
    return this.client.sendCommand(command('EVALSHA', args));
  }

  eval(args: readonly (string | number)[]): Promise<unknown> {
    return this.client.sendCommand(command('EVAL', args));
  }

  ping(): Promise<unknown> {
    return this.client.sendCommand(['PING']);
  }

  /** On `client.duplicate()`, connected here: a subscribed node-redis connection sends nothing else. */
  subscribe(channel: string, handlers: SubscriptionHandlers): ClientSubscription {
    const subscriber = this.client.duplicate();
    let subscribed = false;
    // Before connecting: the connection (and its reconnections) never keeps the process alive.
    subscriber.unref();
    // Errors are reported through health; without a listener node-redis would throw them.
    subscriber.on('error', () => {});
    // node-redis is ready again once it has re-subscribed (a few ms after a drop, or less).
    subscriber.on('ready', () => {
      handlers.ready();
      if (subscribed) handlers.live();
    });
    subscriber.on('reconnecting', () => handlers.dropped());
    subscriber.on('end', () => handlers.dropped());
    const connected = subscriber.connect().then(() => subscriber.subscribe(channel, (text) => handlers.message(text)));
    connected.then(
      () => {
        subscribed = true;
        handlers.live();
      },
      // Reconnecting re-subscribes by itself; admissions still see the shared state.
      () => {},
    );
    return {
      get listening() {
        return subscribed && subscriber.isReady;
      },
      async close(deadlineMs: number) {
        // close() (quit() where there is none) lets what is in flight finish; destroy() then ends the connection regardless.
        if (subscriber.isOpen) await settleWithin(attempt(() => (subscriber.close ?? subscriber.quit).call(subscriber)), deadlineMs);
        try {
          subscriber.destroy();
        } catch {
          // Already closed.
        }
      },
    };
  }
}

class NodeRedisClusterAdapter implements FleetClient {
  readonly kind = 'node-redis-cluster';
  private readonly readiness = new NodeRedisReadiness();

  constructor(private readonly cluster: NodeRedisClusterShape) {}

  get status(): string {
    const open = this.cluster.isOpen;
    return this.readiness.status(open, this.cluster.isReady ?? open);
  }

  get disconnected(): boolean {
    const open = this.cluster.isOpen;
    return this.readiness.disconnected(open, this.cluster.isReady ?? open);
  }

  evalsha(args: readonly (string | number)[]): Promise<unknown> {
    return this.cluster.sendCommand(String(args[2]), false, command('EVALSHA', args));
  }

  eval(args: readonly (string | number)[]): Promise<unknown> {
    return this.cluster.sendCommand(String(args[2]), false, command('EVAL', args));
  }

  ping(): Promise<unknown> {
    return this.cluster.sendCommand(undefined, true, ['PING']);
  }

  /**
   * On the cluster's own pub/sub connection (node-redis keeps one apart from the command
   * connections, on one node; PUBLISH reaches every node). Closing removes only this listener.
   */
  subscribe(channel: string, handlers: SubscriptionHandlers): ClientSubscription {
    const cluster = this.cluster;
    const listener = (text: string): void => handlers.message(text);
    let subscribed = false;
    const done = attempt(() => cluster.subscribe(channel, listener));
    done.then(
      () => {
        subscribed = true;
        handlers.live();
      },
      () => {},
    );
    return {
      get listening() {
        return subscribed && cluster.isOpen;
      },
      async close(deadlineMs: number) {
        await settleWithin(done, deadlineMs);
        if (subscribed) await settleWithin(attempt(() => cluster.unsubscribe(channel, listener)), deadlineMs);
      },
    };
  }
}

/** Runs `fn`, turning a synchronous throw into a rejection. */
function attempt<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Waits for `promise` to settle, at most `ms`; never rejects (closing goes on regardless). */
function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    promise.then(done, done);
  });
}
