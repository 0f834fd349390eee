// Tokens and spend: what weighting a call, and checking its spend against a budget, add to the hot
// path (sequential awaited no-op calls through manager.execute, same run). Run alone
// (`npm run build && node bench/tokens.mjs [--quick] [--clock cpu] [--breakdown]`) or as a section of `npm run bench`.
//
// The figures are differences of a few tens of ns on calls of a few hundred, on a machine other
// work shares: a median per row, compared across rows, moves with the load between rounds. So
// the rows run interleaved (each round runs every row once, in a rotating order, a few ms
// apart) over many short rounds, and each figure is the median over rounds of that round's own
// ratio (weighted ÷ unweighted) or difference (spend − weighted): load that shifts between
// rounds cancels out, load within a round shows in the quartiles given beside it.
import { ThrottleManager } from '../dist/index.js';
import { compare, formatNs, median, quantile, table } from './harness.mjs';
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

/** Per-round values `of(a[i], b[i])` of two rows of one run: their median and quartiles. */
function paired(a, b, of) {
  const values = a.samples.map((x, i) => of(x, b.samples[i]));
  return { median: median(values), low: quantile(values, 0.25), high: quantile(values, 0.75) };
}

export async function runTokensBench({ quick = false, clock = 'wall', breakdown = false } = {}) {
  const settings = { ...(quick ? { rounds: 9, roundMs: 20, warmupMs: 40 } : { rounds: 41, roundMs: 40, warmupMs: 300 }), clock };
  const plain = managerWith(OPEN_LIMITS);
  const weighted = managerWith(OPEN_TOKENS);
  const budgeted = managerWith({ ...OPEN_TOKENS, budget: { usd: 1e12, period: 'day' } }, { 'bench-model': { inputPerMTok: 1, outputPerMTok: 2 } });
  const cost = Object.freeze({ cost: 100 });
  const costAndModel = Object.freeze({ cost: 100, model: 'bench-model' });
  const closing = [plain, weighted, budgeted];
  const cases = [
    { name: 'unweighted: `execute(service, fn)`', call: () => plain.execute('bench', noop) },
    { name: 'weighted: `execute(service, fn, { cost })`, tokensPerMinute set', call: () => weighted.execute('bench', noop, cost) },
    { name: 'weighted + spend: `{ cost, model }`, priced model, budget set', call: () => budgeted.execute('bench', noop, costAndModel) },
  ];
  if (breakdown) {
    // Diagnostic rows (`--breakdown`): where the weighted row's difference goes. An options object
    // that meters nothing (the options' reads), and a cost on a scope without token caps (the
    // call's metering without the token windows).
    const withOptions = managerWith(OPEN_LIMITS);
    const uncapped = managerWith(OPEN_LIMITS);
    const noOptions = Object.freeze({});
    cases.push(
      { name: 'diagnostic: `execute(service, fn, {})`, no token caps', call: () => withOptions.execute('bench', noop, noOptions) },
      { name: 'diagnostic: `execute(service, fn, { cost })`, no token caps', call: () => uncapped.execute('bench', noop, cost) },
    );
    closing.push(withOptions, uncapped);
  }
  const results = await compare(cases, settings);
  const [unweightedRow, weightedRow, spendRow] = results;
  const overUnweighted = (r) => (r === unweightedRow ? '1.00x' : `${paired(r, unweightedRow, (x, u) => x / u).median.toFixed(2)}x`);
  const rows = results.map((r) => [r.name, formatNs(r.nsPerOp), overUnweighted(r), `±${(r.spread * 100).toFixed(0)}%`]);
  const weighting = paired(weightedRow, unweightedRow, (w, u) => (w / u - 1) * 100);
  const spend = paired(spendRow, weightedRow, (s, w) => s - w);
  const markdown = [
    `### Tokens and spend (sequential awaited no-op call; ${settings.rounds} interleaved rounds, per-round ratios${clock === 'cpu' ? ', CPU time' : ''})`,
    '',
    table(['case', 'per call (median of rounds)', 'vs unweighted (median of per-round ratios)', 'spread'], rows),
    '',
    `Weighted over unweighted: ${weighting.median.toFixed(1)}% (quartiles of the per-round figure ${weighting.low.toFixed(1)}% to ${weighting.high.toFixed(1)}%; target ≤ 5%). ` +
      `Spend check (budget reserve + settle, price lookup): ${formatNs(spend.median)} per call (quartiles ${formatNs(spend.low)} to ${formatNs(spend.high)}; target < 100 ns).`,
    '',
  ].join('\n');
  await Promise.all(closing.map((manager) => manager.close()));
  return { markdown, results, weightingPercent: weighting.median, spendNs: spend.median };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // `--clock cpu`: rounds timed by the process's CPU time (a shared machine; see harness.mjs).
  console.log((await runTokensBench({ quick: process.argv.includes('--quick'), breakdown: process.argv.includes('--breakdown'), clock: process.argv.includes('--clock=cpu') || process.argv.join(' ').includes('--clock cpu') ? 'cpu' : 'wall' })).markdown);
}
