/**
 * Fleet mode with real worker processes (`node --import tsx test/stores/worker.ts`, each with
 * its own ioredis client) against a real Redis started by this file on 127.0.0.1.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busiestWindow, ringStarts, sleep, startRedis, type RedisServer } from './redis-server.js';
import type { WorkerReport, WorkerSpec } from './worker.js';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));
let server: RedisServer;
let prefixCount = 0;

beforeAll(async () => {
  server = await startRedis();
}, 20_000);

afterAll(async () => {
  await server?.stop();
});

function newPrefix(): string {
  return `p${process.pid}-${++prefixCount}:`;
}

/** Runs one worker process to its end (killed if it overruns) and returns its report. */
function runWorker(spec: Omit<WorkerSpec, 'port'>): Promise<WorkerReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
      env: { ...process.env, FLEET_WORKER: JSON.stringify({ ...spec, port: server.port }, (_, v: unknown) => (v === Infinity ? 'Infinity' : v)) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const guard = setTimeout(() => child.kill('SIGKILL'), spec.runMs + 20_000);
    child.on('exit', (code) => {
      clearTimeout(guard);
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || line === '') return reject(new Error(`worker ${spec.index} exited with ${code}: ${err}${out}`));
      resolve(JSON.parse(line) as WorkerReport);
    });
  });
}

const allStarts = (reports: readonly WorkerReport[]): number[] => reports.flatMap((r) => r.starts.map((s) => s.at)).sort((a, b) => a - b);

function expectClean(reports: readonly WorkerReport[]): void {
  for (const r of reports) {
    expect(r.settled, `worker ${r.index}: every call settled`).toBe(r.issued);
    expect(r.otherErrors).toEqual([]);
    expect(r.unhandled).toEqual([]);
    expect(r.health).toBe('ok');
  }
}

describe('a fleet of worker processes', () => {
  it('four workers sharing rpm 120 start exactly 120 calls in one 60 s window between them', async () => {
    const prefix = newPrefix();
    const config = { requestsPerSecond: Infinity, burst: 120, requestsPerMinute: 120, maxWaitMs: 0 };
    // Each worker tries ~300 calls in 1.5 s: far more than the shared cap. They start together,
    // so that a worker still booting does not find the cap already spent by the first one.
    const startAt = Date.now() + 4_000;
    const reports = await Promise.all([0, 1, 2, 3].map((index) => runWorker({ prefix, index, config, startAt, runMs: 1_500, loops: 4, pauseMs: 20 })));
    for (const r of reports) expect(r.late, `worker ${r.index} was ready before the start`).toBe(false);
    expectClean(reports);
    const starts = allStarts(reports);
    // The whole run lies inside one 60 s window: the cap is exact, not approximate.
    expect(starts.at(-1)! - starts[0]!).toBeLessThan(60_000);
    expect(starts.length).toBe(120);
    // Each worker was refused the rest (how the 120 split depends on who started first).
    for (const r of reports) expect(r.rateLimited).toBe(r.issued - r.starts.length);
    expect(reports.filter((r) => r.starts.length > 0).length).toBeGreaterThan(1);
  }, 30_000);

  it('the shared window slides: with a 1 s window (time scaled down) no window holds more than 120 starts', async () => {
    const prefix = newPrefix();
    const config = { requestsPerSecond: Infinity, burst: 120, requestsPerMinute: 120, maxWaitMs: 1_500 };
    const reports = await Promise.all(
      [0, 1, 2, 3].map((index) => runWorker({ prefix, index, config, store: { windowMs: 1_000 }, runMs: 2_600, loops: 8, pauseMs: 0 })),
    );
    expectClean(reports);
    const starts = allStarts(reports);
    // Three windows' worth at least: the cap released again as the window slid.
    expect(starts.length).toBeGreaterThanOrEqual(360);
    // Start times are taken in the workers, a little after Redis admitted each call, so the
    // check allows 100 ms for that delivery; Redis itself admits on its own clock exactly.
    expect(busiestWindow(starts, 1_000 - 100)).toBeLessThanOrEqual(120);
    // Without the shared window the four would have started 4 x 120 at once.
    expect(busiestWindow(starts, 200)).toBeLessThanOrEqual(120);
    // The workers called fast enough to be granted credits: the exact cap held with them.
    expect(reports.reduce((n, r) => n + r.creditsUsed, 0)).toBeGreaterThan(0);
  }, 30_000);

  it('a ban seen by one worker stops the others, and the suspension outlives every process', async () => {
    const prefix = newPrefix();
    const config = { requestsPerSecond: Infinity, burst: 10_000, requestsPerMinute: 10_000, maxWaitMs: 0, banSuspensionMs: 60_000 };
    // One start for all: a worker still booting when the first one is banned would never run before it.
    const startAt = Date.now() + 4_000;
    const reports = await Promise.all(
      [0, 1, 2, 3].map((index) =>
        runWorker({ prefix, index, config, platform: 'reddit', startAt, runMs: 1_500, loops: 1, pauseMs: 10, ...(index === 0 ? { banAt: 20 } : {}) }),
      ),
    );
    for (const r of reports) {
      expect(r.late, `worker ${r.index} was ready before the start`).toBe(false);
      expect(r.settled).toBe(r.issued);
      expect(r.unhandled).toEqual([]);
    }
    const bannedAt = reports[0]!.bannedAt!;
    expect(bannedAt).not.toBeNull();
    for (const r of reports.slice(1)) {
      // Each was running when the ban happened, and was stopped within moments.
      expect(r.starts.some((s) => s.at < bannedAt)).toBe(true);
      expect(r.firstSuspendedAt).not.toBeNull();
      expect(r.firstSuspendedAt! - bannedAt).toBeLessThan(500);
      expect(r.starts.filter((s) => s.at > r.firstSuspendedAt!)).toEqual([]);
      expect(r.starts.filter((s) => s.at > bannedAt + 200)).toEqual([]);
      expect(r.otherErrors).toEqual([]);
    }
    // Every process has exited; a new one is refused from its first call.
    const fresh = await runWorker({ prefix, index: 9, config, platform: 'reddit', runMs: 200, loops: 1, pauseMs: 10 });
    expect(fresh.starts).toEqual([]);
    expect(fresh.suspended).toBe(fresh.issued);
    // Another platform of the same service is not suspended.
    const other = await runWorker({ prefix, index: 10, config, platform: 'twitter', runMs: 100, loops: 1, pauseMs: 10 });
    expect(other.starts.length).toBe(other.issued);
  }, 30_000);

  it('shareCircuit: an opening in one worker refuses calls in all at once; after the reset period exactly one call in the fleet probes; its failure re-opens all, its success closes all', async () => {
    const prefix = newPrefix();
    const config = {
      requestsPerSecond: Infinity,
      burst: 10_000,
      requestsPerMinute: 10_000,
      maxWaitMs: 0,
      circuitBreakerThreshold: 3,
      circuitBreakerResetMs: 300,
    };
    // The provider fails until each worker's circuit has been open 450 ms: the first probe
    // (about 300 ms after the opening) fails, the second (300 ms later) succeeds.
    const startAt = Date.now() + 4_000;
    const reports = await Promise.all(
      [0, 1, 2].map((index) =>
        runWorker({ prefix, index, config, store: { shareCircuit: true }, failFor: 450, startAt, runMs: 1_400, loops: 1, pauseMs: 5 }),
      ),
    );
    for (const r of reports) {
      expect(r.late, `worker ${r.index} was ready before the start`).toBe(false);
      expect(r.settled).toBe(r.issued);
      expect(r.otherErrors).toEqual([]);
      expect(r.unhandled).toEqual([]);
    }
    const openedAt = (r: WorkerReport) => r.circuit.find((c) => c.to === 'open')!.at;
    const opened = Math.min(...reports.map(openedAt));
    // Every worker's circuit opened within moments of the first (its own count, or the message).
    for (const r of reports) expect(openedAt(r) - opened).toBeLessThan(150);
    // Provider calls after the opening was known everywhere: the probes, then the closed circuit.
    const calls = reports
      .flatMap((r) => r.starts.map((s) => ({ ...s, worker: r.index })))
      .filter((c) => c.at > opened + 150)
      .sort((x, y) => x.at - y.at);
    const [first, second] = calls;
    // Nothing reached the provider while the fleet's circuit was open, then exactly one probe…
    expect(first!.at - opened).toBeGreaterThanOrEqual(250);
    expect(first!.failed).toBe(true);
    // … whose failure opened the circuit everywhere for another reset period: one call again.
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(250);
    expect(second!.failed).toBeUndefined();
    // Its success closed every worker's circuit, and all of them call the provider again.
    for (const r of reports) {
      const closed = r.circuit.find((c) => c.to === 'closed');
      expect(closed, `worker ${r.index} closed its circuit`).toBeDefined();
      expect(closed!.at - second!.at).toBeLessThan(250);
      expect(r.starts.filter((s) => s.at > closed!.at && !s.failed).length).toBeGreaterThan(0);
      expect(r.circuitOpen).toBeGreaterThan(0);
    }
    expect(calls.filter((c) => c.failed).length).toBe(1);
  }, 40_000);

  it('Redis killed mid-run: every call settles, the fallback share holds, and the shared limit resumes after the restart (NOSCRIPT)', async () => {
    const prefix = newPrefix();
    // Shared cap 60 per 60 s; while Redis is down each of the two keeps a quarter: 15.
    const config = { requestsPerSecond: Infinity, burst: 60, requestsPerMinute: 60, maxWaitMs: 0 };
    const store = { timeoutMs: 100, probeIntervalMs: 100, share: 0.25 };
    const running = Promise.all([0, 1].map((index) => runWorker({ prefix, index, config, store, runMs: 6_000, loops: 1, pauseMs: 20 })));
    // Kill Redis once the two have taken half the shared window.
    const admin = server.client();
    const scopeKey = `${prefix}{fleet_worker}`;
    const startsIn = (client: typeof admin): Promise<number> => ringStarts(client, scopeKey);
    for (let waited = 0; (await startsIn(admin)) < 30; waited += 10) {
      if (waited > 15_000) throw new Error('the workers never started');
      await sleep(10);
    }
    admin.disconnect();
    await server.kill();
    await sleep(1_500);
    await server.restart();
    const reports = await running;
    expectClean(reports);

    const shared = (r: WorkerReport) => r.starts.filter((s) => s.mode === 'shared');
    const fallback = (r: WorkerReport) => r.starts.filter((s) => s.mode === 'fallback_local');
    // During the outage each kept to its share, and reached it (it kept trying).
    for (const r of reports) expect(fallback(r).length).toBe(15);
    // After the restart (an empty Redis: the script is loaded again after NOSCRIPT) calls are
    // admitted by the shared window again. It counts the starts made during the outage: the
    // first worker back imports its 15 with its first admission, the second its own 15 with
    // its own, so at most 60 - 15 more start (the 30 from before the kill died with Redis).
    const outageEnd = Math.max(...reports.map((r) => fallback(r).at(-1)!.at));
    const after = reports.reduce((n, r) => n + shared(r).filter((s) => s.at > outageEnd).length, 0);
    expect(after).toBeGreaterThan(0);
    expect(after).toBeLessThanOrEqual(60 - 15);
    // Shared state is back in Redis, fallback starts included.
    const check = server.client();
    expect(await startsIn(check)).toBe(60);
    check.disconnect();
  }, 40_000);
});
