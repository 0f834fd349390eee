import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createFetch, isDegradedError, ThrottleManager } from 'floodgate';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLimiter, createStatusHandler, type LimiterOptions } from 'floodgate/http';
import { LIMITED_SERVER_KINDS, LIMITED_SERVERS, statuses, type LimitedServer } from './limiter-servers.js';

const CHAT = { '/api/v1/chat/*': { requestsPerMinute: 3, name: 'chat' } } as const;

describe.each(LIMITED_SERVER_KINDS)('inbound limiter on %s', (kind) => {
  let manager: ThrottleManager;
  let server: LimitedServer | undefined;
  const start = async (options: LimiterOptions, host?: string): Promise<LimitedServer> => {
    server = await LIMITED_SERVERS[kind]({ manager, ...options }, host);
    return server;
  };

  beforeEach(() => {
    manager = new ThrottleManager({ env: {} });
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await manager.close();
  });

  it('limits each group by its own limits; unmatched paths fall to the default group', async () => {
    const { origin, answered } = await start({ groups: { ...CHAT, '/api/v1/memory/:id': { requestsPerMinute: 1 }, default: { requestsPerMinute: 5 } } });
    expect(await statuses(origin, '/api/v1/chat/send', 4)).toEqual([200, 200, 200, 429]);
    // Case and a trailing slash do not escape the group (Express and Fastify route them alike).
    expect(await statuses(origin, '/API/v1/Chat/other/', 1)).toEqual([429]);
    expect(await statuses(origin, '/api/v1/memory/42', 2)).toEqual([200, 429]);
    expect(await statuses(origin, '/elsewhere?x=1', 6)).toEqual([200, 200, 200, 200, 200, 429]);
    expect(answered).toHaveLength(3 + 1 + 5);
  });

  it('refuses with 429, Retry-After and a small JSON body that shows no key, scope or internals', async () => {
    const { origin } = await start({ groups: CHAT, keys: { actor: ['x-actor'], headersFrom: 'anyone' } });
    const headers = { 'x-actor': 'alice@example.com' };
    await statuses(origin, '/api/v1/chat/a', 3, headers);
    const refused = await fetch(`${origin}/api/v1/chat/a`, { headers });
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);
    expect(refused.headers.get('content-type')).toMatch(/^application\/json/);
    const text = await refused.text();
    expect(JSON.parse(text)).toEqual({ error: 'too_many_requests', retryAfterSeconds: retryAfter });
    expect(text).not.toMatch(/alice|inbound|actor|chat/);
  });

  it('keys by actor then session: one noisy actor never blocks another (headers from a trusted proxy)', async () => {
    const { origin } = await start({ groups: CHAT, trustProxy: ['loopback'] });
    expect(await statuses(origin, '/api/v1/chat/a', 4, { 'x-actor': 'noisy' })).toEqual([200, 200, 200, 429]);
    expect(await statuses(origin, '/api/v1/chat/a', 3, { 'x-user-id': 'quiet' })).toEqual([200, 200, 200]);
    expect(await statuses(origin, '/api/v1/chat/a', 3, { 'x-session-id': 's-1' })).toEqual([200, 200, 200]);
    // No identity: the client address, a key of its own.
    expect(await statuses(origin, '/api/v1/chat/a', 4)).toEqual([200, 200, 200, 429]);
    // Keys are hashed before the manager stores or shows them.
    const scopes = Object.keys(manager.getStatusReport().scopes).filter((key) => key.startsWith('inbound.chat:'));
    expect(scopes).toHaveLength(4);
    for (const key of scopes) expect(key).toMatch(/^inbound\.chat:(actor|session|ip):[A-Za-z0-9_-]{22}$/);
    expect(JSON.stringify(manager.getStatusReport())).not.toMatch(/noisy|quiet|s-1|127\.0\.0\.1/);
  });

  it('caps a group as a whole beside each key: the limit that refused is in the headers, and neither spends the other', async () => {
    const { origin } = await start({ groups: { '/api/v1/chat/*': { requestsPerMinute: 3, name: 'chat', total: { requestsPerMinute: 5 } } }, trustProxy: ['loopback'] });
    const as = (actor: string): Record<string, string> => ({ 'x-actor': actor });
    const first = await fetch(`${origin}/api/v1/chat/a`, { headers: as('a') });
    // Admitted: both quotas, per key first (draft-8 lists every policy).
    expect(first.headers.get('ratelimit-policy')).toBe('"chat";q=3;w=60, "chat.total";q=5;w=60');
    expect(first.headers.get('ratelimit')).toMatch(/^"chat";r=2;t=\d+, "chat.total";r=4;t=\d+$/);
    // a's own limit refuses its 4th without spending the group's quota: b still gets two.
    expect(await statuses(origin, '/api/v1/chat/a', 3, as('a'))).toEqual([200, 200, 429]);
    expect(await statuses(origin, '/api/v1/chat/a', 2, as('b'))).toEqual([200, 200]);
    const refused = await fetch(`${origin}/api/v1/chat/a`, { headers: as('c') });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('ratelimit-policy')).toBe('"chat.total";q=5;w=60');
    expect(refused.headers.get('ratelimit')).toBe(`"chat.total";r=0;t=${refused.headers.get('retry-after')}`);
    // A full group spends no key's quota: c was refused by the group, never counted in its own scope.
    const scopes = manager.getStatusReport().scopes;
    expect(scopes['inbound.chat:total']).toMatchObject({ counters: { requests: 6 } });
    const perKey = Object.entries(scopes).filter(([key]) => /^inbound\.chat:actor:/.test(key));
    expect(perKey.map(([, scope]) => scope.counters.requests).sort()).toEqual([0, 2, 4]);
  });

  it('limits a group with only a group-wide limit as a whole: every key shares it, no scope per key', async () => {
    const { origin } = await start({ groups: { '/api/v1/chat/*': { name: 'chat', total: { requestsPerMinute: 4 } } }, keys: { headersFrom: 'anyone' } });
    const seen = [];
    for (const actor of ['a', 'b', 'c', 'd', 'e']) seen.push(...(await statuses(origin, '/api/v1/chat/a', 1, { 'x-actor': actor })));
    expect(seen).toEqual([200, 200, 200, 200, 429]);
    expect(Object.keys(manager.getStatusReport().scopes).filter((key) => key.startsWith('inbound.chat'))).toEqual(['inbound.chat:total']);
    const headers = (await fetch(`${origin}/api/v1/chat/a`)).headers;
    expect(headers.get('ratelimit-policy')).toBe('"chat.total";q=4;w=60');
  });

  it('uses a key function from any peer; one that throws or finds nothing falls to the next key', async () => {
    const { origin } = await start({
      groups: CHAT,
      keys: {
        actor: (req) => {
          const user = (req.headers as Record<string, string | undefined>)['x-authenticated-user'];
          if (user === 'boom') throw new Error('auth store down');
          return user === undefined ? undefined : Number(user);
        },
      },
    });
    expect(await statuses(origin, '/api/v1/chat/a', 4, { 'x-authenticated-user': '1' })).toEqual([200, 200, 200, 429]);
    expect(await statuses(origin, '/api/v1/chat/a', 3, { 'x-authenticated-user': '2' })).toEqual([200, 200, 200]);
    // A throw, or no user: the client address, one shared key.
    expect(await statuses(origin, '/api/v1/chat/a', 2, { 'x-authenticated-user': 'boom' })).toEqual([200, 200]);
    expect(await statuses(origin, '/api/v1/chat/a', 2)).toEqual([200, 429]);
  });

  it('ignores identity headers from a peer that is no trusted proxy, and warns once', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const { origin } = await start({ groups: CHAT });
    expect(await statuses(origin, '/api/v1/chat/a', 2, { 'x-actor': 'a' })).toEqual([200, 200]);
    expect(await statuses(origin, '/api/v1/chat/a', 2, { 'x-actor': 'b' })).toEqual([200, 429]);
    const codes = warn.mock.calls.map((call) => (call[1] as { code?: string } | undefined)?.code);
    expect(codes).toEqual(['FLOODGATE_UNTRUSTED_IDENTITY_HEADER']);
  });

  it('ignores a spoofed X-Forwarded-For from an untrusted peer (warned once), and follows it from a trusted one', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const untrusted = await start({ groups: CHAT });
    const spoofed = await Promise.all([1, 2, 3, 4].map(async (i) => (await statuses(untrusted.origin, '/api/v1/chat/a', 1, { 'x-forwarded-for': `203.0.113.${i}` }))[0]));
    expect(spoofed.sort()).toEqual([200, 200, 200, 429]);
    expect(warn.mock.calls.map((call) => (call[1] as { code?: string }).code)).toEqual(['FLOODGATE_UNTRUSTED_FORWARDED']);
    expect(String(warn.mock.calls[0]![0])).not.toMatch(/127\.0\.0\.1|203\.0\.113/);
    await untrusted.close();

    const trusted = await start({ groups: CHAT, trustProxy: ['127.0.0.1'] });
    for (let i = 1; i <= 4; i++) expect(await statuses(trusted.origin, '/api/v1/chat/a', 3, { 'x-forwarded-for': `203.0.113.${i}` })).toEqual([200, 200, 200]);
    // The client is the nearest untrusted hop: an address the client prepended itself changes nothing.
    expect(await statuses(trusted.origin, '/api/v1/chat/a', 1, { 'x-forwarded-for': `198.51.100.7, 203.0.113.1` })).toEqual([429]);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it('reads RFC 7239 Forwarded when told to', async () => {
    const { origin } = await start({ groups: CHAT, trustProxy: ['loopback'], forwardedHeader: 'forwarded' });
    expect(await statuses(origin, '/api/v1/chat/a', 4, { forwarded: 'for=192.0.2.60;proto=https' })).toEqual([200, 200, 200, 429]);
    expect(await statuses(origin, '/api/v1/chat/a', 3, { forwarded: 'for="[2001:db8:cafe::17]:4711"' })).toEqual([200, 200, 200]);
  });

  it('keys IPv6 clients by /64 (configurable)', async () => {
    const { origin } = await start({ groups: CHAT, trustProxy: ['loopback'] });
    const from = (address: string): Record<string, string> => ({ 'x-forwarded-for': address });
    expect(await statuses(origin, '/api/v1/chat/a', 2, from('2001:db8:1:2::a'))).toEqual([200, 200]);
    // Another address of the same /64 (written differently): the same key.
    expect(await statuses(origin, '/api/v1/chat/a', 2, from('2001:0db8:0001:0002:ffff:0:0:1'))).toEqual([200, 429]);
    expect(await statuses(origin, '/api/v1/chat/a', 3, from('2001:db8:1:3::a'))).toEqual([200, 200, 200]);
    await server!.close();

    const wide = await start({ groups: CHAT, trustProxy: ['loopback'], keys: { ipv6Subnet: 48 } });
    expect(await statuses(wide.origin, '/api/v1/chat/a', 2, from('2001:db8:1:2::a'))).toEqual([200, 200]);
    expect(await statuses(wide.origin, '/api/v1/chat/a', 2, from('2001:db8:1:ffff::1'))).toEqual([200, 429]);
  });

  it('sends draft-8 RateLimit headers by default, on admitted and refused responses', async () => {
    const { origin } = await start({ groups: CHAT });
    const first = await fetch(`${origin}/api/v1/chat/a`);
    expect(first.headers.get('ratelimit-policy')).toBe('"chat";q=3;w=60');
    expect(first.headers.get('ratelimit')).toMatch(/^"chat";r=2;t=\d+$/);
    await statuses(origin, '/api/v1/chat/a', 2);
    const refused = await fetch(`${origin}/api/v1/chat/a`);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('ratelimit')).toBe(`"chat";r=0;t=${refused.headers.get('retry-after')}`);
  });

  it('sends draft-7, legacy, both, or no RateLimit headers when asked', async () => {
    const seven = await start({ groups: CHAT, headers: 'draft-7' });
    const first = await fetch(`${seven.origin}/api/v1/chat/a`);
    expect(first.headers.get('ratelimit-policy')).toBe('3;w=60');
    expect(first.headers.get('ratelimit')).toMatch(/^limit=3, remaining=2, reset=\d+$/);
    await seven.close();

    const legacy = await start({ groups: CHAT, headers: 'legacy' });
    const before = Math.floor(Date.now() / 1000);
    const answer = await fetch(`${legacy.origin}/api/v1/chat/a`);
    expect(answer.headers.get('x-ratelimit-limit')).toBe('3');
    expect(answer.headers.get('x-ratelimit-remaining')).toBe('2');
    expect(Number(answer.headers.get('x-ratelimit-reset'))).toBeGreaterThanOrEqual(before);
    expect(answer.headers.get('ratelimit')).toBeNull();
    await legacy.close();

    const both = await start({ groups: CHAT, headers: ['draft-8', 'legacy'] });
    const both1 = await fetch(`${both.origin}/api/v1/chat/a`);
    expect(both1.headers.get('ratelimit')).toMatch(/^"chat";r=2/);
    expect(both1.headers.get('x-ratelimit-remaining')).toBe('2');
    await both.close();

    const none = await start({ groups: CHAT, headers: false });
    await statuses(none.origin, '/api/v1/chat/a', 3);
    const refused = await fetch(`${none.origin}/api/v1/chat/a`);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect([...refused.headers.keys()].filter((name) => name.includes('ratelimit'))).toEqual([]);
  });

  it('a token bucket group shows the bucket as its policy', async () => {
    const { origin } = await start({ groups: { '/b/*': { requestsPerSecond: 1, burst: 2, name: 'b' } } });
    const first = await fetch(`${origin}/b/x`);
    expect(first.headers.get('ratelimit-policy')).toBe('"b";q=2;w=2');
    expect(first.headers.get('ratelimit')).toMatch(/^"b";r=1;t=\d$/);
    expect(await statuses(origin, '/b/x', 2)).toEqual([200, 429]);
  });

  it('never limits nor counts health and readiness paths; the exempt list is the user’s', async () => {
    const { origin } = await start({ groups: { default: { requestsPerMinute: 1 } } });
    for (const path of ['/health', '/healthz', '/ready', '/readyz', '/livez']) {
      const answers = await Promise.all([1, 2, 3].map(() => fetch(origin + path)));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
      expect(answers[0]!.headers.get('ratelimit')).toBeNull();
    }
    expect(await statuses(origin, '/app', 2)).toEqual([200, 429]);
    await server!.close();

    const own = await start({ groups: { default: { requestsPerMinute: 1 } }, exempt: ['/internal/*'] });
    expect(await statuses(own.origin, '/internal/metrics', 3)).toEqual([200, 200, 200]);
    expect(await statuses(own.origin, '/healthz', 2)).toEqual([200, 429]);
  });

  it('holds a concurrency slot until the response ends', async () => {
    const { origin, releaseSlow } = await start({ groups: { '/slow/*': { maxConcurrent: 1, name: 'slow' } } });
    const first = fetch(`${origin}/slow/1`);
    // The first is admitted and held by the app: the second is refused while it runs.
    await vi.waitFor(() => expect(manager.getStatusReport().scopes).not.toEqual({}), { timeout: 10_000 });
    expect(await statuses(origin, '/slow/2', 1)).toEqual([429]);
    releaseSlow();
    expect((await first).status).toBe(200);
    await vi.waitFor(async () => expect(await statuses(origin, '/slow/3', 1)).toEqual([200]), { timeout: 10_000 });
  });

  it('refuses a group whose upstream is suspended: 429 by default, 503 when asked, Retry-After the suspension', async () => {
    manager.suspend('llm_api', { durationMs: 120_000, reason: 'ban detected: sk-secret-123' });
    const groups = { '/api/v1/chat/*': { requestsPerMinute: 100, upstream: 'llm_api' } };
    const plain = await start({ groups });
    expect(await statuses(plain.origin, '/api/v1/chat/a', 1)).toEqual([429]);
    expect(await statuses(plain.origin, '/other', 1)).toEqual([200]);
    await plain.close();

    const asked = await start({ groups, refusalStatus: { suspended: 503, circuit_open: 503 } });
    const refused = await fetch(`${asked.origin}/api/v1/chat/a`);
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(100);
    const body = await refused.text();
    expect(JSON.parse(body).error).toBe('service_unavailable');
    expect(body).not.toMatch(/secret|ban|llm/);
    manager.resume('llm_api');
    expect(await statuses(asked.origin, '/api/v1/chat/a', 1)).toEqual([200]);
  });

  it('refuses a group whose upstream circuit is open: 503 when asked, Retry-After until the circuit lets a probe through', async () => {
    manager.configure('provider', { circuitBreakerThreshold: 1, retryAttempts: 0, circuitBreakerResetMs: 45_000 });
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    await expect(manager.execute('provider', async () => Promise.reject(reset))).rejects.toBe(reset);
    expect(manager.getStatusReport().scopes.provider!.circuit.state).toBe('open');
    const { origin } = await start({ groups: { '/api/v1/chat/*': { requestsPerMinute: 100, upstream: 'provider' } }, refusalStatus: { circuit_open: 503 } });
    const refused = await fetch(`${origin}/api/v1/chat/a`);
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(30);
    const body = await refused.text();
    expect(JSON.parse(body)).toEqual({ error: 'service_unavailable', retryAfterSeconds: Number(refused.headers.get('retry-after')) });
    expect(body).not.toMatch(/provider|ECONNRESET|hang up/);
  });

  it('refuses a group with an upstream while the anti-loop guard is degraded: 503 when asked, Retry-After the cooldown', async () => {
    manager.configureGuard({ maxPerMinute: 1, cooldownMs: 90_000 });
    const { origin } = await start({ groups: { '/api/v1/chat/*': { requestsPerMinute: 100, upstream: 'http:provider' } }, refusalStatus: { degraded: 503 } });
    // The guard counts outbound calls (createFetch): the second one in the minute trips it.
    const outbound = createFetch({ provider: 'provider', manager });
    expect((await outbound(`${origin}/other`)).status).toBe(200);
    await expect(outbound(`${origin}/other`)).rejects.toSatisfy(isDegradedError);
    const refused = await fetch(`${origin}/api/v1/chat/a`);
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(60);
    expect(JSON.parse(await refused.text()).error).toBe('service_unavailable');
    // A group without upstreams has nothing to do with outbound calls.
    expect(await statuses(origin, '/elsewhere', 1)).toEqual([200]);
  });

  it("observe mode: a group's limits and closed upstream refuse nothing; each would-be refusal is counted and announced", async () => {
    const seen: string[] = [];
    manager.on('wouldRefuse', (e) => seen.push(`${e.scope.split(':')[0]}:${e.reason}`));
    const groups = {
      '/api/v1/chat/*': { requestsPerMinute: 2, name: 'chat', mode: 'observe', upstream: 'llm_api', total: { requestsPerMinute: 3 } },
      '/strict/*': { requestsPerMinute: 2, name: 'strict' },
    } as const;
    const { origin, answered } = await start({ groups, trustProxy: ['loopback'] });
    expect(await statuses(origin, '/api/v1/chat/a', 4, { 'x-actor': 'a' })).toEqual([200, 200, 200, 200]);
    // Enforce mode beside it, in the same limiter: unchanged.
    expect(await statuses(origin, '/strict/a', 3)).toEqual([200, 200, 429]);
    manager.suspend('llm_api', { durationMs: 60_000, reason: 'test' });
    expect(await statuses(origin, '/api/v1/chat/a', 1, { 'x-actor': 'b' })).toEqual([200]);
    expect(answered).toHaveLength(4 + 2 + 1);
    const chat = Object.entries(manager.getStatusReport().scopes).filter(([key]) => key.startsWith('inbound.chat:'));
    const counts = (kind: string) => chat.filter(([key]) => key.split(':')[1] === kind).map(([, scope]) => scope.counters.wouldRefuseByReason);
    // a's 3rd and 4th are over its own limit (2 a minute); its 4th is over the group's total (3) too,
    // as is b's, which also met the suspended upstream.
    expect(counts('actor')).toEqual(expect.arrayContaining([{ max_wait: 2 }, { suspended: 1 }]));
    expect(counts('actor')).toHaveLength(2);
    expect(counts('total')).toEqual([{ max_wait: 2 }]);
    expect(seen).toEqual(['inbound.chat:max_wait', 'inbound.chat:max_wait', 'inbound.chat:max_wait', 'inbound.chat:suspended', 'inbound.chat:max_wait']);
    for (const [, scope] of chat) expect(scope.mode).toBe('observe');
    // The headers still tell the truth: a's quota and the group's are spent.
    const over = await fetch(`${origin}/api/v1/chat/a`, { headers: { 'x-actor': 'a' } });
    expect(over.status).toBe(200);
    expect(over.headers.get('ratelimit')).toMatch(/^"chat";r=0;t=\d+, "chat.total";r=0;t=\d+$/);
  });

  it("rejects a group's mode that is neither 'enforce' nor 'observe', naming the group", async () => {
    expect(() => createLimiter({ manager, groups: { '/a/*': { requestsPerMinute: 1, mode: 'shadow' as never } } })).toThrow(/groups\['\/a\/\*'\]\.mode.*shadow/);
  });
});

describe('inbound limiter over IPv6 loopback', () => {
  it('keys a client on ::1 by its /64 and answers it like any other', async (context) => {
    const manager = new ThrottleManager({ env: {} });
    let server: LimitedServer;
    try {
      server = await LIMITED_SERVERS['node:http']({ manager, groups: CHAT }, '::1');
    } catch {
      context.skip(); // no IPv6 on this host: the key function is unit-tested in client-address.test.ts
      return;
    }
    try {
      expect(await statuses(server.origin, '/api/v1/chat/a', 4)).toEqual([200, 200, 200, 429]);
      const keys = Object.keys(manager.getStatusReport().scopes);
      expect(keys).toHaveLength(1);
      expect(keys[0]).toMatch(/^inbound\.chat:ip:/);
    } finally {
      await server.close();
      await manager.close();
    }
  });
});

describe('inbound scopes on the read-only status routes', () => {
  it('show hashed keys only: no actor, session or address the clients sent', async () => {
    const manager = new ThrottleManager({ env: {} });
    const limiter = createLimiter({ manager, groups: CHAT, trustProxy: ['loopback'] });
    const status = createStatusHandler({ manager, prefix: '/traffic-control' });
    const server = http.createServer(async (req, res) => {
      if (await status(req, res)) return;
      if (!(await limiter.check(req, res))) return;
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await statuses(origin, '/api/v1/chat/a', 4, { 'x-actor': 'alice@example.com' });
      await statuses(origin, '/api/v1/chat/a', 1, { 'x-session-id': 'sess-0f9e8d7c' });
      await statuses(origin, '/api/v1/chat/a', 1, { 'x-forwarded-for': '203.0.113.77' });
      const report = await (await fetch(`${origin}/traffic-control/status`)).text();
      const keys = Object.keys(JSON.parse(report).scopes as Record<string, unknown>);
      expect(keys.sort().map((key) => key.replace(/[A-Za-z0-9_-]{22}$/, '<hash>'))).toEqual(['inbound.chat:actor:<hash>', 'inbound.chat:ip:<hash>', 'inbound.chat:session:<hash>']);
      const actorKey = keys.find((key) => key.includes(':actor:'))!;
      const metrics = await fetch(`${origin}/traffic-control/metrics/${encodeURIComponent(actorKey)}`);
      expect(metrics.status).toBe(200);
      const scope = await metrics.text();
      expect(JSON.parse(scope).status.counters).toMatchObject({ requests: 4, rateLimited: 1 });
      for (const text of [report, scope]) expect(text).not.toMatch(/alice|example\.com|sess-0f9e8d7c|203\.0\.113/);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await manager.close();
    }
  });
});
