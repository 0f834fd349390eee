/**
 * The slot a streamed body holds: released when the body is done, and by the safety net when a
 * Response is dropped unread (its registration waits for the next check phase, so that bodies
 * read at once skip it): real node:http server, Node's fetch, a real garbage collection.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import { createFetch, type ThrottleManager } from 'floodgate';
import { ROOMY } from '../helpers.js';
import { useLoopback, waitFor, type TestServer } from './http-server.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let server: TestServer;
let manager: ThrottleManager;

useLoopback((loopback) => {
  server = loopback.server;
  server.handle = (_req, res) => res.end('unread');
  manager = loopback.manager();
  manager.configure('http', { ...ROOMY, maxConcurrent: 1 });
});

const inFlight = (): number => manager.getStatusReport().scopes['http:example']?.inFlight ?? -1;

it('a Response dropped unread releases its slot once it is garbage-collected', async () => {
  const f = createFetch({ provider: 'example', manager });
  // The Response lives only inside this call.
  const status = await (async () => (await f(`${server.origin}/dropped`)).status)();
  expect(status).toBe(200);
  expect(inFlight()).toBe(1);
  await waitFor(
    () => {
      gc();
      return inFlight() === 0;
    },
    'the slot of the dropped Response to be released',
    30_000,
  );
  const next = await f(`${server.origin}/next`);
  expect(await next.text()).toBe('unread');
  expect(inFlight()).toBe(0);
}, 40_000); // real GC and sockets on a busy machine: a generous bound, nothing timed
