/**
 * One process of a fleet, for fleet-processes.test.ts. Run as
 * `node --import tsx test/stores/worker.ts` with FLEET_WORKER set to a JSON {@link WorkerSpec}
 * and an IPC channel; prints one JSON {@link WorkerReport} line on stdout and exits.
 *
 * Synchronised by messages, never by the clock: once its client, store and subscription are
 * up it sends `ready` and waits for `go`, so workers that boot at different speeds still
 * begin together. It then tells the test what it saw (`started`, `suspended`, `closed`, ...),
 * and the test answers with `ban` or `stop` when the run has shown what it must.
 */
import { Redis } from 'ioredis';
import { type ClientKind, connectClient, connectCluster } from './clients.js';
import { testWindow } from '../../src/stores/redis/settings.js';
import { ADMIT_ARG_INDEX, ADMIT_SCRIPT, ADMIT_SHA, decodeAdmitReply } from '../../src/stores/redis/admit-protocol.js';
import { storeParts } from '../../src/stores/redis/store.js';
import { isBudgetExceededError, isCircuitOpenError, isPlatformSuspendedError, isRateLimitedError, RedisStore, ThrottleManager, type ThrottleConfig } from '../../src/index.js';

export interface WorkerSpec {
  readonly port: number;
  /** The library of the store's client (the test's own counters use ioredis 5, on `port`). */
  readonly client: ClientKind;
  /** The store's client is a cluster client of these nodes (else a client of `port`). */
  readonly cluster?: readonly number[];
  readonly prefix: string;
  readonly index: number;
  readonly config: Partial<ThrottleConfig>;
  readonly store?: {
    readonly windowMs?: number;
    readonly timeoutMs?: number;
    readonly probeIntervalMs?: number;
    readonly share?: number;
    readonly shareCircuit?: boolean;
    readonly maxCredits?: number;
    readonly subscribe?: boolean;
  };
  /** Calls are started until the test sends `stop`, or for this long (ms) when set. */
  readonly runMs?: number;
  /** Calls in flight at once (each loop starts its next call when its last one settled, after `pauseMs`). */
  readonly loops?: number;
  readonly pauseMs?: number;
  readonly platform?: string;
  /**
   * The provider fails (503) every call begun before this worker's circuit first opened; of
   * the calls begun after (the fleet's probes, then the closed circuit's), the fleet's first
   * fails and every later one succeeds (a counter in Redis decides).
   */
  readonly failUntilProbe?: boolean;
  /** Makes this many calls at once, then ends (instead of loops). */
  readonly burstOf?: number;
  /** Counts each start in Redis (`<prefix>starts`), so that the test can wait for a number of them. */
  readonly countStarts?: boolean;
  /** Each call's cost (a weighted call: `execute(..., { cost })`). */
  readonly cost?: { readonly input: number; readonly output: number };
  /** Each call's model (`execute(..., { model })`): prices its cost against a budget. */
  readonly model?: string;
  /** What each call reports it really used (`call.reportUsage`); unset: its cost stands. */
  readonly usage?: { readonly input: number; readonly output: number };
  /** Reports every answer of the admission script (see {@link AdmissionRecord}). */
  readonly recordAdmissions?: boolean;
}

/**
 * One answer of the admission script as this process's store got it: what the fleet's bucket
 * decided, on Redis's clock where the reply carries it, so that a test can judge the decisions
 * without depending on when this process was scheduled.
 */
export interface AdmissionRecord {
  /** Epoch ms (this host's clock, which Redis on 127.0.0.1 shares) when the command was sent and when its answer came: Redis ran it in between. */
  readonly sent: number;
  readonly answered: number;
  /** Callers asked for, callers admitted, credits granted beyond them. */
  readonly asked: number;
  readonly admitted: number;
  readonly credits: number;
  /** When something was taken: Redis's clock when the script ran (ms, rounded up; the reply's stamp, less the lease when credits were granted). */
  readonly at: number | null;
  /** The wait the answer named for the callers it did not admit (ms). */
  readonly waitMs: number;
  /** How long the credits granted may be used (ms). */
  readonly leaseMs: number;
  /** Starts this process had made on credits before this answer (the store's count). */
  readonly creditsUsedBefore: number;
}

/** What the test tells a worker; what a worker tells the test (`event` names what it saw). */
export type ToWorker = { readonly t: 'go' } | { readonly t: 'ban' } | { readonly t: 'stop' };
export type FromWorker = { readonly t: 'ready' } | { readonly t: 'event'; readonly name: WorkerEvent };
/**
 * Each told once, the first time it happens: `started`, a call started; `limited`, a call was
 * refused for lack of capacity (`fallback_limited`: by the local fallback while Redis was
 * down); `suspended`, a call was refused as suspended; `closed`, a call started after the
 * circuit closed.
 */
export type WorkerEvent = 'started' | 'limited' | 'fallback_limited' | 'suspended' | 'closed';

export interface WorkerReport {
  readonly index: number;
  /** Epoch ms at which each admitted call started, with the store mode at that moment and whether the provider failed it. */
  readonly starts: readonly { readonly at: number; readonly begun: number; readonly mode: string; readonly failed?: boolean; readonly begunAfterOpen?: boolean; readonly input?: number; readonly output?: number }[];
  /** Circuit transitions seen here (epoch ms). */
  readonly circuit: readonly { readonly at: number; readonly from: string; readonly to: string }[];
  readonly circuitOpen: number;
  readonly issued: number;
  readonly settled: number;
  readonly rateLimited: number;
  /** Calls refused with BudgetExceededError. */
  readonly budgetExceeded: number;
  readonly suspended: number;
  readonly firstSuspendedAt: number | null;
  readonly bannedAt: number | null;
  readonly otherErrors: readonly string[];
  readonly unhandled: readonly string[];
  readonly health: string;
  /** Admissions made with credits (no round trip of their own). */
  readonly creditsUsed: number;
  /** What the store recognised its client as. */
  readonly clientKind: string;
  /** Every answer of the admission script, in order (with `recordAdmissions`; else empty). */
  readonly admissions: readonly AdmissionRecord[];
}

const SERVICE = 'fleet_worker';

async function main(): Promise<void> {
  const spec = JSON.parse(process.env['FLEET_WORKER'] ?? '', (_, v: unknown) => (v === 'Infinity' ? Infinity : v)) as WorkerSpec;
  const unhandled: string[] = [];
  process.on('unhandledRejection', (reason) => unhandled.push(String(reason)));

  // The test's own counters and barrier checks; the store has a client of the spec's library.
  const client = new Redis({ host: '127.0.0.1', port: spec.port });
  client.on('error', () => {});
  const storeClient = spec.cluster === undefined ? connectClient(spec.client, spec.port) : await connectCluster(spec.client, spec.cluster);
  const share = spec.store?.share;
  const store = new RedisStore({
    client: storeClient.client,
    prefix: spec.prefix,
    ...(spec.store?.windowMs === undefined ? {} : testWindow(spec.store.windowMs)),
    // A deadline a loaded machine cannot reach by accident (the outage test sets its own).
    timeoutMs: spec.store?.timeoutMs ?? 10_000,
    ...(spec.store?.probeIntervalMs === undefined ? {} : { probeIntervalMs: spec.store.probeIntervalMs }),
    ...(share === undefined ? {} : { fallback: { mode: 'local', share } }),
    ...(spec.store?.shareCircuit === undefined ? {} : { shareCircuit: spec.store.shareCircuit }),
    ...(spec.store?.maxCredits === undefined ? {} : { maxCredits: spec.store.maxCredits }),
    ...(spec.store?.subscribe === undefined ? {} : { subscribe: spec.store.subscribe }),
  });
  const admissions: AdmissionRecord[] = [];
  if (spec.recordAdmissions === true) recordAdmissions(store, admissions);
  const manager = new ThrottleManager({ store, env: {} });
  manager.configure(SERVICE, { maxConcurrent: Infinity, retryAttempts: 0, timeoutMs: 0, circuitBreakerThreshold: 1_000, maxQueue: 10_000, ...spec.config });
  await client.ping();
  const circuit: { at: number; from: string; to: string }[] = [];
  manager.on('circuitStateChange', (e) => circuit.push({ at: Date.now(), from: e.from, to: e.to }));
  let openSeenAt: number | null = null;
  let closedSeen = false;
  manager.on('circuitStateChange', (e) => {
    if (e.to === 'open') openSeenAt ??= Date.now();
    if (e.to === 'closed') closedSeen = true;
  });

  // The barrier: ready once the subscription is up (credits and fleet messages need it), then wait for go.
  let stopped = false;
  let banNext = false;
  const go = new Promise<void>((resolve) => {
    process.on('message', (message: ToWorker) => {
      if (message.t === 'go') resolve();
      else if (message.t === 'ban') banNext = true;
      else if (message.t === 'stop') stopped = true;
    });
  });
  while (spec.store?.subscribe !== false && !storeParts(store).channel.listening) await new Promise((resolve) => setTimeout(resolve, 5));
  const sent = new Set<WorkerEvent>();
  const tell = (message: FromWorker): void => {
    if (message.t === 'event') {
      if (sent.has(message.name)) return;
      sent.add(message.name);
    }
    process.send!(message);
  };
  tell({ t: 'ready' });
  await go;

  const starts: { at: number; begun: number; mode: string; failed?: boolean; begunAfterOpen?: boolean; input?: number; output?: number }[] = [];
  let circuitOpen = 0;
  let issued = 0;
  let settled = 0;
  let rateLimited = 0;
  let budgetExceeded = 0;
  let suspended = 0;
  let firstSuspendedAt: number | null = null;
  let bannedAt: number | null = null;
  const otherErrors: string[] = [];
  const end = spec.runMs === undefined ? Infinity : Date.now() + spec.runMs;
  const options = { ...(spec.platform === undefined ? {} : { platform: spec.platform }), ...(spec.cost === undefined ? {} : { cost: spec.cost }), ...(spec.model === undefined ? {} : { model: spec.model }) };
  const used = spec.usage ?? spec.cost;
  const probes = `${spec.prefix}probes`;

  const call = async (): Promise<void> => {
    issued++;
    /** Before this call was admitted (its `at`, when it ran, is after). */
    const begun = Date.now();
    const ban = banNext;
    banNext = false;
    const begunAfterOpen = openSeenAt !== null;
    try {
      await manager.execute(
        SERVICE,
        async (_signal, context) => {
          const at = Date.now();
          if (spec.usage !== undefined) context.reportUsage(spec.usage);
          if (spec.failUntilProbe === true && (!begunAfterOpen || (await client.incr(probes)) === 1)) {
            starts.push({ at, begun, mode: store.health().mode, failed: true, begunAfterOpen });
            throw Object.assign(new Error('503 Service Unavailable'), { status: 503 });
          }
          starts.push({ at, begun, mode: store.health().mode, begunAfterOpen, ...(used === undefined ? {} : { input: used.input, output: used.output }) });
          if (spec.countStarts === true) void client.incr(`${spec.prefix}starts`);
          tell({ t: 'event', name: 'started' });
          if (closedSeen) tell({ t: 'event', name: 'closed' });
          if (ban) {
            bannedAt = Date.now();
            throw Object.assign(new Error('403 Forbidden: this account has been suspended'), { status: 403 });
          }
        },
        options,
      );
    } catch (error) {
      if (isRateLimitedError(error)) {
        rateLimited++;
        tell({ t: 'event', name: store.health().mode === 'fallback_local' ? 'fallback_limited' : 'limited' });
      } else if (isCircuitOpenError(error)) circuitOpen++;
      else if (isBudgetExceededError(error)) budgetExceeded++;
      else if (spec.failUntilProbe === true && (error as { status?: number }).status === 503) {
        // The provider's own failure, as planned.
      } else if (isPlatformSuspendedError(error)) {
        suspended++;
        firstSuspendedAt ??= Date.now();
        tell({ t: 'event', name: 'suspended' });
      } else if (!ban) otherErrors.push(String(error));
    }
    settled++;
  };
  const loop = async (): Promise<void> => {
    while (!stopped && Date.now() < end) {
      await call();
      if (spec.pauseMs !== undefined && spec.pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, spec.pauseMs));
    }
  };
  if (spec.burstOf !== undefined) await Promise.all(Array.from({ length: spec.burstOf }, call));
  else await Promise.all(Array.from({ length: spec.loops ?? 1 }, loop));

  const report: WorkerReport = {
    index: spec.index,
    starts,
    circuit,
    circuitOpen,
    issued,
    settled,
    rateLimited,
    budgetExceeded,
    suspended,
    firstSuspendedAt,
    bannedAt,
    otherErrors,
    unhandled,
    health: store.health().status,
    creditsUsed: storeParts(store).stats.creditsUsed,
    clientKind: storeParts(store).settings.client.kind,
    admissions,
  };
  await manager.close();
  client.disconnect();
  storeClient.close();
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.disconnect();
}

/**
 * Records each answer of the store's admission script into `into`, in the order they come (a
 * connection answers in order). The command (sha or script, numkeys, two keys, then ARGV; see
 * ADMIT_SCRIPT) is reused by the store, so what is needed of it is read when it is sent.
 */
function recordAdmissions(store: RedisStore, into: AdmissionRecord[]): void {
  const { connection, stats } = storeParts(store);
  const recorded =
    (send: (args: readonly (string | number)[]) => Promise<unknown>) =>
    (args: readonly (string | number)[]): Promise<unknown> => {
      if (args[0] !== ADMIT_SHA && args[0] !== ADMIT_SCRIPT) return send(args);
      const asked = Number(args[ADMIT_ARG_INDEX.count]);
      const leaseMs = Number(args[ADMIT_ARG_INDEX.leaseMs]);
      // Before sending: Redis may run the script before send() returns.
      const sent = Date.now();
      const reply = send(args);
      // Runs before the store's own handler (which chains on the promise returned here).
      return reply.then((value) => {
        const answer = decodeAdmitReply(value);
        if (answer.kind === 'admitted') {
          const credits = Math.max(0, answer.taken - asked);
          into.push({
            sent,
            answered: Date.now(),
            asked,
            admitted: answer.taken - credits,
            credits,
            at: answer.taken === 0 ? null : credits > 0 ? answer.stamp - leaseMs : answer.stamp,
            waitMs: answer.waitMs,
            leaseMs,
            creditsUsedBefore: stats.creditsUsed,
          });
        }
        return value;
      });
    };
  connection.evalsha = recorded(connection.evalsha.bind(connection));
  connection.eval = recorded(connection.eval.bind(connection));
}

main().catch((error: unknown) => {
  process.stderr.write(`worker failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
