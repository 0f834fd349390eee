// Tokens and spend: what weighting a call, and checking its spend against a budget, add to the hot
// path (sequential awaited no-op calls through manager.execute, same run). Run alone
// (`npm run build && node bench/tokens.mjs [--quick]`) or as a section of `npm run bench`.
import { ThrottleManager } from '../dist/index.js';
import { compare, formatNs, table } from './harness.mjs';
import { OPEN_LIMITS } from './stacks/floodgate.mjs';

const noop = async () => 'ok';
/** A cap that never binds: the window is read and written on every call, as under a real cap. */
const OPEN_TOKENS = { ...OPEN_LIMITS, tokensPerMinute: 1e15 };

function managerWith(settings, prices) {
  const manager = new ThrottleManager({ env: {} });
  manager.configure('bench', settings);
  if (prices) manager.setPrices(prices);
  return manager;
}

export async function runTokensBench({ quick = false } = {}) {
  const settings = quick ? { rounds: 5, roundMs: 20, warmupMs: 40 } : { rounds: 15, roundMs: 80, warmupMs: 200 };
  const plain = managerWith(OPEN_LIMITS);
  const weighted = managerWith(OPEN_TOKENS);
  const budgeted = managerWith({ ...OPEN_TOKENS, budget: { usd: 1e12, period: 'day' } }, { 'bench-model': { inputPerMTok: 1, outputPerMTok: 2 } });
  const cost = Object.freeze({ cost: 100 });
  const costAndModel = Object.freeze({ cost: 100, model: 'bench-model' });
  const cases = [
    { name: 'unweighted: `execute(service, fn)`', call: () => plain.execute('bench', noop) },
    { name: 'weighted: `execute(service, fn, { cost })`, tokensPerMinute set', call: () => weighted.execute('bench', noop, cost) },
    { name: 'weighted + spend: `{ cost, model }`, priced model, budget set', call: () => budgeted.execute('bench', noop, costAndModel) },
  ];
  const results = await compare(cases, settings);
  const base = results[0].nsPerOp;
  const rows = results.map((r) => [r.name, formatNs(r.nsPerOp), `${(r.nsPerOp / base).toFixed(2)}x`, `±${(r.spread * 100).toFixed(0)}%`]);
  const spendCheck = results[2].nsPerOp - results[1].nsPerOp;
  const markdown = [
    '### Tokens and spend (sequential awaited no-op call)',
    '',
    table(['case', 'per call', 'vs unweighted', 'spread'], rows),
    '',
    `Weighted over unweighted: ${(((results[1].nsPerOp / base) - 1) * 100).toFixed(1)}% (target ≤ 5%). Spend check (budget reserve + settle, price lookup): ${formatNs(spendCheck)} per call (target < 100 ns).`,
    '',
  ].join('\n');
  await Promise.all([plain.close(), weighted.close(), budgeted.close()]);
  return { markdown, results };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log((await runTokensBench({ quick: process.argv.includes('--quick') })).markdown);
}
