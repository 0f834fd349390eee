/**
 * A fake LLM client kept under 10,000 tokens per minute and a $1/day budget: each call reserves
 * its estimate (prompt size, max_tokens) and is reconciled with the usage its answer reports;
 * repeated questions are answered from the response cache without spending anything.
 * Run: npm run build && node --import tsx examples/llm-budget.ts
 */
import { ServiceType, ThrottleManager, isBudgetExceededError, isRateLimitedError, throttled } from 'floodgate';

const manager = new ThrottleManager({ env: {} });
manager.configure(ServiceType.LLM_API, {
  requestsPerSecond: 10,
  burst: 10,
  requestsPerMinute: 60,
  maxWaitMs: 500, // a call that cannot get tokens within half a second is refused (a real app waits longer)
  tokensPerMinute: 10_000,
  budget: { usd: 1, period: 'day' },
});
// A made-up model and its price, USD per million tokens (real models have documented defaults).
manager.setPrices({ 'fake-llm': { inputPerMTok: 60, outputPerMTok: 120 } });

interface ChatRequest {
  readonly messages: readonly { readonly role: string; readonly content: string }[];
  readonly max_tokens: number;
}

/** Answers like an OpenAI chat completion, with the usage it "billed". */
class FakeLlmClient {
  calls = 0;
  async create(request: ChatRequest) {
    this.calls++;
    await new Promise((resolve) => setTimeout(resolve, 5));
    const promptTokens = Math.ceil(request.messages.reduce((n, m) => n + m.content.length, 0) / 4);
    return {
      model: 'fake-llm-2026-01-01',
      choices: [{ message: { role: 'assistant', content: `(${promptTokens} tokens read)` } }],
      usage: { prompt_tokens: promptTokens, completion_tokens: Math.floor(request.max_tokens * 0.7) },
    };
  }
}

const client = new FakeLlmClient();

class Assistant {
  // The cost is estimated from the request (text and max_tokens); the answer's usage replaces it.
  @throttled(ServiceType.LLM_API, { manager, model: 'fake-llm', cache: { ttlMs: 60_000, max: 100 } })
  async ask(request: ChatRequest) {
    return client.create(request);
  }
}

const assistant = new Assistant();
const question = (topic: string, maxTokens = 1_000): ChatRequest => ({
  messages: [{ role: 'user', content: `Tell me about ${topic}. `.repeat(80) }],
  max_tokens: maxTokens,
});

const topics = ['rivers', 'mountains', 'rivers', 'deserts', 'forests', 'rivers', 'oceans', 'glaciers', 'volcanoes', 'islands', 'caves'];
for (const topic of topics) {
  try {
    const answer = await assistant.ask(question(topic));
    console.log(`ok       ${topic.padEnd(10)} ${answer.usage.prompt_tokens + answer.usage.completion_tokens} tokens`);
  } catch (error) {
    if (isBudgetExceededError(error)) console.log(`budget   ${topic.padEnd(10)} $${error.spentUsd.toFixed(3)} of $${error.budget.usd} spent; resets ${new Date(error.resetsAt).toISOString()}`);
    else if (isRateLimitedError(error)) console.log(`limited  ${topic.padEnd(10)} ${error.reason}`);
    else throw error;
  }
}
// A request that could never fit in 10,000 tokens per minute is refused at once.
try {
  await assistant.ask(question('everything', 20_000));
} catch (error) {
  if (isRateLimitedError(error)) console.log(`refused  everything ${error.reason}`);
}

console.log(`provider calls: ${client.calls}; cache hits: ${manager.getStatusReport().scopes[ServiceType.LLM_API]!.counters.cacheHits}`);
console.log(JSON.stringify(manager.getCostSummary(), null, 2));
await manager.close();
