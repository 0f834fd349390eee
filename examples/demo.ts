/**
 * `npm run demo`: a service class calling a local fake provider through floodgate.
 * It shows calls waiting for the limits, retries after failures, the circuit opening
 * during an outage and closing after it, and the status report.
 */
import { isCircuitOpenError, ServiceType, throttled, throttleManager } from 'floodgate';
import { FakeProvider } from './fake-provider.js';

const provider = new FakeProvider(5, 7);
const started = Date.now();
const clock = (): string => `${String(Date.now() - started).padStart(5)} ms`;

// Fast limits so the demo takes seconds, not minutes.
throttleManager.configure(ServiceType.LLM_API, {
  requestsPerSecond: 4,
  burst: 2,
  requestsPerMinute: 30,
  retryAttempts: 2,
  backoffBaseMs: 200,
  backoffMaxMs: 2_000,
  circuitBreakerThreshold: 3,
  circuitBreakerResetMs: 1_500,
  maxWaitMs: 15_000,
});

throttleManager.on('retry', (e) => console.log(`${clock()}  retry #${e.retry} in ${e.delayMs} ms after ${e.error.message} (${e.classification.category})`));
throttleManager.on('circuitStateChange', (e) => console.log(`${clock()}  circuit ${e.from} -> ${e.to}`));

class Assistant {
  @throttled(ServiceType.LLM_API, { endpoint: 'complete' })
  async ask(prompt: string): Promise<string> {
    return provider.complete(prompt);
  }
}

const assistant = new Assistant();

console.log('1. Ten questions at once: two start at once (burst), the rest wait their turn at 4/s.');
await Promise.all(
  Array.from({ length: 10 }, async (_, i) => {
    const answer = await assistant.ask(`question ${i}`);
    console.log(`${clock()}  ${answer}`);
  }),
);

console.log('\n2. The provider goes down: failures are retried, then the circuit opens.');
provider.down = true;
for (let i = 0; i < 4; i++) {
  try {
    await assistant.ask(`during outage ${i}`);
  } catch (error) {
    const kind = isCircuitOpenError(error) ? 'refused at once (circuit open)' : `failed: ${(error as Error).message}`;
    console.log(`${clock()}  call ${i} ${kind}`);
  }
}

console.log('\n3. The provider recovers; after circuitBreakerResetMs one probe call closes the circuit.');
provider.down = false;
await new Promise((resolve) => setTimeout(resolve, 1_600));
const recovered = await assistant.ask('after the outage');
console.log(`${clock()}  ${recovered}`);

console.log('\n4. Status report:');
console.log(JSON.stringify(throttleManager.getStatusReport().scopes[ServiceType.LLM_API], null, 2));
