/**
 * createFetch against a local fake provider that speaks OpenAI's rate-limit headers: a budget of
 * 4 requests per 1-second window, announced on every response (`x-ratelimit-remaining-requests`,
 * `x-ratelimit-reset-requests: 1s`), and a 429 for any request past it. floodgate reads the
 * headers of the successful responses and pauses the scope when nothing remains, so the
 * provider never has to refuse: 10 calls, 0 refusals. The provider also announces its
 * per-minute token window (`x-ratelimit-remaining-tokens`; each call really uses 700 tokens);
 * with `tokensPerMinute` set and an estimated `cost` of 500 per request, those figures bring
 * floodgate's own token window down to the provider's count (README "Token figures").
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createFetch, ThrottleManager } from 'floodgate';

const BUDGET = 4;
const TOKENS = 10_000;
const TOKENS_PER_CALL = 700;
const WINDOW_MS = 1_000;
let windowStart = Date.now();
let used = 0;
const tokensStart = Date.now();
let tokensUsed = 0;
let refused = 0;

const provider = createServer((req, res) => {
  const now = Date.now();
  if (now - windowStart >= WINDOW_MS) {
    windowStart = now;
    used = 0;
  }
  const resetMs = Math.max(1, windowStart + WINDOW_MS - now);
  const headers = {
    'content-type': 'application/json',
    'x-ratelimit-limit-requests': String(BUDGET),
    'x-ratelimit-reset-requests': `${resetMs}ms`,
    'x-ratelimit-limit-tokens': String(TOKENS),
    'x-ratelimit-reset-tokens': `${Math.max(1, tokensStart + 60_000 - now)}ms`,
  };
  if (used >= BUDGET) {
    refused++;
    res.writeHead(429, { ...headers, 'x-ratelimit-remaining-requests': '0', 'retry-after': String(Math.ceil(resetMs / 1000)) });
    res.end(JSON.stringify({ error: { message: 'Rate limit reached for requests', type: 'requests' } }));
    return;
  }
  used++;
  tokensUsed += TOKENS_PER_CALL;
  res.writeHead(200, { ...headers, 'x-ratelimit-remaining-requests': String(BUDGET - used), 'x-ratelimit-remaining-tokens': String(TOKENS - tokensUsed) });
  res.end(JSON.stringify({ choices: [{ message: { content: `answer ${used}` } }] }));
});
await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;

const manager = new ThrottleManager();
// Our own limits are generous: the provider's headers are what slows us down.
manager.configure('http', { requestsPerSecond: 100, burst: 100, requestsPerMinute: 600, maxConcurrent: 1, tokensPerMinute: TOKENS });
manager.on('paused', (e) => console.log(`paused ${e.scope} for ${e.until - Date.now()} ms (${e.classification.pattern})`));

// Each request is estimated at 500 tokens; the provider's token figures correct the estimate.
const openai = createFetch({ provider: 'openai', manager, routes: ['/v1/chat/completions'], cost: 500 });

const started = Date.now();
for (let i = 1; i <= 10; i++) {
  const res = await openai(`${origin}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ prompt: i }), headers: { 'Idempotency-Key': `req-${i}` } });
  const body = (await res.json()) as { choices?: { message: { content: string } }[] };
  const tokensLeft = manager.getStatusReport().scopes['http:openai']?.limits.tokensRemaining?.total;
  console.log(`call ${i}: ${res.status} ${body.choices?.[0]?.message.content ?? ''} (remaining ${res.headers.get('x-ratelimit-remaining-requests')}; tokens: provider ${res.headers.get('x-ratelimit-remaining-tokens')}, floodgate's window ${tokensLeft}) at +${Date.now() - started} ms`);
}

const scope = manager.getStatusReport().scopes['http:openai'];
console.log(`provider refusals (429): ${refused}; floodgate counters: ${JSON.stringify(scope?.counters)}`);
await manager.close();
provider.close();
if (refused !== 0) process.exit(1);
