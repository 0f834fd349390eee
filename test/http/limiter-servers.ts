/** Real servers on loopback for the limiter tests: node:http, Express 5 and Fastify 5, each limited the same way. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { limiterMiddleware } from 'floodgate/express';
import { limiterPlugin } from 'floodgate/fastify';
import { createLimiter, type LimiterOptions } from 'floodgate/http';

export interface LimitedServer {
  /** `http://127.0.0.1:port` (or `http://[::1]:port`). */
  readonly origin: string;
  /** Responses of `/slow/...` wait until this is called (every one waiting, and later ones at once). */
  releaseSlow(): void;
  /** Requests the app itself answered (the limiter let them through). */
  readonly answered: string[];
  close(): Promise<void>;
}

/** Every server answers any path with 200 `ok` (after the limiter); `/slow/*` only once released. */
function appLogic(): { answered: string[]; slow: () => Promise<void>; releaseSlow: () => void } {
  const answered: string[] = [];
  let release!: () => void;
  let released = false;
  const gate = new Promise<void>((resolve) => (release = resolve));
  return {
    answered,
    slow: () => (released ? Promise.resolve() : gate),
    releaseSlow: () => {
      released = true;
      release();
    },
  };
}

async function listen(server: http.Server, host: string, app: ReturnType<typeof appLogic>): Promise<LimitedServer> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    origin: host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`,
    releaseSlow: app.releaseSlow,
    answered: app.answered,
    close: () =>
      new Promise<void>((resolve) => {
        app.releaseSlow();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const LIMITED_SERVERS = {
  'node:http': async (options: LimiterOptions, host = '127.0.0.1'): Promise<LimitedServer> => {
    const limiter = createLimiter(options);
    const app = appLogic();
    return listen(
      http.createServer(async (req, res) => {
        if (!(await limiter.check(req, res))) return;
        if (req.url!.startsWith('/slow')) await app.slow();
        app.answered.push(req.url!);
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      }),
      host,
      app,
    );
  },
  express: async (options: LimiterOptions, host = '127.0.0.1'): Promise<LimitedServer> => {
    const app = appLogic();
    const server = express();
    server.use(limiterMiddleware(options));
    server.use(async (req, res) => {
      if (req.url.startsWith('/slow')) await app.slow();
      app.answered.push(req.originalUrl);
      res.type('text/plain').send('ok');
    });
    return listen(http.createServer(server), host, app);
  },
  fastify: async (options: LimiterOptions, host = '127.0.0.1'): Promise<LimitedServer> => {
    const app = appLogic();
    const server = Fastify({ forceCloseConnections: true });
    // The shared options are typed for node requests; Fastify hands key functions its own (none here use one).
    await server.register(limiterPlugin, options as never);
    // In a child context: the limiter still applies (it is not encapsulated).
    await server.register(async (child) => {
      child.all('/*', async (request, reply) => {
        if (request.url.startsWith('/slow')) await app.slow();
        app.answered.push(request.url);
        return reply.type('text/plain').send('ok');
      });
    });
    await server.listen({ port: 0, host });
    const port = (server.server.address() as AddressInfo).port;
    return {
      origin: host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`,
      releaseSlow: app.releaseSlow,
      answered: app.answered,
      close: async () => {
        app.releaseSlow();
        await server.close();
      },
    };
  },
} as const;

export type LimitedServerKind = keyof typeof LIMITED_SERVERS;
export const LIMITED_SERVER_KINDS = Object.keys(LIMITED_SERVERS) as LimitedServerKind[];

/** GETs `path` `count` times in a row; resolves with the statuses. */
export async function statuses(origin: string, path: string, count: number, headers: Record<string, string> = {}): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < count; i++) {
    const response = await fetch(origin + path, { headers });
    await response.arrayBuffer();
    seen.push(response.status);
  }
  return seen;
}
