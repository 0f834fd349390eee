// `node bench/compare-builds.mjs <other checkout>... [--rounds N] [--clock cpu] [--only success,failure,refusal,weighted]`:
// this checkout's floodgate rows against one or more other checkouts' (each with its own `dist/`
// and `bench/stacks/`), side by side in one process, with the hand-written stack: "before and
// after" of a change, measured in the same run (rows interleaved, rotating order, median of rounds).
// Each floodgate row is also given as a ratio to the first checkout's same row (ratios are medians
// of per-round ratios). `--clock cpu` times rounds by the process's CPU time: on a shared machine
// the wall clock also counts the time spent waiting for a core.
//
//   git archive main | tar -x -C /tmp/base && ln -s "$PWD/node_modules" /tmp/base/node_modules
//   (cd /tmp/base && npx tsc -p tsconfig.build.json) && npm run build
//   node bench/compare-builds.mjs /tmp/base
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { compare, formatNs, median, table } from './harness.mjs';
import { handwritten } from './stacks/handwritten.mjs';
import { makeFailOnce, makeSuccess } from './stacks/targets.mjs';

const argv = process.argv.slice(2);
const option = (name) => {
  const at = argv.indexOf(name);
  return at < 0 ? undefined : argv.splice(at, 2)[1];
};
const rounds = Number(option('--rounds') ?? 31);
/** `--clock cpu`: rounds timed by the process's CPU time instead of the wall clock (a shared machine; see harness.mjs). */
const clock = option('--clock') ?? 'wall';
const only = option('--only')?.split(',');
const others = argv;
if (others.length === 0) {
  process.stderr.write('usage: node bench/compare-builds.mjs <other checkout>... [--rounds N] [--clock cpu] [--only success,failure,refusal,weighted]\n');
  process.exit(2);
}
const wants = (section) => only === undefined || only.includes(section);

const load = async (dir, file) => {
  const at = path.resolve(dir, 'bench/stacks', file);
  return existsSync(at) ? import(pathToFileURL(at).href) : undefined;
};
const builds = [];
for (const dir of others) builds.push({ tag: path.basename(path.resolve(dir)), stacks: await load(dir, 'floodgate.mjs'), refusals: await load(dir, 'refusals.mjs'), dist: await import(pathToFileURL(path.resolve(dir, 'dist/index.js')).href) });
builds.push({ tag: 'this', stacks: await import('./stacks/floodgate.mjs'), refusals: await import('./stacks/refusals.mjs'), dist: await import('../dist/index.js') });

/**
 * Prints one section: per row the median of rounds, × hand-written (the section's first row, when
 * it is one) and × `base` (the first build's row of the same name, or the row `base(name)` names).
 * Each ratio is the median over rounds of that round's own ratio: the rows of a round run a few ms
 * apart, so load that shifts between rounds (a busy machine) cancels out.
 */
async function section(title, cases, { reference = true, base } = {}) {
  const results = await compare(cases, { mode: 'sequential', rounds, roundMs: 50, warmupMs: 200, clock });
  const hand = reference ? results[0] : undefined;
  const rowName = (name) => name.slice(name.indexOf(': ') + 2);
  const baseOf = (r) => (base !== undefined ? results.find((b) => b.name === base(r.name)) : results.find((b) => b.name.includes(': ') && rowName(b.name) === rowName(r.name)));
  const ratio = (a, b) => (b === undefined ? '–' : `${median(a.samples.map((x, i) => x / b.samples[i])).toFixed(2)}×`);
  const rows = results.map((r) => [r.name, formatNs(r.nsPerOp), ratio(r, hand), ratio(r, r.name.includes(': ') ? baseOf(r) : undefined), `${(r.spread * 100).toFixed(0)} %`]);
  const against = base === undefined ? builds[0].tag : 'unweighted';
  process.stdout.write(`## ${title}\n\n${table(['stack', 'per call (median)', '× hand-written', `× ${against}`, 'IQR/median'], rows)}\n\n`);
}

for (const [name, title, failing] of [
  ['success', 'Successful call, sequential', false],
  ['failure', 'Failure path (first attempt fails, the retry succeeds), sequential', true],
]) {
  if (!wants(name)) continue;
  const target = () => (failing ? makeFailOnce() : makeSuccess());
  const cases = [{ name: handwritten.name, call: handwritten.create(target()).call }];
  for (const { tag, stacks } of builds) {
    for (const stack of [stacks.floodgateExecute, stacks.floodgateThrottled, stacks.floodgateStacked]) {
      cases.push({ name: `${tag}: ${stack.name}`, call: stack.create(target(), { failing }).call });
    }
  }
  await section(title, cases);
}

if (wants('refusal')) {
  const closers = [];
  const cases = [];
  for (const { tag, refusals } of builds) {
    if (refusals === undefined) continue;
    if (cases.length === 0) cases.push({ name: refusals.handwrittenCircuitOpen.name, call: refusals.handwrittenCircuitOpen.create(makeSuccess()).call });
    for (const stack of [refusals.floodgateCircuitOpen, refusals.floodgateSuspended, refusals.floodgateQueueFull]) {
      const instance = await stack.create(makeSuccess());
      if (instance.close) closers.push(instance.close);
      cases.push({ name: `${tag}: ${stack.name}`, call: instance.call });
    }
  }
  await section('Refusal path, sequential', cases);
  await Promise.all(closers.map((close) => close()));
}

if (wants('weighted')) {
  // Issue 12: a weighted call (`cost`, a token cap that never binds) against an unweighted one, per build.
  const noop = async () => 'ok';
  const cost = Object.freeze({ cost: 100 });
  const cases = [];
  for (const { tag, stacks, dist } of builds) {
    if (typeof dist.ThrottleManager.prototype.setPrices !== 'function') continue;
    const plain = new dist.ThrottleManager({ env: {} });
    plain.configure('bench', stacks.OPEN_LIMITS);
    const weighted = new dist.ThrottleManager({ env: {} });
    weighted.configure('bench', { ...stacks.OPEN_LIMITS, tokensPerMinute: 1e15 });
    cases.push({ name: `${tag}: unweighted execute`, call: () => plain.execute('bench', noop) });
    cases.push({ name: `${tag}: weighted execute ({ cost })`, call: () => weighted.execute('bench', noop, cost) });
  }
  if (cases.length > 0) await section('Weighted against unweighted call, sequential', cases, { reference: false, base: (name) => name.replace('weighted execute ({ cost })', 'unweighted execute') });
}
process.exit(0);
