export { createFetch, type CreateFetchOptions } from './create-fetch.js';
export type { OutboundOptions } from './outbound-scope.js';
export { HttpStatusError, BODY_EXCERPT_BYTES } from './http-status-error.js';
export { parseRateLimitHeaders, type RateLimitHeaders, type RateLimitWindow, type HeaderSource } from './rate-limit-headers.js';
export type { GuardOptions, GuardStatus } from './guard.js';
