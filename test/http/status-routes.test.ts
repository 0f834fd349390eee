import http from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ThrottleManager } from 'floodgate';
import { statusRouter } from 'floodgate/express';
import { createStatusHandler } from 'floodgate/http';
import { SVC, configErrorOf, roomy } from '../helpers.js';
import { OTHER_ROUTE, PREFIX, readEvents, SERVER_KINDS, SERVERS, type RunningServer, type StatusServerOptions } from './servers.js';

const SECRET_KEY = 'sk-proj-Zx81Kq0aLmN3vB7cD9eF';
const SECRET_REASON = `banned: upstream said "invalid api_key=hunter2hunter2" for ${SECRET_KEY} (Authorization: Bearer abcDEF123456789xyz)`;
const SECRETS = [SECRET_KEY, 'hunter2hunter2', 'abcDEF123456789xyz'];
const MUTATING = ['POST', 'PUT', 'PATCH', 'DELETE'];

/** A GET with node's client, which (unlike fetch) sends exactly the Accept-Encoding given and decodes nothing. */
function rawGet(url: URL, acceptEncoding: string | undefined): Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
}

describe.each(SERVER_KINDS)('status routes on %s', (kind) => {
  let manager: ThrottleManager;
  let server: RunningServer | undefined;
  const start = async (options: Partial<StatusServerOptions> = {}): Promise<RunningServer> => {
    server = await SERVERS[kind]({ manager, ...options });
    return server;
  };

  beforeEach(async () => {
    manager = new ThrottleManager({ env: {} });
    roomy(manager);
    await manager.execute(SVC, async () => 'ok');
    await manager.execute(SVC, async () => 'ok', { platform: 'reddit' });
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await manager.close();
  });

  it('GET <prefix>/status serves the status report as JSON, uncached, nosniff', async () => {
    const { base } = await start();
    const response = await fetch(`${base}/status`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const report = await response.json();
    expect(Object.keys(report.scopes).sort()).toEqual([SVC, `${SVC}:reddit`]);
    expect(report.scopes[SVC].counters.successes).toBe(1);
    expect(report.scopes[`${SVC}:reddit`].platform).toBe('reddit');
    expect(report.storeHealth.status).toBe('ok');
  });

  it('GET <prefix>/metrics/:scope serves one scope (percent-encoded keys too); an unknown scope is a 404', async () => {
    const { base } = await start();
    await manager.execute(SVC, async () => 'ok', { platform: 'reddit' });
    const one = await fetch(`${base}/metrics/${encodeURIComponent(`${SVC}:reddit`)}`);
    expect(one.status).toBe(200);
    expect(one.headers.get('cache-control')).toBe('no-store');
    const body = await one.json();
    expect(body.scope).toBe(`${SVC}:reddit`);
    expect(body.status.counters.successes).toBe(2);
    expect(typeof body.generatedAt).toBe('number');
    expect((await fetch(`${base}/metrics/${SVC}:reddit`)).status).toBe(200); // a raw colon works too

    const unknown = await fetch(`${base}/metrics/nope`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'unknown scope', scope: 'nope' });
    expect((await fetch(`${base}/metrics/%E0%A4%A`)).status).toBe(400);
  });

  it('GET <prefix>/ serves the page with a strict Content-Security-Policy; its files come from the same routes', async () => {
    const { base } = await start();
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const html = await page.text();
    // Nothing inline and nothing from elsewhere: every script and stylesheet is a relative URL.
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(urls.sort()).toEqual(['favicon.svg', 'status-page.css', 'status-page.js']);
    for (const [file, type] of [['status-page.js', 'text/javascript'], ['status-page.css', 'text/css'], ['favicon.svg', 'image/svg+xml']]) {
      const asset = await fetch(`${base}/${file}`);
      expect(asset.status, file).toBe(200);
      expect(asset.headers.get('content-type'), file).toContain(type);
      expect(asset.headers.get('x-content-type-options'), file).toBe('nosniff');
      expect((await asset.arrayBuffer()).byteLength, file).toBeGreaterThan(100);
    }
  });

  it('<prefix> without its slash redirects to <prefix>/ with a relative Location (the page loads its files relatively)', async () => {
    const { base, origin } = await start();
    const response = await fetch(base, { redirect: 'manual' });
    expect(response.status).toBe(308);
    expect(new URL(response.headers.get('location')!, base).href).toBe(`${origin}${PREFIX}/`);
  });

  it('compresses for a client that accepts it (brotli first, gzip), and only then', async () => {
    const { base } = await start();
    for (let i = 0; i < 20; i++) await manager.execute(SVC, async () => 'ok', { platform: `user-${i}` });
    const url = new URL(`${base}/status`);
    for (const [accept, encoding] of [['gzip, deflate, br', 'br'], ['gzip', 'gzip'], [undefined, undefined]] as const) {
      const { headers, body } = await rawGet(url, accept);
      expect(headers['content-encoding'], String(accept)).toBe(encoding);
      expect(headers.vary).toBe('accept-encoding');
      const text = (encoding === 'br' ? brotliDecompressSync(body) : encoding === 'gzip' ? gunzipSync(body) : body).toString();
      expect(Object.keys(JSON.parse(text).scopes)).toHaveLength(22);
    }
    const page = await rawGet(new URL(`${base}/status-page.js`), 'br');
    expect(page.headers['content-encoding']).toBe('br');
    expect(brotliDecompressSync(page.body).toString()).toContain('textContent');
  });

  it('HEAD answers like GET without a body', async () => {
    const { base } = await start();
    const response = await fetch(`${base}/status`, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await response.text()).toBe('');
  });

  it('is read-only: every other method answers 405 with Allow, and changes nothing', async () => {
    const { base } = await start();
    manager.suspend(SVC, { reason: 'maintenance', durationMs: 60_000 });
    const before = manager.getStatusReport().scopes[SVC];
    for (const path of ['/status', `/metrics/${SVC}`, '/', '/status-page.js', '/events']) {
      for (const method of MUTATING) {
        const response = await fetch(`${base}${path}`, { method, body: method === 'DELETE' ? undefined : '{"resume":true}', headers: { 'content-type': 'application/json' } });
        expect(response.status, `${method} ${path}`).toBe(405);
        expect(response.headers.get('allow'), `${method} ${path}`).toBe('GET, HEAD');
      }
    }
    const after = manager.getStatusReport().scopes[SVC];
    expect(after?.suspension).toEqual(before?.suspension);
    expect(after?.counters).toEqual(before?.counters);
  });

  it('lets every other request through to the app', async () => {
    const { origin, base } = await start();
    expect(await (await fetch(`${origin}${OTHER_ROUTE}`)).text()).toBe('app');
    expect((await fetch(`${base}/not-a-route`)).status).toBe(404);
    expect((await fetch(`${origin}${PREFIX}-other/status`)).status).toBe(404);
  });

  it('authorize: false, a throw or a rejection answers 403 on every route; true serves', async () => {
    const seen: string[] = [];
    const { base } = await start({
      authorize: (req) => {
        const token = req.headers['x-admin-token'];
        seen.push(String(token));
        if (token === 'throw') throw new Error('guard broke');
        if (token === 'reject') return Promise.reject(new Error('guard broke'));
        return token === 'let-me-in';
      },
    });
    for (const path of ['/status', `/metrics/${SVC}`, '/', '/status-page.js', '/events']) {
      for (const token of [undefined, 'wrong', 'throw', 'reject']) {
        const response = await fetch(`${base}${path}`, { headers: token === undefined ? {} : { 'x-admin-token': token } });
        expect(response.status, `${path} with ${token}`).toBe(403);
        expect(await response.text()).not.toContain(SVC);
      }
      // A mutation is refused before it is even looked at.
      expect((await fetch(`${base}${path}`, { method: 'POST' })).status).toBe(403);
    }
    const allowed = await fetch(`${base}/status`, { headers: { 'x-admin-token': 'let-me-in' } });
    expect(allowed.status).toBe(200);
    expect(Object.keys((await allowed.json()).scopes)).toContain(SVC);
    expect(seen).toContain('let-me-in');
  });

  it('shows no secret: a suspension reason holding credentials is redacted in /status, /metrics and the event stream', async () => {
    const { base } = await start();
    const abort = new AbortController();
    const stream = await fetch(`${base}/events`, { signal: abort.signal });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(stream.headers.get('cache-control')).toBe('no-store');
    const events = readEvents(stream, (seen) => seen.some((e) => e.event === 'suspended'));
    // The stream's listeners are attached once its head has been written: the fetch above resolved.
    manager.suspend(SVC, { platform: 'reddit', reason: SECRET_REASON, durationMs: 60_000 });
    const received = await events;
    abort.abort();

    const status = await (await fetch(`${base}/status`)).text();
    const metrics = await (await fetch(`${base}/metrics/${SVC}:reddit`)).text();
    const suspended = received.find((e) => e.event === 'suspended')!;
    for (const text of [status, metrics, suspended.raw]) {
      for (const secret of SECRETS) expect(text).not.toContain(secret);
      expect(text).toContain('[REDACTED]');
      expect(text).toContain('banned: upstream said');
    }
    expect(suspended.data).toMatchObject({ scope: `${SVC}:reddit`, platform: 'reddit', service: SVC });
    expect(JSON.parse(status).scopes[`${SVC}:reddit`].state).toBe('suspended');
  });

  it("platforms: 'hash' shows each platform as an HMAC, in the report, in /metrics and in events", async () => {
    manager.suspend(SVC, { platform: 'user-4711', reason: 'ban', durationMs: 60_000 });
    const { base } = await start({ platforms: 'hash' });
    const text = await (await fetch(`${base}/status`)).text();
    expect(text).not.toContain('user-4711');
    expect(text).not.toContain('reddit');
    const keys = Object.keys(JSON.parse(text).scopes).sort();
    expect(keys[0]).toBe(SVC);
    expect(keys.slice(1)).toEqual([expect.stringMatching(new RegExp(`^${SVC}:#[0-9a-f]{12}$`)), expect.stringMatching(new RegExp(`^${SVC}:#[0-9a-f]{12}$`))]);
    const suspendedKey = keys.find((key) => JSON.parse(text).scopes[key].state === 'suspended')!;
    const metrics = await fetch(`${base}/metrics/${encodeURIComponent(suspendedKey)}`);
    expect(metrics.status).toBe(200);
    expect((await metrics.json()).status.platform).toBe(suspendedKey.slice(SVC.length + 1));
    expect((await fetch(`${base}/metrics/${SVC}:user-4711`)).status).toBe(404);

    const abort = new AbortController();
    const stream = await fetch(`${base}/events`, { signal: abort.signal });
    const events = readEvents(stream, (seen) => seen.length > 0);
    manager.resume(SVC, { platform: 'user-4711' });
    const [resumed] = await events;
    abort.abort();
    expect(resumed?.raw).not.toContain('user-4711');
    expect(resumed?.data).toMatchObject({ scope: suspendedKey, cause: 'manual' });
  });

  it('events: false leaves <prefix>/events to the app', async () => {
    const { base } = await start({ events: false });
    expect((await fetch(`${base}/events`)).status).toBe(404);
    expect((await fetch(`${base}/status`)).status).toBe(200);
  });
});

describe('event streams', () => {
  it('stop listening when the client goes away; past 100 open streams a new one is refused with 503', async () => {
    const manager = new ThrottleManager({ env: {} });
    const server = await SERVERS['node:http']({ manager });
    const url = new URL(`${server.base}/events`);
    const open = (): Promise<http.ClientRequest & { status?: number }> =>
      new Promise((resolve, reject) => {
        const request = http.get(url, { agent: false }, (res) => {
          Object.assign(request, { status: res.statusCode });
          res.resume();
          resolve(request);
        });
        request.on('error', reject);
      });
    try {
      const streams = await Promise.all(Array.from({ length: 100 }, open));
      expect(streams.every((s) => s.status === 200)).toBe(true);
      expect(manager.listenerCount('suspended')).toBe(100);
      const refused = await open();
      expect(refused.status).toBe(503);
      refused.destroy();
      streams[0]!.destroy();
      await vi.waitFor(() => expect(manager.listenerCount('suspended')).toBe(99), { timeout: 10_000 });
      const again = await open();
      expect(again.status).toBe(200);
      for (const stream of [...streams, again]) stream.destroy();
      await vi.waitFor(() => {
        for (const name of ['suspended', 'resumed', 'circuitStateChange', 'banDetected', 'paused', 'storeHealth'] as const) expect(manager.listenerCount(name)).toBe(0);
      }, { timeout: 10_000 });
    } finally {
      await server.close();
      await manager.close();
    }
  });

  it("HEAD answers the stream's head and ends", async () => {
    const manager = new ThrottleManager({ env: {} });
    const server = await SERVERS['node:http']({ manager });
    try {
      const response = await fetch(`${server.base}/events`, { method: 'HEAD' });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      expect(manager.listenerCount('suspended')).toBe(0);
    } finally {
      await server.close();
      await manager.close();
    }
  });
});

describe('options', () => {
  it('bad options are ConfigErrors naming the field', () => {
    const cases: [() => unknown, string][] = [
      [() => createStatusHandler({ prefix: 'status' }), 'prefix'],
      [() => createStatusHandler({ prefix: '/a?b' }), 'prefix'],
      [() => createStatusHandler({} as never), 'prefix'],
      [() => createStatusHandler({ prefix: '/s', authorize: 'yes' as never }), 'authorize'],
      [() => createStatusHandler({ prefix: '/s', manager: {} as never }), 'manager'],
      [() => createStatusHandler({ prefix: '/s', platforms: 'hide' as never }), 'platforms'],
      [() => createStatusHandler({ prefix: '/s', events: 'yes' as never }), 'events'],
      [() => statusRouter({ prefix: 'x' }), 'prefix'],
    ];
    for (const [make, field] of cases) expect(configErrorOf(make).message).toContain(field);
  });

  it('statusRouter({ prefix }) serves under that path when the router is mounted at the root', async () => {
    const { default: express } = await import('express');
    const http = await import('node:http');
    const manager = new ThrottleManager({ env: {} });
    await manager.execute(SVC, async () => 1);
    const app = express();
    app.use(statusRouter({ manager, prefix: '/ops/tc/' }));
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      expect(Object.keys((await (await fetch(`${origin}/ops/tc/status`)).json()).scopes)).toEqual([SVC]);
      const redirect = await fetch(`${origin}/ops/tc`, { redirect: 'manual' });
      expect(new URL(redirect.headers.get('location')!, `${origin}/ops/tc`).pathname).toBe('/ops/tc/');
      expect((await fetch(`${origin}/ops/tc/`)).headers.get('content-type')).toContain('text/html');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await manager.close();
    }
  });

  it('the process-wide manager is the default', async () => {
    const { throttleManager } = await import('floodgate');
    const http = await import('node:http');
    const handler = createStatusHandler({ prefix: '/' });
    await throttleManager.execute('status_default_manager_test', async () => 1);
    const server = http.createServer((req, res) => void handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const report = await (await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/status`)).json();
      expect(report.scopes.status_default_manager_test.counters.successes).toBe(1);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      throttleManager.reset();
    }
  });
});
