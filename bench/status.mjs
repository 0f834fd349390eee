// The status routes and page: what the page weighs and what one status request costs the server
// with 1,000 scopes. Run alone (`npm run build && node bench/status.mjs [--quick]`) or as a section
// of `npm run bench`. Uses the built package (dist).
import http from 'node:http';
import { ThrottleManager } from '../dist/index.js';
import { createStatusHandler } from '../dist/http/index.js';
import { pageAssets } from '../dist/http/page-assets.js';
import { createStatusRoutes } from '../dist/http/status-routes.js';
import { compare, formatBytes, formatNs, median, table } from './harness.mjs';

const SCOPES = 1_000;

/** A manager with `count` scopes, each with one success, a few with a failure, one suspended. */
async function busyManager(count) {
  const manager = new ThrottleManager({ env: {}, maxScopes: count * 2 });
  manager.configure('svc', { requestsPerSecond: 100, burst: 100, requestsPerMinute: 6_000, retryAttempts: 0 });
  for (let i = 0; i < count; i++) {
    await manager.execute('svc', async () => 'ok', { platform: `user-${i}` });
    if (i % 50 === 0) await manager.execute('svc', async () => { throw Object.assign(new Error('HTTP 503'), { status: 503 }); }, { platform: `user-${i}` }).catch(() => {});
  }
  manager.suspend('svc', { platform: 'user-7', reason: 'ban detected: Forbidden, account suspended', durationMs: 3_600_000 });
  return manager;
}

async function listen(handler) {
  const server = http.createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: server.address().port };
}

function get(agent, port, path) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent, headers: { 'accept-encoding': 'br' } }, (res) => {
        let bytes = 0;
        res.on('data', (chunk) => (bytes += chunk.length));
        res.on('end', () => resolve(bytes));
      })
      .on('error', reject);
  });
}

export async function runStatusBench({ quick = false } = {}) {
  const settings = quick ? { rounds: 5, roundMs: 60, warmupMs: 60 } : { rounds: 11, roundMs: 150, warmupMs: 200 };
  const out = [];
  const print = (text = '') => out.push(text);

  // The page's weight: every file the browser loads, as served.
  const files = [...pageAssets()].map(([path, asset]) => [path === '/' ? 'index.html' : path.slice(1), asset.body.length, Buffer.byteLength(asset.encoded('br').body), Buffer.byteLength(asset.encoded('gzip').body)]);
  const sum = (column) => files.reduce((total, row) => total + row[column], 0);

  const manager = await busyManager(SCOPES);
  const shown = createStatusRoutes({ manager }, 'bench');
  const hashed = createStatusRoutes({ manager, platforms: 'hash' }, 'bench');
  const request = (acceptEncoding) => ({ method: 'GET', path: '/status', shownPath: '/tc/status', acceptEncoding });
  const body = (await shown.respond(request(undefined), {})).body;
  const br = (await shown.respond(request('br'), {})).body;
  const gz = (await shown.respond(request('gzip'), {})).body;

  // In the server: from the request's arrival to its response handed to the socket.
  const handlerNs = [];
  const handler = createStatusHandler({ manager, prefix: '/tc' });
  const { server, port } = await listen((req, res) => {
    const t0 = process.hrtime.bigint();
    res.on('finish', () => handlerNs.push(Number(process.hrtime.bigint() - t0)));
    void handler(req, res);
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  const results = await compare(
    [
      { name: '`manager.getStatusReport()`', call: () => manager.getStatusReport() },
      { name: '`JSON.stringify(getStatusReport())` (no redaction, reference)', call: () => JSON.stringify(manager.getStatusReport()) },
      { name: 'the `/status` body: report + free-text strings redacted', call: () => shown.respond(request(undefined), {}) },
      { name: "the same with `platforms: 'hash'`", call: () => hashed.respond(request(undefined), {}) },
      { name: 'the same, brotli (what a browser gets: `Accept-Encoding: br`)', call: () => shown.respond(request('gzip, deflate, br'), {}) },
      { name: 'the same, gzip', call: () => shown.respond(request('gzip'), {}) },
      { name: '`GET /tc/status` over loopback, brotli (node:http client, keep-alive, same process)', call: () => get(agent, port, '/tc/status') },
    ],
    { mode: 'sequential', ...settings, minOps: 4 },
  );
  agent.destroy();
  server.closeAllConnections();
  server.close();
  await manager.close();

  const report = results[0].nsPerOp;
  print('## Status routes and page');
  print();
  print(`The page's weight: every file a browser loads for \`GET <prefix>/\`, as the routes serve it (uncompressed, brotli, gzip: they compress for a client that accepts it). It then polls \`GET <prefix>/status\` once a second.`);
  print();
  print(table(['file', 'bytes', 'brotli', 'gzip'], [...files.map(([name, ...sizes]) => [name, ...sizes.map(formatBytes)]), ['**total**', ...[1, 2, 3].map((column) => `**${formatBytes(sum(column))}**`)]]));
  print();
  print(`One status request with ${SCOPES.toLocaleString('en')} scopes (median of rounds). Body: ${formatBytes(Buffer.byteLength(body))} of JSON (~${formatBytes(Buffer.byteLength(body) / SCOPES)} per scope), ${formatBytes(br.length)} with brotli, ${formatBytes(gz.length)} with gzip (the routes compress what the client accepts, brotli first):`);
  print();
  print(table(
    ['work', 'per request', '× getStatusReport()'],
    [
      ...results.map((r) => [r.name, formatNs(r.nsPerOp), `${(r.nsPerOp / report).toFixed(1)}×`]),
      ['in the server, request in to response finished (handler timed during the loopback row)', formatNs(median(handlerNs)), `${(median(handlerNs) / report).toFixed(1)}×`],
    ],
  ));
  print();
  return { markdown: out.join('\n'), pageBytes: sum(1), bodyBytes: Buffer.byteLength(body), results, handlerNs: median(handlerNs) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { markdown } = await runStatusBench({ quick: process.argv.includes('--quick') });
  console.log(markdown);
}
