/** Real servers on loopback for the HTTP edge tests: node:http, Express 5 and Fastify 5 serving the status routes. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import type { ThrottleManager } from 'floodgate';
import { statusRouter } from 'floodgate/express';
import { statusPlugin } from 'floodgate/fastify';
import { createStatusHandler } from 'floodgate/http';

export interface StatusServerOptions {
  readonly manager: ThrottleManager;
  readonly authorize?: (req: { headers: http.IncomingHttpHeaders }) => boolean | Promise<boolean>;
  readonly platforms?: 'show' | 'hash';
  readonly events?: boolean;
}

export interface RunningServer {
  /** `http://127.0.0.1:port` */
  readonly origin: string;
  /** Where the routes live: `origin + '/traffic-control'`. */
  readonly base: string;
  close(): Promise<void>;
}

export const PREFIX = '/traffic-control';
/** Every server also answers this route itself, to show that the status routes let other requests through. */
export const OTHER_ROUTE = '/app/hello';

async function listen(server: http.Server): Promise<RunningServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    base: origin + PREFIX,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections(); // event streams stay open otherwise
        server.close(() => resolve());
      }),
  };
}

export const SERVERS = {
  'node:http': async (options: StatusServerOptions): Promise<RunningServer> => {
    const status = createStatusHandler({ ...options, prefix: PREFIX });
    return listen(
      http.createServer(async (req, res) => {
        if (await status(req, res)) return;
        res.writeHead(req.url === OTHER_ROUTE ? 200 : 404, { 'content-type': 'text/plain' }).end(req.url === OTHER_ROUTE ? 'app' : 'not found');
      }),
    );
  },
  express: async (options: StatusServerOptions): Promise<RunningServer> => {
    const app = express();
    app.use(PREFIX, statusRouter(options));
    app.get(OTHER_ROUTE, (_req, res) => void res.type('text/plain').send('app'));
    return listen(http.createServer(app));
  },
  fastify: async (options: StatusServerOptions): Promise<RunningServer> => {
    const app = Fastify({ forceCloseConnections: true });
    await app.register(statusPlugin, { ...options, prefix: PREFIX });
    app.get(OTHER_ROUTE, async (_request, reply) => reply.type('text/plain').send('app'));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    return { origin, base: origin + PREFIX, close: () => app.close() };
  },
} as const;

export type ServerKind = keyof typeof SERVERS;
export const SERVER_KINDS = Object.keys(SERVERS) as ServerKind[];

/**
 * Reads a server-sent-events response until `done(events)` holds; resolves with the events seen.
 * The caller aborts the request afterwards.
 */
export async function readEvents(
  response: Response,
  done: (events: readonly { event: string; data: unknown }[]) => boolean,
): Promise<{ event: string; data: unknown; raw: string }[]> {
  const events: { event: string; data: unknown; raw: string }[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event !== undefined && data !== undefined) events.push({ event, data: JSON.parse(data), raw: block });
    }
    if (done(events)) break;
  }
  return events;
}
