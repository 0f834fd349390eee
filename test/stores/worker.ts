/**
 * One process of a fleet, for fleet-processes.test.ts. Run as
 * `node --import tsx test/stores/worker.ts` with FLEET_WORKER set to a JSON {@link WorkerSpec};
 * prints one JSON {@link WorkerReport} line on stdout and exits.
 */
import { Redis } from 'ioredis';
import { isCircuitOpenError, isPlatformSuspendedError, isRateLimitedError, RedisStore, ThrottleManager, type ThrottleConfig } from '../../src/index.js';

export interface WorkerSpec {
  readonly port: number;
  readonly prefix: string;
  readonly index: number;
  readonly config: Partial<ThrottleConfig>;
  readonly store?: { readonly windowMs?: number; readonly timeoutMs?: number; readonly probeIntervalMs?: number; readonly share?: number; readonly shareCircuit?: boolean; readonly maxCredits?: number };
  /** Calls are started for this long (ms). */
  readonly runMs: number;
  /** Calls in flight at once (each loop starts its next call when its last one settled, after `pauseMs`). */
  readonly loops: number;
  readonly pauseMs: number;
  /** This worker's `banAt`-th call fails with a ban (403 "account suspended"). */
  readonly banAt?: number;
  readonly platform?: string;
  /** The provider fails (503) until this worker's circuit has been open for this long (ms). */
  readonly failFor?: number;
  /** Epoch ms at which to start calling (so that workers started one by one begin together). */
  readonly startAt?: number;
}

export interface WorkerReport {
  readonly index: number;
  /** Epoch ms at which each admitted call started, with the store mode at that moment and whether the provider failed it. */
  readonly starts: readonly { readonly at: number; readonly mode: string; readonly failed?: boolean }[];
  /** Circuit transitions seen here (epoch ms). */
  readonly circuit: readonly { readonly at: number; readonly from: string; readonly to: string }[];
  readonly circuitOpen: number;
  /** `startAt` had already passed when the worker was ready. */
  readonly late: boolean;
  readonly issued: number;
  readonly settled: number;
  readonly rateLimited: number;
  readonly suspended: number;
  readonly firstSuspendedAt: number | null;
  readonly bannedAt: number | null;
  readonly otherErrors: readonly string[];
  readonly unhandled: readonly string[];
  readonly health: string;
  /** Admissions made with credits (no round trip of their own). */
  readonly creditsUsed: number;
}

const SERVICE = 'fleet_worker';

async function main(): Promise<void> {
  const spec = JSON.parse(process.env['FLEET_WORKER'] ?? '', (_, v: unknown) => (v === 'Infinity' ? Infinity : v)) as WorkerSpec;
  const unhandled: string[] = [];
  process.on('unhandledRejection', (reason) => unhandled.push(String(reason)));

  const client = new Redis({ host: '127.0.0.1', port: spec.port });
  client.on('error', () => {});
  const share = spec.store?.share;
  const store = new RedisStore({
    client,
    prefix: spec.prefix,
    ...(spec.store?.windowMs === undefined ? {} : { windowMs: spec.store.windowMs }),
    ...(spec.store?.timeoutMs === undefined ? {} : { timeoutMs: spec.store.timeoutMs }),
    ...(spec.store?.probeIntervalMs === undefined ? {} : { probeIntervalMs: spec.store.probeIntervalMs }),
    ...(share === undefined ? {} : { fallback: { mode: 'local', share } }),
    ...(spec.store?.shareCircuit === undefined ? {} : { shareCircuit: spec.store.shareCircuit }),
    ...(spec.store?.maxCredits === undefined ? {} : { maxCredits: spec.store.maxCredits }),
  });
  const manager = new ThrottleManager({ store, env: {} });
  manager.configure(SERVICE, { maxConcurrent: Infinity, retryAttempts: 0, timeoutMs: 0, circuitBreakerThreshold: 1_000, maxQueue: 10_000, ...spec.config });
  await client.ping();
  const circuit: { at: number; from: string; to: string }[] = [];
  manager.on('circuitStateChange', (e) => circuit.push({ at: Date.now(), from: e.from, to: e.to }));
  let openSeenAt: number | null = null;
  manager.on('circuitStateChange', (e) => {
    if (e.to === 'open') openSeenAt ??= Date.now();
  });
  const late = spec.startAt !== undefined && Date.now() > spec.startAt;
  if (spec.startAt !== undefined && !late) await new Promise((resolve) => setTimeout(resolve, spec.startAt! - Date.now()));

  const starts: { at: number; mode: string; failed?: boolean }[] = [];
  let circuitOpen = 0;
  let issued = 0;
  let settled = 0;
  let rateLimited = 0;
  let suspended = 0;
  let firstSuspendedAt: number | null = null;
  let bannedAt: number | null = null;
  const otherErrors: string[] = [];
  const end = Date.now() + spec.runMs;
  const options = spec.platform === undefined ? {} : { platform: spec.platform };

  const loop = async (): Promise<void> => {
    while (Date.now() < end) {
      const number = ++issued;
      try {
        await manager.execute(
          SERVICE,
          async () => {
            const at = Date.now();
            if (spec.failFor !== undefined && (openSeenAt === null || at - openSeenAt < spec.failFor)) {
              starts.push({ at, mode: store.health().mode, failed: true });
              throw Object.assign(new Error('503 Service Unavailable'), { status: 503 });
            }
            starts.push({ at, mode: store.health().mode });
            if (number === spec.banAt) {
              bannedAt = Date.now();
              throw Object.assign(new Error('403 Forbidden: this account has been suspended'), { status: 403 });
            }
          },
          options,
        );
      } catch (error) {
        if (isRateLimitedError(error)) rateLimited++;
        else if (isCircuitOpenError(error)) circuitOpen++;
        else if (spec.failFor !== undefined && (error as { status?: number }).status === 503) {
          // The provider's own failure, as planned.
        }
        else if (isPlatformSuspendedError(error)) {
          suspended++;
          firstSuspendedAt ??= Date.now();
        } else if (number !== spec.banAt) otherErrors.push(String(error));
      }
      settled++;
      if (spec.pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, spec.pauseMs));
    }
  };
  await Promise.all(Array.from({ length: spec.loops }, loop));

  const report: WorkerReport = {
    index: spec.index,
    starts,
    circuit,
    circuitOpen,
    late,
    issued,
    settled,
    rateLimited,
    suspended,
    firstSuspendedAt,
    bannedAt,
    otherErrors,
    unhandled,
    health: store.health().status,
    creditsUsed: store.creditsUsed,
  };
  await manager.close();
  client.disconnect();
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`worker failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
