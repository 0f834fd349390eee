import { describe, expect, it, vi } from 'vitest';
import {
  ServiceType,
  ThrottleManager,
  isPlatformSuspendedError,
  type BanDetectedEvent,
  type PlatformSuspendedError,
  type ResumedEvent,
  type SuspendedEvent,
} from 'floodgate';
import { configErrorOf, flush, networkError, sharedStoreDouble, track, useFakeManager } from '../helpers.js';

const SOCIAL = ServiceType.SOCIAL_MEDIA;
const HOUR = 3_600_000;

let manager: ThrottleManager;
let suspended: SuspendedEvent[];
let resumed: ResumedEvent[];
useFakeManager((m) => {
  manager = m;
  manager.configure(SOCIAL, { burst: 5, requestsPerSecond: 10, requestsPerMinute: 100, maxConcurrent: 10, timeoutMs: 0 });
  suspended = [];
  resumed = [];
  manager.on('suspended', (e) => suspended.push(e));
  manager.on('resumed', (e) => resumed.push(e));
});

const post = (platform: string, fn: () => unknown = vi.fn(() => `posted to ${platform}`)) => ({ fn, call: track(manager.execute(SOCIAL, fn, { platform })) });

describe('suspend() and resume()', () => {
  it('refuses the suspended platform at once without calling the function; others go on', async () => {
    const until = Date.now() + 60_000;
    manager.suspend(SOCIAL, { platform: 'reddit', durationMs: 60_000, reason: 'moderator warning' });
    expect(suspended).toEqual([{ scope: 'social_media:reddit', service: SOCIAL, platform: 'reddit', until, reason: 'moderator warning' }]);

    const reddit = post('reddit');
    const twitter = post('twitter');
    await flush();
    expect(reddit.call.state).toBe('rejected');
    const error = reddit.call.error as PlatformSuspendedError;
    expect(isPlatformSuspendedError(error)).toBe(true);
    expect(error).toMatchObject({ scope: 'social_media:reddit', suspendedUntil: until, reason: 'moderator warning' });
    expect(reddit.fn).not.toHaveBeenCalled();
    expect(twitter.call.value).toBe('posted to twitter');

    const report = manager.getStatusReport().scopes;
    expect(report['social_media:reddit']).toMatchObject({ state: 'suspended', suspension: { until, reason: 'moderator warning' } });
    expect(report['social_media:reddit']!.counters.rejected).toBe(1);
    expect(report['social_media:twitter']).toMatchObject({ state: 'ok', suspension: null });
  });

  it('resume() lifts the suspension at once', async () => {
    manager.suspend(SOCIAL, { platform: 'reddit', durationMs: 60_000, reason: 'manual' });
    manager.resume(SOCIAL, { platform: 'reddit' });
    expect(resumed).toEqual([{ scope: 'social_media:reddit', service: SOCIAL, platform: 'reddit', cause: 'manual' }]);
    expect(await post('reddit').call.promise).toBe('posted to reddit');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('expires after durationMs', async () => {
    manager.suspend(SOCIAL, { platform: 'reddit', durationMs: 60_000, reason: 'cool down' });
    await vi.advanceTimersByTimeAsync(59_999);
    const early = post('reddit');
    await flush();
    expect(isPlatformSuspendedError(early.call.error)).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(resumed.map((e) => e.cause)).toEqual(['expired']);
    expect(await post('reddit').call.promise).toBe('posted to reddit');
    expect(manager.getStatusReport().scopes['social_media:reddit']!.suspension).toBeNull();
  });

  it('lasts banSuspensionMs (4 h for social media) by default', async () => {
    manager.suspend(SOCIAL, { reason: 'whole service' });
    expect(suspended[0]!.until).toBe(Date.now() + 4 * HOUR);
    await vi.advanceTimersByTimeAsync(4 * HOUR - 1);
    expect(isPlatformSuspendedError(await manager.execute(SOCIAL, () => 'x').catch((e: unknown) => e))).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(await manager.execute(SOCIAL, () => 'x')).toBe('x');
  });

  it('rejects the callers waiting in the suspended scope', async () => {
    manager.configure(SOCIAL, { burst: 1, requestsPerSecond: 0.1 }, { platform: 'reddit' });
    post('reddit');
    const waiting = post('reddit');
    await flush();
    expect(waiting.call.state).toBe('pending');
    manager.suspend(SOCIAL, { platform: 'reddit', durationMs: 60_000, reason: 'ban' });
    await flush();
    expect(isPlatformSuspendedError(waiting.call.error)).toBe(true);
    expect(waiting.fn).not.toHaveBeenCalled();
  });

  it('ends a retry wait in the suspended scope', async () => {
    manager.configure(SOCIAL, { retryAttempts: 1, backoffBaseMs: 30_000, backoffMaxMs: 30_000 });
    const fn = vi.fn(() => Promise.reject(networkError()));
    const call = track(manager.execute(SOCIAL, fn, { platform: 'reddit' }));
    await flush();
    manager.suspend(SOCIAL, { platform: 'reddit', durationMs: HOUR, reason: 'ban' });
    await flush();
    expect(isPlatformSuspendedError(call.error)).toBe(true);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(fn).toHaveBeenCalledOnce();
  });

  it('a detected ban suspends only its platform, for banSuspensionMs', async () => {
    const bans: BanDetectedEvent[] = [];
    manager.on('banDetected', (e) => bans.push(e));
    const banned = Object.assign(new Error('Your account has been suspended'), { status: 403 });
    expect(manager.classifyError(banned, SOCIAL).isBan).toBe(true);
    const first = post('reddit', vi.fn(() => Promise.reject(banned)));
    await flush();
    expect(first.call.error).toBe(banned);
    expect(bans).toHaveLength(1);
    expect(bans[0]).toMatchObject({ scope: 'social_media:reddit', suspendedUntil: Date.now() + 4 * HOUR });
    expect(suspended.map((e) => e.scope)).toEqual(['social_media:reddit']);

    const again = post('reddit');
    const elsewhere = post('twitter');
    await flush();
    expect(isPlatformSuspendedError(again.call.error)).toBe(true);
    expect(again.fn).not.toHaveBeenCalled();
    expect(elsewhere.call.value).toBe('posted to twitter');
    await vi.advanceTimersByTimeAsync(4 * HOUR);
    expect(await post('reddit').call.promise).toBe('posted to reddit');
  });

  it.each([
    [{ durationMs: -1, reason: 'x' }, 'durationMs'],
    [{ durationMs: Infinity, reason: 'x' }, 'durationMs'],
    [{ durationMs: 1_000, reason: '' }, 'reason'],
  ])('rejects bad options %j with a ConfigError', (options, field) => {
    expect(configErrorOf(() => manager.suspend(SOCIAL, options)).field).toBe(field);
    expect(suspended).toEqual([]);
  });
});

describe('fleet mode: a resume from another process', () => {
  it('lifts the local suspension and the local provider pause (SharedStateListener.onResumed)', async () => {
    const { store, published, listener } = sharedStoreDouble();
    const fleet = new ThrottleManager({ env: {}, store });
    fleet.configure('api', { retryAttempts: 0, maxRetryAfterMs: 60_000, burst: 5, requestsPerSecond: 10, requestsPerMinute: 100 });
    const limited = Object.assign(new Error('HTTP 429'), { status: 429, headers: { 'retry-after': '999999' } });
    await fleet.execute('api', () => Promise.reject(limited)).catch(() => undefined);
    // The pause published to the fleet is the capped one.
    expect(published).toEqual(['pause api 60000']);
    expect(fleet.getStatusReport().scopes.api!.state).toBe('paused');
    const waiting = track(fleet.execute('api', () => 'went'));
    listener()!.onResumed('api');
    await flush();
    expect(waiting.value).toBe('went');
    expect(fleet.getStatusReport().scopes.api!.pausedUntil).toBeNull();
    // Told by the fleet: not published back.
    expect(published).toEqual(['pause api 60000']);
    fleet.suspend('api', { durationMs: HOUR, reason: 'maintenance' });
    listener()!.onResumed('api');
    expect(fleet.getStatusReport().scopes.api!.suspension).toBeNull();
    await fleet.close();
    expect(listener()).toBeUndefined();
  });
});
