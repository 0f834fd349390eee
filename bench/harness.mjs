// A small timing harness: process.hrtime.bigint, warm-up, calibration, interleaved rounds,
// median of rounds, ns per operation.

const AsyncFunction = (async () => {}).constructor;

/**
 * Each case gets its own loop function (compiled from source), so its call site stays
 * monomorphic, as it would be in user code, and one case's type feedback cannot slow another.
 */
function makeLoop(mode, inFlight) {
  if (mode === 'sequential') {
    return new AsyncFunction('call', 'n', 'for (let i = 0; i < n; i++) await call();');
  }
  return new AsyncFunction(
    'call',
    'n',
    `const batch = ${inFlight};
     const pending = new Array(batch);
     for (let done = 0; done < n; done += batch) {
       for (let j = 0; j < batch; j++) pending[j] = call();
       await Promise.all(pending);
     }`,
  );
}

const now = () => process.hrtime.bigint();

/**
 * Times `cases` ({ name, call }) side by side.
 * mode: 'sequential' (await each) or 'inflight' (`inFlight` calls started, then awaited together).
 * Every case runs once per round, in a rotating order; the result is the median over rounds.
 */
export async function compare(cases, { mode = 'sequential', inFlight = 1000, rounds = 9, roundMs = 60, warmupMs = 150, minOps, maxOps = 5_000_000 } = {}) {
  const unit = mode === 'sequential' ? 1 : inFlight;
  const min = minOps ?? unit;
  const runners = cases.map((c) => ({ ...c, loop: makeLoop(mode, inFlight), samples: [], ops: min }));

  // Warm-up and calibration: grow the op count until one run takes about roundMs.
  // A case may cap its work (minOps/maxOps/maxRounds) when a single call costs milliseconds.
  for (const r of runners) {
    const warmEnd = Date.now() + (r.maxRounds === undefined ? warmupMs : 0);
    let ops = r.minOps ?? min;
    let nsPerOp = Infinity;
    do {
      const t0 = now();
      await r.loop(r.call, ops);
      const ns = Number(now() - t0);
      nsPerOp = ns / ops;
      if (ns < (roundMs * 1e6) / 4) ops = roundUp(Math.min(r.maxOps ?? maxOps, ops * 4), unit);
    } while (Date.now() < warmEnd && ops < (r.maxOps ?? maxOps));
    const target = Math.round((roundMs * 1e6) / nsPerOp);
    r.ops = roundUp(Math.max(r.minOps ?? min, Math.min(r.maxOps ?? maxOps, target)), unit);
  }

  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < runners.length; k++) {
      const r = runners[(k + round) % runners.length];
      if (r.maxRounds !== undefined && r.samples.length >= r.maxRounds) continue;
      const t0 = now();
      await r.loop(r.call, r.ops);
      r.samples.push(Number(now() - t0) / r.ops);
    }
  }
  // samples: ns per op of each round, in round order (rows of one round ran back to back: a paired ratio).
  return runners.map((r) => ({ name: r.name, group: r.group, ops: r.ops, nsPerOp: median(r.samples), spread: spread(r.samples), samples: r.samples }));
}

/** Median ns per call of a synchronous function over `rounds` rounds of `n` calls. */
export function timeSync(fn, { n = 10_000, rounds = 9 } = {}) {
  for (let i = 0; i < n; i++) fn(i);
  const samples = [];
  for (let round = 0; round < rounds; round++) {
    const t0 = now();
    for (let i = 0; i < n; i++) fn(i);
    samples.push(Number(now() - t0) / n);
  }
  return median(samples);
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Inter-quartile spread relative to the median, to show how noisy a row was. */
function spread(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const q = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  const m = median(values);
  return m === 0 ? 0 : (q(0.75) - q(0.25)) / m;
}

function roundUp(n, unit) {
  return Math.max(unit, Math.ceil(n / unit) * unit);
}

export function formatNs(ns) {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e4) return `${(ns / 1e3).toFixed(1)} µs`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(0)} ns`;
}

export function formatBytes(bytes) {
  if (Math.abs(bytes) >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  if (Math.abs(bytes) >= 1024) return `${(bytes / 1024).toFixed(2)} KB`;
  return `${bytes.toFixed(0)} B`;
}

/** A markdown table from a header row and rows of cells. */
export function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
