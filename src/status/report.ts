import { unusedBreakerFigures, type BreakerFigures } from '../breaker/breakers.js';
import type { CircuitStateName } from '../breaker/circuit.js';
import type { ContractFigures } from '../governance/contracts.js';
import type { ScopeMode } from '../governance/observe.js';
import type { Scope } from '../manager/scope.js';
import type { ScopeCosts } from '../spend/meter.js';
import type { StoreHealth } from '../stores/types.js';
import type { GuardStatus } from '../outbound/guard.js';
import type { DecisionLogStatus } from '../logging/decision-log.js';
import type { LatencyFigures } from './latency.js';

export type ScopeState = 'ok' | 'waiting' | 'paused' | 'circuit_open' | 'suspended';

/**
 * Each call received ends in exactly one of `successes`, `failed`, `rateLimited`, `rejected`,
 * `cancelled`: once nothing waits or runs, they add up to `requests`. `failures` and `retries`
 * count attempts.
 */
export interface ScopeCounters {
  /** Calls received. */
  readonly requests: number;
  /** Calls that resolved. */
  readonly successes: number;
  /** Calls that ended with the provider's error, after their retries. */
  readonly failed: number;
  /** Calls refused for lack of capacity (RateLimitedError), first attempt or retry. */
  readonly rateLimited: number;
  /** Calls refused by an open circuit or a suspension (CircuitOpenError, PlatformSuspendedError), waiting callers included. */
  readonly rejected: number;
  /** Calls cancelled (CallCancelledError): their AbortSignal fired, or reset() or close() ended their wait. */
  readonly cancelled: number;
  /** Failed attempts: each provider error classified, retries included. */
  readonly failures: number;
  /** Retry attempts made. */
  readonly retries: number;
  /** Calls served by the response cache or by an identical call in flight (not counted in `requests`: they never reached the scope's limits). */
  readonly cacheHits: number;
}

/** Observe mode's figures, beside a scope's counters. */
export interface WouldRefuseCounters {
  /** Calls that enforce mode would have refused (or refused while waiting) and observe mode let through. */
  readonly wouldRefuse: number;
  /** The same by reason (`WouldRefuseReason`): `max_wait`, `queue_full`, `paused`, `cost_exceeds_limit`, `circuit_open`, `suspended`, `budget`, `degraded`. */
  readonly wouldRefuseByReason: Readonly<Record<string, number>>;
}

export interface ScopeStatus {
  readonly service: string;
  readonly platform: string | null;
  readonly state: ScopeState;
  /** `observe`: refusals are counted in `counters.wouldRefuse`, not made. */
  readonly mode: ScopeMode;
  readonly circuit: {
    readonly state: CircuitStateName;
    readonly consecutiveFailures: number;
    /** When an open circuit lets a probe through (epoch ms); null unless open. */
    readonly retryAt: number | null;
    /** What opens it (`breaker`, or `circuitBreakerThreshold` consecutive failures), with its failure rate where it has one. */
    readonly breaker: BreakerFigures;
  };
  readonly limits: {
    /** Tokens in the per-second bucket now, out of `burst`. */
    readonly tokens: number;
    readonly burst: number;
    /** null when unlimited (Infinity). */
    readonly requestsPerSecond: number | null;
    /** Starts still allowed in the rolling 60-second window; null when the cap cannot bind. */
    readonly minuteRemaining: number | null;
    readonly requestsPerMinute: number | null;
    /** Tokens still allowed in each rolling 60-second token window (null where uncapped); null when no token cap is set. */
    readonly tokensRemaining: { readonly total: number | null; readonly input: number | null; readonly output: number | null } | null;
  };
  readonly inFlight: number;
  readonly waiting: number;
  readonly suspension: { readonly until: number; readonly reason: string } | null;
  readonly pausedUntil: number | null;
  readonly counters: ScopeCounters & WouldRefuseCounters;
  readonly latency: LatencyFigures;
  /** Spend, tokens and budget (as in `getCostSummary()`); null while nothing meters the scope. */
  readonly costs: ScopeCosts | null;
  /** Per contract template, over its window (empty without `contracts`). */
  readonly contracts: Readonly<Record<string, ContractFigures>>;
  /** Attempts whose endpoint matched no contract (0 without `contracts`). */
  readonly unmatchedCalls: number;
}

/** A plain JSON value: safe to serialise, log or serve as is. */
export interface StatusReport {
  readonly generatedAt: number;
  readonly store: string;
  /**
   * The store's health: with a shared store (Redis), whether it answers and what admissions
   * rely on now (`shared`, or a fallback); the memory store is always `ok` / `local`. With a
   * shared store, each scope's `limits` figures are fleet-wide (as of the last answer).
   */
  readonly storeHealth: StoreHealth;
  readonly scopes: Readonly<Record<string, ScopeStatus>>;
  readonly totals: ScopeCounters;
  /** The manager's `policyHash()`: the configuration and pattern table in force. */
  readonly policyHash: string;
  /** The anti-loop guard over outbound calls: `degraded` refuses every createFetch call until `until`. */
  readonly guard: GuardStatus;
  /** The decision log (lines written and dropped, last error); null when logging is off. */
  readonly logging: DecisionLogStatus | null;
}

const NO_LATENCY: LatencyFigures = Object.freeze({ count: 0, meanMs: 0, maxMs: 0, p50Ms: 0, p95Ms: 0 });

const LOCAL_HEALTH: StoreHealth = { status: 'ok', mode: 'local', since: null, lastError: null };


const GUARD_OK: GuardStatus = Object.freeze({ state: 'ok', until: null, reason: null, maxPerMinute: null, count: null });
export function buildStatusReport(scopes: Iterable<Scope>, store: string, now: number, storeHealth: StoreHealth | undefined, policyHash: string, guard: GuardStatus = GUARD_OK, logging: DecisionLogStatus | null = null): StatusReport {
  const report: Record<string, ScopeStatus> = {};
  const totals = { requests: 0, successes: 0, failed: 0, rateLimited: 0, rejected: 0, cancelled: 0, failures: 0, retries: 0, cacheHits: 0 };
  for (const scope of scopes) {
    const status = scopeStatus(scope, now);
    report[scope.key] = status;
    for (const key of Object.keys(totals) as (keyof ScopeCounters)[]) totals[key] += status.counters[key];
  }
  return { generatedAt: now, store, storeHealth: { ...(storeHealth ?? LOCAL_HEALTH) }, scopes: report, totals, policyHash, guard: { ...guard }, logging };
}

function scopeStatus(scope: Scope, now: number): ScopeStatus {
  const { config, circuit, incidentsOrNull: incidents } = scope;
  const snapshot = scope.limiter.snapshot(now);
  const suspension = scope.suspension !== null && scope.suspension.until > now ? scope.suspension : null;
  const paused = scope.pausedUntil > now;
  const waiting = scope.queue?.size ?? 0;
  const state: ScopeState = suspension !== null
    ? 'suspended'
    : circuit?.stateName === 'open'
      ? 'circuit_open'
      : paused
        ? 'paused'
        : waiting > 0
          ? 'waiting'
          : 'ok';
  return {
    service: scope.service,
    platform: scope.platform ?? null,
    state,
    mode: config.mode ?? 'enforce',
    circuit:
      circuit === null
        ? { state: 'closed', consecutiveFailures: 0, retryAt: null, breaker: unusedBreakerFigures(config.breaker, config.circuitBreakerThreshold) }
        : {
            state: circuit.stateName,
            consecutiveFailures: circuit.failures,
            retryAt: circuit.stateName === 'open' ? circuit.retryAt : null,
            breaker: circuit.breakerFigures(now),
          },
    limits: {
      tokens: snapshot.tokens,
      burst: config.burst,
      requestsPerSecond: finiteOrNull(config.requestsPerSecond),
      minuteRemaining: snapshot.minuteRemaining,
      requestsPerMinute: finiteOrNull(config.requestsPerMinute),
      tokensRemaining: snapshot.tokensRemaining ?? null,
    },
    inFlight: scope.active,
    waiting,
    suspension: suspension === null ? null : { until: suspension.until, reason: suspension.reason },
    pausedUntil: paused ? scope.pausedUntil : null,
    counters: {
      requests: scope.requests,
      successes: scope.successes,
      failed: incidents?.failed ?? 0,
      rateLimited: incidents?.rateLimited ?? 0,
      rejected: incidents?.rejected ?? 0,
      cancelled: incidents?.cancelled ?? 0,
      failures: incidents?.failures ?? 0,
      retries: incidents?.retries ?? 0,
      cacheHits: incidents?.cacheHits ?? 0,
      wouldRefuse: incidents?.wouldRefuse?.total ?? 0,
      wouldRefuseByReason: incidents?.wouldRefuse?.reasons() ?? {},
    },
    latency: scope.latency?.figures() ?? NO_LATENCY,
    costs: scope.meter?.costs(now) ?? null,
    ...(scope.contracts?.status(now) ?? { contracts: {}, unmatchedCalls: 0 }),
  };
}

/** JSON has no Infinity: an unlimited rate shows as null. */
function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}
