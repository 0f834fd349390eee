/** A real node:http server on loopback for the outbound tests: each test answers requests its own way. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach } from 'vitest';
import { ThrottleManager, type ThrottleManagerOptions } from 'floodgate';

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** Every request received, in order, with its body read. */
  readonly seen: SeenRequest[];
  /** How the next requests are answered (the body is read first). */
  handle: (req: SeenRequest, res: ServerResponse) => void;
  close(): Promise<void>;
}

export async function startServer(handle: TestServer['handle'] = (_req, res) => res.end('ok')): Promise<TestServer> {
  const seen: SeenRequest[] = [];
  const state: TestServer = {
    origin: '',
    seen,
    handle,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString() };
      seen.push(request);
      state.handle(request, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (state as { origin: string }).origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

/** One test's loopback fixture. */
export interface Loopback {
  /** The test's own server, started before it, answering 200 `ok` until the test sets `handle`. */
  readonly server: TestServer;
  /** A new manager with `env: {}` (the test's environment kept out) and `options`, closed after the test. */
  manager(options?: ThrottleManagerOptions): ThrottleManager;
}

/**
 * Gives each test of the enclosing suite a fresh loopback server and hands `setup` that test's
 * fixture before it runs. After the test, every manager made through the fixture is closed first
 * (ending its calls), then the server.
 */
export function useLoopback(setup: (loopback: Loopback) => void): void {
  let server: TestServer | undefined;
  const managers: ThrottleManager[] = [];
  beforeEach(async () => {
    server = await startServer();
    setup({
      server,
      manager: (options) => {
        const manager = new ThrottleManager({ env: {}, ...options });
        managers.push(manager);
        return manager;
      },
    });
  });
  afterEach(async () => {
    for (const manager of managers.splice(0)) await manager.close();
    await server?.close();
    server = undefined;
  });
}

/** Polls `condition` (real I/O: no fixed sleeps), failing after a generous bound. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
