/**
 * The status page in a real browser: playwright-core driving Debian's chromium (`.ci/run` installs
 * it). Waits are on what the page shows, with generous timeouts, never on sleeps.
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ThrottleManager, type StatusReport } from 'floodgate';
import { createStatusHandler } from 'floodgate/http';
import { httpError, roomy, SVC } from '../helpers.js';
import { SERVER_KINDS, SERVERS, type RunningServer } from './servers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Waits for what the page shows: generous, so that a busy machine only makes a test slower. */
const WAIT = { timeout: 10_000 };

let browser: Browser;
beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`No chromium at ${CHROMIUM}: apt-get install -y chromium (Debian), or set CHROMIUM_PATH`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 120_000);
afterAll(async () => {
  await browser?.close();
});

/** Opens `url`, runs `check`, then asserts that the page logged no console error or exception, and closes it. */
async function onPage(url: string, check: (page: Page) => Promise<void>): Promise<void> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  try {
    await page.goto(url);
    await check(page);
    expect(errors).toEqual([]);
  } finally {
    await page.close();
  }
}

/** Serves `reshape(report)` in place of the manager's report: fields other parts of floodgate add, or odd values. */
function reshapeReport(manager: ThrottleManager, reshape: (real: StatusReport) => unknown): void {
  const report = manager.getStatusReport.bind(manager);
  manager.getStatusReport = () => reshape(report()) as StatusReport;
}

const row = (page: Page, key: string) => page.locator('#rows tr').filter({ has: page.locator('td.scope', { hasText: new RegExp(`^${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }) });

describe.each(SERVER_KINDS)('the status page served by %s', (kind) => {
  let manager: ThrottleManager;
  let server: RunningServer;
  beforeEach(async () => {
    manager = new ThrottleManager({ env: {} });
    roomy(manager, { circuitBreakerThreshold: 1, circuitBreakerResetMs: 60_000 });
    await manager.execute(SVC, async () => 'ok');
    await manager.execute(SVC, async () => 'ok', { platform: 'reddit' });
    await manager.execute(SVC, async () => { throw httpError(500); }, { platform: 'flaky' }).catch(() => {});
    server = await SERVERS[kind]({ manager });
  });
  afterEach(async () => {
    await server.close();
    await manager.close();
  });

  it('loads with no console error and shows each scope with its state', async () => {
    await onPage(`${server.base}/`, async (page) => {
      await page.locator('#live[data-state="ok"]').waitFor(WAIT);
      expect(await page.locator('#rows tr').count()).toBe(3);
      await expect.poll(() => row(page, SVC).locator('.badge').first().textContent(), WAIT).toBe('ok');
      expect(await row(page, `${SVC}:reddit`).locator('.badge').first().textContent()).toBe('ok');
      expect(await row(page, `${SVC}:flaky`).locator('.badge').first().textContent()).toBe('circuit open');
      expect(await row(page, `${SVC}:flaky`).locator('td.circuit').textContent()).toMatch(/^open · probe in (1m 00s|[1-5]?\d s)$/); // a 60 s reset, counting down
      expect(await page.locator('#store-state').textContent()).toBe('memory · ok');
      expect(await page.locator('#scope-count').textContent()).toBe('3');
      // The anti-loop guard (outbound calls) is in every report: ok, no cap configured.
      expect(await page.locator('#guard-state').textContent()).toBe('ok');
      // Fields the report does not have are not shown.
      expect(await page.locator('#card-cost').isHidden()).toBe(true);
      expect(await page.locator('th.cost-col').isHidden()).toBe(true);
      expect(await page.locator('td.cost-col:visible').count()).toBe(0);
      expect(await page.locator('.badge.observe:visible').count()).toBe(0);
      // Nothing on the page changes anything: no form, and the only buttons sort the table.
      expect(await page.locator('form').count()).toBe(0);
      expect(await page.locator('button').count()).toBe(await page.locator('th[data-sort] button').count());
    });
  });
});

describe('the status page, live', () => {
  let manager: ThrottleManager;
  let server: http.Server;
  let base: string;
  const start = async (options: { events?: boolean } = {}): Promise<void> => {
    const handler = createStatusHandler({ manager, prefix: '/status-page', ...options });
    server = http.createServer((req, res) => {
      void handler(req, res).then((answered) => answered || res.writeHead(404).end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/status-page`;
  };
  beforeEach(async () => {
    manager = new ThrottleManager({ env: {} });
    roomy(manager);
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await manager.close();
  });

  for (const events of [true, false]) {
    it(`shows a suspension and its reason soon after suspend() on the server (${events ? 'event stream' : 'polling only'})`, async () => {
      await manager.execute(SVC, async () => 'ok', { platform: 'reddit' });
      await start({ events });
      await onPage(`${base}/`, async (page) => {
        await row(page, `${SVC}:reddit`).waitFor(WAIT);
        const started = Date.now();
        manager.suspend(SVC, { platform: 'reddit', reason: 'account suspended by the provider', durationMs: 3_600_000 });
        const suspended = row(page, `${SVC}:reddit`);
        await suspended.locator('.badge', { hasText: 'suspended' }).waitFor(WAIT);
        const shownAfterMs = Date.now() - started;
        expect(await suspended.locator('.reason').textContent()).toBe('account suspended by the provider');
        expect(await suspended.locator('.hold-what').textContent()).toMatch(/^suspended (59m \d\ds|1h 00m)$/);
        if (events) await page.locator('#events li[data-event="suspended"]').waitFor(WAIT);
        // Reported, not asserted: the waits above allow a busy machine 10 s. The page polls every second.
        console.log(`[status page] suspension shown ${shownAfterMs} ms after suspend() (${events ? 'event stream' : 'polling only'})`);
      });
    }, 30_000);
  }

  it('renders markup in a reason, a scope name and an event as text, and runs nothing', async () => {
    const markup = '<img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script>';
    const platform = '<b onmouseover="window.__pwned=3">bold</b>';
    await manager.execute(SVC, async () => 'ok', { platform });
    await start();
    await onPage(`${base}/`, async (page) => {
      await row(page, `${SVC}:${platform}`).waitFor(WAIT);
      manager.suspend(SVC, { platform, reason: `banned ${markup}`, durationMs: 60_000 });
      const suspended = row(page, `${SVC}:${platform}`);
      await suspended.locator('.reason', { hasText: 'banned' }).waitFor(WAIT);
      await page.locator('#events li[data-event="suspended"]').waitFor(WAIT);
      expect(await suspended.locator('.reason').textContent()).toBe(`banned ${markup}`);
      expect(await suspended.locator('td.scope').textContent()).toBe(`${SVC}:${platform}`);
      expect(await page.locator('#events li[data-event="suspended"] .event-text').textContent()).toContain(markup);
      await suspended.locator('td.scope').hover();
      await suspended.click(); // the details panel shows the scope's JSON as text too
      await page.locator('#details-json', { hasText: 'onerror' }).waitFor(WAIT);
      expect(await page.locator('img, script:not([src]), b').count()).toBe(0);
      expect(await page.evaluate(() => (window as { __pwned?: unknown }).__pwned)).toBeUndefined();
    });
  }, 30_000);

  it('shows the guard, spend, observe mode, the policy hash and counters it does not know when the report has them', async () => {
    await manager.execute(SVC, async () => 'ok', { platform: 'openai' });
    // Report fields that other parts of floodgate add (or will): the page reads whatever is there.
    const now = Date.now();
    reshapeReport(manager, (real) => {
      const scopes = Object.fromEntries(
        Object.entries(real.scopes).map(([key, scope]) => [
          key,
          {
            ...scope,
            mode: 'observe',
            costs: { usd: 1.5, inputTokens: 1_000, outputTokens: 200, models: {}, budget: { usd: 10, period: 'day', spentUsd: 1.5, leftUsd: 8.5, resetsAt: now + 3_600_000 } },
            counters: { ...scope.counters, cancelled: 2, wouldRefuse: 7 },
          },
        ]),
      );
      return {
        ...real,
        scopes,
        storeHealth: { status: 'degraded', mode: 'fallback_local', since: now, lastError: 'connect ECONNREFUSED 127.0.0.1:6379' },
        guard: { state: 'degraded', until: now + 90_000 },
        policyHash: 'ab12'.repeat(16),
      };
    });
    await start();
    await onPage(`${base}/`, async (page) => {
      const openai = row(page, `${SVC}:openai`);
      await openai.locator('.badge.observe').waitFor(WAIT);
      expect(await page.locator('#guard-state').textContent()).toBe('degraded');
      expect(await page.locator('#guard-detail').textContent()).toMatch(/^calls refused for (1m [0-3]\ds|[1-5]?\d s)$/); // 90 s, counting down
      expect(await page.locator('#store-state').textContent()).toBe('memory · degraded');
      expect(await page.locator('#store-detail').textContent()).toContain('last error: connect ECONNREFUSED');
      expect(await page.locator('#policy-hash').textContent()).toBe('ab12ab12ab12');
      expect(await page.locator('#cost-total').textContent()).toBe('$1.50');
      expect(await openai.locator('td.cost-col').textContent()).toBe('$1.50 · $8.50 left');
      expect(await openai.locator('td.cost-col').isVisible()).toBe(true);
      expect(await page.locator('th.cost-col').isVisible()).toBe(true);
      const counters = await openai.locator('td.counters').textContent();
      expect(counters).toContain('cancelled\u00a02');
      expect(counters).toContain('wouldRefuse\u00a07');
      await page.locator('#state-filter').selectOption('observe');
      expect(await page.locator('#rows tr:not([hidden])').count()).toBe(1);
    });
  }, 30_000);

  it('odd values in a report (wrong types, missing parts) never break the page', async () => {
    await manager.execute(SVC, async () => 'ok', { platform: 'fine' });
    reshapeReport(manager, (real) => ({
      ...real,
      storeHealth: null,
      guard: { state: 7, until: 'soon' },
      scopes: {
        ...real.scopes,
        'svc:odd': { state: 42, limits: null, counters: { requests: 'many', failed: -1, extra: 3 }, circuit: 'open', suspension: { until: 'later', reason: { text: 'x' } }, latency: [], costs: 5 },
        'svc:null': null,
        'svc:empty': {},
      },
    }));
    await start();
    await onPage(`${base}/`, async (page) => {
      await row(page, 'svc:odd').waitFor(WAIT);
      await page.locator('#live[data-state="ok"]').waitFor(WAIT);
      // A second refresh runs over the same odd values (rates from two snapshots).
      await page.waitForFunction(() => performance.getEntriesByName('floodgate render').length >= 2, undefined, WAIT);
      expect(await row(page, `${SVC}:fine`).locator('.badge').first().textContent()).toBe('ok');
      expect(await row(page, 'svc:odd').locator('td.counters').textContent()).toBe('failed\u00a0-1 · extra\u00a03');
      expect(await page.locator('#rows tr').count()).toBe(3); // the null entry has no row
    });
  }, 30_000);

  it('drops the rows of scopes that leave the report (reset, eviction)', async () => {
    await manager.execute(SVC, async () => 'ok', { platform: 'a' });
    await manager.execute(SVC, async () => 'ok', { platform: 'b' });
    await start();
    await onPage(`${base}/`, async (page) => {
      await row(page, `${SVC}:b`).waitFor(WAIT);
      manager.reset();
      await page.locator('#no-scopes').waitFor({ state: 'visible', ...WAIT });
      expect(await page.locator('#rows tr').count()).toBe(0);
      await manager.execute(SVC, async () => 'ok', { platform: 'c' });
      await row(page, `${SVC}:c`).waitFor(WAIT);
      expect(await page.locator('#rows tr td.scope').allTextContents()).toEqual([`${SVC}:c`]);
    });
  }, 30_000);

  it('sorts and filters scopes', async () => {
    for (const name of ['b', 'a', 'c']) await manager.execute(SVC, async () => 'ok', { platform: name });
    manager.suspend(SVC, { platform: 'c', reason: 'ban', durationMs: 60_000 });
    await start();
    await onPage(`${base}/`, async (page) => {
      await page.locator('#rows tr').nth(2).waitFor(WAIT);
      const keys = () => page.locator('#rows tr:not([hidden]) td.scope').allTextContents();
      expect(await keys()).toEqual([`${SVC}:a`, `${SVC}:b`, `${SVC}:c`]);
      await page.locator('th[data-sort="state"] button').click();
      expect((await keys())[0]).toBe(`${SVC}:c`); // suspended first: the worst state leads
      await page.locator('#filter').fill(':b');
      expect(await keys()).toEqual([`${SVC}:b`]);
      await page.locator('#filter').fill('');
      await page.locator('#state-filter').selectOption('suspended');
      expect(await keys()).toEqual([`${SVC}:c`]);
    });
  }, 30_000);

  it('500 scopes render and filter without freezing the page (times reported, not asserted)', async () => {
    for (let i = 0; i < 500; i++) await manager.execute(SVC, async () => 'ok', { platform: `user-${i}` });
    await start();
    await onPage(`${base}/`, async (page) => {
      const firstRenderMs = await page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 500 && performance.now(), undefined, WAIT).then(async (h) => Number(await h.jsonValue()));
      // Let a few refreshes run (rows updated in place), then measure what each cost.
      await page.waitForFunction(() => performance.getEntriesByName('floodgate render').length >= 4, undefined, WAIT);
      const filtered = await page.evaluate(async () => {
        const input = document.getElementById('filter') as HTMLInputElement;
        const started = performance.now();
        input.value = 'user-42';
        input.dispatchEvent(new Event('input'));
        const shown = document.querySelectorAll('#rows tr:not([hidden])').length;
        await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0))); // include the next paint
        return { shown, ms: performance.now() - started };
      });
      expect(filtered.shown).toBe(11); // user-42 and user-420 … user-429
      const renders = await page.evaluate(() => performance.getEntriesByName('floodgate render').map((e) => e.duration));
      const sorted = [...renders].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)]!;
      // The page keeps answering: a click sorts at once.
      await page.locator('th[data-sort="scope"] button').click();
      expect(await page.locator('#rows tr:not([hidden]) td.scope').allTextContents()).toEqual([429, 428, 427, 426, 425, 424, 423, 422, 421, 420, 42].map((i) => `${SVC}:user-${i}`));
      console.log(
        `[status page] 500 scopes: first render ${firstRenderMs.toFixed(0)} ms after navigation start; ` +
          `refresh render median ${median.toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms (${renders.length} renders, the first builds the rows); ` +
          `filter to 11 rows ${filtered.ms.toFixed(1)} ms including the next paint`,
      );
    });
  }, 60_000);
});
