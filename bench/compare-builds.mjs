// `node bench/compare-builds.mjs <other checkout> [rounds]`: this checkout's floodgate rows
// against another checkout's (its own `dist/` and `bench/stacks/`), side by side in one process,
// with the hand-written stack: "before and after" of a change, measured in the same run.
//
//   git archive main | tar -x -C /tmp/base && ln -s "$PWD/node_modules" /tmp/base/node_modules
//   (cd /tmp/base && npx tsc -p tsconfig.build.json) && npm run build
//   node bench/compare-builds.mjs /tmp/base
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { compare, formatNs, table } from './harness.mjs';
import { handwritten } from './stacks/handwritten.mjs';
import { makeFailOnce, makeSuccess } from './stacks/targets.mjs';

const [other, roundsArg] = process.argv.slice(2);
if (other === undefined) {
  process.stderr.write('usage: node bench/compare-builds.mjs <other checkout> [rounds]\n');
  process.exit(2);
}
const rounds = Number(roundsArg ?? 15);
const base = await import(pathToFileURL(path.resolve(other, 'bench/stacks/floodgate.mjs')).href);
const here = await import('./stacks/floodgate.mjs');

for (const [title, failing] of [['Successful call, sequential', false], ['Failure path (first attempt fails, the retry succeeds), sequential', true]]) {
  const target = () => (failing ? makeFailOnce() : makeSuccess());
  const cases = [{ name: handwritten.name, call: handwritten.create(target()).call }];
  for (const [tag, stacks] of [['base', base], ['this', here]]) {
    for (const stack of [stacks.floodgateExecute, stacks.floodgateThrottled, stacks.floodgateStacked]) {
      cases.push({ name: `${tag}: ${stack.name}`, call: stack.create(target(), { failing }).call });
    }
  }
  const results = await compare(cases, { mode: 'sequential', rounds, roundMs: 80, warmupMs: 200 });
  const hand = results[0].nsPerOp;
  process.stdout.write(`## ${title}\n\n`);
  process.stdout.write(`${table(['stack', 'per call', '× hand-written', 'IQR/median'], results.map((r) => [r.name, formatNs(r.nsPerOp), `${(r.nsPerOp / hand).toFixed(2)}×`, `${(r.spread * 100).toFixed(0)} %`]))}\n\n`);
}
process.exit(0);
