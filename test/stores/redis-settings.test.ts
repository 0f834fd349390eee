/** RedisStore options: checked once, when the store is made; no Redis needed (nothing is sent). */
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { ConfigError, RedisStore, type RedisStoreOptions } from 'floodgate';
import { configErrorOf } from '../helpers.js';
import { resolveSettings } from '../../src/stores/redis/settings.js';

/** A real client that never connects (nothing is sent). */
const client = new Redis({ lazyConnect: true });

function refusal(options: unknown): ConfigError {
  return configErrorOf(() => new RedisStore(options as RedisStoreOptions));
}

describe('RedisStore options', () => {
  it('a bad option is a ConfigError naming the field, the value and the rule', () => {
    expect(refusal({ client, maxCredits: 1.5 }).message).toBe('Invalid RedisStore.maxCredits: 1.5 (must be an integer from 0 to 256)');
    expect(refusal({ client, maxCredits: -1 })).toMatchObject({ field: 'RedisStore.maxCredits', value: -1 });
    expect(refusal({ client, creditMs: 0 }).message).toBe('Invalid RedisStore.creditMs: 0 (must be a finite number > 0)');
    expect(refusal({ client, timeoutMs: -1 }).field).toBe('RedisStore.timeoutMs');
    expect(refusal({ client, probeIntervalMs: Infinity }).field).toBe('RedisStore.probeIntervalMs');
    expect(refusal({ client, fallback: { mode: 'local', share: 0 } }).rule).toMatch(/0 < share <= 1/);
    expect(refusal({ client, fallback: { mode: 'nope' } }).field).toBe('RedisStore.fallback');
    expect(refusal({ client, prefix: 7 }).field).toBe('RedisStore.prefix');
    expect(refusal({ client, subscribe: 'yes' }).field).toBe('RedisStore.subscribe');
    expect(refusal({ client, shareCircuit: 1 }).field).toBe('RedisStore.shareCircuit');
    expect(refusal({}).field).toBe('RedisStore.client');
    expect(refusal(null).field).toBe('RedisStore options');
    expect(refusal({ client, maxCredits: 1.5 })).toBeInstanceOf(ConfigError);
  });

  it('settings are plain data with the documented defaults; the window is 60 s (no public option changes it)', () => {
    const settings = resolveSettings({ client });
    expect({ ...settings, client: null, origin: null }).toEqual({
      client: null,
      prefix: 'floodgate:',
      timeoutMs: 250,
      fallback: { mode: 'local', share: 1 },
      probeIntervalMs: 1_000,
      subscribe: true,
      shareCircuit: false,
      maxCredits: 16,
      creditMs: 20,
      reservationLeaseMs: 30_000,
      windowMs: 60_000,
      channel: 'floodgate:events',
      origin: null,
    });
    // An option the type does not have is not read.
    expect(resolveSettings({ client, windowMs: 5 } as RedisStoreOptions).windowMs).toBe(60_000);
  });

  it('a getter that answers differently each time cannot pass the check with one value and reach the store with another', () => {
    let reads = 0;
    const fallback = {
      mode: 'local' as const,
      get share() {
        return ++reads === 1 ? 0.5 : 0;
      },
    };
    expect(resolveSettings({ client, fallback }).fallback).toEqual({ mode: 'local', share: 0.5 });
    expect(reads).toBe(1);
  });
});
