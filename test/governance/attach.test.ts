/** A real ThrottleManager's decisions recorded through its public events (ledger.attach). */
import { join } from 'node:path';
import { EventEmitter } from 'eventemitter3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLedger, RECORDED_EVENTS, ServiceType, ThrottleManager, verifyLedger, type DecisionSource, type Ledger } from 'floodgate';
import { httpError, networkError, roomy } from '../helpers.js';
import { readLines, tempDir } from './helpers.js';

let manager: ThrottleManager;
let ledger: Ledger;
let path: string;
beforeEach(() => {
  manager = new ThrottleManager({ env: {} });
  path = join(tempDir(), 'decisions.jsonl');
});
afterEach(async () => {
  await manager.close();
  await ledger.close();
});

const recorded = () => readLines(path).map((line) => JSON.parse(line) as Record<string, unknown>);

describe('ledger.attach(manager)', () => {
  it('records suspensions, resumptions, bans, circuit changes, refusals and retries, until detached', async () => {
    ledger = createLedger({ path, policyHash: () => 'c'.repeat(64) });
    const detach = ledger.attach(manager);
    roomy(manager, { circuitBreakerThreshold: 1 }, 'flaky');
    roomy(manager, { burst: 1, requestsPerSecond: 0.001, maxWaitMs: 0 }, 'limited');
    roomy(manager, { retryAttempts: 1, backoffBaseMs: 0, backoffMaxMs: 0 }, 'retrying');
    manager.configure(ServiceType.SOCIAL_MEDIA, { timeoutMs: 0 });

    manager.suspend('flaky', { platform: 'p', durationMs: 60_000, reason: 'maintenance' });
    manager.resume('flaky', { platform: 'p' });
    await expect(manager.execute('flaky', () => Promise.reject(networkError()))).rejects.toMatchObject({ code: 'ECONNRESET' });
    await manager.execute('limited', () => 'first');
    await expect(manager.execute('limited', () => 'second')).rejects.toMatchObject({ reason: 'max_wait' });
    let attempts = 0;
    await manager.execute('retrying', () => (++attempts === 1 ? Promise.reject(networkError()) : 'ok'));
    const banned = Object.assign(httpError(403), { message: 'HTTP 403: account suspended' });
    await expect(manager.execute(ServiceType.SOCIAL_MEDIA, () => Promise.reject(banned), { platform: 'reddit' })).rejects.toBe(banned);

    detach();
    manager.suspend('flaky', { durationMs: 60_000, reason: 'after detach' });
    await ledger.close();

    const records = recorded();
    expect(records.map((r) => [r.scope, r.decision, r.reason])).toEqual([
      ['flaky:p', 'suspend', 'maintenance'],
      ['flaky:p', 'resume', 'manual'],
      ['flaky', 'circuit', 'open'],
      ['limited', 'refuse', 'max_wait'],
      ['retrying', 'retry', 'network'],
      ['social_media:reddit', 'ban', 'account-banned'],
      ['social_media:reddit', 'suspend', expect.stringContaining('ban detected')],
    ]);
    expect(records[0]).toMatchObject({ service: 'flaky', platform: 'p', until: expect.any(Number), policyHash: 'c'.repeat(64) });
    expect(records[2]).toMatchObject({ from: 'closed' });
    expect(records[3]).toMatchObject({ retryAfterMs: expect.any(Number) });
    expect(records[4]).toMatchObject({ attempt: 1, delayMs: 0 });
    expect(records[5]).toMatchObject({ category: 'ban', statusCode: 403, until: expect.any(Number) });
    expect(await verifyLedger(path)).toMatchObject({ ok: true, records: 7 });
  });

  it('applies the sampling rule to refusals only', async () => {
    ledger = createLedger({ path, record: { refusals: 'none' } });
    ledger.attach(manager);
    roomy(manager, { burst: 1, requestsPerSecond: 0.001, maxWaitMs: 0 }, 'limited');
    await manager.execute('limited', () => 'first');
    await expect(manager.execute('limited', () => 'second')).rejects.toMatchObject({ reason: 'max_wait' });
    manager.suspend('limited', { durationMs: 1_000, reason: 'manual' });
    await ledger.close();
    expect(recorded().map((r) => r.decision)).toEqual(['suspend']);
    expect(ledger.stats()).toMatchObject({ sampledOut: 1, appended: 1 });
  });

  it("uses the manager's policyHash() when the ledger has no policyHash option", async () => {
    ledger = createLedger({ path });
    const withPolicy = Object.assign(manager, { policyHash: () => 'd'.repeat(64) });
    ledger.attach(withPolicy);
    manager.suspend('svc', { durationMs: 1_000, reason: 'manual' });
    await ledger.close();
    expect(recorded()[0]).toMatchObject({ policyHash: 'd'.repeat(64) });
  });

  it('close() detaches; an event it cannot record is counted as dropped, never thrown into emit', async () => {
    ledger = createLedger({ path });
    const emitter = new EventEmitter() as unknown as DecisionSource & EventEmitter;
    ledger.attach(emitter);
    expect(RECORDED_EVENTS.every((event) => emitter.listenerCount(event) === 1)).toBe(true);
    expect(() => emitter.emit('suspended', { odd: true })).not.toThrow();
    expect(() => emitter.emit('retry', null)).not.toThrow();
    expect(ledger.stats().dropped).toBe(2);
    await ledger.close();
    expect(RECORDED_EVENTS.every((event) => emitter.listenerCount(event) === 0)).toBe(true);
  });
});
