#!/usr/bin/env bash
# Packs the package, installs the tarball in an empty folder and uses it from ESM and CommonJS.
set -euo pipefail
source "$(dirname "$0")/packed-project.sh" # sets root, work (the current folder, removed at exit) and tarball
cat > check.mjs <<'JS'
import assert from 'node:assert/strict';
import { throttleManager, ThrottleManager, ServiceType, SERVICE_PRESETS, isRateLimitedError } from 'floodgate';
assert.equal(ThrottleManager.getInstance(), throttleManager);
assert.equal(SERVICE_PRESETS[ServiceType.LLM_API].requestsPerMinute, 20);
const manager = new ThrottleManager({ env: {} });
assert.equal(await manager.execute('demo', async () => 42), 42);
assert.equal(typeof isRateLimitedError, 'function');
const report = manager.getStatusReport();
assert.equal(report.scopes.demo.counters.successes, 1);
await manager.close();
console.log('esm ok');
JS
cat > check.cjs <<'JS'
const { throttleManager } = require('floodgate');
if (typeof throttleManager.execute !== 'function') throw new Error('require(floodgate) failed');
console.log('cjs ok');
JS
cat > check-http.mjs <<'JS'
// floodgate/http from the packed package, without express or fastify installed: the page's files are in it.
import assert from 'node:assert/strict';
import http from 'node:http';
import { ThrottleManager } from 'floodgate';
import { createStatusHandler } from 'floodgate/http';
const manager = new ThrottleManager({ env: {} });
await manager.execute('demo', async () => 1);
const status = createStatusHandler({ manager, prefix: '/tc' });
const server = http.createServer((req, res) => void status(req, res));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${server.address().port}/tc`;
assert.equal((await (await fetch(`${base}/status`)).json()).scopes.demo.counters.successes, 1);
for (const file of ['', 'status-page.js', 'status-page.css', 'favicon.svg']) assert.equal((await fetch(`${base}/${file}`)).status, 200, file);
server.close();
assert.equal(typeof (await import('floodgate/express')).limiterMiddleware, 'function');
assert.equal(typeof (await import('floodgate/fastify')).limiterPlugin, 'function');
const { createLimiter } = await import('floodgate/http');
const limiter = createLimiter({ manager, groups: { default: { requestsPerMinute: 1 } } });
const limited = http.createServer(async (req, res) => void ((await limiter.check(req, res)) && res.end('ok')));
await new Promise((resolve) => limited.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${limited.address().port}/`;
assert.deepEqual([(await fetch(url)).status, (await fetch(url)).status], [200, 429]);
limited.close();
console.log('http ok');
JS
node check.mjs
node check-http.mjs
# The published types never require Express's or Fastify's (optional peers).
if grep -lE "from ['\"](express|fastify)['\"]" node_modules/floodgate/dist/http/*.d.ts node_modules/floodgate/dist/http/limiter/*.d.ts; then echo "a .d.ts imports express or fastify" >&2; exit 1; fi
node --no-warnings check.cjs
# The decision ledger and its CLI, as a user runs it (the package's "bin").
cat > ledger.mjs <<'JS'
import { createLedger } from 'floodgate';
const ledger = createLedger({ path: 'decisions.jsonl' });
ledger.record({ scope: 'demo', decision: 'suspend', reason: 'manual' });
await ledger.close();
JS
node ledger.mjs
npx --no-install floodgate verify-ledger decisions.jsonl | grep -q '"ok":true,"records":1'
echo "ledger cli ok"
# A malformed FLOODGATE_* variable never breaks the import; it surfaces at the singleton's first use.
FLOODGATE_LLM_API_BURST=abc node --input-type=module -e "
import { throttleManager, isConfigError } from 'floodgate';
try { throttleManager.getConfig('llm_api'); throw new Error('no ConfigError'); }
catch (error) { if (!isConfigError(error) || error.value !== 'abc') throw error; }
console.log('lazy environment ok');"
test -f node_modules/floodgate/dist/index.d.ts
# The metrics subpaths: floodgate/prometheus loads without prom-client (it only takes your registry).
node --input-type=module -e "import { collectMetrics } from 'floodgate/prometheus'; if (typeof collectMetrics !== 'function') throw new Error('floodgate/prometheus'); console.log('prometheus subpath ok');"
test -f node_modules/floodgate/dist/metrics/otel.d.ts && test -f node_modules/floodgate/dist/metrics/otel.js
# floodgate/undici loads without undici installed (it only wraps the dispatch it is given).
node --input-type=module -e "import { floodgateInterceptor } from 'floodgate/undici'; if (typeof floodgateInterceptor !== 'function') throw new Error('floodgate/undici'); console.log('undici subpath ok');"
if grep -lE "from ['\"]undici" node_modules/floodgate/dist/outbound/*.d.ts; then echo "a .d.ts imports undici" >&2; exit 1; fi
tar tzf "$tarball" > packed.txt
grep -qx 'package/LICENSE' packed.txt
if grep -q '\.map$' packed.txt; then echo "source maps shipped without their sources" >&2; exit 1; fi
echo "packed files: $(wc -l < packed.txt)"
