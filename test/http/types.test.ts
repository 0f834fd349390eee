// Type tests of floodgate/http, /express and /fastify against the real Express and Fastify types:
// `npm run typecheck` compiles this file; the runtime assertions keep it honest.
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Request } from 'express';
import Fastify from 'fastify';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { ThrottleManager } from 'floodgate';
import { limiterMiddleware, statusRouter, type StatusRouter } from 'floodgate/express';
import { limiterPlugin, statusPlugin } from 'floodgate/fastify';
import { createLimiter, createStatusHandler, type StatusHandler } from 'floodgate/http';

describe('status route types', () => {
  it('createStatusHandler is (req, res) => Promise<boolean>', () => {
    const handler = createStatusHandler({ prefix: '/s', manager: new ThrottleManager({ env: {} }) });
    expectTypeOf(handler).toEqualTypeOf<StatusHandler>();
    expectTypeOf(handler).parameters.toEqualTypeOf<[IncomingMessage, ServerResponse]>();
    expectTypeOf(handler).returns.toEqualTypeOf<Promise<boolean>>();
    // @ts-expect-error the prefix is required
    expect(() => createStatusHandler({})).toThrow(/prefix/);
  });

  it("statusRouter is Express middleware; authorize gets Express's request when asked for", () => {
    const app = express();
    const router = statusRouter<Request>({ authorize: (req) => req.get('x-admin') === 'yes' && req.ip !== undefined });
    expectTypeOf(router).toEqualTypeOf<StatusRouter<Request>>();
    app.use('/traffic-control', router);
    app.use(statusRouter({ prefix: '/other', authorize: (req) => req.headers['x-admin'] === 'yes' }));
    expect(typeof router).toBe('function');
  });

  it("statusPlugin registers on Fastify; authorize gets the request's headers and ip", async () => {
    const app = Fastify();
    await app.register(statusPlugin, { prefix: '/traffic-control', manager: new ThrottleManager({ env: {} }), authorize: (request) => request.headers['x-admin'] === 'yes' || request.ip === '::1' });
    await app.ready();
    const response = await app.inject({ method: 'GET', url: '/traffic-control/status', headers: { 'x-admin': 'yes' } });
    expect(response.statusCode).toBe(200);
    await app.close();
  });
});

describe('limiter types', () => {
  it('createLimiter().check is (req, res) => Promise<boolean>', () => {
    const limiter = createLimiter({ manager: new ThrottleManager({ env: {} }), groups: { '/api/*': { requestsPerMinute: 5 } }, headers: ['draft-8', 'legacy'] });
    expectTypeOf(limiter.check).parameters.toEqualTypeOf<[IncomingMessage, ServerResponse]>();
    expectTypeOf(limiter.check).returns.toEqualTypeOf<Promise<boolean>>();
    // @ts-expect-error draft-6 is not a format
    expect(() => createLimiter({ headers: 'draft-6' })).toThrow(/headers/);
  });

  it("limiterMiddleware is Express middleware; key functions get Express's request", () => {
    const app = express();
    const manager = new ThrottleManager({ env: {} });
    app.use(limiterMiddleware<Request>({ manager, keys: { actor: (req) => req.get('x-actor') } }));
    app.use(limiterMiddleware(createLimiter({ manager, name: 'second' })));
    expect(app).toBeDefined();
  });

  it("limiterPlugin registers on Fastify without a cast; key functions get Fastify's request", async () => {
    const app = Fastify();
    const manager = new ThrottleManager({ env: {} });
    await app.register(limiterPlugin, { manager, groups: { default: { requestsPerMinute: 1 } }, keys: { actor: (request) => (request.ip === '::1' ? 'local' : undefined) } });
    app.get('/', async () => 'ok');
    await app.ready();
    expect((await app.inject({ method: 'GET', url: '/' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/' })).statusCode).toBe(429);
    await app.close();
  });
});
