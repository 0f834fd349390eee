// Governance on the call path (issue 16): what observe mode and contracts cost a call, beside the
// same call enforced and the hand-written stack, in one run. `node bench/governance.mjs [--quick]`
// after `npm run build` (or `npm run bench`, which includes it). Prints markdown.
import { pathToFileURL } from 'node:url';
import { compare, formatNs, table } from './harness.mjs';
import { benchManager, OPEN_LIMITS } from './stacks/floodgate.mjs';
import { handwritten } from './stacks/handwritten.mjs';
import { makeSuccess } from './stacks/targets.mjs';

const DAY = 86_400_000;
const swallow = () => 0;
const failing = () => Promise.reject(Object.assign(new Error('HTTP 503'), { status: 503 }));
const CONTRACTS = { 'GET /repos/{owner}/{repo}': { maxLatencyMs: 1_000, errorBudget: 0.01, windowMs: 60_000 } };

/** A row: `execute` through a manager configured with `settings`, after `prepare` ran once. */
function row(name, settings, { endpoint, prepare, swallowing = false } = {}) {
  return {
    name,
    group: 'floodgate',
    async create(target) {
      const { manager, service } = benchManager({ ...OPEN_LIMITS, ...settings });
      await prepare?.(manager, service, target);
      const options = endpoint === undefined ? undefined : { endpoint };
      const call = swallowing ? () => manager.execute(service, target, options).then(undefined, swallow) : () => manager.execute(service, target, options);
      return { call, close: () => manager.close() };
    },
  };
}

const openCircuit = async (manager, service) => {
  await manager.execute(service, failing).catch(swallow);
};
const takeOnlyToken = (manager, service, target) => manager.execute(service, target);
const CIRCUIT = { circuitBreakerThreshold: 1, circuitBreakerResetMs: DAY, retryAttempts: 0 };
const EMPTY_BUCKET = { requestsPerSecond: 1 / 3600, burst: 1, requestsPerMinute: 1, maxWaitMs: 0 };

/** Admitted, successful calls: the hot path. */
const ADMITTED = [
  handwritten,
  row('enforce (the default)', {}),
  row("`mode: 'observe'`", { mode: 'observe' }),
  row('enforce, one contract, endpoint matched', { contracts: CONTRACTS }, { endpoint: 'GET /repos/octo/cat' }),
];

/** Calls enforce mode refuses, and observe mode lets through (counted as `wouldRefuse`). */
const REFUSED = [
  row('enforce: circuit open, refused', CIRCUIT, { prepare: openCircuit, swallowing: true }),
  row('observe: circuit open, let through', { ...CIRCUIT, mode: 'observe' }, { prepare: openCircuit, swallowing: true }),
  row('enforce: no token, `maxWaitMs: 0`, refused', EMPTY_BUCKET, { prepare: takeOnlyToken, swallowing: true }),
  row('observe: no token, let through', { ...EMPTY_BUCKET, mode: 'observe' }, { prepare: takeOnlyToken, swallowing: true }),
];

async function time(stacks, settings) {
  const instances = [];
  for (const stack of stacks) instances.push({ stack, instance: await stack.create(makeSuccess()) });
  const results = await compare(
    instances.map(({ stack, instance }) => ({ name: stack.name, group: stack.group, call: instance.call })),
    { mode: 'sequential', rounds: settings.rounds, roundMs: settings.roundMs, warmupMs: settings.warmupMs },
  );
  for (const { instance } of instances) await instance.close?.();
  return results;
}

const rows = (results, base, baseLabel) =>
  table(
    ['row', 'per call', `× ${baseLabel}`, 'IQR/median', 'calls per round'],
    results.map((r) => [r.name, formatNs(r.nsPerOp), `${(r.nsPerOp / base).toFixed(2)}×`, `${(r.spread * 100).toFixed(0)} %`, String(r.ops)]),
  );

/** Runs both tables; returns { markdown, admitted, refused }. */
export async function benchGovernance({ quick = false } = {}) {
  const settings = quick ? { rounds: 5, roundMs: 20, warmupMs: 40 } : { rounds: 15, roundMs: 80, warmupMs: 200 };
  const admitted = await time(ADMITTED, settings);
  const refused = await time(REFUSED, settings);
  const enforce = admitted.find((r) => r.name.startsWith('enforce (')).nsPerOp;
  const hand = admitted.find((r) => r.name === handwritten.name).nsPerOp;
  const markdown = [
    '## Governance on the call path: observe mode and contracts, sequential (`manager.execute`)',
    '',
    `Admitted successful calls (the hot path): observe mode and a scope with contracts beside enforce mode and the hand-written stack (enforce ÷ hand-written: ${(enforce / hand).toFixed(2)}×).`,
    '',
    rows(admitted, enforce, 'enforce'),
    '',
    'Calls enforce mode refuses: observe mode counts the refusal (`wouldRefuse`) and runs the call instead. Each row swallows a rejection the same way.',
    '',
    rows(refused, refused[0].nsPerOp, 'enforce circuit-open refusal'),
    '',
  ].join('\n');
  return { markdown, admitted, refused };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { markdown } = await benchGovernance({ quick: process.argv.includes('--quick') });
  process.stdout.write(`${markdown}\n`);
}
