// A hand-written reference stack, no library: token bucket, consecutive-failure breaker,
// retry loop and counters, in about the least code that does the job properly.

const CLOSED = 0;
const OPEN = 1;
const HALF_OPEN = 2;

export class HandScope {
  constructor({ rate = Infinity, burst = 1e9, threshold = 3, resetMs = 60_000, retries = 2, backoffBaseMs = 0, backoffMaxMs = 60_000 } = {}, now = Date.now()) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.updatedAt = now;
    this.threshold = threshold;
    this.resetMs = resetMs;
    this.retries = retries;
    this.backoffBaseMs = backoffBaseMs;
    this.backoffMaxMs = backoffMaxMs;
    this.state = CLOSED;
    this.consecutive = 0;
    this.openedAt = 0;
    this.requests = 0;
    this.successes = 0;
    this.failures = 0;
    this.retried = 0;
    this.rejected = 0;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class RateLimited extends Error {}
class CircuitOpen extends Error {}

/** One protected call through `scope`: every attempt passes the breaker and the bucket. */
export async function handCall(scope, fn) {
  scope.requests++;
  for (let attempt = 0; ; attempt++) {
    const now = Date.now();
    if (scope.state !== CLOSED) {
      if (scope.state === OPEN && now - scope.openedAt >= scope.resetMs) scope.state = HALF_OPEN;
      else {
        scope.rejected++;
        throw new CircuitOpen('circuit open');
      }
    }
    if (scope.rate !== Infinity) {
      const tokens = Math.min(scope.burst, scope.tokens + ((now - scope.updatedAt) * scope.rate) / 1000);
      scope.updatedAt = now;
      scope.tokens = tokens;
    }
    if (scope.tokens < 1) {
      scope.rejected++;
      throw new RateLimited('rate limited');
    }
    scope.tokens--;
    try {
      const value = await fn();
      scope.successes++;
      scope.consecutive = 0;
      scope.state = CLOSED;
      return value;
    } catch (error) {
      scope.failures++;
      if (scope.state === HALF_OPEN || ++scope.consecutive >= scope.threshold) {
        scope.state = OPEN;
        scope.openedAt = now;
      }
      if (attempt >= scope.retries) throw error;
      scope.retried++;
      const exp = scope.backoffBaseMs * 2 ** attempt;
      const delay = Math.min(scope.backoffMaxMs, exp / 2 + (Math.random() * exp) / 2);
      if (delay > 0) await sleep(delay);
    }
  }
}

export const handwritten = {
  name: 'hand-written bucket+breaker+retry+counters',
  group: 'reference',
  create(target) {
    const scope = new HandScope();
    return { call: () => handCall(scope, target) };
  },
};
