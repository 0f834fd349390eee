/**
 * `floodgate/http`: floodgate on your own HTTP server. The read-only status routes and the live
 * status page, for a bare `node:http` server (`floodgate/express` and `floodgate/fastify` mount
 * the same routes).
 *
 * @packageDocumentation
 */
export { createStatusHandler, type StatusHandler, type StatusHandlerOptions } from './status-handler.js';
export type { StatusRoutesOptions } from './status-routes.js';
export { createLimiter, type Limiter, type LimiterOptions, type LimiterKeys, type KeySource, type RefusalKind, type Verdict } from './limiter/limiter.js';
export type { GroupLimits, GroupTotalLimits } from './limiter/groups.js';
export type { RateLimitHeaderFormat } from './limiter/ratelimit-headers.js';
