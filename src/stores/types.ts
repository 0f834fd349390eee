import type { Circuit } from '../breaker/circuit.js';

/** The limits a store enforces for one scope. */
export interface LimiterLimits {
  readonly requestsPerSecond: number;
  readonly burst: number;
  readonly requestsPerMinute: number;
  /** Rolling-60-s caps on the sum of costs started (README "Calls that cost more than one"); absent or Infinity: none. */
  readonly tokensPerMinute?: number | undefined;
  readonly inputTokensPerMinute?: number | undefined;
  readonly outputTokensPerMinute?: number | undefined;
}

/**
 * The cost of the call being admitted (a weighted call): the limiter takes it from its token
 * windows with the admission and writes the `ticket` that {@link ScopeLimiter.amendCost} reconciles later.
 */
export interface AdmissionCost {
  readonly input: number;
  readonly output: number;
  ticket: number;
}

/**
 * Fleet mode: a scope's budget held by a shared store for every process (RedisStore), each call
 * reserving its estimated spend there before it starts and settling its real spend when it ends.
 */
export interface SharedSpend {
  /**
   * Reserves `usd` of the budget of `limitUsd` for the period that ends at `periodEnd` (epoch ms),
   * unless the fleet's spend plus its reservations plus `usd` would pass it. Resolves with whether
   * it was granted and the fleet's spend plus reservations after; null when the store could not
   * answer in time (the process's own budget then stands alone).
   */
  reserve(limitUsd: number, periodEnd: number, usd: number): Promise<{ readonly granted: boolean; readonly committedUsd: number; readonly ticket?: string } | null>;
  /**
   * A call ended: releases `reservedUsd` in that period (the reservation `ticket`, as `reserve`
   * granted it, when it named one) and adds `spentUsd`; resolves with the fleet's spend plus
   * reservations after (null: not answered).
   */
  settle(periodEnd: number, reservedUsd: number, spentUsd: number, ticket?: string): Promise<number | null>;
}

/** Remaining capacity of a scope, for the status report. */
export interface LimiterSnapshot {
  /** Tokens in the bucket now (whole calls). */
  readonly tokens: number;
  /** Starts still allowed in the rolling 60-second window (`null` when the cap cannot bind). */
  readonly minuteRemaining: number | null;
  /** Tokens still allowed in each rolling 60-second token window (null where uncapped); absent when no token cap is set. */
  readonly tokensRemaining?: { readonly total: number | null; readonly input: number | null; readonly output: number | null };
}

/**
 * Admission state of one scope. The local store answers synchronously; a shared store
 * (Redis) may answer with a promise, and the manager handles both.
 */
export interface ScopeLimiter {
  /** Takes one admission when every window allows it now and returns 0; otherwise returns the ms until one could be taken, taking nothing. */
  tryAcquire(now: number, cost?: AdmissionCost): number | Promise<number>;
  /** Reconciles a weighted admission (its `ticket`): the differences between real usage and the estimate are credited (negative) or charged. */
  amendCost?(ticket: number, deltaInput: number, deltaOutput: number): void;
  /** A lower bound of the wait for the caller `position` places back in line (0: next); used to refuse at once a caller that cannot make its deadline. */
  estimateWait(position: number, now: number): number;
  reconfigure(limits: LimiterLimits, now: number): void;
  snapshot(now: number): LimiterSnapshot;
  /** True when this limiter's state equals a fresh one's, so the scope can be forgotten safely. */
  isIdle(now: number): boolean;
  /** Fleet mode: true when the store shares circuits (Redis with `shareCircuit`); the scope then creates its circuit at once. */
  readonly sharesCircuit?: boolean;
  /** Fleet mode: the scope's circuit, given once when it is created. Absent on the memory store. */
  linkCircuit?(circuit: Circuit): void;
  /**
   * Fleet mode: a function that lets the scope's waiters try again, given once when the scope
   * is created; the limiter calls it when it gains capacity without being asked (credits).
   */
  wakeWith?(wake: () => void): void;
  /** Fleet mode: the scope's budget is the fleet's (RedisStore); absent on the memory store. */
  readonly spend?: SharedSpend;
}

/** Where limiter state lives: process memory by default, Redis for a fleet. */
export interface ThrottleStore {
  /** Shown in the status report. */
  readonly name: string;
  /** True when its limiters enforce token caps (`tokensPerMinute`, ...); a store without it refuses such a configuration with ConfigError. */
  readonly weighted?: boolean;
  createLimiter(scope: string, limits: LimiterLimits, now: number): ScopeLimiter;
  /** Releases connections and timers the store owns (not a client the user passed in). */
  close(): Promise<void>;
  /** Fleet-wide suspensions and pauses; absent for a store local to the process. */
  readonly shared?: SharedState;
  /** For the status report; absent means always healthy (the memory store). */
  health?(): StoreHealth;
}

// Fleet mode: what a shared store (Redis) adds. The memory store implements none of it.

/** The health of a store, as the status report shows it (a plain JSON value). */
export interface StoreHealth {
  /** `ok`: the store answers; `degraded`: it does not (unreachable, slow or failing) and admissions use the fallback. */
  readonly status: 'ok' | 'degraded';
  /**
   * What admissions rely on now: `local` (this process's memory: the memory store), `shared`
   * (the fleet-wide state), `fallback_local` (a local limiter holding a share of the limit while
   * the shared store is down) or `fallback_deny` (nothing is admitted while it is down).
   */
  readonly mode: 'local' | 'shared' | 'fallback_local' | 'fallback_deny';
  /** When `status` last changed (epoch ms); null if it never did. */
  readonly since: number | null;
  /** The last failure talking to the store (redacted of nothing secret: an error message or `timeout`); null when none. */
  readonly lastError: string | null;
}

/** What a shared store tells the managers attached to it; scopes are named by key. */
export interface SharedStateListener {
  /** The scope is suspended fleet-wide (by another process, or seen in an admission answer). */
  onSuspended(scope: string, remainingMs: number, reason: string): void;
  /**
   * Someone called `resume()` for the scope: lift its suspension and its provider pause here
   * too (the store has lifted both fleet-wide).
   */
  onResumed(scope: string): void;
  /** A provider's Retry-After paused the scope fleet-wide (at most 24 h, whatever it asked). */
  onPaused(scope: string, remainingMs: number): void;
  /** Another process's circuit opened the scope fleet-wide (`shareCircuit`). */
  onCircuitOpened(scope: string, remainingMs: number): void;
  /** The fleet's half-open probe succeeded in another process: the circuit closes (`shareCircuit`). */
  onCircuitClosed(scope: string): void;
  /** The store became unreachable, or reachable again. */
  onHealthChange(health: StoreHealth): void;
  /** Another process published `payload` on `topic` (see {@link SharedState.publishMessage}). */
  onMessage?(topic: string, payload: string): void;
}

/**
 * Fleet-wide state beyond the limits: suspensions, provider pauses. Publishing never throws
 * and never blocks the caller; a store that cannot reach its backend applies it later or
 * drops it (the local scope is updated by the manager either way).
 */
export interface SharedState {
  /** Starts telling `listener` about changes made elsewhere; returns the function that stops it. */
  attach(listener: SharedStateListener): () => void;
  publishSuspension(scope: string, durationMs: number, reason: string): void;
  /** Lifts the scope's suspension and provider pause in the shared state and in every process. */
  publishResume(scope: string): void;
  /** Pauses the scope fleet-wide (a provider's Retry-After); a store clamps it to its own ceiling too. */
  publishPause(scope: string, durationMs: number): void;
  /**
   * Tells the other processes something that is not a scope's (the anti-loop guard's degraded
   * mode): delivered to their listeners' `onMessage`, never stored, lost while the store is down.
   */
  publishMessage?(topic: string, payload: string): void;
}
