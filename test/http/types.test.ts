// Type tests of floodgate/http, /express and /fastify against the real Express and Fastify types:
// `npm run typecheck` compiles this file; the runtime assertions keep it honest.
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Request } from 'express';
import Fastify from 'fastify';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { ThrottleManager } from 'floodgate';
import { statusRouter, type StatusRouter } from 'floodgate/express';
import { statusPlugin } from 'floodgate/fastify';
import { createStatusHandler, type StatusHandler } from 'floodgate/http';

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
