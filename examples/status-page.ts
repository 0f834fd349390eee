/**
 * The live status page, watching a busy program: open the printed URL in a browser.
 *
 *   node --import tsx examples/status-page.ts          # one 14-second run of the story below, then exit
 *   node --import tsx examples/status-page.ts --keep   # repeat it until Ctrl-C
 *   PORT=8080 node --import tsx examples/status-page.ts --keep
 *
 * The story, on three services of a fake provider that answers in 20-120 ms:
 *   0 s   traffic: two LLM platforms called faster than their limits (calls wait, tokens and the
 *         minute window run low), a scraper on a dozen sites;
 *   5 s   `llm_api:anthropic` has an outage: 503s, retries, the circuit opens and, 3 s later, a
 *         probe closes it again once the provider is back;
 *   11 s  `social_media:reddit` answers 403 "account suspended": floodgate recognises a ban and
 *         suspends the platform (a countdown on the page); `social_media:mastodon` is untouched.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ServiceType, throttleManager } from 'floodgate';
import { createStatusHandler } from 'floodgate/http';
import { ProviderError } from './fake-provider.js';

const keep = process.argv.includes('--keep');
const port = Number(process.env.PORT ?? 0);
const STORY_MS = 14_000;

// Fast limits, so that a few seconds show everything.
throttleManager.configure(ServiceType.LLM_API, {
  requestsPerSecond: 4,
  burst: 4,
  requestsPerMinute: 150,
  retryAttempts: 1,
  backoffBaseMs: 200,
  backoffMaxMs: 1_000,
  circuitBreakerThreshold: 3,
  circuitBreakerResetMs: 3_000,
  maxWaitMs: 5_000,
});
throttleManager.configure(ServiceType.SOCIAL_MEDIA, { requestsPerSecond: 2, burst: 2, requestsPerMinute: 60, banSuspensionMs: 90_000, maxWaitMs: 5_000 });
throttleManager.configure(ServiceType.WEB_SCRAPER, { requestsPerSecond: 1, burst: 2, requestsPerMinute: 40, maxWaitMs: 5_000 });

/** Which platforms misbehave right now. */
const trouble = { outage: new Set<string>(), banned: new Set<string>() };

async function provider(platform: string): Promise<string> {
  await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 100));
  if (trouble.outage.has(platform)) throw new ProviderError(503, 'Service Unavailable: upstream outage');
  if (trouble.banned.has(platform)) throw new ProviderError(403, 'Forbidden: this account has been suspended for automated behaviour');
  if (Math.random() < 0.03) throw new ProviderError(503, 'Service Unavailable');
  return 'ok';
}

const call = (service: ServiceType, platform: string): void => {
  // Refusals (rate limited, circuit open, suspended) are what the page shows: nothing to do here.
  throttleManager.execute(service, () => provider(platform), { platform, endpoint: 'demo' }).catch(() => {});
};

// Traffic: ~6/s on each LLM platform (limit 4/s), ~3/s on social media, one call per site each second.
const traffic = setInterval(() => {
  call(ServiceType.LLM_API, 'openai');
  call(ServiceType.LLM_API, 'anthropic');
  if (Math.random() < 0.5) {
    call(ServiceType.SOCIAL_MEDIA, 'reddit');
    call(ServiceType.SOCIAL_MEDIA, 'mastodon');
  }
}, 160);
const sites = setInterval(() => {
  for (let i = 0; i < 12; i++) call(ServiceType.WEB_SCRAPER, `site-${String(i).padStart(2, '0')}`);
}, 1_000);

function story(): NodeJS.Timeout[] {
  const at = (ms: number, what: string, action: () => void): NodeJS.Timeout =>
    setTimeout(() => {
      console.log(`${(ms / 1000).toFixed(0).padStart(3)} s  ${what}`);
      action();
    }, ms);
  return [
    at(0, 'traffic starts: the LLM platforms are called faster than 4/s', () => {}),
    at(5_000, 'llm_api:anthropic goes down (503): retries, then the circuit opens', () => trouble.outage.add('anthropic')),
    at(8_000, 'llm_api:anthropic is back: the next probe closes the circuit', () => trouble.outage.delete('anthropic')),
    at(11_000, 'social_media:reddit bans the account (403 "suspended"): the platform is suspended', () => trouble.banned.add('reddit')),
  ];
}

throttleManager.on('circuitStateChange', (e) => console.log(`       circuit of ${e.scope}: ${e.from} -> ${e.to}`));
throttleManager.on('suspended', (e) => console.log(`       ${e.scope} suspended until ${new Date(e.until).toLocaleTimeString()}: ${e.reason}`));

const status = createStatusHandler({
  prefix: '/traffic-control',
  // In a real service, guard the routes: authorize: (req) => req.headers['x-admin-token'] === process.env.ADMIN_TOKEN,
});
const server = http.createServer(async (req, res) => {
  if (await status(req, res)) return;
  res.writeHead(302, { location: '/traffic-control/' }).end();
});
await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
console.log(`status page: http://127.0.0.1:${(server.address() as AddressInfo).port}/traffic-control/`);
console.log(`             (JSON: /traffic-control/status and /traffic-control/metrics/llm_api:openai)${keep ? '' : '\n             runs 14 s; --keep keeps it running'}\n`);

let timers = story();
if (keep) {
  setInterval(() => {
    trouble.banned.clear();
    throttleManager.resume(ServiceType.SOCIAL_MEDIA, { platform: 'reddit' });
    console.log('\n--- again ---');
    timers = story();
  }, STORY_MS + 10_000);
} else {
  setTimeout(async () => {
    for (const timer of [...timers, traffic, sites]) clearTimeout(timer);
    const report = throttleManager.getStatusReport();
    console.log('\nstates at the end:', Object.fromEntries(Object.entries(report.scopes).map(([key, scope]) => [key, scope.state])));
    server.closeAllConnections();
    server.close();
    await throttleManager.close();
  }, STORY_MS);
}
