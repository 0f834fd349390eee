// A server exposing floodgate's metrics at /metrics for Prometheus to scrape.
// Run: npm run build && node --import tsx examples/metrics-server.ts
// (It serves on a free port, scrapes itself once, prints what Prometheus would see, and exits.)
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ThrottleManager } from 'floodgate';
import { collectMetrics } from 'floodgate/prometheus';
import { Registry } from 'prom-client';

const manager = new ThrottleManager();
manager.configure('llm_api', { requestsPerSecond: 50, burst: 5, retryAttempts: 1, backoffBaseMs: 10, circuitBreakerThreshold: 2 });
// A daily budget and a token cap for OpenAI: spend and token metrics too.
manager.configure('llm_api', { budget: { usd: 5, period: 'day' }, tokensPerMinute: 100_000 }, { platform: 'openai' });

// Your registry: floodgate adds its metrics to it and switches nothing else on.
const registry = new Registry();
const metrics = collectMetrics(manager, { registry });

const server = createServer((req, res) => {
  if (req.url !== '/metrics') {
    res.writeHead(404).end();
    return;
  }
  registry.metrics().then(
    (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
    () => res.writeHead(500).end(),
  );
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;

// Some traffic: successes, a flaky provider that is retried, then one that trips the circuit.
for (let i = 0; i < 5; i++) {
  await manager.execute('llm_api', async () => ({ usage: { prompt_tokens: 1_200, completion_tokens: 300 } }), { platform: 'openai', endpoint: 'chat', model: 'gpt-4o', cost: 2_000 });
}
let calls = 0;
await manager.execute('llm_api', async () => {
  if (calls++ === 0) throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
  return 'ok';
}, { platform: 'openai', endpoint: 'chat', model: 'gpt-4o', cost: 500 });
for (let i = 0; i < 3; i++) {
  await manager.execute('llm_api', async () => {
    throw Object.assign(new Error('Service Unavailable'), { status: 503 });
  }, { platform: 'anthropic', endpoint: 'messages' }).catch((error: Error) => console.log(`anthropic call ${i + 1}: ${error.message}`));
}

const text = await (await fetch(url)).text();
const shown = text.split('\n').filter((line) => /^floodgate_(calls_total|retries_total|refusals_total|circuit_state\{.*state="open"|attempt_duration_seconds_count|llm_tokens_total|cost_usd_total|budget_remaining_usd|llm_token_window_remaining)/.test(line));
console.log(`GET ${url} (${text.length} bytes), a few of its lines:`);
for (const line of shown) console.log(`  ${line}`);

metrics.unregister();
server.close();
await manager.close();
