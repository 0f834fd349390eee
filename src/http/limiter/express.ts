import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError } from '../../errors/errors.js';
import { createLimiter, writeVerdict, type Limiter, type LimiterOptions } from './limiter.js';

/** An Express middleware: `next()` for an admitted request; a refused one is answered here. */
export type LimiterMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/**
 * The limiter as Express 5 middleware, from options or a limiter made with `createLimiter`:
 *
 * ```ts
 * app.use(limiterMiddleware({ groups: { '/api/v1/chat/*': { requestsPerMinute: 300 } }, trustProxy: ['10.0.0.0/8'] }));
 * ```
 *
 * Templates match the path the request came in with (`originalUrl`), wherever it is mounted.
 * Key functions receive Express's request.
 */
export function limiterMiddleware<Req extends IncomingMessage = IncomingMessage>(options: LimiterOptions<Req> | Limiter<Req> = {}): LimiterMiddleware {
  const limiter = isLimiter<Req>(options) ? options : createLimiter<Req>(options);
  return (req, res, next) => {
    let verdict;
    try {
      verdict = limiter.decide(req, res, req as Req);
    } catch (error) {
      next(error);
      return;
    }
    if (!(verdict instanceof Promise)) {
      if (writeVerdict(verdict, res)) next();
      return;
    }
    verdict.then(
      (settled) => (writeVerdict(settled, res) ? next() : undefined),
      (error: unknown) => next(error),
    );
  };
}

/** A limiter (from `createLimiter`) rather than options. */
export function isLimiter<Req>(value: unknown): value is Limiter<Req> {
  if (typeof value !== 'object' || value === null) throw new ConfigError('limiter options', value, 'must be an options object or a limiter from createLimiter()');
  return typeof (value as Limiter<Req>).decide === 'function' && typeof (value as Limiter<Req>).check === 'function';
}
