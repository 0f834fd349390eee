// Run as a child process by exit.test.ts: uses the singleton, leaves calls waiting and a
// suspension pending, never calls close(). The process must still end by itself.
import { ServiceType, throttleManager } from '../../src/index.js';

throttleManager.configure(ServiceType.INTERNAL_API, { requestsPerSecond: 20, burst: 1, requestsPerMinute: 100 });
const calls = Array.from({ length: 3 }, (_, i) => throttleManager.execute(ServiceType.INTERNAL_API, async () => i));
throttleManager.suspend(ServiceType.SOCIAL_MEDIA, { platform: 'reddit', reason: 'test', durationMs: 3_600_000 });
const results = await Promise.all(calls);
console.log(JSON.stringify({ results, started: Date.now() }));
