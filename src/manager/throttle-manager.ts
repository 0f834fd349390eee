import { EventEmitter } from 'eventemitter3';
import type { CircuitStateName } from '../breaker/circuit.js';
import { ErrorClassifier, type RegisterPatternOptions } from '../classify/classifier.js';
import { ErrorHistory, type ErrorStatistics, type ErrorStatisticsOptions } from '../classify/history.js';
import { redactText, redactUrl, summarizeError } from '../classify/redact.js';
import { countsAgainstProvider, ErrorCategory, type ErrorClassification, type ErrorPattern } from '../classify/types.js';
import type { ServiceName, ThrottleConfig } from '../config/types.js';
import {
  CallCancelledError,
  CircuitOpenError,
  ConfigError,
  isCallTimeoutError,
  PlatformSuspendedError,
  type RateLimitedError,
} from '../errors/errors.js';
import { isFloodgateError } from '../errors/floodgate-error.js';
import type { ErrorSummary, FloodgateEvents, ScopeRef } from '../events/events.js';
import { buildStatusReport, type StatusReport } from '../status/report.js';
import { MemoryStore } from '../stores/memory-store.js';
import type { SharedStateListener, ThrottleStore } from '../stores/types.js';
import { AttemptTimeouts } from './attempt-timeouts.js';
import { runCall, type CallHost } from './call.js';
import { markRecorded, recordedByOtherLayer, type FailureLayer } from './recorded-failures.js';
import { Scope, scopeKey, type ScopeListener, type Suspension } from './scope.js';
import { ScopeRegistry } from './scope-registry.js';
import { checkName, ServiceConfigs } from './service-configs.js';

export interface ThrottleManagerOptions {
  /** Where limiter state lives. @default a new MemoryStore */
  readonly store?: ThrottleStore;
  /** Variables read for `FLOODGATE_<SERVICE>_<FIELD>` overrides. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Failures kept in the error history. @default 1000 */
  readonly historySize?: number;
  /** Scopes kept before idle ones are forgotten (least recently used first). @default 10000 */
  readonly maxScopes?: number;
}

export interface ExecuteOptions {
  /** Keeps state apart per platform: the scope becomes `service:platform`. */
  readonly platform?: string;
  /** A label for statistics within the scope. */
  readonly endpoint?: string;
  /** Aborting removes the call from the admission queue (no token spent) or cancels its retry wait. */
  readonly signal?: AbortSignal;
}

export interface ConfigureOptions {
  /** Configure only the scope `service:platform`, on top of the service's configuration. */
  readonly platform?: string;
}

export interface SuspendOptions {
  readonly platform?: string;
  /** @default the scope's `banSuspensionMs` */
  readonly durationMs?: number;
  readonly reason: string;
}

export type ErrorHandler = (error: unknown, classification: ErrorClassification, where: ScopeRef) => void;

let singleton: ThrottleManager | undefined;

/**
 * The traffic controller: every call to an outside API goes through one of its scopes.
 * Use the process-wide {@link throttleManager}, or `new ThrottleManager()` for an
 * independent one (tests, dependency injection).
 */
export class ThrottleManager extends EventEmitter<FloodgateEvents> implements CallHost, ScopeListener {
  private readonly scopes = new ScopeRegistry();
  private readonly configs: ServiceConfigs;
  private readonly classifier = new ErrorClassifier();
  private readonly history: ErrorHistory;
  private readonly handlers: { category?: ErrorCategory; service?: string; handler: ErrorHandler }[] = [];
  private store: ThrottleStore;
  private readonly maxScopes: number;
  /** One deadline list per distinct timeoutMs: a few timers for the whole manager, none per scope. */
  private readonly timeouts = new Map<number, AttemptTimeouts>();
  /** Fleet mode: stops the shared store (Redis) telling this manager about other processes. */
  private detachStore: (() => void) | undefined;

  constructor(options: ThrottleManagerOptions = {}) {
    super();
    this.store = options.store ?? new MemoryStore();
    this.maxScopes = positiveInteger('maxScopes', options.maxScopes ?? 10_000);
    this.history = new ErrorHistory({ capacity: options.historySize ?? 1_000 });
    this.configs = new ServiceConfigs(options.env ?? process.env);
    // Last, once nothing above can throw: a constructor that failed must not stay subscribed.
    this.detachStore = this.store.shared?.attach(this.storeListener); // fleet mode
  }

  /** The process-wide manager, created (and reading the environment) on first use. */
  static getInstance(): ThrottleManager {
    return (singleton ??= new ThrottleManager());
  }

  // Configuration

  /**
   * Merges `partial` onto the service's current configuration (its preset at first),
   * validates it and applies it to live scopes. A bad value throws ConfigError and
   * changes nothing.
   */
  configure(service: ServiceName, partial: Partial<ThrottleConfig>, options: ConfigureOptions = {}): ThrottleConfig {
    if (options.platform !== undefined) {
      const resolved = this.configs.configurePlatform(service, options.platform, partial);
      this.scopes.get(service, options.platform)?.reconfigure(resolved, Date.now());
      return resolved;
    }
    const { resolved, platforms } = this.configs.configureService(service, partial);
    const now = Date.now();
    for (const scope of this.scopes.values()) {
      if (scope.service === service) scope.reconfigure(platforms.get(scope.key) ?? resolved, now);
    }
    return resolved;
  }

  /** The configuration in force for a service (or one of its platforms). */
  getConfig(service: ServiceName, options: ConfigureOptions = {}): ThrottleConfig {
    checkName('service', service);
    return this.configs.resolve(service, options.platform);
  }

  /** Switches to another store (e.g. Redis) for scopes created from now on. */
  useStore(store: ThrottleStore): void {
    this.detachStore?.(); // fleet mode: stop listening to the previous store
    this.store = store;
    this.detachStore = store.shared?.attach(this.storeListener);
    this.scopes.clear();
  }

  // Calls

  /** Runs `fn` through the service's scope: suspension, circuit, limits, retries. */
  execute<T>(service: ServiceName, fn: (signal: AbortSignal | undefined) => Promise<T> | T, options?: ExecuteOptions): Promise<T> {
    let scope: Scope;
    try {
      scope = this.scopeOf(service, options?.platform);
    } catch (error) {
      // A bad service or platform name rejects the call rather than throwing.
      return Promise.reject(error);
    }
    return runCall(this, scope, options?.endpoint, options?.signal, fn as never, undefined, undefined) as Promise<T>;
  }

  /** @internal Changes whenever a scope is forgotten (eviction, reset, close, a new store). */
  get scopeGeneration(): number {
    return this.scopes.generation;
  }

  /** @internal The decorators' entry: `method` applied to `thisArg` with `args`, through `scope`. */
  invokeMethod(scope: Scope, endpoint: string | undefined, method: (...args: unknown[]) => unknown, thisArg: unknown, args: ArrayLike<unknown>): Promise<unknown> {
    return runCall(this, scope, endpoint, undefined, method, thisArg, args);
  }

  /** @internal `@unifiedErrorHandling`'s entry: refuses at once while the scope is suspended. */
  checkSuspension(service: string, platform: string | undefined): void {
    const scope = this.scopes.get(service, platform);
    if (scope?.suspension != null) this.refuseIfSuspended(scope, scope.suspension, Date.now());
  }

  /** @internal `@unifiedErrorHandling`'s failure path: classify and record once. */
  handleFailure(service: string, platform: string | undefined, endpoint: string | undefined, error: unknown, since = 0): ErrorClassification {
    let scope: Scope;
    try {
      scope = this.scopeOf(service, platform);
    } catch {
      return this.classifier.classify(error, service);
    }
    return this.recordFailure(scope, endpoint, error, since, 'unified');
  }

  // Suspension

  /** Refuses every call of the scope with PlatformSuspendedError until resumed or expired. */
  suspend(service: ServiceName, options: SuspendOptions): void {
    const scope = this.scopeOf(service, options.platform);
    const durationMs = options.durationMs ?? scope.config.banSuspensionMs;
    if (!(durationMs > 0) || !Number.isFinite(durationMs)) throw new ConfigError('durationMs', durationMs, 'must be a finite number > 0');
    if (typeof options.reason !== 'string' || options.reason === '') throw new ConfigError('reason', options.reason, 'must be a non-empty string');
    this.suspendScope(scope, Date.now() + durationMs, redactText(options.reason)); // a reason may quote a provider's message
  }

  resume(service: ServiceName, options: { readonly platform?: string } = {}): void {
    const scope = this.scopes.get(service, options.platform);
    if (scope?.suspension != null) this.liftSuspension(scope, 'manual');
    // Fleet mode: lift it in every process, even one that never saw it here.
    else this.store.shared?.publishResume(scopeKey(service, options.platform));
  }

  // Errors

  /** Classifies an error the way the call path does (nothing is recorded). */
  classifyError(error: unknown, service?: ServiceName): ErrorClassification {
    return this.classifier.classify(error, service);
  }

  /** Adds a pattern to the classifier, tried before the defaults unless `position: 'after'`. */
  registerErrorPattern(pattern: ErrorPattern, options?: RegisterPatternOptions): void {
    this.classifier.register(pattern, options);
  }

  /** Runs `handler` for every recorded failure of that category and/or service. */
  onError(filter: { readonly category?: ErrorCategory; readonly service?: ServiceName }, handler: ErrorHandler): () => void {
    const entry = { ...filter, handler };
    this.handlers.push(entry);
    return () => {
      const index = this.handlers.indexOf(entry);
      if (index >= 0) this.handlers.splice(index, 1);
    };
  }

  getErrorStatistics(options?: ErrorStatisticsOptions): ErrorStatistics {
    return this.history.getStatistics(options);
  }

  // Status and lifecycle

  getStatusReport(): StatusReport {
    const now = Date.now();
    for (const scope of this.scopes.values()) this.expireSuspension(scope, now);
    return buildStatusReport(this.scopes.values(), this.store.name, now, this.store.health?.());
  }

  /** Forgets every scope, counter and recorded error; waiting calls reject with CallCancelledError. */
  reset(): void {
    this.dropScopes('the manager was reset');
    this.history.clear();
  }

  /** Like reset(), and releases the store. The manager stays usable afterwards. */
  async close(): Promise<void> {
    this.dropScopes('the manager was closed');
    this.detachStore?.(); // fleet mode
    this.detachStore = undefined;
    await this.store.close();
  }

  // CallHost: the call path's view of the manager.

  /** @internal */
  ensureOpen(scope: Scope, now: number): void {
    if (scope.suspension !== null) this.refuseIfSuspended(scope, scope.suspension, now);
    if (!scope.circuitAllows(now)) {
      scope.record().rejected++;
      throw new CircuitOpenError(scope.key, scope.circuit!.retryAt);
    }
  }

  /** @internal */
  recordFailure(scope: Scope, endpoint: string | undefined, error: unknown, since = 0, layer: FailureLayer = 'throttled'): ErrorClassification {
    // The other (inner) layer recorded this very failure during our attempt: count it once.
    const known = recordedByOtherLayer(error, since, layer);
    if (known !== undefined) return known;
    const classification = this.classifier.classify(error, scope.service);
    markRecorded(error, classification, layer);
    // Floodgate's own refusals are outcomes of the limits, not news about the provider.
    if (isFloodgateError(error) && !isCallTimeoutError(error)) return classification;
    const now = Date.now();
    scope.record().failures++;
    if (countsAgainstProvider(classification)) scope.circuitFailure(now);
    else scope.circuit?.success();
    const summary = this.publishFailure(scope, endpoint, error, classification, now);
    this.applyProviderSignals(scope, classification, summary, now);
    this.runHandlers(scope, error, classification);
    return classification;
  }

  /** Stores the failure (redacted) in the history and emits `errorClassified` (and `banDetected`). */
  private publishFailure(scope: Scope, endpoint: string | undefined, error: unknown, classification: ErrorClassification, now: number): ErrorSummary {
    // The history redacts message, code and endpoint; events reuse what it stored.
    const entry = this.history.record({ time: now, scope: scope.key, service: scope.service, ...(endpoint === undefined ? {} : { endpoint }), classification, error });
    const summary: ErrorSummary = entry.statusCode === undefined ? entry.error : { ...entry.error, statusCode: entry.statusCode };
    const at = entry.endpoint === undefined ? ref(scope) : { ...ref(scope), endpoint: entry.endpoint };
    this.emit('errorClassified', { ...at, classification, error: summary });
    if (classification.isBan) this.emit('banDetected', { ...at, classification, error: summary, suspendedUntil: now + scope.config.banSuspensionMs });
    return summary;
  }

  /** A ban suspends the scope; a Retry-After on a rate limit or overload pauses it for everyone. */
  private applyProviderSignals(scope: Scope, classification: ErrorClassification, summary: ErrorSummary, now: number): void {
    if (classification.isBan) {
      this.suspendScope(scope, now + scope.config.banSuspensionMs, `ban detected (${classification.pattern}): ${summary.message}`);
    } else if (classification.retryAfterMs !== undefined && pausesScope(classification)) {
      const until = now + classification.retryAfterMs;
      if (scope.pauseUntil(until)) {
        this.store.shared?.publishPause(scope.key, classification.retryAfterMs); // fleet mode
        this.emit('paused', { ...ref(scope), until, classification });
      }
    }
  }

  private runHandlers(scope: Scope, error: unknown, classification: ErrorClassification): void {
    for (const { category, service, handler } of this.handlers) {
      if (category !== undefined && category !== classification.category) continue;
      if (service !== undefined && service !== scope.service) continue;
      try {
        handler(error, classification, ref(scope));
      } catch {
        // A broken handler must not change the outcome of the call it watches.
      }
    }
  }

  /** @internal */
  attemptTimeouts(timeoutMs: number): AttemptTimeouts {
    let timeouts = this.timeouts.get(timeoutMs);
    if (timeouts === undefined) this.timeouts.set(timeoutMs, (timeouts = new AttemptTimeouts(timeoutMs)));
    return timeouts;
  }

  /** @internal */
  onRetry(scope: Scope, endpoint: string | undefined, retry: number, delayMs: number, classification: ErrorClassification, error: unknown): void {
    if (this.listenerCount('retry') === 0) return;
    const at = endpoint === undefined ? ref(scope) : { ...ref(scope), endpoint: redactUrl(endpoint) };
    this.emit('retry', { ...at, retry, delayMs, classification, error: summarizeError(error) });
  }

  /** @internal */
  onRateLimited(scope: Scope, error: RateLimitedError): void {
    this.emit('rateLimited', { ...ref(scope), reason: error.reason, retryAfterMs: error.retryAfterMs });
  }

  /** @internal */
  onCircuitChange(owner: unknown, from: CircuitStateName, to: CircuitStateName): void {
    this.emit('circuitStateChange', { ...ref(owner as Scope), from, to });
  }

  /** Fleet mode: what the shared store (Redis) reports from other processes. Scopes unknown here are skipped: their next admission sees the shared state. */
  private readonly storeListener: SharedStateListener = {
    onSuspended: (key, remainingMs, reason) => {
      const scope = this.scopes.getByKey(key);
      if (scope !== undefined) this.suspendScope(scope, Date.now() + remainingMs, reason, false);
    },
    onResumed: (key) => {
      const scope = this.scopes.getByKey(key);
      if (scope?.suspension != null) this.liftSuspension(scope, 'manual', false);
    },
    onPaused: (key, remainingMs) => {
      this.scopes.getByKey(key)?.pauseUntil(Date.now() + remainingMs);
    },
    onCircuitOpened: (key, remainingMs) => {
      this.scopes.getByKey(key)?.ensureCircuit().forceOpen(Date.now() + remainingMs);
    },
    onCircuitClosed: (key) => {
      this.scopes.getByKey(key)?.circuit?.forceClose();
    },
    onHealthChange: (health) => {
      this.emit('storeHealth', { store: this.store.name, ...health });
    },
  };

  // Internals

  /**
   * @internal The scope of `service` (and `platform`), created if need be; throws ConfigError
   * for a bad name. The decorators cache it while {@link scopeGeneration} stays the same.
   */
  scopeOf(service: string, platform: string | undefined): Scope {
    const existing = this.scopes.get(service, platform);
    if (existing !== undefined) return existing;
    checkName('service', service);
    if (platform !== undefined) checkName('platform', platform);
    if (this.scopes.size >= this.maxScopes) this.evictIdle();
    const now = Date.now();
    const scope = new Scope(service, platform, this.configs.resolve(service, platform), this.store, this, now);
    this.scopes.add(scope);
    return scope;
  }

  /** Forgets the least recently used tenth of the scopes whose state is back to fresh. */
  private evictIdle(): void {
    const now = Date.now();
    const idle = [...this.scopes.values()].filter((scope) => scope.isIdle(now)).sort((a, b) => a.lastUsed - b.lastUsed);
    const count = Math.max(1, Math.ceil(this.maxScopes / 10));
    for (const scope of idle.slice(0, count)) this.scopes.delete(scope);
  }

  private refuseIfSuspended(scope: Scope, suspension: Suspension, now: number): void {
    if (now >= suspension.until) return this.liftSuspension(scope, 'expired');
    scope.record().rejected++;
    throw new PlatformSuspendedError(scope.key, suspension.until, suspension.reason);
  }

  /** `publish`: false when the suspension came from the shared store (fleet mode). */
  private suspendScope(scope: Scope, until: number, reason: string, publish = true): void {
    const current = scope.suspension;
    if (current !== null && until <= current.until) return;
    if (publish) this.store.shared?.publishSuspension(scope.key, until - Date.now(), reason);
    if (current !== null) clearTimeout(current.timer);
    const timer = setTimeout(() => this.expireSuspension(scope, Date.now()), Math.min(until - Date.now(), 2_147_483_647));
    timer.unref?.();
    scope.record().suspension = { until, reason, timer };
    scope.queue?.cancelAll(new PlatformSuspendedError(scope.key, until, reason));
    this.emit('suspended', { ...ref(scope), until, reason });
  }

  private expireSuspension(scope: Scope, now: number): void {
    if (scope.suspension !== null && now >= scope.suspension.until) this.liftSuspension(scope, 'expired');
  }

  /** `publish`: false when the resume came from the shared store (fleet mode); an expiry is never published. */
  private liftSuspension(scope: Scope, cause: 'manual' | 'expired', publish = true): void {
    if (publish && cause === 'manual') this.store.shared?.publishResume(scope.key);
    if (scope.incidents?.suspension != null) {
      clearTimeout(scope.incidents.suspension.timer);
      scope.incidents.suspension = null;
    }
    this.emit('resumed', { ...ref(scope), cause });
  }

  private dropScopes(why: string): void {
    for (const timeouts of this.timeouts.values()) timeouts.cancelAll((key) => new CallCancelledError(key, why));
    this.timeouts.clear();
    for (const scope of this.scopes.values()) {
      scope.queue?.cancelAll(new CallCancelledError(scope.key, why));
      if (scope.suspension !== null) clearTimeout(scope.suspension.timer);
    }
    this.scopes.clear();
  }
}

/** The process-wide manager that the decorators use unless given another. */
export const throttleManager: ThrottleManager = ThrottleManager.getInstance();

function ref(scope: Scope): ScopeRef {
  return scope.platform === undefined
    ? { scope: scope.key, service: scope.service }
    : { scope: scope.key, service: scope.service, platform: scope.platform };
}

/** A provider's Retry-After on a rate limit or an overload applies to everyone in the scope. */
function pausesScope(classification: ErrorClassification): boolean {
  return classification.category === ErrorCategory.RATE_LIMIT || classification.category === ErrorCategory.SERVER;
}

function positiveInteger(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new ConfigError(field, value, 'must be an integer >= 1');
  return value;
}
