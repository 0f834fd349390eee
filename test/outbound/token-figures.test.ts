/**
 * Token figures from the providers' headers (OpenAI, Anthropic) feed the scope's token windows:
 * real node:http servers on loopback, Node's own fetch, read back through the status report.
 */
import { describe, expect, it } from 'vitest';
import { createFetch, isConfigError, isRateLimitedError, type ScopeStatus, type ThrottleConfig, type ThrottleManager } from 'floodgate';
import { ROOMY } from '../helpers.js';
import { useLoopback, type TestServer } from './http-server.js';

let server: TestServer;
let manager: ThrottleManager;

useLoopback((loopback) => {
  server = loopback.server;
  manager = loopback.manager();
});

/** Every response carries `headers`; `maxWaitMs: 0` makes a call that does not fit fail at once instead of waiting. */
function answerWith(headers: Record<string, string>): void {
  server.handle = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', ...headers });
    res.end('{"ok":true}');
  };
}

function llm(config: Partial<ThrottleConfig>, cost: Parameters<typeof createFetch>[0]['cost']): typeof fetch {
  manager.configure('llm', { ...ROOMY, maxWaitMs: 0, ...config });
  return createFetch({ provider: 'openai', service: 'llm', manager, cost });
}

function scope(): ScopeStatus {
  const status = manager.getStatusReport().scopes['llm:openai'];
  if (status === undefined) throw new Error('no scope llm:openai');
  return status;
}

const OPENAI = (remaining: number, reset = '6s'): Record<string, string> => ({
  'x-ratelimit-limit-requests': '5000',
  'x-ratelimit-remaining-requests': '4999',
  'x-ratelimit-reset-requests': '12ms',
  'x-ratelimit-limit-tokens': '10000',
  'x-ratelimit-remaining-tokens': String(remaining),
  'x-ratelimit-reset-tokens': reset,
});

describe('createFetch: token figures feed the token windows', () => {
  it('OpenAI: x-ratelimit-remaining-tokens below the local figure takes the difference from the window; a call that no longer fits is held (refused at once under maxWaitMs 0)', async () => {
    answerWith(OPENAI(2_500));
    const f = llm({ tokensPerMinute: 10_000 }, 1_000);
    const res = await f(`${server.origin}/v1/chat/completions`, { method: 'POST', body: '{}' });
    expect(await res.json()).toEqual({ ok: true });
    // Locally 9,000 were left after the 1,000 estimate; the provider says 2,500.
    expect(scope().limits.tokensRemaining).toEqual({ total: 2_500, input: null, output: null });

    const tooBig = await createFetch({ provider: 'openai', service: 'llm', manager, cost: 3_000 })(`${server.origin}/v1/chat/completions`).catch((e: unknown) => e);
    expect(isRateLimitedError(tooBig)).toBe(true);
    expect(server.seen).toHaveLength(1);

    const fits = await createFetch({ provider: 'openai', service: 'llm', manager, cost: 2_000 })(`${server.origin}/v1/chat/completions`);
    await fits.arrayBuffer();
    expect(server.seen).toHaveLength(2);
    // 500 left locally; the provider's 2,500 (a stale figure here) does not loosen that.
    expect(scope().limits.tokensRemaining?.total).toBe(500);
  });

  it('a provider figure above the local one never loosens the window (the local cap may be the tighter)', async () => {
    answerWith({ ...OPENAI(9_000), 'x-ratelimit-limit-tokens': '90000', 'x-ratelimit-remaining-tokens': '89000' });
    const f = llm({ tokensPerMinute: 5_000 }, 1_000);
    await (await f(`${server.origin}/v1/embeddings`)).arrayBuffer();
    expect(scope().limits.tokensRemaining?.total).toBe(4_000);
  });

  it('remaining-tokens 0 pauses the scope until the tokens reset, without filling the window for a whole minute', async () => {
    answerWith(OPENAI(0, '2s'));
    const f = llm({ tokensPerMinute: 10_000 }, 1_000);
    const before = Date.now();
    await (await f(`${server.origin}/v1/chat/completions`)).arrayBuffer();
    const after = Date.now();
    const until = scope().pausedUntil;
    expect(until).toBeGreaterThanOrEqual(before + 2_000);
    expect(until).toBeLessThanOrEqual(after + 2_000);
    expect(scope().limits.tokensRemaining?.total).toBe(9_000);
    const paused = await f(`${server.origin}/v1/chat/completions`).catch((e: unknown) => e);
    expect(isRateLimitedError(paused)).toBe(true);
  });

  it('Anthropic: input and output token windows are each brought down to the provider figures', async () => {
    const reset = new Date(Date.now() + 30_000).toISOString();
    answerWith({
      'anthropic-ratelimit-requests-limit': '50',
      'anthropic-ratelimit-requests-remaining': '49',
      'anthropic-ratelimit-requests-reset': reset,
      'anthropic-ratelimit-input-tokens-limit': '40000',
      'anthropic-ratelimit-input-tokens-remaining': '1200',
      'anthropic-ratelimit-input-tokens-reset': reset,
      'anthropic-ratelimit-output-tokens-limit': '8000',
      'anthropic-ratelimit-output-tokens-remaining': '300',
      'anthropic-ratelimit-output-tokens-reset': reset,
    });
    const f = llm({ inputTokensPerMinute: 40_000, outputTokensPerMinute: 8_000 }, { input: 500, output: 200 });
    await (await f(`${server.origin}/v1/messages`, { method: 'POST', body: '{}' })).arrayBuffer();
    expect(scope().limits.tokensRemaining).toEqual({ total: null, input: 1_200, output: 300 });
    expect(scope().pausedUntil).toBeNull();

    const outputTooBig = await createFetch({ provider: 'openai', service: 'llm', manager, cost: { input: 100, output: 400 } })(`${server.origin}/v1/messages`).catch((e: unknown) => e);
    expect(isRateLimitedError(outputTooBig)).toBe(true);
  });

  it('Anthropic: the combined tokens window lowers the total cap', async () => {
    answerWith({ 'anthropic-ratelimit-tokens-limit': '100000', 'anthropic-ratelimit-tokens-remaining': '700', 'anthropic-ratelimit-tokens-reset': new Date(Date.now() + 10_000).toISOString() });
    const f = llm({ tokensPerMinute: 100_000 }, { input: 100, output: 100 });
    await (await f(`${server.origin}/v1/messages`)).arrayBuffer();
    expect(scope().limits.tokensRemaining?.total).toBe(700);
  });

  it('a scope without token caps, or a call without a cost, is left as it was', async () => {
    answerWith(OPENAI(100));
    const uncapped = llm({}, undefined);
    await (await uncapped(`${server.origin}/v1/chat/completions`)).arrayBuffer();
    expect(scope().limits.tokensRemaining).toBeNull();

    manager.configure('llm', { tokensPerMinute: 10_000 });
    // No `cost`: admitted at 0 while the window is not full; the provider's figure still counts.
    await (await uncapped(`${server.origin}/v1/chat/completions`)).arrayBuffer();
    expect(scope().limits.tokensRemaining?.total).toBe(100);
  });

  it('cost: a bad constant is a ConfigError at creation; a function of the request is called per call, and a bad result rejects that call', async () => {
    expect(() => createFetch({ provider: 'openai', manager, cost: -1 })).toThrow(/cost/);
    const seen: string[] = [];
    answerWith(OPENAI(9_000));
    manager.configure('llm', { ...ROOMY, tokensPerMinute: 10_000 });
    const f = createFetch({
      provider: 'openai',
      service: 'llm',
      manager,
      cost: (input, init) => {
        seen.push(String(input));
        return typeof init?.body === 'string' ? Math.ceil(init.body.length / 4) : Number.NaN;
      },
    });
    await (await f(`${server.origin}/a`, { method: 'POST', body: 'x'.repeat(400), headers: { 'idempotency-key': '1' } })).arrayBuffer();
    expect(scope().limits.tokensRemaining?.total).toBe(9_000); // 100 estimated, then the provider's 9,000
    const bad = await f(`${server.origin}/b`).catch((e: unknown) => e);
    expect(isConfigError(bad) && bad.field).toBe('cost');
    expect(seen).toEqual([`${server.origin}/a`, `${server.origin}/b`]);
    expect(server.seen).toHaveLength(1);
  });
});
