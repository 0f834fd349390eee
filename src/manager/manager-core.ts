import type { EventEmitter } from 'eventemitter3';
import { ResponseCache, type CacheOptions } from '../cache/response-cache.js';
import { ErrorClassifier } from '../classify/classifier.js';
import { ErrorHistory } from '../classify/history.js';
import { redactUrl, summarizeError } from '../classify/redact.js';
import { countsAgainstProvider, ErrorCategory, type ErrorClassification } from '../classify/types.js';
import { CallCancelledError, ConfigError, isCallTimeoutError } from '../errors/errors.js';
import { isFloodgateError } from '../errors/floodgate-error.js';
import type { ErrorSummary, FloodgateEvents, ScopeRef } from '../events/events.js';
import { OutboundGuard } from '../outbound/guard.js';
import { Prices } from '../spend/prices.js';
import { meters } from '../spend/meter.js';
import { MemoryStore } from '../stores/memory-store.js';
import type { Charge } from '../tokens/charge.js';
import { defaultEstimator, type CostEstimator } from '../tokens/cost.js';
import { openCharge, type MeterOptions } from '../tokens/metering.js';
import { capsOf } from '../tokens/token-windows.js';
import type { ThrottleStore } from '../stores/types.js';
import { DecisionLog, checkLoggingOptions } from '../logging/decision-log.js';
import { AttemptTimeouts } from './attempt-timeouts.js';
import { runCall, type CallHost } from './call.js';
import { ObserverSlot } from './call-observer.js';
import { markRecorded, recordedByOtherLayer, type FailureLayer } from './recorded-failures.js';
import { Scope } from './scope.js';
import { ScopeEvents, scopeRef } from './scope-events.js';
import { ScopeRegistry } from './scope-registry.js';
import { checkName, ServiceConfigs } from './service-configs.js';
import { storeListener } from './store-listener.js';
import type { ThrottleManagerOptions } from './throttle-manager.js';

/** What `ThrottleManager.onError` registers. */
export type ErrorHandler = (error: unknown, classification: ErrorClassification, where: ScopeRef) => void;

/**
 * Everything behind a {@link ThrottleManager} that users do not call: the scopes, the call
 * path's host (refusals, failures, retries, attempt deadlines), the store and its listener.
 * The manager holds one in a private field; the decorators reach it through `coreOf()`.
 */
export class ManagerCore implements CallHost {
  readonly scopes = new ScopeRegistry();
  readonly configs: ServiceConfigs;
  readonly classifier = new ErrorClassifier();
  readonly history: ErrorHistory;
  readonly handlers: { readonly category?: ErrorCategory; readonly service?: string; readonly handler: ErrorHandler }[] = [];
  store: ThrottleStore;
  /** The price table (README "LLM spend"). */
  readonly prices = new Prices();
  readonly estimator: CostEstimator;
  /** The anti-loop guard over outbound calls (createFetch); off until configured. */
  readonly guard: OutboundGuard;
  /** Metrics collectors and the decision log (see call-observer.ts). */
  readonly observers = new ObserverSlot();
  private readonly maxScopes: number;
  /** Response caches and coalescing (README "Response cache"), by owner: a decorated method, or a scope key for `execute`. */
  private readonly responseCaches = new Map<unknown, ResponseCache>();
  private readonly scopeEvents: ScopeEvents;
  /** One deadline list per distinct timeoutMs: a few timers for the whole manager, none per scope. */
  private readonly timeouts = new Map<number, AttemptTimeouts>();
  /** Fleet mode: stops the shared store (Redis) telling this manager about other processes. */
  private detachStore: (() => void) | undefined;
  /** The decision log: undefined until first use (FLOODGATE_LOG_DIR is read then), null when off. */
  private decisionLog: DecisionLog | null | undefined;
  private readonly env: Readonly<Record<string, string | undefined>>;

  constructor(
    private readonly emitter: EventEmitter<FloodgateEvents>,
    options: ThrottleManagerOptions,
  ) {
    this.store = options.store ?? new MemoryStore();
    this.estimator = options.estimateCost ?? defaultEstimator;
    this.maxScopes = positiveInteger('maxScopes', options.maxScopes ?? 10_000);
    this.history = new ErrorHistory({ capacity: options.historySize ?? 1_000 });
    this.env = options.env ?? process.env;
    this.configs = new ServiceConfigs(this.env);
    if (options.logging === false) this.decisionLog = null;
    else if (options.logging !== undefined) this.decisionLog = new DecisionLog(emitter, this.observers, checkLoggingOptions(options.logging));
    this.scopeEvents = new ScopeEvents(emitter, () => this.store.shared);
    this.guard = new OutboundGuard({
      onDegraded: (until, reason, fromFleet) => {
        // Fleet mode: the other processes enter degraded mode too (see OutboundGuard.adopt).
        if (!fromFleet) this.store.shared?.publishMessage?.(GUARD_TOPIC, JSON.stringify({ ms: until - Date.now(), reason }));
        emitter.emit('degraded', { until, reason });
      },
      onRecovered: () => emitter.emit('recovered', { at: Date.now() }),
    });
    if (options.guard !== undefined) this.guard.configure(options.guard);
    // Last, once nothing above can throw: a constructor that failed must not stay subscribed.
    this.attachStore();
  }

  /**
   * The scope of `service` (and `platform`), created if need be; throws ConfigError for a bad
   * name. The decorators cache it while `scopes.generation` stays the same.
   */
  scopeOf(service: string, platform: string | undefined): Scope {
    const existing = this.scopes.get(service, platform);
    if (existing !== undefined) return existing;
    checkName('service', service);
    if (platform !== undefined) checkName('platform', platform);
    this.firstUse();
    const now = Date.now();
    if (this.scopes.size >= this.maxScopes) this.scopes.evictIdle(Math.max(1, Math.ceil(this.maxScopes / 10)), now);
    const config = this.configs.resolve(service, platform);
    this.checkWeighted(config);
    const scope = new Scope(service, platform, config, this.store, this.scopeEvents, now);
    if (this.prices.inUse || meters(config)) scope.ensureMeter();
    this.scopes.add(scope);
    return scope;
  }

  /** A store that cannot enforce token caps refuses a configuration that sets them (README "Fleet mode and token caps"). */
  checkWeighted(config: { readonly tokensPerMinute?: number; readonly inputTokensPerMinute?: number; readonly outputTokensPerMinute?: number }): void {
    if (this.store.weighted === true || capsOf(config) === null) return;
    const field = config.tokensPerMinute !== undefined && config.tokensPerMinute !== Infinity ? 'tokensPerMinute' : config.inputTokensPerMinute !== undefined && config.inputTokensPerMinute !== Infinity ? 'inputTokensPerMinute' : 'outputTokensPerMinute';
    throw new ConfigError(field, config[field], `is not supported by the ${this.store.name} store: token caps need a store that enforces them (the memory store, RedisStore)`);
  }

  /** Changes whenever a scope is forgotten (eviction, reset, close, a new store): a cached Scope may be stale. */
  get scopeGeneration(): number {
    return this.scopes.generation;
  }

  /** `@throttled`'s entry: `method` applied to `thisArg` with `args`, through `scope`. */
  invokeMethod(scope: Scope, endpoint: string | undefined, method: (...args: unknown[]) => unknown, thisArg: unknown, args: ArrayLike<unknown>, metering?: MeterOptions): Promise<unknown> {
    return runCall(this, scope, endpoint, undefined, method, thisArg, args, metering);
  }

  /**
   * `call()` through the response cache of `owner` under `key` (a scope's key is part of it): a result
   * kept or in flight is shared; a shared one counts as a cache hit of `scope` and spends nothing.
   */
  cached(owner: unknown, scope: Scope, key: string, options: CacheOptions | undefined, call: () => Promise<unknown>): Promise<unknown> {
    let cache = this.responseCaches.get(owner);
    if (cache === undefined) this.responseCaches.set(owner, (cache = new ResponseCache()));
    if (options !== undefined) cache.keepResults(options);
    return cache.run(`${scope.key}\u0000${key}`, call, () => scope.incidents().cacheHits++);
  }

  /** `setPrices` (and `applyPolicy`): from then on every scope records its spend. */
  setPrices(prices: unknown, options?: { readonly replace?: boolean }): void {
    this.prices.set(prices, options);
    for (const scope of this.scopes.values()) scope.ensureMeter();
  }

  chargeFor(scope: Scope, metering: MeterOptions | undefined, args: ArrayLike<unknown> | undefined, now: number): Charge {
    return openCharge(scope, this.prices, this.estimator, metering, args, now);
  }

  useStore(store: ThrottleStore): void {
    this.detachStore?.(); // fleet mode: stop listening to the previous store
    this.store = store;
    this.attachStore();
    this.scopes.clear();
  }

  /** Forgets every scope; waiting calls reject with CallCancelledError. */
  dropScopes(why: string): void {
    for (const timeouts of this.timeouts.values()) timeouts.cancelAll((key) => new CallCancelledError(key, why));
    this.timeouts.clear();
    for (const scope of this.scopes.values()) scope.dispose(new CallCancelledError(scope.key, why));
    this.scopes.clear();
    this.responseCaches.clear();
    this.guard.reset();
  }

  /**
   * Starts the decision log at the manager's first use (a scope created, configure()): the
   * singleton is created on import, and FLOODGATE_LOG_DIR is read then, never at import.
   */
  firstUse(): DecisionLog | null {
    if (this.decisionLog === undefined) {
      const dir = this.env.FLOODGATE_LOG_DIR;
      this.decisionLog = dir === undefined || dir === '' ? null : new DecisionLog(this.emitter, this.observers, { dir });
    }
    this.decisionLog?.start();
    return this.decisionLog;
  }

  async close(): Promise<void> {
    // Used again after close(), the manager logs again from its next use.
    await this.decisionLog?.close();
    this.dropScopes('the manager was closed');
    this.detachStore?.(); // fleet mode
    this.detachStore = undefined;
    await this.store.close();
  }

  // `@unifiedErrorHandling` without `@throttled`: no admission, but the same refusals and failures.

  /** Throws PlatformSuspendedError while the scope is suspended. */
  throwIfSuspended(service: string, platform: string | undefined): void {
    const scope = this.scopes.get(service, platform);
    if (scope?.suspension == null) return;
    try {
      scope.throwIfSuspended(Date.now());
    } catch (error) {
      if (scope.config.mode !== 'observe' || !scope.letThrough(error)) throw error;
    }
  }

  /** Classifies a method's failure and counts it once (see {@link handleFailure}). */
  handleMethodFailure(service: string, platform: string | undefined, endpoint: string | undefined, error: unknown, sequence: number): ErrorClassification {
    let scope: Scope;
    try {
      scope = this.scopeOf(service, platform);
    } catch {
      return this.classifier.classify(error, service);
    }
    return this.handleFailure(scope, endpoint, error, sequence, 'unified');
  }

  // CallHost: the call path's view of the manager.

  handleFailure(scope: Scope, endpoint: string | undefined, error: unknown, sequence: number, layer: FailureLayer = 'throttled'): ErrorClassification {
    // The other (inner) layer handled this very failure during our attempt: count it once.
    const known = recordedByOtherLayer(error, sequence, layer);
    if (known !== undefined) return known;
    const classification = this.classifier.classify(error, scope.service);
    markRecorded(error, classification, layer);
    // Floodgate's own refusals are outcomes of the limits, not news about the provider.
    if (isFloodgateError(error) && !isCallTimeoutError(error)) return classification;
    const now = Date.now();
    scope.incidents().failures++;
    if (countsAgainstProvider(classification)) scope.circuitFailure(now);
    else scope.circuit?.success();
    const summary = this.publishFailure(scope, endpoint, error, classification, now);
    this.applyProviderSignals(scope, classification, summary, now);
    this.runHandlers(scope, error, classification);
    return classification;
  }

  attemptTimeouts(timeoutMs: number): AttemptTimeouts {
    let timeouts = this.timeouts.get(timeoutMs);
    if (timeouts === undefined) this.timeouts.set(timeoutMs, (timeouts = new AttemptTimeouts(timeoutMs)));
    return timeouts;
  }

  onRetry(scope: Scope, endpoint: string | undefined, retry: number, delayMs: number, classification: ErrorClassification, error: unknown): void {
    if (this.emitter.listenerCount('retry') === 0) return;
    const at = endpoint === undefined ? scopeRef(scope) : { ...scopeRef(scope), endpoint: redactUrl(endpoint) };
    this.emitter.emit('retry', { ...at, retry, delayMs, classification, error: summarizeError(error) });
  }

  /** Stores the failure (redacted) in the history and emits `errorClassified` (and `banDetected`). */
  private publishFailure(scope: Scope, endpoint: string | undefined, error: unknown, classification: ErrorClassification, now: number): ErrorSummary {
    // The history redacts message, code and endpoint; events reuse what it stored.
    const record: { time: number; scope: string; service: string; endpoint?: string; classification: ErrorClassification; error: unknown } = { time: now, scope: scope.key, service: scope.service, classification, error };
    if (endpoint !== undefined) record.endpoint = endpoint;
    const entry = this.history.record(record);
    const summary: ErrorSummary = entry.statusCode === undefined ? entry.error : { ...entry.error, statusCode: entry.statusCode };
    const emitter = this.emitter;
    // Event objects only for listeners: the failure path pays for what someone reads.
    const classified = emitter.listenerCount('errorClassified') > 0;
    const ban = classification.isBan && emitter.listenerCount('banDetected') > 0;
    if (classified || ban) {
      const at: { scope: string; service: string; platform?: string; endpoint?: string } = scopeRef(scope);
      if (entry.endpoint !== undefined) at.endpoint = entry.endpoint;
      if (classified) emitter.emit('errorClassified', { ...at, classification, error: summary });
      if (ban) emitter.emit('banDetected', { ...at, classification, error: summary, suspendedUntil: now + scope.config.banSuspensionMs });
    }
    return summary;
  }

  /** A ban suspends the scope; a Retry-After on a rate limit or overload pauses it for everyone. */
  private applyProviderSignals(scope: Scope, classification: ErrorClassification, summary: ErrorSummary, now: number): void {
    if (classification.isBan) {
      scope.suspend(now + scope.config.banSuspensionMs, `ban detected (${classification.pattern}): ${summary.message}`, false);
    } else if (classification.retryAfterMs !== undefined && pausesScope(classification)) {
      this.pauseScope(scope, classification.retryAfterMs, classification, now);
    }
  }

  /**
   * Holds the scope's admissions for `pauseMs` (capped by `maxRetryAfterMs`: a provider may ask
   * for centuries), fleet-wide with a shared store, and emits `paused`. Used for a failure's
   * Retry-After and by createFetch for rate-limit headers of any response.
   */
  pauseScope(scope: Scope, pauseMs: number, classification: ErrorClassification, now: number): void {
    const cappedMs = Math.min(pauseMs, scope.config.maxRetryAfterMs);
    const until = now + cappedMs;
    if (scope.pauseUntil(until)) {
      this.store.shared?.publishPause(scope.key, cappedMs); // fleet mode
      this.emitter.emit('paused', { ...scopeRef(scope), until, classification });
    }
  }

  private runHandlers(scope: Scope, error: unknown, classification: ErrorClassification): void {
    for (const { category, service, handler } of this.handlers) {
      if (category !== undefined && category !== classification.category) continue;
      if (service !== undefined && service !== scope.service) continue;
      try {
        handler(error, classification, scopeRef(scope));
      } catch {
        // A broken handler must not change the outcome of the call it watches.
      }
    }
  }

  private attachStore(): void {
    this.detachStore = this.store.shared?.attach(
      storeListener(
        this.scopes,
        (health) => this.emitter.emit('storeHealth', { store: this.store.name, ...health }),
        (topic, payload) => {
          if (topic === GUARD_TOPIC) this.guard.adopt(payload, Date.now());
        },
      ),
    );
  }
}

/** The shared-state topic on which a manager's guard tells the fleet it tripped. */
const GUARD_TOPIC = 'guard';

/** A provider's Retry-After on a rate limit or an overload applies to everyone in the scope. */
function pausesScope(classification: ErrorClassification): boolean {
  return classification.category === ErrorCategory.RATE_LIMIT || classification.category === ErrorCategory.SERVER;
}

function positiveInteger(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new ConfigError(field, value, 'must be an integer >= 1');
  return value;
}
