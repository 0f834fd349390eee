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
node check.mjs
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
test -f node_modules/floodgate/dist/index.d.ts
echo "packed files: $(tar tzf "$tarball" | wc -l)"
