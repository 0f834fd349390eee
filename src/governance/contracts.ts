/**
 * Contracts and error budgets: per endpoint template of a scope, the calls that reached the
 * provider, their failures and slow ones over a rolling window, and the rate at which the
 * error budget burns. Nothing here runs for a scope without contracts.
 */
import { ConfigError } from '../errors/errors.js';

/** What a scope promises for one endpoint template (`'GET /repos/{owner}/{repo}'`). */
export interface ContractSpec {
  /** An attempt that took longer is a slow call (counted apart from failures). > 0, or Infinity. */
  readonly maxLatencyMs: number;
  /** The share of attempts allowed to fail over `windowMs`: more than 0, at most 1 (0.01 = 99 % must succeed). */
  readonly errorBudget: number;
  /** The rolling window the figures cover (finite, >= 10 ms; kept in tenths). */
  readonly windowMs: number;
  /** `budgetBurn` fires when the burn rate reaches this (> 0). @default 2 */
  readonly burnAlert?: number;
}

/** One contract's figures over its window, in the status report. */
export interface ContractFigures {
  /** Attempts that reached the provider (retries included). */
  readonly calls: number;
  /** Of those, failures that count against the provider (not the caller's own 4xx). */
  readonly failures: number;
  /** Of those, attempts slower than `maxLatencyMs` (successful or not). */
  readonly slowCalls: number;
  /** (calls − failures) ÷ calls; 1 with no call. */
  readonly successRatio: number;
  /** The share of the error budget not yet spent: 1 − failure ratio ÷ errorBudget, at least 0. */
  readonly errorBudgetLeft: number;
  /** Failure ratio ÷ errorBudget: 1 spends the budget exactly over the window. */
  readonly burnRate: number;
}

/** A scope's contracts in the status report. */
export interface ContractsStatus {
  readonly contracts: Readonly<Record<string, ContractFigures>>;
  /** Attempts whose endpoint label matched no contract (or that had none). */
  readonly unmatchedCalls: number;
}

/** Told when a contract's burn rate reaches its `burnAlert`. */
export type BurnListener = (template: string, spec: Required<ContractSpec>, figures: ContractFigures) => void;

const TEMPLATE = /^[A-Z]+ \/\S*$/;
const MAX_CONTRACTS = 1_000;
const MAX_TEMPLATE_LENGTH = 1_000;
const BUCKETS = 10;
/** Labels remembered with their match; past this the memory starts afresh (labels are bounded by routes, not ids, in sane use). */
const MAX_MEMO = 10_000;

/** Checks a `contracts` value; returns a frozen copy with `burnAlert` filled in, or undefined for `{}` (no contracts). */
export function checkContracts(value: unknown): Readonly<Record<string, Required<ContractSpec>>> | undefined {
  // A checked value comes back as is: a platform's configuration is merged again at each change
  // of its service, and the same contracts must keep their windows.
  if (CHECKED.has(value as object)) return value as Readonly<Record<string, Required<ContractSpec>>>;
  let entries: [string, unknown][];
  try {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError();
    entries = Object.entries(value);
  } catch {
    throw new ConfigError('contracts', value, "must be an object of { 'METHOD /route/{param}': { maxLatencyMs, errorBudget, windowMs, burnAlert? } }");
  }
  if (entries.length > MAX_CONTRACTS) throw new ConfigError('contracts', `${entries.length} contracts`, `must hold at most ${MAX_CONTRACTS}`);
  if (entries.length === 0) return undefined;
  const out: Record<string, Required<ContractSpec>> = {};
  for (const [template, spec] of entries) {
    const at = `contracts[${JSON.stringify(template.slice(0, 100))}]`;
    if (template.length > MAX_TEMPLATE_LENGTH || !TEMPLATE.test(template)) {
      throw new ConfigError(at, template, `must be "METHOD /path" (an upper-case method, one space, a path starting with "/", {name} for a segment), at most ${MAX_TEMPLATE_LENGTH} characters`);
    }
    out[template] = Object.freeze(checkSpec(at, spec));
  }
  CHECKED.add(Object.freeze(out));
  return out;
}

const CHECKED = new WeakSet<object>();

function checkSpec(at: string, spec: unknown): Required<ContractSpec> {
  let read: Record<string, unknown>;
  try {
    if (typeof spec !== 'object' || spec === null) throw new TypeError();
    read = { ...spec };
  } catch {
    throw new ConfigError(at, spec, 'must be an object { maxLatencyMs, errorBudget, windowMs, burnAlert? }');
  }
  for (const key of Object.keys(read)) {
    if (!['maxLatencyMs', 'errorBudget', 'windowMs', 'burnAlert'].includes(key)) throw new ConfigError(`${at}.${key}`, read[key], 'is not a contract field; known fields: maxLatencyMs, errorBudget, windowMs, burnAlert');
  }
  const number = (key: string, ok: (n: number) => boolean, rule: string, fallback?: number): number => {
    const n = read[key] ?? fallback;
    if (typeof n !== 'number' || Number.isNaN(n) || !ok(n)) throw new ConfigError(`${at}.${key}`, read[key], rule);
    return n;
  };
  return {
    maxLatencyMs: number('maxLatencyMs', (n) => n > 0, 'must be a number > 0, or Infinity'),
    errorBudget: number('errorBudget', (n) => n > 0 && n <= 1, 'must be a number > 0 and <= 1 (the share of calls allowed to fail)'),
    windowMs: number('windowMs', (n) => Number.isFinite(n) && n >= BUCKETS, `must be a finite number >= ${BUCKETS}`),
    burnAlert: number('burnAlert', (n) => n > 0 && Number.isFinite(n), 'must be a finite number > 0', 2),
  };
}

/**
 * One contract's rolling window: ten buckets of `windowMs / 10`, reused in a ring and judged by
 * their start time (timer-free: an old bucket is emptied when its slot comes round again, and
 * ignored when read).
 */
class ContractWindow {
  private readonly bucketMs: number;
  private readonly epochs = new Float64Array(BUCKETS).fill(-Infinity);
  private readonly calls = new Uint32Array(BUCKETS);
  private readonly failures = new Uint32Array(BUCKETS);
  private readonly slow = new Uint32Array(BUCKETS);
  /** The burn rate is at or above `burnAlert` (the alert fired; it fires again only after dropping below). */
  alerting = false;

  constructor(readonly template: string, readonly spec: Required<ContractSpec>) {
    this.bucketMs = spec.windowMs / BUCKETS;
  }

  add(now: number, latencyMs: number, failed: boolean): void {
    const epoch = Math.floor(now / this.bucketMs);
    const slot = epoch % BUCKETS;
    if (this.epochs[slot] !== epoch) {
      this.epochs[slot] = epoch;
      this.calls[slot] = 0;
      this.failures[slot] = 0;
      this.slow[slot] = 0;
    }
    this.calls[slot]! += 1;
    if (failed) this.failures[slot]! += 1;
    if (latencyMs > this.spec.maxLatencyMs) this.slow[slot]! += 1;
  }

  figures(now: number): ContractFigures {
    const epoch = Math.floor(now / this.bucketMs);
    let calls = 0;
    let failures = 0;
    let slowCalls = 0;
    for (let slot = 0; slot < BUCKETS; slot++) {
      const age = epoch - this.epochs[slot]!;
      if (age < 0 || age >= BUCKETS) continue;
      calls += this.calls[slot]!;
      failures += this.failures[slot]!;
      slowCalls += this.slow[slot]!;
    }
    const failureRatio = calls === 0 ? 0 : failures / calls;
    const burnRate = failureRatio / this.spec.errorBudget;
    return { calls, failures, slowCalls, successRatio: 1 - failureRatio, errorBudgetLeft: Math.max(0, 1 - burnRate), burnRate };
  }
}

/** A route template as a RegExp: `{name}` stands for one path segment (or part of one). */
function templateRegExp(template: string): RegExp {
  const source = template
    .split(/\{[^/{}]*\}/)
    .map((literal) => literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^/]+');
  return new RegExp(`^${source}$`);
}

/**
 * The contracts of one scope. `record()` finds an attempt's contract by its endpoint label: the
 * template itself (the HTTP edges pass `METHOD route`), else the template that matches it with
 * the fewest `{params}` (then the first declared); a label without query or fragment is matched.
 */
export class ContractBook {
  private readonly windows: ContractWindow[] = [];
  private readonly patterns: { readonly regexp: RegExp; readonly window: ContractWindow }[] = [];
  private readonly exact = new Map<string, ContractWindow>();
  private memo = new Map<string, ContractWindow | null>();
  private unmatched = 0;

  constructor(
    readonly specs: Readonly<Record<string, Required<ContractSpec>>>,
    private readonly onBurn: BurnListener,
  ) {
    for (const [template, spec] of Object.entries(specs)) {
      const window = new ContractWindow(template, spec);
      this.windows.push(window);
      this.exact.set(template, window);
      this.patterns.push({ regexp: templateRegExp(template), window });
    }
    const params = (template: string): number => template.split('{').length;
    this.patterns.sort((a, b) => params(a.window.template) - params(b.window.template));
  }

  /** An attempt that reached the provider ended `latencyMs` after it started; `failed`: it counts against the provider. */
  record(endpoint: string | undefined, now: number, latencyMs: number, failed: boolean): void {
    const window = endpoint === undefined ? null : this.match(endpoint);
    if (window === null) {
      this.unmatched++;
      return;
    }
    window.add(now, latencyMs, failed);
    // The burn rate rises only with a failure; while alerting, any attempt may bring it down.
    if (!failed && !window.alerting) return;
    const figures = window.figures(now);
    const above = figures.burnRate >= window.spec.burnAlert;
    if (above === window.alerting) return;
    window.alerting = above;
    if (above) this.onBurn(window.template, window.spec, figures);
  }

  status(now: number): ContractsStatus {
    const contracts: Record<string, ContractFigures> = {};
    for (const window of this.windows) contracts[window.template] = window.figures(now);
    return { contracts, unmatchedCalls: this.unmatched };
  }

  private match(endpoint: string): ContractWindow | null {
    const known = this.memo.get(endpoint);
    if (known !== undefined) return known;
    const cut = endpoint.search(/[?#]/);
    const label = cut < 0 ? endpoint : endpoint.slice(0, cut);
    let found = this.exact.get(label) ?? null;
    if (found === null) for (const { regexp, window } of this.patterns) if (regexp.test(label)) { found = window; break; }
    if (this.memo.size >= MAX_MEMO) this.memo = new Map();
    this.memo.set(endpoint, found);
    return found;
  }
}
