/**
 * `floodgate/fastify`: the status routes and page as a Fastify 5 plugin. Fastify is an optional
 * peer: nothing here imports it, and the types below are the few members used.
 *
 * @packageDocumentation
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createEventStreams } from './status-events.js';
import { writeReply } from './status-handler.js';
import { createStatusRoutes, pathOf, type StatusRoutesOptions } from './status-routes.js';

/** The part of a Fastify request the plugin reads (and `authorize` may). */
export interface FastifyLikeRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly ip: string;
  readonly raw: IncomingMessage;
}

/** The part of a Fastify reply the plugin uses. */
export interface FastifyLikeReply {
  readonly raw: ServerResponse;
  code(status: number): FastifyLikeReply;
  headers(headers: Readonly<Record<string, string>>): FastifyLikeReply;
  send(body?: unknown): FastifyLikeReply;
  hijack(): FastifyLikeReply;
  callNotFound(): void;
}

/** A route handler or hook, as the plugin registers them. */
export type FastifyLikeHandler = (request: FastifyLikeRequest, reply: FastifyLikeReply) => Promise<unknown>;

/** The part of a Fastify instance the plugin uses. */
export interface FastifyLikeInstance {
  readonly prefix: string;
  all(path: string, options: { onRequest: FastifyLikeHandler }, handler: FastifyLikeHandler): unknown;
}

/**
 * Options of {@link statusPlugin}. The routes' prefix is Fastify's own `prefix` option of
 * `register` (Fastify applies it to the plugin's routes). `authorize` receives Fastify's request,
 * typed by the members it surely has (`headers`, `ip`, `raw`, ...).
 */
export type StatusPluginOptions = StatusRoutesOptions<FastifyLikeRequest>;

/**
 * The read-only status routes (`GET <prefix>/status`, `GET <prefix>/metrics/:scope`) and the
 * live status page (`GET <prefix>/`) as a Fastify 5 plugin:
 *
 * ```ts
 * await app.register(statusPlugin, { prefix: '/traffic-control', authorize: (request) => isAdmin(request) });
 * ```
 *
 * `authorize` receives Fastify's request. Other methods on these paths answer 405.
 */
export async function statusPlugin(fastify: FastifyLikeInstance, options: StatusPluginOptions): Promise<void> {
  const routes = createStatusRoutes<FastifyLikeRequest>(options ?? {}, 'statusPlugin options');
  const streams = createEventStreams(routes);
  const prefix = fastify.prefix;
  const handler: FastifyLikeHandler = async (request, reply) => {
    const shownPath = pathOf(request.url);
    let sub = shownPath.slice(prefix.length);
    if (sub === '' && prefix === '') sub = '/';
    const answer = await routes.respond({ method: request.method, path: sub, shownPath, acceptEncoding: request.headers['accept-encoding'] }, request);
    if (answer === null) return reply.callNotFound();
    if (answer.kind === 'events') {
      // The stream outlives the handler: Fastify steps aside and the raw response is ours.
      reply.hijack();
      writeReply(request.raw, reply.raw, answer, streams.open);
      return reply;
    }
    return reply.code(answer.status).headers(answer.headers).send(request.method === 'HEAD' ? undefined : answer.body);
  };
  // Answered in onRequest, before Fastify reads a body: a mutation gets its 405 whatever it sends.
  const answered = async (): Promise<void> => undefined;
  fastify.all('/', { onRequest: handler }, answered);
  fastify.all('/*', { onRequest: handler }, answered);
}

export { limiterPlugin, type LimiterPluginOptions, type FastifyHookInstance } from './limiter/fastify.js';
