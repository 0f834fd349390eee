/**
 * floodgate/undici: the interceptor on a real undici Agent against real node:http servers on
 * loopback: limits, Retry-After, header pauses and token figures, retries and idempotency,
 * streams holding the slot, aborts, the guard.
 */
import type { ServerResponse } from 'node:http';
import { Agent, fetch as undiciFetch, request, type Dispatcher } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isConfigError, isDegradedError, isRateLimitedError, type ScopeStatus, type ThrottleConfig, type ThrottleManager } from 'floodgate';
import { floodgateInterceptor, type InterceptorOptions } from 'floodgate/undici';
import { ROOMY, track } from '../helpers.js';
import { useLoopback, waitFor, type TestServer } from './http-server.js';

let server: TestServer;
let manager: ThrottleManager;
let agent: Agent;

useLoopback((loopback) => {
  server = loopback.server;
  manager = loopback.manager();
});

// Registered after the loopback's hooks, so destroyed before the manager and the server close.
beforeEach(() => {
  agent = new Agent({ keepAliveTimeout: 10_000 });
});

afterEach(async () => {
  await agent.destroy();
});

function setup(overrides: Partial<ThrottleConfig> = {}, options: Partial<InterceptorOptions> = {}): Dispatcher {
  manager.configure('http', { ...ROOMY, ...overrides });
  return agent.compose(floodgateInterceptor({ provider: 'example', manager, ...options }));
}

function scope(): ScopeStatus {
  const status = manager.getStatusReport().scopes['http:example'];
  if (status === undefined) throw new Error('no scope http:example');
  return status;
}

describe('floodgate/undici: answers', () => {
  it('passes a success through, counted in service:provider under the route label', async () => {
    server.handle = (_req, res) => res.end('hello');
    const dispatcher = setup({}, { routes: ['/repos/{owner}/{repo}'] });
    const res = await request(`${server.origin}/repos/octo/secret?token=abc`, { dispatcher });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('hello');
    expect(scope().counters).toMatchObject({ requests: 1, successes: 1 });
    server.handle = (_req, res) => {
      res.statusCode = 404;
      res.end();
    };
    await (await request(`${server.origin}/repos/octo/secret?token=abc`, { dispatcher })).body.dump();
    const recent = manager.getErrorStatistics().recent;
    expect(recent[0]).toMatchObject({ statusCode: 404, endpoint: 'GET /repos/{owner}/{repo}' });
    expect(JSON.stringify(recent)).not.toMatch(/secret|abc/);
  });

  it("retries a 503 and hands the handler only the success; undici's fetch works through it too", async () => {
    let n = 0;
    server.handle = (_req, res) => {
      res.statusCode = ++n % 2 === 1 ? 503 : 200;
      res.end(n % 2 === 1 ? 'busy' : `done ${n}`);
    };
    const dispatcher = setup({ retryAttempts: 2, backoffBaseMs: 0 });
    const res = await request(`${server.origin}/work`, { dispatcher });
    expect([res.statusCode, await res.body.text()]).toEqual([200, 'done 2']);
    const viaFetch = await undiciFetch(`${server.origin}/work`, { dispatcher });
    expect([viaFetch.status, await viaFetch.text()]).toEqual([200, 'done 4']);
    expect(server.seen).toHaveLength(4);
    expect(scope().counters).toMatchObject({ requests: 2, successes: 2, retries: 2 });
  });

  it('hands over the last error response whole once the retries are spent, classified under its status', async () => {
    const body = JSON.stringify({ error: 'upstream', padding: 'y'.repeat(5_000) });
    server.handle = (_req, res) => {
      res.writeHead(502, { 'content-type': 'application/json', 'x-attempt': String(server.seen.length) });
      res.end(body);
    };
    const res = await request(`${server.origin}/work`, { dispatcher: setup({ retryAttempts: 1, backoffBaseMs: 0 }) });
    expect(res.statusCode).toBe(502);
    expect(res.headers['x-attempt']).toBe('2');
    expect(await res.body.text()).toBe(body);
    expect(manager.getErrorStatistics().recent[0]).toMatchObject({ statusCode: 502, endpoint: 'GET *' });
  });

  it('does not retry a POST without an idempotency key, and retries one that carries it', async () => {
    server.handle = (_req, res) => {
      res.statusCode = 503;
      res.end();
    };
    const dispatcher = setup({ retryAttempts: 2, backoffBaseMs: 0 });
    const once = await request(`${server.origin}/charge`, { dispatcher, method: 'POST', body: 'a=1' });
    await once.body.dump();
    expect(server.seen).toHaveLength(1);
    const keyed = await request(`${server.origin}/charge`, { dispatcher, method: 'POST', body: 'a=1', headers: { 'Idempotency-Key': 'k1' } });
    await keyed.body.dump();
    expect(server.seen.map((r) => r.body)).toEqual(['a=1', 'a=1', 'a=1', 'a=1']);
  });
});

describe('floodgate/undici: provider signals', () => {
  it('429 with Retry-After pauses the scope; the next request is held', async () => {
    server.handle = (_req, res) => {
      res.writeHead(429, { 'retry-after': '30' });
      res.end('slow down');
    };
    const dispatcher = setup({ maxWaitMs: 0 });
    const before = Date.now();
    const res = await request(`${server.origin}/x`, { dispatcher });
    expect(res.statusCode).toBe(429);
    await res.body.dump();
    expect(scope().pausedUntil).toBeGreaterThanOrEqual(before + 29_000);
    const held = await request(`${server.origin}/x`, { dispatcher }).catch((e: unknown) => e);
    expect(isRateLimitedError(held)).toBe(true);
    expect(server.seen).toHaveLength(1);
  });

  it("a success whose rate-limit headers say nothing is left pauses the scope until the reset (GitHub's headers)", async () => {
    const reset = Math.ceil(Date.now() / 1000) + 40;
    server.handle = (_req, res) => {
      res.writeHead(200, { 'x-ratelimit-limit': '60', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) });
      res.end('[]');
    };
    const res = await request(`${server.origin}/repos/a/b`, { dispatcher: setup() });
    await res.body.text();
    expect(scope().pausedUntil).toBeGreaterThanOrEqual(reset * 1000 - 1_000);
    expect(scope().pausedUntil).toBeLessThanOrEqual(reset * 1000 + 1_000);
  });

  it("OpenAI's token figures feed the token windows, with a cost computed from the dispatch options", async () => {
    server.handle = (_req, res) => {
      res.writeHead(200, { 'x-ratelimit-limit-tokens': '10000', 'x-ratelimit-remaining-tokens': '1500', 'x-ratelimit-reset-tokens': '8s' });
      res.end('{}');
    };
    const dispatcher = setup({ tokensPerMinute: 10_000 }, { cost: (req) => (typeof req.body === 'string' ? req.body.length : 0) });
    const res = await request(`${server.origin}/v1/chat/completions`, { dispatcher, method: 'POST', body: 'x'.repeat(300) });
    await res.body.dump();
    expect(scope().limits.tokensRemaining?.total).toBe(1_500);
  });
});

describe('floodgate/undici: streams and aborts', () => {
  function sse(): { end(): void } {
    let open: ServerResponse | null = null;
    server.handle = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      open = res;
    };
    return { end: () => open?.end('data: last\n\n') };
  }

  it('holds the slot (maxConcurrent 1) until the streamed body ends; the next request waits in line', async () => {
    const stream = sse();
    const dispatcher = setup({ maxConcurrent: 1 });
    const first = await request(`${server.origin}/events`, { dispatcher });
    expect(first.headers['content-type']).toBe('text/event-stream');
    const chunks: string[] = [];
    first.body.setEncoding('utf8').on('data', (chunk: string) => chunks.push(chunk));
    await waitFor(() => chunks.length === 1, 'the first event');

    const second = track(request(`${server.origin}/events`, { dispatcher }));
    await waitFor(() => scope().waiting === 1, 'the second request to queue');
    expect(scope().inFlight).toBe(1);
    expect(server.seen).toHaveLength(1);

    stream.end();
    await waitFor(() => second.state !== 'pending', 'the second request to be answered');
    expect(chunks.join('')).toBe('data: first\n\ndata: last\n\n');
    expect(server.seen).toHaveLength(2);
    (second.value as Dispatcher.ResponseData).body.destroy();
    await waitFor(() => scope().inFlight === 0, 'the slot to be freed');
  });

  it('an abort mid-stream frees the slot', async () => {
    sse();
    const dispatcher = setup({ maxConcurrent: 1 });
    const controller = new AbortController();
    const first = await request(`${server.origin}/events`, { dispatcher, signal: controller.signal });
    expect(scope().inFlight).toBe(1);
    const failed = new Promise((resolve) => first.body.on('error', resolve));
    first.body.resume();
    controller.abort();
    await failed;
    await waitFor(() => scope().inFlight === 0, 'the slot to be freed');
  });

  it('an abort while waiting for admission takes the request out of the queue, with the caller’s reason', async () => {
    server.handle = (_req, res) => res.write('open'); // never ends
    const dispatcher = setup({ maxConcurrent: 1 });
    const first = await request(`${server.origin}/a`, { dispatcher });
    const controller = new AbortController();
    const second = request(`${server.origin}/b`, { dispatcher, signal: controller.signal }).catch((e: unknown) => e);
    await waitFor(() => scope().waiting === 1, 'the second request to queue');
    controller.abort();
    const outcome = (await second) as Error;
    expect(outcome.name).toMatch(/Abort/);
    expect(scope().waiting).toBe(0);
    expect(scope().counters.cancelled).toBe(1);
    first.body.destroy();
    expect(server.seen).toHaveLength(1);
  });

  it("the scope's timeoutMs aborts an attempt whose headers do not come", async () => {
    let closed = false;
    server.handle = (_req, res) => res.on('close', () => (closed = true)); // never answers
    const outcome = await request(`${server.origin}/slow`, { dispatcher: setup({ timeoutMs: 50 }) }).catch((e: unknown) => e);
    expect((outcome as Error).name).toBe('CallTimeoutError');
    // On a busy machine the attempt may time out before the request reached the server: then nothing is left open there either.
    await waitFor(() => closed || server.seen.length === 0, 'the server to see the request aborted', 15_000);
  }, 20_000); // real sockets on a busy machine: a generous bound, nothing timed
});

describe('floodgate/undici: guard and options', () => {
  it('past the guard cap, requests are refused with DegradedError', async () => {
    manager.configureGuard({ maxPerMinute: 2 });
    const dispatcher = setup();
    for (let i = 0; i < 2; i++) await (await request(`${server.origin}/x`, { dispatcher })).body.dump();
    const third = await request(`${server.origin}/x`, { dispatcher }).catch((e: unknown) => e);
    expect(isDegradedError(third)).toBe(true);
    const fourth = await request(`${server.origin}/x`, { dispatcher }).catch((e: unknown) => e);
    expect(isDegradedError(fourth)).toBe(true);
    expect(server.seen).toHaveLength(2);
  });

  it('a scope in observe mode meets degraded mode as createFetch does: counted as `degraded`, the request is sent', async () => {
    manager.configureGuard({ maxPerMinute: 1 });
    const dispatcher = setup({ mode: 'observe' });
    for (let i = 0; i < 3; i++) expect((await (await request(`${server.origin}/x`, { dispatcher })).body.text())).toBe('ok');
    expect(server.seen).toHaveLength(3);
    expect(manager.getStatusReport().guard).toMatchObject({ state: 'degraded' });
    expect(scope().counters).toMatchObject({ requests: 3, successes: 3, rejected: 0, wouldRefuseByReason: { degraded: 2 } });
  });

  it('refuses bad options with a ConfigError naming the field', () => {
    const bad = (options: unknown): unknown => {
      try {
        floodgateInterceptor(options as InterceptorOptions);
      } catch (error) {
        return isConfigError(error) ? error.field : error;
      }
      return 'accepted';
    };
    expect(bad({ provider: '' })).toBe('provider');
    expect(bad({ provider: 'x', fetch })).toBe('fetch');
    expect(bad({ provider: 'x', routes: ['no-slash'] })).toBe('routes[0]');
    expect(bad({ provider: 'x', cost: { input: -1, output: 0 } })).toBe('cost.input');
  });
});
