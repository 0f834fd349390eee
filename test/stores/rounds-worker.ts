/**
 * One process of a fleet that makes a burst of calls at once, round after round, for
 * fleet-processes.test.ts. Run as `node --import tsx test/stores/rounds-worker.ts` with
 * ROUNDS_WORKER set to a JSON {@link RoundsSpec} and an IPC channel. Each round has a store
 * and manager of its own under a prefix of its own (a fresh budget); the worker sends `ready`
 * once its subscription is up, waits for `go`, makes the calls and sends what became of them.
 */
import { type ClientKind, connectClient, connectCluster } from './clients.js';
import { isRateLimitedError, RedisStore, ThrottleManager, type ThrottleConfig } from '../../src/index.js';
import { storeParts } from '../../src/stores/redis/store.js';

export interface RoundsSpec {
  readonly port: number;
  /** The library of the stores' client. */
  readonly client: ClientKind;
  /** The client is a cluster client of these nodes (else a client of `port`). */
  readonly cluster?: readonly number[];
  readonly prefix: string;
  readonly config: Partial<ThrottleConfig>;
  readonly maxCredits?: number;
  readonly rounds: number;
  /** Calls made in each round: all at once, or by `chains` callers at once, each calling one after another. */
  readonly calls: number;
  readonly chains?: number;
  /** This process waits this long after `go` (ms): processes that do not call at the same moment. */
  readonly delayMs?: number;
}

export type ToRoundsWorker = { readonly t: 'go'; readonly round: number };
export type FromRoundsWorker =
  | { readonly t: 'ready'; readonly round: number }
  | { readonly t: 'done'; readonly round: number; readonly started: number; readonly rateLimited: number; readonly otherErrors: readonly string[]; readonly creditsUsed: number };

const SERVICE = 'fleet_rounds';

async function main(): Promise<void> {
  const spec = JSON.parse(process.env['ROUNDS_WORKER'] ?? '', (_, v: unknown) => (v === 'Infinity' ? Infinity : v)) as RoundsSpec;
  const opened = spec.cluster === undefined ? connectClient(spec.client, spec.port) : await connectCluster(spec.client, spec.cluster);
  const client = opened.client;
  const goes = new Map<number, () => void>();
  process.on('message', (message: ToRoundsWorker) => goes.get(message.round)?.());
  for (let round = 0; round < spec.rounds; round++) {
    // A deadline a loaded machine cannot reach by accident: the fallback never answers here.
    const store = new RedisStore({ client, prefix: `${spec.prefix}r${round}:`, timeoutMs: 10_000, ...(spec.maxCredits === undefined ? {} : { maxCredits: spec.maxCredits }) });
    const manager = new ThrottleManager({ store, env: {} });
    manager.configure(SERVICE, { maxConcurrent: Infinity, timeoutMs: 0, circuitBreakerThreshold: 1_000, maxQueue: 10_000, ...spec.config });
    const go = new Promise<void>((resolve) => goes.set(round, resolve));
    while (!storeParts(store).channel.listening) await new Promise((resolve) => setTimeout(resolve, 5));
    process.send!({ t: 'ready', round } satisfies FromRoundsWorker);
    await go;
    if (spec.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, spec.delayMs));
    let started = 0;
    let rateLimited = 0;
    const otherErrors: string[] = [];
    const call = (): Promise<void> =>
      manager.execute(SERVICE, async () => void started++).catch((error: unknown) => {
        if (isRateLimitedError(error)) rateLimited++;
        else otherErrors.push(String(error));
      });
    const chains = spec.chains ?? spec.calls;
    const chain = async (calls: number): Promise<void> => {
      for (let i = 0; i < calls; i++) await call();
    };
    await Promise.all(Array.from({ length: chains }, (_, i) => chain(Math.floor(spec.calls / chains) + (i < spec.calls % chains ? 1 : 0))));
    const creditsUsed = storeParts(store).stats.creditsUsed;
    process.send!({ t: 'done', round, started, rateLimited, otherErrors, creditsUsed } satisfies FromRoundsWorker);
    await manager.close();
  }
  opened.close();
  process.disconnect();
}

main().catch((error: unknown) => {
  process.stderr.write(`rounds worker failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
