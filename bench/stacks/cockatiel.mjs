// cockatiel: wrap(retry, circuitBreaker), the stack floodgate's own breaker borrows from.
import { circuitBreaker, ConsecutiveBreaker, ConstantBackoff, handleAll, retry, wrap } from 'cockatiel';

/** Same policy numbers as floodgate's custom-service defaults: 2 retries, 3 failures open, 60 s reset. */
export function cockatielPolicy() {
  return wrap(
    retry(handleAll, { maxAttempts: 2, backoff: new ConstantBackoff(0) }),
    circuitBreaker(handleAll, { halfOpenAfter: 60_000, breaker: new ConsecutiveBreaker(3) }),
  );
}

export const cockatiel = {
  name: 'cockatiel `wrap(retry, circuitBreaker)`',
  group: 'peer',
  create(target) {
    const policy = cockatielPolicy();
    return { call: () => policy.execute(target) };
  },
};
