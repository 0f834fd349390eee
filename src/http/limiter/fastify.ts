import type { FastifyLikeReply, FastifyLikeRequest } from '../fastify.js';
import { isLimiter } from './express.js';
import { createLimiter, type Limiter, type LimiterOptions, type Verdict } from './limiter.js';

/** The part of a Fastify instance the limiter plugin uses. */
export interface FastifyHookInstance {
  addHook(name: 'onRequest', hook: (request: FastifyLikeRequest, reply: FastifyLikeReply, done: (error?: Error) => void) => void): unknown;
}

/** Options of {@link limiterPlugin}: the limiter's options, or `{ limiter }` made with `createLimiter`. Key functions receive Fastify's request. */
export type LimiterPluginOptions = LimiterOptions<FastifyLikeRequest> | { readonly limiter: Limiter<FastifyLikeRequest> };

/** Keys Fastify's `register` may add to a plugin's options; not the limiter's. */
const REGISTER_KEYS = ['prefix', 'logLevel', 'logSerializers'];

/**
 * The limiter as a Fastify 5 plugin, for the whole app (it is not encapsulated: routes registered
 * beside it or in other plugins are limited too). It decides in an `onRequest` hook, before
 * Fastify reads a body:
 *
 * ```ts
 * await app.register(limiterPlugin, { groups: { '/api/v1/chat/*': { requestsPerMinute: 300 } } });
 * ```
 */
export const limiterPlugin: (fastify: FastifyHookInstance, options: LimiterPluginOptions) => Promise<void> =
  // `skip-override`: Fastify's way to keep a plugin out of encapsulation (what fastify-plugin sets), so its hook applies to the whole app.
  Object.assign(registerLimiter, { [Symbol.for('skip-override')]: true as const });

async function registerLimiter(fastify: FastifyHookInstance, options: LimiterPluginOptions): Promise<void> {
  const given: Record<string, unknown> = { ...(options ?? {}) };
  for (const key of REGISTER_KEYS) delete given[key];
  const limiter = 'limiter' in given && isLimiter<FastifyLikeRequest>(given.limiter) ? given.limiter : createLimiter<FastifyLikeRequest>(given as LimiterOptions<FastifyLikeRequest>);
  // A callback hook, not an async one: a verdict decided at once (the memory store) goes on without a promise.
  fastify.addHook('onRequest', (request, reply, done) => {
    let verdict: Verdict | Promise<Verdict>;
    try {
      verdict = limiter.decide(request.raw, reply.raw, request);
    } catch (error) {
      done(error as Error);
      return;
    }
    if (verdict instanceof Promise) verdict.then((settled) => apply(settled, reply, done), done);
    else apply(verdict, reply, done);
  });
}

/** An admitted request goes on with its headers; a refused one is answered here (and `done` not called, as Fastify asks of a callback hook that replies). */
function apply(verdict: Verdict, reply: FastifyLikeReply, done: (error?: Error) => void): void {
  if (verdict.admitted) {
    if (verdict.headers !== null) reply.headers(verdict.headers);
    done();
    return;
  }
  reply.code(verdict.status).headers(verdict.headers).send(verdict.body);
}
