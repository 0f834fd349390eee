/**
 * `floodgate/express`: the status routes and page for Express 5. Express is an optional peer:
 * nothing here imports it, and the types below are the few members used, so a project without
 * Express (or without its types) compiles against this module.
 *
 * @packageDocumentation
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createEventStreams } from './status-events.js';
import { normalizePrefix, writeReply } from './status-handler.js';
import { createStatusRoutes, pathOf, type StatusRoutesOptions } from './status-routes.js';

/** The part of Express's request the router reads (`originalUrl`: the path before mounting). */
export type ExpressLikeRequest = IncomingMessage & { readonly originalUrl?: string };

export interface StatusRouterOptions<Req extends ExpressLikeRequest = ExpressLikeRequest> extends StatusRoutesOptions<Req> {
  /**
   * The path under the router's mount point: `app.use('/traffic-control', statusRouter())` and
   * `app.use(statusRouter({ prefix: '/traffic-control' }))` serve the same URLs.
   * @default ''
   */
  readonly prefix?: string;
}

/** An Express middleware: answers the status routes and calls `next()` for everything else. */
export type StatusRouter<Req extends ExpressLikeRequest = ExpressLikeRequest> = (req: Req, res: ServerResponse, next: (error?: unknown) => void) => void;

/**
 * The read-only status routes (`GET <prefix>/status`, `GET <prefix>/metrics/:scope`) and the
 * live status page (`GET <prefix>/`) as Express 5 middleware:
 *
 * ```ts
 * app.use('/traffic-control', statusRouter({ authorize: (req) => req.get('x-admin') === process.env.ADMIN_TOKEN }));
 * ```
 *
 * `authorize` receives Express's request (pass its type: `statusRouter<Request>({ ... })`).
 */
export function statusRouter<Req extends ExpressLikeRequest = ExpressLikeRequest>(options: StatusRouterOptions<Req> = {}): StatusRouter<Req> {
  const routes = createStatusRoutes<Req>(options, 'statusRouter options');
  const prefix = normalizePrefix(options.prefix ?? '');
  const streams = createEventStreams(routes);
  return (req, res, next) => {
    const path = pathOf(req.url ?? '/');
    const shownPath = pathOf(req.originalUrl ?? req.url ?? '/');
    if (!path.startsWith(prefix) || (path.length > prefix.length && path[prefix.length] !== '/')) return next();
    let sub = path.slice(prefix.length);
    // Mounted with app.use('/x', ...), a request for `/x` reaches us as `/`: send it to `/x/`.
    if (sub === '/' && !shownPath.endsWith('/')) sub = '';
    routes.respond({ method: req.method ?? 'GET', path: sub, shownPath, acceptEncoding: req.headers['accept-encoding'] }, req).then(
      (reply) => (reply === null ? next() : writeReply(req, res, reply, streams.open)),
      (error: unknown) => next(error),
    );
  };
}

export { limiterMiddleware, type LimiterMiddleware } from './limiter/express.js';
export type { LimiterOptions, Limiter } from './limiter/limiter.js';
