// rate-limiter-flexible's RateLimiterMemory in front of every attempt, inside cockatiel's
// retry + breaker (so retries are admitted by the limiter too, as floodgate does).
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { cockatielPolicy } from './cockatiel.mjs';

export const rateLimiterFlexible = {
  name: 'rate-limiter-flexible + cockatiel',
  group: 'peer',
  create(target) {
    const limiter = new RateLimiterMemory({ points: 1e9, duration: 60 });
    const policy = cockatielPolicy();
    const attempt = async () => {
      await limiter.consume('bench');
      return target();
    };
    return { call: () => policy.execute(attempt) };
  },
};
