// floodgate's live status page. Plain JavaScript, no dependencies, served from the package.
// It polls ./status once a second (and refreshes at once on an event from ./events), keeps a few
// minutes of counter snapshots to derive calls per second, and updates the table in place: rows
// are made once per scope and only the texts that changed are written. Every value from the
// report goes in with textContent (never innerHTML), so markup in a reason or a scope name shows
// as text; the Content-Security-Policy forbids inline script besides.

const POLL_MS = 1000;
const HISTORY = 180; // samples kept per scope (3 minutes at one a second)
const SPARK_SAMPLES = 60;
const MIN_SAMPLE_MS = 800;
const MAX_EVENTS = 50;

/** Outcomes charted, by counter. The first counter present wins (`failed`: calls; `failures`: attempts). */
const OUTCOMES = [
  { label: 'succeeded', counters: ['successes'], color: '#2da44e' },
  { label: 'failed', counters: ['failed', 'failures'], color: '#cf222e' },
  { label: 'rate limited', counters: ['rateLimited'], color: '#bf8700' },
  { label: 'rejected', counters: ['rejected'], color: '#8250df' },
  { label: 'cancelled', counters: ['cancelled'], color: '#6e7781' },
];
const STATE_ORDER = { suspended: 0, circuit_open: 1, paused: 2, waiting: 3, ok: 4 };
const STATE_LABELS = { ok: 'ok', waiting: 'waiting', paused: 'paused', circuit_open: 'circuit open', suspended: 'suspended' };

const $ = (id) => document.getElementById(id);
const rowsBody = $('rows');

/** key → row model */
const rows = new Map();
let order = []; // keys in the order shown
let serverOffset = 0; // server clock − browser clock, for countdowns
let lastReport = null;
let lastFetchAt = 0;
let selected = null;
let sort = { key: 'scope', dir: 1 };
const totals = { samples: [] };
let pollTimer = 0;
let inFlight = false;

// ---------------------------------------------------------------------------------------------
// Small helpers

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Writes text only when it changed (layout is the expensive part with hundreds of rows). */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function setAttr(node, name, value) {
  if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const obj = (v) => (v !== null && typeof v === 'object' ? v : null);
const str = (v) => (typeof v === 'string' ? v : '');

function fmt(n) {
  if (!isNum(n)) return '–';
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  if (a >= 100 || Number.isInteger(n)) return String(Math.round(n));
  return n.toFixed(a >= 10 ? 1 : 2).replace(/\.?0+$/, '') || '0';
}

function fmtMs(ms) {
  if (!isNum(ms)) return '–';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(0)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms === 0) return '0 ms';
  return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
}

function fmtUsd(usd) {
  if (!isNum(usd)) return '–';
  return `$${usd >= 100 ? usd.toFixed(0) : usd.toFixed(2)}`;
}

/** "1h 02m", "3m 05s", "12 s" until epoch ms `until` (server time). */
function countdown(until) {
  if (!isNum(until)) return '';
  const left = Math.max(0, until - (Date.now() + serverOffset));
  const s = Math.ceil(left / 1000);
  if (s >= 86400) return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s} s`;
}

function clock(epochMs) {
  return isNum(epochMs) ? new Date(epochMs).toLocaleTimeString() : '';
}

/** The counter a chart outcome reads, or undefined when the report has none of its names. */
function counterOf(counters, outcome) {
  for (const name of outcome.counters) if (isNum(counters[name])) return counters[name];
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Rows

function gauge() {
  const wrap = el('div', 'gauge');
  const bar = el('div', 'bar');
  const fill = el('div', 'fill');
  bar.append(fill);
  const text = el('span', 'gauge-text');
  wrap.append(bar, text);
  return { wrap, fill, text, last: -1 };
}

function setGauge(g, value, max) {
  const limited = isNum(value) && isNum(max) && max > 0;
  const ratio = limited ? Math.max(0, Math.min(1, value / max)) : 1;
  const pct = Math.round(ratio * 100);
  if (g.last !== pct) {
    g.fill.style.width = `${pct}%`;
    g.last = pct;
  }
  setAttr(g.wrap, 'data-level', !limited ? 'none' : ratio < 0.1 ? 'low' : ratio < 0.35 ? 'mid' : 'high');
  setText(g.text, limited ? `${fmt(value)} / ${fmt(max)}` : '∞');
}

function makeRow(key) {
  const tr = el('tr');
  const cell = (className) => {
    const td = el('td', className);
    tr.append(td);
    return td;
  };
  const scopeCell = cell('scope');
  const name = el('span', 'mono name', key);
  name.title = key;
  scopeCell.append(name);

  const stateCell = cell('state');
  const badge = el('span', 'badge');
  const mode = el('span', 'badge observe', 'observe');
  mode.hidden = true;
  stateCell.append(badge, mode);

  const tokens = gauge();
  cell('num').append(tokens.wrap);
  const minute = gauge();
  cell('num').append(minute.wrap);

  const rateBox = el('div', 'rate');
  const spark = el('canvas', 'spark');
  spark.width = 60;
  spark.height = 22;
  const rateText = el('span', 'num-text');
  rateBox.append(spark, rateText);
  cell('').append(rateBox);

  const latency = cell('num');
  const queue = cell('num');
  const circuit = cell('circuit');
  const hold = cell('hold');
  const holdWhat = el('span', 'hold-what');
  const holdReason = el('span', 'reason');
  hold.append(holdWhat, holdReason);
  const cost = cell('num cost-col');
  const counters = cell('counters');

  tr.addEventListener('click', () => select(selected === key ? null : key));
  const row = {
    key,
    lower: key.toLowerCase(),
    tr,
    badge,
    mode,
    tokens,
    minute,
    spark,
    rateText,
    latency,
    queue,
    circuit,
    holdWhat,
    holdReason,
    cost,
    counters,
    samples: [], // { t, rates: number[] } per poll
    prev: null, // { t, values: number[] } the last counter snapshot
    status: null,
    rate: 0,
    visible: false,
    sparkDirty: true,
    shown: true,
  };
  visibility.observe(tr);
  tr.__row = row;
  return row;
}

const visibility = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    const row = entry.target.__row;
    row.visible = entry.isIntersecting;
    if (row.visible && row.sparkDirty) drawSpark(row);
  }
});

/** Derives this poll's rates per outcome from the counters' growth since the last poll. */
function sample(row, counters, t) {
  const values = OUTCOMES.map((o) => counterOf(counters, o));
  const prev = row.prev;
  // A refresh soon after the last one (an event arrived) would make a noisy rate: keep the older baseline.
  if (prev !== null && t - prev.t < MIN_SAMPLE_MS) return;
  row.prev = { t, values };
  if (prev === null) return;
  const dt = (t - prev.t) / 1000;
  // A counter that went down means the manager was reset: count nothing for that interval.
  const rates = values.map((v, i) => (isNum(v) && isNum(prev.values[i]) && v >= prev.values[i] ? (v - prev.values[i]) / dt : 0));
  row.samples.push({ t, rates });
  if (row.samples.length > HISTORY) row.samples.shift();
  const recent = row.samples.slice(-5);
  row.rate = recent.reduce((sum, s) => sum + s.rates.reduce((a, b) => a + b, 0), 0) / recent.length;
  row.sparkDirty = true;
}

function updateRow(row, s) {
  row.status = s;
  const state = str(s.state);
  setText(row.badge, STATE_LABELS[state] ?? (state || 'unknown'));
  setAttr(row.badge, 'data-state', state);
  row.mode.hidden = s.mode !== 'observe';
  setAttr(row.tr, 'data-state', state);

  const limits = obj(s.limits) ?? {};
  setGauge(row.tokens, limits.tokens, limits.requestsPerSecond === null ? null : limits.burst);
  setGauge(row.minute, limits.minuteRemaining, limits.requestsPerMinute);

  setText(row.rateText, fmt(row.rate));
  if (row.visible && row.sparkDirty) drawSpark(row);

  const latency = obj(s.latency) ?? {};
  setText(row.latency, latency.count > 0 ? `${fmtMs(latency.p50Ms)} / ${fmtMs(latency.p95Ms)}` : '–');
  row.latency.title = latency.count > 0 ? `${fmt(latency.count)} timed · mean ${fmtMs(latency.meanMs)} · max ${fmtMs(latency.maxMs)}` : '';
  setText(row.queue, `${fmt(s.waiting)} · ${fmt(s.inFlight)}`);

  const circuit = obj(s.circuit) ?? {};
  const cstate = str(circuit.state);
  let ctext = cstate === 'half_open' ? 'half-open' : cstate || '–';
  if (cstate === 'open' && isNum(circuit.retryAt)) ctext += ` · probe in ${countdown(circuit.retryAt)}`;
  else if (isNum(circuit.consecutiveFailures) && circuit.consecutiveFailures > 0) ctext += ` · ${circuit.consecutiveFailures} failing`;
  setText(row.circuit, ctext);
  setAttr(row.circuit, 'data-circuit', cstate);

  const suspension = obj(s.suspension);
  if (suspension) {
    setText(row.holdWhat, `suspended ${countdown(suspension.until)}`);
    setText(row.holdReason, str(suspension.reason));
    row.holdReason.title = str(suspension.reason);
  } else if (isNum(s.pausedUntil)) {
    setText(row.holdWhat, `paused ${countdown(s.pausedUntil)}`);
    setText(row.holdReason, '');
  } else {
    setText(row.holdWhat, '');
    setText(row.holdReason, '');
  }

  const costs = obj(s.costs);
  if (costs) {
    const budget = obj(costs.budget);
    setText(row.cost, budget ? `${fmtUsd(costs.usd)} · ${fmtUsd(budget.leftUsd)} left` : fmtUsd(costs.usd));
    row.cost.title = budget ? `budget ${fmtUsd(budget.usd)} per ${str(budget.period) || budget.period}, resets ${clock(budget.resetsAt)}` : '';
  } else setText(row.cost, '');

  // Every numeric counter, known or not, so counters added later show without a page change.
  const counters = obj(s.counters) ?? {};
  const parts = [];
  for (const [name, value] of Object.entries(counters)) if (isNum(value) && value !== 0) parts.push(`${name}\u00a0${fmt(value)}`);
  setText(row.counters, parts.join(' · ') || '–');
}

function drawSpark(row) {
  row.sparkDirty = false;
  drawBars(row.spark, row.samples.slice(-SPARK_SAMPLES), SPARK_SAMPLES, false);
}

/** Stacked bars, one per sample, oldest left; `slots` fixes the bar width so the chart scrolls. */
function drawBars(canvas, samples, slots, axis) {
  const ctx = canvas.getContext('2d');
  const w = canvas.width;
  const h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  let max = 0;
  for (const s of samples) max = Math.max(max, s.rates.reduce((a, b) => a + b, 0));
  const top = axis ? 14 * devicePixelRatio : 1;
  const plotH = h - top - 1;
  if (max > 0) {
    const barW = w / slots;
    const x0 = w - samples.length * barW;
    samples.forEach((s, i) => {
      let y = h - 1;
      s.rates.forEach((r, j) => {
        if (r <= 0) return;
        const bh = (r / max) * plotH;
        ctx.fillStyle = OUTCOMES[j].color;
        ctx.fillRect(x0 + i * barW, y - bh, Math.max(1, barW - (barW > 3 ? 1 : 0)), bh);
        y -= bh;
      });
    });
  }
  ctx.fillStyle = '#d0d7de';
  ctx.fillRect(0, h - 1, w, 1);
  if (axis) {
    ctx.fillStyle = '#57606a';
    ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
    ctx.textBaseline = 'top';
    ctx.fillText(max > 0 ? `max ${fmt(max)} / s` : 'no calls yet', 4, 2);
  }
}

// ---------------------------------------------------------------------------------------------
// Sorting and filtering

/** user-2 before user-10. */
const names = new Intl.Collator('en', { numeric: true });
const sorters = {
  scope: (a, b) => names.compare(a.key, b.key),
  state: (a, b) => (STATE_ORDER[a.status?.state] ?? 5) - (STATE_ORDER[b.status?.state] ?? 5),
  tokens: (a, b) => num(a.status?.limits?.tokens) - num(b.status?.limits?.tokens),
  minute: (a, b) => num(a.status?.limits?.minuteRemaining, Infinity) - num(b.status?.limits?.minuteRemaining, Infinity),
  rate: (a, b) => a.rate - b.rate,
  p95: (a, b) => num(a.status?.latency?.p95Ms) - num(b.status?.latency?.p95Ms),
  queue: (a, b) => num(a.status?.waiting) - num(b.status?.waiting),
  circuit: (a, b) => circuitRank(a) - circuitRank(b),
  hold: (a, b) => holdUntil(a) - holdUntil(b),
  cost: (a, b) => num(a.status?.costs?.usd) - num(b.status?.costs?.usd),
  failures: (a, b) => failureCount(a) - failureCount(b),
};
/** The first click on these sorts ascending: names A→Z, the worst state, circuit or emptiest window first. */
const ASCENDING_FIRST = new Set(['scope', 'state', 'circuit', 'tokens', 'minute']);
const num = (v, missing = 0) => (isNum(v) ? v : v === null ? missing : 0);
const circuitRank = (r) => ({ open: 0, half_open: 1 })[r.status?.circuit?.state] ?? 2;
const holdUntil = (r) => num(r.status?.suspension?.until, 0) || num(r.status?.pausedUntil, 0);
const failureCount = (r) => num(counterOf(r.status?.counters ?? {}, OUTCOMES[1]));

function applySort() {
  const compare = sorters[sort.key] ?? sorters.scope;
  const sorted = [...rows.values()].sort((a, b) => sort.dir * compare(a, b) || sorters.scope(a, b));
  const keys = sorted.map((r) => r.key);
  if (keys.length === order.length && keys.every((k, i) => k === order[i])) return;
  order = keys;
  rowsBody.append(...sorted.map((r) => r.tr)); // moves the existing rows: nothing is rebuilt
}

function matches(row) {
  const text = filterText;
  if (text && !row.lower.includes(text)) return false;
  if (!stateFilter) return true;
  const s = row.status;
  if (stateFilter === 'attention') return s?.state !== 'ok';
  if (stateFilter === 'observe') return s?.mode === 'observe';
  return s?.state === stateFilter;
}

let filterText = '';
let stateFilter = '';

function applyFilter() {
  let shown = 0;
  for (const row of rows.values()) {
    const show = matches(row);
    if (row.shown !== show) {
      row.tr.hidden = !show;
      row.shown = show;
    }
    if (show) shown++;
  }
  setText($('shown-count'), rows.size === 0 ? '' : shown === rows.size ? `${rows.size} scopes` : `${shown} of ${rows.size} scopes`);
}

// ---------------------------------------------------------------------------------------------
// The report

let renders = 0;

function render(report) {
  const started = performance.now();
  const t = isNum(report.generatedAt) ? report.generatedAt : Date.now();
  serverOffset = t - Date.now();
  const scopes = obj(report.scopes) ?? {};
  const seen = new Set();
  const totalRates = OUTCOMES.map(() => 0);
  let anyRates = false;
  const stateCounts = {};
  let costUsd = 0;
  let anyCost = false;

  for (const [key, status] of Object.entries(scopes)) {
    const s = obj(status);
    if (!s) continue;
    seen.add(key);
    let row = rows.get(key);
    if (!row) {
      row = makeRow(key);
      rows.set(key, row);
    }
    sample(row, obj(s.counters) ?? {}, t);
    const last = row.samples[row.samples.length - 1];
    if (last && last.t === t) {
      anyRates = true;
      last.rates.forEach((r, i) => (totalRates[i] += r));
    }
    if (obj(s.costs)) {
      anyCost = true;
      costUsd += num(s.costs.usd);
    }
    stateCounts[str(s.state)] = (stateCounts[str(s.state)] ?? 0) + 1;
  }
  // The cost column (header and cells) shows through a class on the table, rows not yet attached included.
  $('scopes').classList.toggle('with-cost', anyCost);
  for (const row of rows.values()) if (seen.has(row.key)) updateRow(row, scopes[row.key]);
  for (const [key, row] of rows) {
    if (seen.has(key)) continue;
    visibility.unobserve(row.tr);
    row.tr.remove();
    rows.delete(key);
    order = []; // applySort() puts the rest back in order
  }
  applySort();
  applyFilter();
  $('no-scopes').hidden = rows.size !== 0;

  if (anyRates) {
    totals.samples.push({ t, rates: totalRates });
    if (totals.samples.length > HISTORY) totals.samples.shift();
  }
  renderSummary(report, stateCounts, totalRates, anyCost ? costUsd : null);
  renderDetails();
  drawChart();
  // Visible in the browser's performance panel (and read by the tests' measurements); bounded.
  if (++renders % 100 === 0) performance.clearMeasures('floodgate render');
  performance.measure('floodgate render', { start: started });
}

function renderSummary(report, stateCounts, totalRates, costUsd) {
  const health = obj(report.storeHealth) ?? {};
  const storeName = str(report.store) || 'store';
  setText($('store-state'), `${storeName} · ${str(health.status) || '?'}`);
  setAttr($('card-store'), 'data-level', health.status === 'ok' ? 'ok' : 'bad');
  const storeBits = [str(health.mode)];
  if (isNum(health.since)) storeBits.push(`since ${clock(health.since)}`);
  if (str(health.lastError)) storeBits.push(`last error: ${health.lastError}`);
  setText($('store-detail'), storeBits.filter(Boolean).join(' · '));

  const guard = obj(report.guard);
  $('card-guard').hidden = !guard;
  if (guard) {
    setText($('guard-state'), str(guard.state) || '?');
    setAttr($('card-guard'), 'data-level', guard.state === 'ok' ? 'ok' : 'bad');
    const bits = [];
    if (isNum(guard.until)) bits.push(`calls refused for ${countdown(guard.until)}`);
    if (isNum(guard.count) && isNum(guard.maxPerMinute)) bits.push(`${fmt(guard.count)} / ${fmt(guard.maxPerMinute)} in the last minute`);
    else if (isNum(guard.maxPerMinute)) bits.push(`cap ${fmt(guard.maxPerMinute)} / min`);
    setText($('guard-detail'), bits.join(' · '));
  }

  setText($('scope-count'), fmt(rows.size));
  const counts = Object.entries(stateCounts)
    .sort((a, b) => (STATE_ORDER[a[0]] ?? 5) - (STATE_ORDER[b[0]] ?? 5))
    .map(([state, n]) => `${n} ${STATE_LABELS[state] ?? state}`);
  setText($('state-counts'), counts.join(' · '));

  const sum = totalRates.reduce((a, b) => a + b, 0);
  setText($('total-rate'), fmt(sum));
  const totalsCounters = obj(report.totals) ?? {};
  setText($('total-detail'), isNum(totalsCounters.requests) ? `${fmt(totalsCounters.requests)} calls since start` : '');

  $('card-cost').hidden = costUsd === null;
  if (costUsd !== null) {
    setText($('cost-total'), fmtUsd(costUsd));
    setText($('cost-detail'), 'all scopes');
  }
  const policy = str(report.policyHash);
  $('card-policy').hidden = !policy;
  if (policy) {
    setText($('policy-hash'), policy.slice(0, 12));
    $('policy-hash').title = policy;
  }
}

function select(key) {
  selected = key;
  for (const row of rows.values()) setAttr(row.tr, 'aria-selected', String(row.key === key));
  renderDetails();
  drawChart();
}

function renderDetails() {
  const row = selected === null ? undefined : rows.get(selected);
  if (selected !== null && !row) selected = null;
  $('details').hidden = !row;
  setText($('chart-scope'), row ? row.key : 'all scopes');
  $('chart-scope').classList.toggle('mono', row !== undefined);
  if (row) {
    setText($('details-scope'), row.key);
    setText($('details-json'), JSON.stringify(row.status, null, 2));
  }
}

/** The chart's CSS width, from a ResizeObserver: reading clientWidth in render() would force a layout of the whole table. */
let chartWidth = 0;
new ResizeObserver((entries) => {
  chartWidth = entries[entries.length - 1].contentRect.width;
  drawChart();
}).observe($('chart'));

function drawChart() {
  if (chartWidth === 0) return; // not laid out yet: the observer draws it
  const canvas = $('chart');
  const width = Math.max(100, Math.round(chartWidth * devicePixelRatio));
  const height = Math.round(160 * devicePixelRatio);
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const row = selected === null ? undefined : rows.get(selected);
  drawBars(canvas, (row ?? totals).samples, HISTORY, true);
}

function buildLegend() {
  const legend = $('legend');
  for (const o of OUTCOMES) {
    const li = el('li');
    const swatch = el('span', 'swatch');
    swatch.style.background = o.color;
    li.append(swatch, document.createTextNode(o.label));
    legend.append(li);
  }
}

// ---------------------------------------------------------------------------------------------
// Events (server-sent), shown as a short log; each one also triggers an immediate refresh.

const EVENT_NAMES = ['circuitStateChange', 'suspended', 'resumed', 'banDetected', 'paused', 'storeHealth', 'degraded', 'recovered', 'budgetBurn'];

function describeEvent(name, e) {
  switch (name) {
    case 'circuitStateChange':
      return `circuit ${str(e.from)} → ${str(e.to)}`;
    case 'suspended':
      return `suspended for ${countdown(e.until)}: ${str(e.reason)}`;
    case 'resumed':
      return `resumed (${str(e.cause)})`;
    case 'banDetected':
      return `ban detected${e.category ? ` (${str(e.category)})` : ''}`;
    case 'paused':
      return `paused for ${countdown(e.until)}${e.category ? ` (${str(e.category)})` : ''}`;
    case 'storeHealth':
      return `store ${str(e.store)} ${str(e.status)} (${str(e.mode)})${e.lastError ? `: ${str(e.lastError)}` : ''}`;
    default:
      return Object.entries(e)
        .filter(([k]) => k !== 'at' && k !== 'scope')
        .map(([k, v]) => `${k} ${typeof v === 'number' && k.toLowerCase().endsWith('until') ? countdown(v) : String(v)}`)
        .join(' · ');
  }
}

function addEvent(name, e) {
  const list = $('events');
  list.querySelector('.empty')?.remove();
  const li = el('li');
  li.setAttribute('data-event', name);
  li.append(el('time', 'small', clock(isNum(e.at) ? e.at : Date.now())), el('span', 'event-name', name), el('span', 'mono', str(e.scope)), el('span', 'event-text', describeEvent(name, e)));
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
}

function listen() {
  // The routes say whether they serve the stream (`events: false` turns it off).
  if (typeof EventSource !== 'function' || document.querySelector('meta[name="floodgate-events"]')?.content !== 'on') {
    setText($('events-note'), 'live events are off: the page refreshes every second');
    return;
  }
  const source = new EventSource('events');
  for (const name of EVENT_NAMES) {
    source.addEventListener(name, (message) => {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      addEvent(name, obj(data) ?? {});
      refreshSoon();
    });
  }
  source.addEventListener('error', () => {
    // Closed for good (the routes were mounted with events: false, or too many streams): polling goes on.
    if (source.readyState === EventSource.CLOSED) setText($('events-note'), 'live events unavailable: the page still refreshes every second');
  });
}

// ---------------------------------------------------------------------------------------------
// Polling

function setLive(state, text) {
  setAttr($('live'), 'data-state', state);
  setText($('live-text'), text);
}

async function poll() {
  clearTimeout(pollTimer);
  if (inFlight) return;
  inFlight = true;
  try {
    const response = await fetch('status', { cache: 'no-store', headers: { accept: 'application/json' } });
    if (!response.ok) {
      setLive('error', response.status === 403 || response.status === 401 ? `not allowed (${response.status})` : `status route answered ${response.status}`);
    } else {
      const report = await response.json();
      lastReport = report;
      lastFetchAt = Date.now();
      render(obj(report) ?? {});
      setLive('ok', `live · updated ${clock(report.generatedAt)}`);
    }
  } catch {
    setLive('error', lastFetchAt ? `disconnected · last update ${clock(lastFetchAt + serverOffset)}` : 'cannot reach the status route');
  } finally {
    inFlight = false;
    pollTimer = setTimeout(poll, POLL_MS);
  }
}

let soon = 0;
function refreshSoon() {
  if (soon) return;
  soon = setTimeout(() => {
    soon = 0;
    void poll();
  }, 50);
}

// ---------------------------------------------------------------------------------------------
// Controls

function setupControls() {
  $('filter').addEventListener('input', (event) => {
    filterText = event.target.value.trim().toLowerCase();
    applyFilter();
  });
  $('state-filter').addEventListener('change', (event) => {
    stateFilter = event.target.value;
    applyFilter();
  });
  for (const th of document.querySelectorAll('th[data-sort]')) {
    th.querySelector('button').addEventListener('click', () => {
      const key = th.getAttribute('data-sort');
      sort = { key, dir: sort.key === key ? -sort.dir : ASCENDING_FIRST.has(key) ? 1 : -1 };
      for (const other of document.querySelectorAll('th[data-sort]')) other.removeAttribute('aria-sort');
      th.setAttribute('aria-sort', sort.dir === 1 ? 'ascending' : 'descending');
      applySort();
    });
  }
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && selected !== null) select(null);
  });
}

buildLegend();
setupControls();
listen();
void poll();
// For tests and the curious: the last report the page rendered (read-only copy).
Object.defineProperty(window, 'floodgateStatus', { get: () => ({ report: lastReport, rows: rows.size }) });
