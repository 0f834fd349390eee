// Tokens and spend: what weighting a call, and checking its spend against a budget, add to the hot
// path (sequential awaited no-op calls through manager.execute, same run). Run alone
// (`npm run build && node bench/tokens.mjs [--quick] [--clock cpu] [--breakdown] [--processes N]`)
// or as a section of `npm run bench`.
//
// The figures are differences of a few tens of ns on calls of a few hundred, on a machine other
// work shares: a median per row, compared across rows, moves with the load between rounds. So
// the rows run interleaved (each round runs every row once, in a rotating order, a few ms
// apart) over many short rounds, and each figure is the median over rounds of that round's own
// ratio (weighted ÷ unweighted) or difference (spend − weighted): load that shifts between
// rounds cancels out, load within a round shows in the quartiles given beside it.
//
// One process is not enough: V8 decides what to inline and how to specialize from the feedback
// it holds when it optimizes, and the rows share the call path, so each fresh process settles in
// a steady state of its own: the same build measures anywhere from the low 20s to the 50s of
// percent from one process to the next (docs/benchmarks.md, "Tokens and spend"). So the measurement runs in several fresh processes, one after the other (5 by default,
// 1 with --quick), and each figure is the median of the processes' figures, with every
// process's figure given beside it.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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

/** One process's measurement: every row, and its two figures. */
async function measureInProcess({ quick, clock, breakdown }) {
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
  const weighting = paired(weightedRow, unweightedRow, (w, u) => (w / u - 1) * 100);
  const spend = paired(spendRow, weightedRow, (s, w) => s - w);
  await Promise.all(closing.map((manager) => manager.close()));
  const rows = results.map((r) => ({
    name: r.name,
    nsPerOp: r.nsPerOp,
    spread: r.spread,
    overUnweighted: r === unweightedRow ? 1 : paired(r, unweightedRow, (x, u) => x / u).median,
  }));
  return { rounds: settings.rounds, rows, weighting, spend };
}

const here = fileURLToPath(import.meta.url);

/** Runs the measurement in `processes` fresh processes, one after the other (see the top of this file). */
export async function runTokensBench({ quick = false, clock = 'wall', breakdown = false, processes = quick ? 1 : 5 } = {}) {
  const runs = [];
  for (let i = 0; i < processes; i++) {
    const args = [here, '--child', ...(quick ? ['--quick'] : []), ...(breakdown ? ['--breakdown'] : []), ...(clock === 'cpu' ? ['--clock', 'cpu'] : [])];
    runs.push(JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 20 })));
  }
  const byWeighting = [...runs].sort((a, b) => a.weighting.median - b.weighting.median);
  const middle = byWeighting[(byWeighting.length - 1) >> 1];
  const weightingPercent = median(runs.map((r) => r.weighting.median));
  const spendNs = median(runs.map((r) => r.spend.median));
  const list = (values, format) => values.map(format).join(', ');
  const markdown = [
    `### Tokens and spend (sequential awaited no-op call; ${processes} process${processes === 1 ? '' : 'es'} of ${middle.rounds} interleaved rounds each, per-round ratios${clock === 'cpu' ? ', CPU time' : ''})`,
    '',
    `The rows of the process whose weighted figure is the median:`,
    '',
    table(
      ['case', 'per call (median of rounds)', 'vs unweighted (median of per-round ratios)', 'spread'],
      middle.rows.map((r, i) => [r.name, formatNs(r.nsPerOp), i === 0 ? '1.00x' : `${r.overUnweighted.toFixed(2)}x`, `±${(r.spread * 100).toFixed(0)}%`]),
    ),
    '',
    `Weighted over unweighted: ${weightingPercent.toFixed(1)}%, the median of ${processes} process${processes === 1 ? '' : 'es'} (each process's median of per-round figures: ${list(byWeighting, (r) => `${r.weighting.median.toFixed(1)}%`)}; target ≤ 5%). ` +
      `Spend check (budget reserve + settle, price lookup): ${formatNs(spendNs)} per call, the median of the processes (${list(runs, (r) => formatNs(r.spend.median))}; target < 100 ns).`,
    '',
  ].join('\n');
  return { markdown, runs, weightingPercent, spendNs };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  const option = (name) => {
    const at = argv.indexOf(name);
    return at < 0 ? undefined : argv[at + 1];
  };
  const settings = {
    quick: argv.includes('--quick'),
    breakdown: argv.includes('--breakdown'),
    // `--clock cpu`: rounds timed by the process's CPU time (a shared machine; see harness.mjs).
    clock: argv.includes('--clock=cpu') || option('--clock') === 'cpu' ? 'cpu' : 'wall',
  };
  if (argv.includes('--child')) process.stdout.write(JSON.stringify(await measureInProcess(settings)));
  else {
    const processes = option('--processes');
    console.log((await runTokensBench({ ...settings, ...(processes === undefined ? {} : { processes: Number(processes) }) })).markdown);
  }
}
