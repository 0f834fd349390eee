// Plain limiters (no breaker, no retry): p-throttle and bottleneck, limits set never to bind.
import Bottleneck from 'bottleneck';
import pThrottle from 'p-throttle';

export const pThrottleStack = {
  name: 'p-throttle (limiter only)',
  group: 'peer',
  create(target) {
    return { call: pThrottle({ limit: 1e9, interval: 1000 })(target) };
  },
};

export const bottleneck = {
  name: 'bottleneck `schedule` (limiter only)',
  group: 'peer',
  slow: true,
  create(target) {
    const limiter = new Bottleneck();
    return { call: () => limiter.schedule(target), close: () => limiter.disconnect() };
  },
};
