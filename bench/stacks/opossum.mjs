// opossum `fire()`, at its defaults (10 s timeout per call, 50 % error threshold, 10 s
// rolling stats). opossum has no retry: the failure path adds a plain retry loop.
import CircuitBreaker from 'opossum';

export const opossum = {
  name: 'opossum `fire()`',
  group: 'peer',
  create(target, { failing = false } = {}) {
    // With half of all attempts failing, the default 50 % threshold (and no minimum volume)
    // would open the circuit at the first failure.
    const breaker = new CircuitBreaker(target, failing ? { errorThresholdPercentage: 75, volumeThreshold: 10 } : {});
    if (!failing) return { call: () => breaker.fire(), close: () => breaker.shutdown() };
    const call = async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await breaker.fire();
        } catch (error) {
          if (attempt >= 2) throw error;
        }
      }
    };
    return { call, close: () => breaker.shutdown() };
  },
};
