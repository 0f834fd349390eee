#!/usr/bin/env bash
# Packs the package, installs the tarball in an empty folder and uses it from ESM and CommonJS.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tarball="$(cd "$root" && npm pack --silent --pack-destination "$work" | tail -1)"
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund "./$tarball" >/dev/null 2>&1
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
await import('floodgate/express');
await import('floodgate/fastify');
console.log('http ok');
JS
node check.mjs
node check-http.mjs
# The published types never require Express's or Fastify's (optional peers).
if grep -lE "from ['\"](express|fastify)['\"]" node_modules/floodgate/dist/http/*.d.ts; then echo "a .d.ts imports express or fastify" >&2; exit 1; fi
node --no-warnings check.cjs
test -f node_modules/floodgate/dist/index.d.ts
echo "packed files: $(tar tzf "$tarball" | wc -l)"
