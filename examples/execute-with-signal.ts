/**
 * The programmatic path: `execute()` with per-platform scopes and an AbortSignal that
 * takes a waiting call out of the queue without spending a token.
 */
import { isCallCancelledError, ServiceType, throttleManager } from 'floodgate';

throttleManager.configure(ServiceType.SOCIAL_MEDIA, { requestsPerSecond: 2, burst: 1, requestsPerMinute: 10 }, { platform: 'reddit' });

const fetchPosts = (platform: string) => (): Promise<string[]> => Promise.resolve([`${platform} post`]);

// Each platform is its own scope: reddit's limits do not slow down mastodon.
console.log(await throttleManager.execute(ServiceType.SOCIAL_MEDIA, fetchPosts('reddit'), { platform: 'reddit' }));
console.log(await throttleManager.execute(ServiceType.SOCIAL_MEDIA, fetchPosts('mastodon'), { platform: 'mastodon' }));

// The bucket is empty now: this call would wait ~500 ms, but its caller gives up first.
const controller = new AbortController();
const waiting = throttleManager.execute(ServiceType.SOCIAL_MEDIA, fetchPosts('reddit'), { platform: 'reddit', signal: controller.signal });
setTimeout(() => controller.abort(), 50);
try {
  await waiting;
} catch (error) {
  console.log('cancelled while waiting:', isCallCancelledError(error));
}
console.log(Object.keys(throttleManager.getStatusReport().scopes));
