// Memory and idle cost of many scopes (one per user key). Each kind runs in its own child
// process started with --expose-gc, so one kind's garbage cannot blur another's figures.
//
//   node --expose-gc bench/memory.mjs <kind> <scopes> <idleMs>   (prints one JSON line)
import { createHook } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(import.meta.url);

/** What each kind keeps per user, and how it is created: one successful call per key. */
const KINDS = {
  async floodgate(names) {
    const { benchManager } = await import('./stacks/floodgate.mjs');
    const { manager, service } = benchManager(undefined, { maxScopes: names.length + 1 });
    await inBatches(names, (name) => manager.execute(service, noop, { platform: name }));
    return { holder: manager, count: () => Object.keys(manager.getStatusReport().scopes).length };
  },
  async 'floodgate-evicting'(names) {
    // Default maxScopes (10,000): idle scopes beyond it are forgotten, least recently used first.
    const { benchManager } = await import('./stacks/floodgate.mjs');
    const { manager, service } = benchManager();
    await inBatches(names, (name) => manager.execute(service, noop, { platform: name }));
    return { holder: manager, count: () => Object.keys(manager.getStatusReport().scopes).length };
  },
  async handwritten(names) {
    const { HandScope, handCall } = await import('./stacks/handwritten.mjs');
    const scopes = new Map();
    const scopeOf = (name) => {
      const key = `bench:${name}`;
      let scope = scopes.get(key);
      if (scope === undefined) scopes.set(key, (scope = new HandScope()));
      return scope;
    };
    await inBatches(names, (name) => handCall(scopeOf(name), noop));
    return { holder: scopes, count: () => scopes.size };
  },
  async cockatiel(names) {
    const { cockatielPolicy } = await import('./stacks/cockatiel.mjs');
    const policies = new Map();
    await inBatches(names, (name) => {
      const policy = cockatielPolicy();
      policies.set(`bench:${name}`, policy);
      return policy.execute(noop);
    });
    return { holder: policies, count: () => policies.size };
  },
  async 'rate-limiter-flexible'(names) {
    const { RateLimiterMemory } = await import('rate-limiter-flexible');
    const limiter = new RateLimiterMemory({ points: 1e9, duration: 60 });
    await inBatches(names, (name) => limiter.consume(name));
    return { holder: limiter, count: () => names.length };
  },
  async opossum(names) {
    const { default: CircuitBreaker } = await import('opossum');
    const breakers = new Map();
    await inBatches(names, (name) => {
      const breaker = new CircuitBreaker(noop);
      breakers.set(`bench:${name}`, breaker);
      return breaker.fire();
    });
    return { holder: breakers, count: () => breakers.size };
  },
};

const noop = async () => 1;

async function inBatches(items, fn, size = 1000) {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

function collect() {
  for (let i = 0; i < 4; i++) globalThis.gc();
  return process.memoryUsage().heapUsed;
}

/** Ref'd timers only: what keeps the process alive (unref'd timers are not listed). */
const refTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** Every live Timeout, ref'd or not (setTimeout not yet fired or cleared, and setInterval). */
function trackTimers() {
  const live = new Set();
  const hook = createHook({
    init(id, type) {
      if (type === 'Timeout') live.add(id);
    },
    destroy(id) {
      live.delete(id);
    },
  }).enable();
  return { count: () => live.size, stop: () => hook.disable() };
}

/** CPU (user + system, µs) the process burns while it sits idle for `ms`. */
async function idleCpu(ms) {
  const start = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

async function child(kind, scopes, idleMs) {
  const create = KINDS[kind];
  if (create === undefined) throw new Error(`unknown kind ${kind}`);
  // The per-user names are the caller's data, made before the baseline: not counted.
  const names = Array.from({ length: scopes }, (_, i) => `user-${i}`);
  await idleCpu(idleMs / 2);
  const cpuBefore = await idleCpu(idleMs);
  const heapBefore = collect();
  const refBefore = refTimers();
  const tracker = trackTimers();
  const { holder, count } = await create(names);
  // Let timers of just-settled calls be cleared, then count what the scopes hold.
  await new Promise((resolve) => setImmediate(resolve));
  const timersHeld = tracker.count();
  tracker.stop();
  const refTimersHeld = refTimers() - refBefore;
  const heapAfter = collect();
  // The first idle moments after a burst of allocation include V8's own clean-up
  // (memory reducer, concurrent sweeping); settle, then measure a full idle window.
  const cpuSettleUs = await idleCpu(idleMs / 2);
  const cpuAfter = await idleCpu(idleMs);
  const kept = count();
  globalThis.keep = holder;
  return {
    kind,
    scopes,
    kept,
    bytes: heapAfter - heapBefore,
    bytesPerScope: (heapAfter - heapBefore) / scopes,
    timersHeld,
    refTimersHeld,
    idleMs,
    cpuBaselineUs: cpuBefore,
    cpuSettleUs,
    cpuIdleUs: cpuAfter,
  };
}

/** Runs one kind in a clean child process; resolves with its figures. */
export function measureMemory(kind, scopes, idleMs) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...process.execArgv, '--expose-gc', HERE, kind, String(scopes), String(idleMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (chunk) => (out += chunk));
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code !== 0) return reject(new Error(`memory child ${kind} exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1)));
    });
  });
}

export const MEMORY_KINDS = Object.keys(KINDS);

if (process.argv[1] === HERE) {
  const [kind, scopes, idleMs] = process.argv.slice(2);
  const result = await child(kind, Number(scopes), Number(idleMs));
  process.stdout.write(`${JSON.stringify(result)}\n`);
  // Opossum and rate-limiter-flexible keep (unref'd) timers; leave without waiting for them.
  process.exit(0);
}
