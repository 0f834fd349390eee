// One server of the inbound bench, in its own process (the load generator must not share its
// event loop): `node bench/inbound-server.mjs <framework> <limiter> <scenario>` prints its port.
// framework: http | express | fastify; limiter: none | floodgate | base | peer (express-rate-limit 8
// on Express, @fastify/rate-limit 11 on Fastify); scenario: open | keys | binding.
import http from 'node:http';
import { pathToFileURL } from 'node:url';

// limiter `base`: floodgate from another build (`FLOODGATE_BASE_DIST`, a dist/ directory), for before/after runs.
const [framework, variant, scenario] = process.argv.slice(2);
const dist = variant === 'base' ? pathToFileURL(`${process.env.FLOODGATE_BASE_DIST}/`).href : new URL('../dist/', import.meta.url).href;
const { ThrottleManager } = await import(`${dist}index.js`);
const { createLimiter } = await import(`${dist}http/index.js`);
const { limiterMiddleware } = await import(`${dist}http/express.js`);
const { limiterPlugin } = await import(`${dist}http/fastify.js`);
const limiterKind = variant === 'base' ? 'floodgate' : variant;
/** Requests per minute per key: never binding (open, keys), or the limit counted (binding). */
export const LIMITS = { open: 10_000_000, keys: 1_000, binding: 2_000 };
const limit = LIMITS[scenario];
// `keys` and `binding`: each request names its client in X-Actor (the load generator cycles 100,000
// of them, or sends one); `open`: one client, by address.
const byActor = scenario !== 'open';
const actorOf = (req) => req.headers['x-actor'];

const manager = new ThrottleManager({ env: {}, maxScopes: 250_000 });
const floodgateOptions = {
  manager,
  groups: { default: { requestsPerMinute: limit } },
  headers: 'draft-8',
  ...(byActor ? { keys: { actor: ['x-actor'], headersFrom: 'anyone' } } : {}),
};

async function start() {
  if (framework === 'http') {
    const limiter = limiterKind === 'floodgate' ? createLimiter(floodgateOptions) : null;
    const server = http.createServer(async (req, res) => {
      if (limiter !== null && !(await limiter.check(req, res))) return;
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return server.address().port;
  }
  if (framework === 'express') {
    const { default: express } = await import('express');
    const app = express();
    if (limiterKind === 'floodgate') app.use(limiterMiddleware(floodgateOptions));
    if (limiterKind === 'peer') {
      const { rateLimit } = await import('express-rate-limit');
      app.use(rateLimit({ windowMs: 60_000, limit, standardHeaders: 'draft-8', legacyHeaders: false, ...(byActor ? { keyGenerator: actorOf } : {}) }));
    }
    app.get('/', (_req, res) => void res.type('text/plain').send('ok'));
    const server = http.createServer(app);
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return server.address().port;
  }
  const { default: Fastify } = await import('fastify');
  const app = Fastify();
  if (limiterKind === 'floodgate') await app.register(limiterPlugin, floodgateOptions);
  if (limiterKind === 'peer') {
    const { default: rateLimit } = await import('@fastify/rate-limit');
    // `cache`: its LRU keeps 5,000 clients by default and forgets the rest (a forgotten client starts
    // afresh); 250,000 here, as the floodgate manager's maxScopes, so that both keep every client.
    await app.register(rateLimit, { max: limit, timeWindow: 60_000, cache: 250_000, ...(byActor ? { keyGenerator: (request) => request.headers['x-actor'] } : {}) });
  }
  app.get('/', async (_request, reply) => reply.type('text/plain').send('ok'));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return app.server.address().port;
}

// The bench asks for this process's CPU time around each round: CPU per request holds up on a
// busy machine far better than requests per second do.
process.on('message', (message) => {
  if (message === 'cpu') process.send(process.cpuUsage());
});
process.stdout.write(`${await start()}\n`);
