/**
 * A fleet member that makes one metered call and never ends it, for budget-leases.test.ts. Run
 * as `node --import tsx test/stores/lease-holder.ts` with LEASE_HOLDER set to a JSON
 * {@link LeaseHolderSpec} and an IPC channel: it sends `held` once the call started (its
 * reservation is in Redis), and lives until the test kills it, as a crash would.
 */
import { connectClient, type ClientKind } from './clients.js';
import { RedisStore, ThrottleManager, type ThrottleConfig } from '../../src/index.js';

export interface LeaseHolderSpec {
  readonly port: number;
  readonly client: ClientKind;
  readonly prefix: string;
  readonly service: string;
  readonly config: Partial<ThrottleConfig>;
  readonly call: { readonly cost: { readonly input: number; readonly output: number }; readonly model: string };
  readonly reservationLeaseMs: number;
}

const spec = JSON.parse(process.env['LEASE_HOLDER']!, (_, v: unknown) => (v === 'Infinity' ? Infinity : v)) as LeaseHolderSpec;
const { client } = connectClient(spec.client, spec.port);
const manager = new ThrottleManager({ store: new RedisStore({ client, prefix: spec.prefix, timeoutMs: 10_000, reservationLeaseMs: spec.reservationLeaseMs }), env: {} });
manager.configure(spec.service, spec.config);
manager
  .execute(spec.service, () => {
    process.send!({ t: 'held' });
    return new Promise(() => {});
  }, spec.call)
  .catch((error: unknown) => process.send!({ t: 'failed', message: String(error) }));
// The IPC channel keeps the process alive until it is killed.
