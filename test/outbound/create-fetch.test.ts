/**
 * createFetch against real node:http servers on loopback, with Node's own fetch: statuses,
 * Retry-After, the providers' rate-limit headers, retries and idempotency, streams and aborts.
 */
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  createFetch,
  isCallCancelledError,
  isCallTimeoutError,
  isConfigError,
  isRateLimitedError,
  type ScopeStatus,
  type ThrottleConfig,
  type ThrottleManager,
} from 'floodgate';
import { ROOMY, track } from '../helpers.js';
import { useLoopback, waitFor, type TestServer } from './http-server.js';

let server: TestServer;
let manager: ThrottleManager;

useLoopback((loopback) => {
  server = loopback.server;
  manager = loopback.manager();
});

function setup(overrides: Partial<ThrottleConfig> = {}, extra: { routes?: string[]; idempotencyHeader?: string } = {}): typeof fetch {
  manager.configure('http', { ...ROOMY, ...overrides });
  return createFetch({ provider: 'example', manager, ...extra });
}

function scope(): ScopeStatus {
  const status = manager.getStatusReport().scopes['http:example'];
  if (status === undefined) throw new Error('no scope http:example');
  return status;
}

/** Asserts the scope is paused for `ms` from a response received between `before` and `after`. */
function expectPausedFor(ms: number, before: number, after: number): void {
  const until = scope().pausedUntil;
  expect(until).not.toBeNull();
  // HTTP dates and epoch resets have whole seconds: the reset is within a second of `ms`.
  expect(until!).toBeGreaterThanOrEqual(before + ms - 1_000);
  expect(until!).toBeLessThanOrEqual(after + ms + 1_000);
}

describe('createFetch: answers', () => {
  it('resolves with the Response of a successful call, counted in the scope service:provider', async () => {
    server.handle = (_req, res) => res.end('hello');
    const res = await setup()(`${server.origin}/ping`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('hello');
    expect(res.url).toBe(`${server.origin}/ping`);
    expect(scope().counters).toMatchObject({ requests: 1, successes: 1, failed: 0 });
  });

  it('resolves with an error response whatever its status, its whole body intact, and classifies it under the route label (never the URL)', async () => {
    const body = JSON.stringify({ message: 'Not Found', padding: 'x'.repeat(3_000) });
    server.handle = (_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(body);
    };
    const f = setup({}, { routes: ['/repos/{owner}/{repo}', '/users/{user}'] });
    const res = await f(`${server.origin}/repos/octo/secret-repo?access_token=abc123`);
    expect(res.status).toBe(404);
    expect(await res.text()).toBe(body);
    const other = await f(`${server.origin}/orgs/acme/members/42`, { method: 'delete' });
    expect(other.status).toBe(404);
    await other.arrayBuffer();

    const recent = manager.getErrorStatistics().recent;
    expect(recent.map((e) => e.endpoint)).toEqual(expect.arrayContaining(['GET /repos/{owner}/{repo}', 'DELETE *']));
    expect(recent[0]).toMatchObject({ statusCode: 404, category: 'client' });
    expect(JSON.stringify(recent)).not.toMatch(/secret-repo|abc123|acme/);
    expect(scope().counters).toMatchObject({ requests: 2, failed: 2, retries: 0 });
  });

  it('retries a 503 as the scope decides and resolves with the success', async () => {
    let n = 0;
    server.handle = (_req, res) => {
      res.statusCode = ++n === 1 ? 503 : 200;
      res.end(n === 1 ? 'busy' : 'done');
    };
    const res = await setup({ retryAttempts: 2, backoffBaseMs: 0 })(`${server.origin}/work`);
    expect(await res.text()).toBe('done');
    expect(server.seen).toHaveLength(2);
    expect(scope().counters).toMatchObject({ requests: 1, successes: 1, retries: 1, failures: 1 });
  });

  it('hands back the last error response once the retries are spent', async () => {
    server.handle = (_req, res) => {
      res.statusCode = 502;
      res.end(`attempt ${server.seen.length}`);
    };
    const res = await setup({ retryAttempts: 2, backoffBaseMs: 0 })(`${server.origin}/work`);
    expect(res.status).toBe(502);
    expect(await res.text()).toBe('attempt 3');
    expect(server.seen).toHaveLength(3);
  });

  it('rejects on a network error, after retrying an idempotent request', async () => {
    server.handle = (req, res) => res.socket?.destroy();
    const outcome = await setup({ retryAttempts: 1, backoffBaseMs: 0 })(`${server.origin}/x`).catch((e: unknown) => e);
    expect(outcome).toBeInstanceOf(TypeError); // fetch's own "fetch failed"
    expect(server.seen).toHaveLength(2);
    expect(scope().counters).toMatchObject({ failed: 1, retries: 1 });
  });
});

describe('createFetch: Retry-After', () => {
  it('pauses the scope for Retry-After in seconds', async () => {
    server.handle = (_req, res) => {
      res.writeHead(429, { 'retry-after': '7' });
      res.end('slow down');
    };
    const before = Date.now();
    const res = await setup()(`${server.origin}/x`);
    expectPausedFor(7_000, before, Date.now());
    expect(res.status).toBe(429);
    expect(scope().state).toBe('paused');
  });

  it('pauses the scope for Retry-After as an HTTP date, on a 503', async () => {
    const at = new Date(Date.now() + 30_000);
    server.handle = (_req, res) => {
      res.writeHead(503, { 'retry-after': at.toUTCString() });
      res.end();
    };
    const before = Date.now();
    await setup()(`${server.origin}/x`);
    expectPausedFor(30_000, before, Date.now());
  });

  it('caps a Retry-After beyond maxRetryAfterMs', async () => {
    server.handle = (_req, res) => {
      res.writeHead(429, { 'retry-after': '999999999' });
      res.end();
    };
    const before = Date.now();
    await setup({ maxRetryAfterMs: 5_000 })(`${server.origin}/x`);
    expectPausedFor(5_000, before, Date.now());
  });

  it('plans the retry Retry-After away (longer than the backoff), announced in the retry event', async () => {
    server.handle = (_req, res) => {
      res.writeHead(429, { 'retry-after': '5' });
      res.end();
    };
    const delays: number[] = [];
    manager.on('retry', (event) => delays.push(event.delayMs));
    const controller = new AbortController();
    const call = setup({ retryAttempts: 1, backoffBaseMs: 0 })(`${server.origin}/x`, { signal: controller.signal });
    await waitFor(() => delays.length === 1, 'the retry to be planned');
    expect(delays).toEqual([5_000]);
    controller.abort();
    expect(isCallCancelledError(await call.catch((e: unknown) => e))).toBe(true);
    expect(server.seen).toHaveLength(1);
  });
});

/** Headers a provider sends on a SUCCESSFUL response when the budget is spent, and the pause they ask for. */
const EXHAUSTED: readonly { name: string; headers: () => Record<string, string>; pauseMs: number }[] = [
  { name: 'OpenAI x-ratelimit-*-requests', headers: () => ({ 'x-ratelimit-limit-requests': '3', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '6m0s' }), pauseMs: 360_000 },
  { name: 'OpenAI x-ratelimit-*-tokens', headers: () => ({ 'x-ratelimit-remaining-requests': '5', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '20s' }), pauseMs: 20_000 },
  {
    name: 'Anthropic anthropic-ratelimit-* (RFC 3339)',
    headers: () => ({ 'anthropic-ratelimit-requests-remaining': '0', 'anthropic-ratelimit-requests-reset': new Date(Date.now() + 45_000).toISOString() }),
    pauseMs: 45_000,
  },
  { name: 'GitHub x-ratelimit-* (epoch seconds)', headers: () => ({ 'x-ratelimit-limit': '60', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 600) }), pauseMs: 600_000 },
  { name: 'IETF RateLimit draft 8', headers: () => ({ ratelimit: '"default";r=0;t=90', 'ratelimit-policy': '"default";q=100;w=3600' }), pauseMs: 90_000 },
  { name: 'IETF RateLimit draft 7', headers: () => ({ ratelimit: 'limit=100, remaining=0, reset=120' }), pauseMs: 120_000 },
];

describe('createFetch: the providers rate-limit headers slow the scope before any 429', () => {
  it.each(EXHAUSTED)('$name on a 200 pauses the scope until the reset; the next call never reaches the provider', async ({ headers, pauseMs }) => {
    server.handle = (_req, res) => {
      res.writeHead(200, headers());
      res.end('{}');
    };
    const f = setup({ maxWaitMs: 1_000 });
    const before = Date.now();
    const res = await f(`${server.origin}/v1/chat`);
    expect(res.status).toBe(200);
    await res.text();
    expectPausedFor(pauseMs, before, Date.now());
    const next = await f(`${server.origin}/v1/chat`).catch((e: unknown) => e);
    expect(isRateLimitedError(next) && next.reason).toBe('paused');
    expect(server.seen).toHaveLength(1);
  });

  it('does not pause while budget remains', async () => {
    server.handle = (_req, res) => {
      res.writeHead(200, { 'x-ratelimit-remaining-requests': '1', 'x-ratelimit-reset-requests': '6m0s' });
      res.end();
    };
    await setup()(`${server.origin}/x`);
    expect(scope().pausedUntil).toBeNull();
  });
});

describe('createFetch: idempotency and replays', () => {
  function failOnce(): void {
    server.handle = (_req, res) => {
      res.statusCode = server.seen.length === 1 ? 503 : 201;
      res.end();
    };
  }

  it('does not retry a POST without an idempotency key', async () => {
    failOnce();
    const res = await setup({ retryAttempts: 2, backoffBaseMs: 0 })(`${server.origin}/orders`, { method: 'POST', body: '{"a":1}' });
    expect(res.status).toBe(503);
    expect(server.seen).toHaveLength(1);
  });

  it('retries a POST that carries Idempotency-Key, resending its body', async () => {
    failOnce();
    const res = await setup({ retryAttempts: 2, backoffBaseMs: 0 })(`${server.origin}/orders`, { method: 'POST', body: '{"a":1}', headers: { 'Idempotency-Key': 'k-1' } });
    expect(res.status).toBe(201);
    expect(server.seen.map((r) => [r.body, r.headers['idempotency-key']])).toEqual([
      ['{"a":1}', 'k-1'],
      ['{"a":1}', 'k-1'],
    ]);
  });

  it('honours a configured idempotency header name', async () => {
    failOnce();
    const f = setup({ retryAttempts: 2, backoffBaseMs: 0 }, { idempotencyHeader: 'X-Request-Id' });
    const res = await f(`${server.origin}/orders`, { method: 'PATCH', body: 'x', headers: { 'x-request-id': 'r-9' } });
    expect(res.status).toBe(201);
    expect(server.seen).toHaveLength(2);
  });

  it('never replays a body that is a stream, even for PUT', async () => {
    failOnce();
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('streamed'));
        controller.close();
      },
    });
    const res = await setup({ retryAttempts: 2, backoffBaseMs: 0 })(`${server.origin}/upload`, { method: 'PUT', body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(503);
    expect(server.seen).toHaveLength(1);
    expect(server.seen[0]?.body).toBe('streamed');
  });
});

describe('createFetch: streams hold the concurrency slot until the body ends', () => {
  /** An SSE endpoint: sends one event, then holds the response open until `end()` is called. */
  function sse(): { end: () => void; open: () => number } {
    const open = new Set<ServerResponse>();
    server.handle = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('data: first\n\n');
      open.add(res);
      res.on('close', () => open.delete(res));
    };
    return {
      end: () => {
        for (const res of open) res.end('data: last\n\n');
        open.clear();
      },
      open: () => open.size,
    };
  }

  it('a second call waits (maxConcurrent 1) until the first SSE body ends, and the events arrive untouched', async () => {
    const stream = sse();
    const f = setup({ maxConcurrent: 1 });
    const first = await f(`${server.origin}/events`, { headers: { accept: 'text/event-stream' } });
    expect(first.headers.get('content-type')).toBe('text/event-stream');
    const reader = first.body!.pipeThrough(new TextDecoderStream()).getReader();
    expect((await reader.read()).value).toBe('data: first\n\n');

    const second = track(f(`${server.origin}/events`));
    await waitFor(() => scope().waiting === 1, 'the second call to queue');
    expect(scope().inFlight).toBe(1);
    expect(server.seen).toHaveLength(1);

    stream.end();
    let rest = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += chunk.value;
    expect(rest).toBe('data: last\n\n');
    await waitFor(() => second.state !== 'pending', 'the second call to be answered');
    expect(server.seen).toHaveLength(2);
    await (second.value as Response).body!.cancel();
    expect(scope().inFlight).toBe(0);
  });

  it('an abort mid-stream frees the slot', async () => {
    sse();
    const f = setup({ maxConcurrent: 1 });
    const controller = new AbortController();
    const first = await f(`${server.origin}/events`, { signal: controller.signal });
    const reader = first.body!.getReader();
    await reader.read();
    expect(scope().inFlight).toBe(1);
    controller.abort();
    await expect(reader.read()).rejects.toThrow();
    expect(scope().inFlight).toBe(0);
    const second = await f(`${server.origin}/events`);
    await second.body!.cancel();
    expect(server.seen).toHaveLength(2);
  });

  it('cancelling the body frees the slot and closes the connection', async () => {
    const stream = sse();
    const f = setup({ maxConcurrent: 1 });
    const first = await f(`${server.origin}/events`);
    await waitFor(() => stream.open() === 1, 'the server to hold the stream');
    await first.body!.cancel();
    expect(scope().inFlight).toBe(0);
    await waitFor(() => stream.open() === 0, 'the server to see the stream closed');
  });

  it('the Response is fetch\'s own (type, url); json() frees the slot when it settles', async () => {
    server.handle = (_req, res) => res.end('{"a":1}');
    const f = setup({ maxConcurrent: 1 });
    const res = await f(`${server.origin}/j`);
    expect([res.type, res.url, res.ok, res.bodyUsed]).toEqual(['basic', `${server.origin}/j`, true, false]);
    expect(scope().inFlight).toBe(1);
    expect(await res.json()).toEqual({ a: 1 });
    expect(res.bodyUsed).toBe(true);
    expect(scope().inFlight).toBe(0);
  });

  it('a body read to its end with text() frees the slot', async () => {
    server.handle = (_req, res) => res.end('x'.repeat(100_000));
    const f = setup({ maxConcurrent: 1 });
    const res = await f(`${server.origin}/big`);
    expect(scope().inFlight).toBe(1);
    expect((await res.text()).length).toBe(100_000);
    expect(scope().inFlight).toBe(0);
  });
});

describe('createFetch: signals and timeouts', () => {
  it('an abort while waiting for admission frees the place in the queue; the call rejects with CallCancelledError', async () => {
    server.handle = (_req, res) => res.write('open'); // never ends
    const f = setup({ maxConcurrent: 1 });
    const first = await f(`${server.origin}/a`);
    const controller = new AbortController();
    const second = f(`${server.origin}/b`, { signal: controller.signal });
    await waitFor(() => scope().waiting === 1, 'the second call to queue');
    controller.abort();
    const outcome = await second.catch((e: unknown) => e);
    expect(isCallCancelledError(outcome)).toBe(true);
    expect(scope().waiting).toBe(0);
    expect(scope().counters.cancelled).toBe(1);
    await first.body!.cancel();
    expect(server.seen).toHaveLength(1);
  });

  it('an abort before the headers rejects as fetch does and is not counted against the provider', async () => {
    server.handle = () => {}; // never answers
    const f = setup({ retryAttempts: 2, backoffBaseMs: 0 });
    const controller = new AbortController();
    const call = f(`${server.origin}/slow`, { signal: controller.signal });
    await waitFor(() => server.seen.length === 1, 'the request to arrive');
    controller.abort();
    const outcome = await call.catch((e: unknown) => e);
    expect((outcome as Error).name).toBe('AbortError');
    expect(server.seen).toHaveLength(1);
    expect(scope().circuit.consecutiveFailures).toBe(0);
  });

  it("the scope's timeoutMs aborts an attempt whose headers do not come, and its connection", async () => {
    let closed = false;
    server.handle = (_req, res) => res.on('close', () => (closed = true)); // never answers
    const outcome = await setup({ timeoutMs: 50 })(`${server.origin}/slow`).catch((e: unknown) => e);
    expect(isCallTimeoutError(outcome)).toBe(true);
    // On a busy machine the attempt may time out before the request reached the server: then nothing is left open there either.
    await waitFor(() => closed || server.seen.length === 0, 'the server to see the request aborted', 15_000);
  }, 20_000); // real sockets on a busy machine: a generous bound, nothing timed
});

describe('createFetch: options', () => {
  it('refuses bad options with a ConfigError naming the field', () => {
    const cases: [unknown, string][] = [
      [{}, 'provider'],
      [{ provider: '' }, 'provider'],
      [{ provider: 'x', routes: ['repos/{a}'] }, 'routes[0]'],
      [{ provider: 'x', routes: ['/a/{b}c'] }, 'routes[0]'],
      [{ provider: 'x', idempotencyHeader: 'bad header' }, 'idempotencyHeader'],
      [{ provider: 'x', manager: {} }, 'manager'],
      [{ provider: 'x', retries: 3 }, 'retries'],
    ];
    for (const [options, field] of cases) {
      let thrown: unknown;
      try {
        createFetch({ manager, ...(options as object) } as never);
      } catch (error) {
        thrown = error;
      }
      expect(isConfigError(thrown) && thrown.field).toBe(field);
    }
  });

  it('a hostile init (throwing getters) rejects the call, and nothing is left taken', async () => {
    const f = setup({ maxConcurrent: 1 });
    for (const key of ['method', 'signal', 'headers', 'body']) {
      const init = Object.defineProperty({ method: 'POST' }, key, {
        get() {
          throw new Error(`no ${key}`);
        },
      });
      await expect(f(`${server.origin}/x`, init as RequestInit)).rejects.toThrow(`no ${key}`);
    }
    expect(scope().inFlight).toBe(0);
    expect((await f(`${server.origin}/x`)).status).toBe(200);
  });

  it('uses the given fetch, and patches nothing global', async () => {
    const seen: string[] = [];
    const original = globalThis.fetch;
    const f = createFetch({ provider: 'example', manager, fetch: (input, init) => (seen.push(String(input)), original(input, init)) });
    manager.configure('http', ROOMY);
    await (await f(`${server.origin}/own`)).text();
    expect(seen).toEqual([`${server.origin}/own`]);
    expect(globalThis.fetch).toBe(original);
  });
});
