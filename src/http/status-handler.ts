import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError } from '../errors/errors.js';
import { createEventStreams } from './status-events.js';
import { createStatusRoutes, pathOf, type StatusReply, type StatusRoutesOptions } from './status-routes.js';

export interface StatusHandlerOptions extends StatusRoutesOptions<IncomingMessage> {
  /**
   * The path the routes live under, e.g. `'/traffic-control'`: `GET <prefix>/status`,
   * `GET <prefix>/metrics/:scope`, the page at `GET <prefix>/` (its files beside it) and
   * `GET <prefix>/events`. `''` or `'/'` mounts them at the root.
   */
  readonly prefix: string;
}

/** Answers a request to the status routes: resolves `true` when it answered, `false` when the request is not one of them. */
export type StatusHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/**
 * The read-only status routes and the live status page for a bare `node:http` server:
 *
 * ```ts
 * const status = createStatusHandler({ prefix: '/traffic-control' });
 * http.createServer(async (req, res) => {
 *   if (await status(req, res)) return;
 *   // ... the rest of the app
 * });
 * ```
 */
export function createStatusHandler(options: StatusHandlerOptions): StatusHandler {
  const routes = createStatusRoutes<IncomingMessage>(options, 'createStatusHandler options');
  const prefix = normalizePrefix(options.prefix);
  const streams = createEventStreams(routes);
  return async (req, res) => {
    const path = pathOf(req.url ?? '/');
    if (!path.startsWith(prefix) || (path.length > prefix.length && path[prefix.length] !== '/')) return false;
    const request = { method: req.method ?? 'GET', path: path.slice(prefix.length), shownPath: path, acceptEncoding: req.headers['accept-encoding'] };
    const reply = await routes.respond(request, req);
    if (reply === null) return false;
    writeReply(req, res, reply, streams.open);
    return true;
  };
}

/** `'/a/'` → `'/a'`; `'/'` → `''`. */
export function normalizePrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || (prefix !== '' && !prefix.startsWith('/')) || /[?#\s]/.test(prefix)) {
    throw new ConfigError('prefix', prefix, "must be a path starting with '/' (or '' for the root), without query, fragment or spaces");
  }
  return prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
}

/** Writes a reply on a node response (HEAD: the head only). */
export function writeReply(
  req: IncomingMessage,
  res: ServerResponse,
  reply: StatusReply,
  openStream: (req: IncomingMessage, res: ServerResponse, headers: Readonly<Record<string, string>>) => void,
): void {
  if (reply.kind === 'events') {
    if (req.method === 'HEAD') {
      res.writeHead(200, reply.headers);
      res.end();
    } else openStream(req, res, reply.headers);
    return;
  }
  res.writeHead(reply.status, { ...reply.headers, 'content-length': String(Buffer.byteLength(reply.body)) });
  res.end(req.method === 'HEAD' ? undefined : reply.body);
}
