import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFetch, isBudgetExceededError, isConfigError, isDegradedError, isPlatformSuspendedError, ThrottleManager } from 'floodgate';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { httpError, roomy, sharedStoreDouble, SVC } from '../helpers.js';
import { useLoopback, type TestServer } from '../outbound/http-server.js';

// rotating-file-stream takes its rotation timer from 'timers': give it the test's (faked) clock.
vi.mock('timers', async (importActual) => ({
  ...(await importActual<typeof import('node:timers')>()),
  setTimeout: (...args: Parameters<typeof setTimeout>) => globalThis.setTimeout(...args),
  clearTimeout: (timer: Parameters<typeof clearTimeout>[0]) => globalThis.clearTimeout(timer),
}));

const DAY = 86_400_000;
/** Waits for the log's real file I/O: roomy, since a busy machine may take seconds to write a line. */
function onDisk(assertion: () => void): Promise<void> {
  return vi.waitFor(assertion, { timeout: 15_000, interval: 10 });
}
const CURRENT = 'floodgate-decisions.jsonl';
let dir: string;
const managers: ThrottleManager[] = [];

function managerWith(options: ConstructorParameters<typeof ThrottleManager>[0]): ThrottleManager {
  const manager = new ThrottleManager(options);
  managers.push(manager);
  return manager;
}

function lines(file = CURRENT): Record<string, unknown>[] {
  return readFileSync(join(dir, file), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

function logFiles(): string[] {
  return readdirSync(dir).filter((name) => name.endsWith('.jsonl')).sort();
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'floodgate-log-'));
});

afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.close();
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

describe('decision logs', { timeout: 60_000 }, () => {
  it('are off by default: nothing written, the report says null', async () => {
    const manager = managerWith({ env: {} });
    roomy(manager);
    await manager.execute(SVC, () => 'ok');
    expect(manager.getStatusReport().logging).toBeNull();
  });

  it('FLOODGATE_LOG_DIR turns them on at first use (never at construction); one JSON line per decision, secrets redacted', async () => {
    const logDir = join(dir, 'logs');
    const manager = managerWith({ env: { FLOODGATE_LOG_DIR: logDir } });
    expect(existsSync(logDir)).toBe(false);
    roomy(manager, { retryAttempts: 1, backoffBaseMs: 0, circuitBreakerThreshold: 2 });
    const secret = 'sk-abcdefghijklmnopqrstuvwxyz123456';
    await expect(manager.execute(SVC, () => Promise.reject(Object.assign(httpError(503), { message: `upstream failed api_key=${secret}` })))).rejects.toThrow();
    await expect(manager.execute(SVC, () => 'never')).rejects.toThrow(/circuit/i);
    manager.suspend(SVC, { platform: 'reddit', reason: `token=${secret} rejected`, durationMs: 1_000 });
    manager.resume(SVC, { platform: 'reddit' });
    await manager.close();
    dir = logDir;
    const written = lines();
    const events = written.map((line) => line.event);
    expect(events).toEqual(['configured', 'retry', 'circuit', 'refusal', 'suspended', 'resumed']);
    expect(written[0]).toMatchObject({ service: SVC, fields: expect.arrayContaining(['retryAttempts']) });
    expect(written[1]).toMatchObject({ scope: SVC, retry: 1, category: 'server' });
    expect(written[2]).toMatchObject({ scope: SVC, from: 'closed', to: 'open' });
    expect(written[3]).toMatchObject({ scope: SVC, reason: 'circuit_open' });
    expect(written[4]).toMatchObject({ scope: `${SVC}:reddit` });
    for (const line of written) expect(typeof line.ts === 'string' && !Number.isNaN(Date.parse(line.ts))).toBe(true);
    expect(readFileSync(join(logDir, CURRENT), 'utf8')).not.toContain(secret);
  });

  it('a ban, a provider pause and a budget refusal each write their line', async () => {
    const manager = managerWith({ env: {}, logging: { dir } });
    roomy(manager, { retryAttempts: 0, maxRetryAfterMs: 60_000 });
    roomy(manager, { budget: { usd: 0, period: 'day' } }, 'llm');
    await expect(manager.execute(SVC, () => Promise.reject(httpError(403, {})), { platform: 'forum' }).catch(() => 'refused')).resolves.toBe('refused');
    await expect(manager.execute(SVC, () => Promise.reject(Object.assign(httpError(403), { message: 'captcha required' })), { platform: 'reddit', endpoint: 'POST /comment' })).rejects.toThrow('captcha');
    await expect(manager.execute(SVC, () => Promise.reject(httpError(429, { 'retry-after': '30' })), { platform: 'x' })).rejects.toThrow('HTTP 429');
    const refused = await manager.execute('llm', () => 'never', { model: 'gpt-4o', cost: 10 }).catch((error: unknown) => error);
    expect(isBudgetExceededError(refused)).toBe(true);
    await manager.close();
    const written = lines();
    const ban = written.find((line) => line.event === 'ban');
    expect(ban).toMatchObject({ scope: `${SVC}:reddit`, endpoint: 'POST /comment', pattern: expect.any(String) });
    expect(Date.parse(String(ban!.suspendedUntil))).toBeGreaterThan(Date.now());
    expect(written.find((line) => line.event === 'suspended')).toMatchObject({ scope: `${SVC}:reddit`, reason: expect.stringContaining('ban detected') });
    const paused = written.find((line) => line.event === 'paused');
    expect(paused).toMatchObject({ scope: `${SVC}:x`, category: 'rate_limit' });
    expect(Date.parse(String(paused!.until)) - Date.parse(String(paused!.ts))).toBeGreaterThan(29_000);
    expect(written.find((line) => line.event === 'refusal')).toMatchObject({ scope: 'llm', reason: 'budget_exceeded' });
    // No ban line for a plain 403.
    expect(written.filter((line) => line.event === 'ban')).toHaveLength(1);
  });

  it('a shared store changing health writes a store_health line, its error redacted', async () => {
    const { store, listener } = sharedStoreDouble();
    const manager = managerWith({ env: {}, store, logging: { dir } });
    roomy(manager);
    await manager.execute(SVC, () => 'ok');
    const secret = 'sk-abcdefghijklmnopqrstuvwxyz123456';
    listener()!.onHealthChange({ status: 'degraded', mode: 'fallback_local', since: Date.now(), lastError: `NOAUTH key ${secret}` });
    listener()!.onHealthChange({ status: 'ok', mode: 'shared', since: Date.now(), lastError: null });
    await manager.close();
    const health = lines().filter((line) => line.event === 'store_health');
    expect(health).toEqual([
      expect.objectContaining({ store: 'fleet-double', status: 'degraded', mode: 'fallback_local', lastError: expect.stringContaining('NOAUTH') }),
      expect.objectContaining({ store: 'fleet-double', status: 'ok', mode: 'shared', lastError: null }),
    ]);
    expect(readFileSync(join(dir, CURRENT), 'utf8')).not.toContain(secret);
  });

  it('observe mode: a call enforce mode would refuse writes a would_refuse line (and no refusal)', async () => {
    const manager = managerWith({ env: {}, logging: { dir } });
    roomy(manager, { mode: 'observe' });
    manager.suspend(SVC, { platform: 'p', reason: 'maintenance', durationMs: 60_000 });
    await expect(manager.execute(SVC, () => 'ran', { platform: 'p' })).resolves.toBe('ran');
    await manager.close();
    const written = lines();
    expect(written.filter((line) => line.event === 'would_refuse')).toEqual([expect.objectContaining({ scope: `${SVC}:p`, reason: 'suspended' })]);
    expect(written.filter((line) => line.event === 'refusal')).toEqual([]);
  });

  it("a contract's burn alert writes a budget_burn line", async () => {
    const manager = managerWith({ env: {}, logging: { dir } });
    roomy(manager, { retryAttempts: 0, contracts: { 'GET /items/{id}': { maxLatencyMs: 1_000, errorBudget: 0.5, windowMs: 60_000 } } });
    await expect(manager.execute(SVC, () => Promise.reject(httpError(500)), { endpoint: 'GET /items/7' })).rejects.toThrow('HTTP 500');
    await manager.close();
    // One failure in one call: a burn rate of 1 / 0.5 = 2, the default burnAlert.
    expect(lines().filter((line) => line.event === 'budget_burn')).toEqual([
      expect.objectContaining({ scope: SVC, contract: 'GET /items/{id}', burnRate: 2, burnAlert: 2, calls: 1, failures: 1 }),
    ]);
  });

  describe('against a loopback server', () => {
    let server: TestServer;
    useLoopback((loopback) => (server = loopback.server));

    it('the anti-loop guard tripping writes a degraded line, the call it refuses a refusal line, its end a recovered line', async () => {
      vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
      const manager = managerWith({ env: {}, logging: { dir }, guard: { maxPerMinute: 1, cooldownMs: 60_000 } });
      roomy(manager, {}, 'http');
      const get = createFetch({ provider: 'api', manager });
      expect((await get(`${server.origin}/ok`)).status).toBe(200);
      const refused = await get(`${server.origin}/ok`).catch((error: unknown) => error);
      expect(isDegradedError(refused)).toBe(true);
      const trippedAt = Date.now();
      vi.advanceTimersByTime(60_000);
      await manager.close();
      const written = lines();
      expect(written.find((line) => line.event === 'degraded')).toMatchObject({ reason: 'max_per_minute', until: new Date(trippedAt + 60_000).toISOString() });
      expect(written.find((line) => line.event === 'recovered')).toMatchObject({ at: new Date(trippedAt + 60_000).toISOString() });
      expect(written.find((line) => line.event === 'refusal')).toMatchObject({ scope: 'http:api', reason: 'degraded' });
    });
  });

  it('`logging: false` keeps them off even with FLOODGATE_LOG_DIR; bad options are a ConfigError naming the field', () => {
    const manager = managerWith({ env: { FLOODGATE_LOG_DIR: dir }, logging: false });
    roomy(manager);
    expect(manager.getStatusReport().logging).toBeNull();
    const fields = [{ dir: '' }, { dir, maxBytes: 10 }, { dir, retentionDays: 0 }].map((logging) => {
      try {
        new ThrottleManager({ env: {}, logging });
        return 'accepted';
      } catch (error) {
        return isConfigError(error) ? error.field : String(error);
      }
    });
    expect(fields).toEqual(['logging.dir', 'logging.maxBytes', 'logging.retentionDays']);
  });

  it('rotates daily (UTC) and keeps the files of the last 3 days', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'], now: Date.UTC(2026, 0, 1, 12) });
    const manager = managerWith({ env: {}, logging: { dir } });
    for (let day = 1; day <= 6; day++) {
      roomy(manager, { burst: day });
      // Written (so the file is open and its rotation timer armed) before the day ends.
      await onDisk(() => expect(readFileSync(join(dir, CURRENT), 'utf8')).toContain('"configured"'));
      await vi.advanceTimersByTimeAsync(DAY);
      const rotated = `floodgate-decisions-2026-01-0${day}.jsonl`;
      // The rotated file's name can show before its line is readable (the stream is mid-rotation).
      await onDisk(() => expect(lines(rotated).map((line) => line.event)).toEqual(['configured']));
    }
    // Now 2026-01-07: the files of the 4th, 5th and 6th are kept, older ones deleted.
    await onDisk(() =>
      expect(logFiles()).toEqual(['floodgate-decisions-2026-01-04.jsonl', 'floodgate-decisions-2026-01-05.jsonl', 'floodgate-decisions-2026-01-06.jsonl', CURRENT]),
    );
  });

  it('holds every file together to the size budget, deleting the oldest first', async () => {
    const maxBytes = 8 * 1024;
    const manager = managerWith({ env: {}, logging: { dir, maxBytes, retentionDays: 3 } });
    roomy(manager);
    const count = 400;
    for (let i = 1; i <= count; i++) {
      manager.suspend(SVC, { reason: `r${i}`, durationMs: 60_000 + i });
      // Let the stream write and rotate as it goes, as time would between decisions.
      if (i % 10 === 0) await onDisk(() => expect(manager.getStatusReport().logging!.written).toBe(i + 1));
    }
    await manager.close();
    const sizes = logFiles().map((name) => statSync(join(dir, name)).size);
    const total = sizes.reduce((sum, size) => sum + size, 0);
    // The budget, give or take the one line that crossed a file's share.
    expect(total).toBeLessThanOrEqual(maxBytes + 200);
    expect(total).toBeGreaterThan(maxBytes / 2);
    // What is kept is the newest run of decisions: the oldest went first.
    const kept = logFiles().flatMap((name) => lines(name)).filter((line) => line.event === 'suspended').map((line) => Number(String(line.reason).slice(1))).sort((a, b) => a - b);
    expect(kept.at(-1)).toBe(count);
    expect(kept[0]).toBeGreaterThan(1);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => kept[0]! + i));
  });

  it('an unwritable directory never fails a call: lines are dropped and counted', async () => {
    const file = join(dir, 'not-a-directory');
    writeFileSync(file, 'x');
    const manager = managerWith({ env: {}, logging: { dir: join(file, 'logs') } });
    roomy(manager, { circuitBreakerThreshold: 1 });
    await expect(manager.execute(SVC, () => Promise.reject(httpError(500)))).rejects.toThrow('HTTP 500');
    await onDisk(() => expect(manager.getStatusReport().logging!.lastError).toMatch(/ENOTDIR|ENOENT|EEXIST/));
    for (let i = 0; i < 5; i++) await expect(manager.execute(SVC, () => 'ok')).rejects.toThrow(/circuit/i);
    const status = manager.getStatusReport().logging!;
    expect(status.dropped).toBeGreaterThanOrEqual(5);
    expect(status.dir).toBe(join(file, 'logs'));
  });

  it('a full disk (writes failing with EFBIG under a file-size limit) never fails a call: lines are dropped and counted', async () => {
    const worker = fileURLToPath(new URL('./full-disk-worker.ts', import.meta.url));
    const { code, out, err } = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      // `ulimit -f 4`: no file of this process may grow past 4 KiB (Node ignores SIGXFSZ, so the write fails).
      const child = spawn('bash', ['-c', `ulimit -f 4 && exec "${process.execPath}" --import tsx "${worker}" "${dir}"`], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.on('exit', (code) => resolve({ code, out, err }));
    });
    expect(code, err).toBe(0);
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as { refused: number; answer: number; logging: { written: number; dropped: number; lastError: string } };
    expect(result.refused).toBe(400);
    expect(result.answer).toBe(42);
    expect(result.logging.lastError).toMatch(/EFBIG/);
    expect(result.logging.dropped).toBeGreaterThan(0);
    expect(statSync(join(dir, CURRENT)).size).toBeLessThanOrEqual(4096);
  }, 60_000);

  it('a disk slower than the decisions: past 1 MiB waiting, lines are dropped and counted, calls answer as ever', async () => {
    const manager = managerWith({ env: {}, logging: { dir } });
    roomy(manager);
    manager.suspend(SVC, { reason: 'maintenance', durationMs: 60_000 });
    // 15,000 refusals in one tick (about 2 MB of lines): the file cannot take them as fast.
    const outcomes = Array.from({ length: 15_000 }, () => manager.execute(SVC, () => 'never').catch((error: unknown) => error));
    expect(manager.getStatusReport().logging!.dropped).toBeGreaterThan(0);
    const errors = await Promise.all(outcomes);
    expect(errors.every((error) => isPlatformSuspendedError(error))).toBe(true);
    await manager.close();
    const status = manager.getStatusReport().logging!;
    expect(status.written + status.dropped).toBe(15_000 + 2); // + the configured and suspended lines
    expect(lines().length).toBe(status.written);
  });
});
