/**
 * Inbound limits on your own API: a node:http server whose chat endpoints allow 5 requests a
 * minute per client, whose memory endpoints also have a limit for all clients together, with
 * everything else on a default group and the health check exempt.
 *
 *   node --import tsx examples/inbound-server.ts          # starts, sends a few requests itself, prints what it got, exits
 *   node --import tsx examples/inbound-server.ts --keep   # stays up: try it with curl (URLs printed)
 *   PORT=8080 node --import tsx examples/inbound-server.ts --keep
 *
 *   curl -i localhost:8080/api/v1/chat/send                      # RateLimit headers; the 6th in a minute: 429 + Retry-After
 *   curl -i -H 'X-Actor: alice' localhost:8080/api/v1/chat/send  # alice has her own quota (loopback is a trusted proxy here)
 *   curl -i localhost:8080/api/v1/memory/notes                   # RateLimit: "memory";r=3;t=1, "memory.total";r=19;t=1
 *   curl -s localhost:8080/traffic-control/status                 # the status report: keys hashed, never shown
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ThrottleManager } from 'floodgate';
import { createLimiter, createStatusHandler } from 'floodgate/http';

const keep = process.argv.includes('--keep');
const manager = new ThrottleManager();

const limiter = createLimiter({
  manager,
  groups: {
    '/api/v1/chat/*': { requestsPerMinute: 5, name: 'chat' },
    // 2 a second per client, and 20 a second for the memory endpoints whoever calls them.
    '/api/v1/memory/*': { requestsPerSecond: 2, burst: 4, maxConcurrent: 2, name: 'memory', total: { requestsPerSecond: 20 } },
    default: { requestsPerMinute: 100 },
  },
  // Here the "proxy" that names its users in X-Actor is you, with curl on this machine.
  trustProxy: ['loopback'],
});
const status = createStatusHandler({ manager, prefix: '/traffic-control' });

const server = http.createServer(async (req, res) => {
  if (await status(req, res)) return;
  if (!(await limiter.check(req, res))) return; // refused: answered with 429 already
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, path: req.url }));
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', async () => {
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  console.log(`listening on ${origin}  (chat: ${origin}/api/v1/chat/send, status: ${origin}/traffic-control/status)`);
  if (keep) return;

  // The self-test: what a client sees.
  const show = async (path: string, headers: Record<string, string> = {}): Promise<number> => {
    const response = await fetch(origin + path, { headers });
    const limit = response.headers.get('ratelimit');
    const retry = response.headers.get('retry-after');
    console.log(`${response.status} ${path}${headers['x-actor'] ? ` (X-Actor: ${headers['x-actor']})` : ''}  ${limit ? `RateLimit: ${limit}` : ''}${retry ? `  Retry-After: ${retry}` : ''}`);
    await response.arrayBuffer();
    return response.status;
  };
  const seen: number[] = [];
  for (let i = 0; i < 6; i++) seen.push(await show('/api/v1/chat/send'));
  seen.push(await show('/api/v1/chat/send', { 'x-actor': 'alice' }));
  seen.push(await show('/api/v1/memory/notes')); // both quotas: the client's and the group's
  seen.push(await show('/healthz'));
  const report = manager.getStatusReport();
  console.log('scopes in the status report:', Object.keys(report.scopes).join(', '));
  server.close();
  await manager.close();
  const expected = [200, 200, 200, 200, 200, 429, 200, 200, 200];
  if (seen.join() !== expected.join()) {
    console.error(`expected ${expected.join()}, got ${seen.join()}`);
    process.exit(1);
  }
});
