/**
 * One process of a fleet, for fleet-processes.test.ts. Run as
 * `node --import tsx test/stores/worker.ts` with FLEET_WORKER set to a JSON {@link WorkerSpec};
 * prints one JSON {@link WorkerReport} line on stdout and exits.
 */
import { Redis } from 'ioredis';
import { isPlatformSuspendedError, isRateLimitedError, RedisStore, ThrottleManager, type ThrottleConfig } from '../../src/index.js';

export interface WorkerSpec {
  readonly port: number;
  readonly prefix: string;
  readonly index: number;
  readonly config: Partial<ThrottleConfig>;
  readonly store?: { readonly windowMs?: number; readonly timeoutMs?: number; readonly probeIntervalMs?: number; readonly share?: number };
  /** Calls are started for this long (ms). */
  readonly runMs: number;
  /** Calls in flight at once (each loop starts its next call when its last one settled, after `pauseMs`). */
  readonly loops: number;
  readonly pauseMs: number;
  /** This worker's `banAt`-th call fails with a ban (403 "account suspended"). */
  readonly banAt?: number;
  readonly platform?: string;
}

export interface WorkerReport {
  readonly index: number;
  /** Epoch ms at which each admitted call started, with the store mode at that moment. */
  readonly starts: readonly { readonly at: number; readonly mode: string }[];
  readonly issued: number;
  readonly settled: number;
  readonly rateLimited: number;
  readonly suspended: number;
  readonly firstSuspendedAt: number | null;
  readonly bannedAt: number | null;
  readonly otherErrors: readonly string[];
  readonly unhandled: readonly string[];
  readonly health: string;
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
  });
  const manager = new ThrottleManager({ store, env: {} });
  manager.configure(SERVICE, { maxConcurrent: Infinity, retryAttempts: 0, timeoutMs: 0, circuitBreakerThreshold: 1_000, maxQueue: 10_000, ...spec.config });
  await client.ping();

  const starts: { at: number; mode: string }[] = [];
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
            starts.push({ at: Date.now(), mode: store.health().mode });
            if (number === spec.banAt) {
              bannedAt = Date.now();
              throw Object.assign(new Error('403 Forbidden: this account has been suspended'), { status: 403 });
            }
          },
          options,
        );
      } catch (error) {
        if (isRateLimitedError(error)) rateLimited++;
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
    issued,
    settled,
    rateLimited,
    suspended,
    firstSuspendedAt,
    bannedAt,
    otherErrors,
    unhandled,
    health: store.health().status,
  };
  await manager.close();
  client.disconnect();
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`worker failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
