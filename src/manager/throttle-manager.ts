import { EventEmitter } from 'eventemitter3';
import type { RegisterPatternOptions } from '../classify/classifier.js';
import type { ErrorStatistics, ErrorStatisticsOptions } from '../classify/history.js';
import { redactText } from '../classify/redact.js';
import type { ErrorCategory, ErrorClassification, ErrorPattern } from '../classify/types.js';
import type { ServiceName, ThrottleConfig } from '../config/types.js';
import { ConfigError } from '../errors/errors.js';
import type { LoggingOptions } from '../logging/decision-log.js';
import type { FloodgateEvents } from '../events/events.js';
import { ManagerPolicy } from '../governance/manager-policy.js';
import type { DecisionSource } from '../governance/record-decisions.js';
import { buildStatusReport, type StatusReport } from '../status/report.js';
import { checkCacheOptions, type CacheOptions } from '../cache/response-cache.js';
import { validatePartial } from '../config/validate.js';
import { buildCostSummary, type CostSummary } from '../spend/summary.js';
import type { ModelPrice } from '../spend/prices.js';
import type { GuardOptions } from '../outbound/guard.js';
import type { ThrottleStore } from '../stores/types.js';
import type { CallContext } from '../tokens/charge.js';
import type { Cost, CostEstimator } from '../tokens/cost.js';
import { runCall } from './call.js';
import { ManagerCore, type ErrorHandler } from './manager-core.js';
import { scopeKey } from './scope.js';
import { checkName } from './service-configs.js';

export type { ErrorHandler };

export interface ThrottleManagerOptions {
  /** Where limiter state lives. @default a new MemoryStore */
  readonly store?: ThrottleStore;
  /** Variables read for `FLOODGATE_<SERVICE>_<FIELD>` overrides. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Failures kept in the error history. @default 1000 */
  readonly historySize?: number;
  /** Scopes kept before idle ones are forgotten (least recently used first). @default 10000 */
  readonly maxScopes?: number;
  /**
   * The cost of a metered call that gives none (README "Estimating a cost"): a function of the
   * decorated method's arguments (none for `execute`).
   * @default defaultEstimator: about 4 characters per input token, the request's `max_tokens` as output
   */
  readonly estimateCost?: CostEstimator;
  /** The anti-loop guard over outbound calls (createFetch). @default off */
  readonly guard?: GuardOptions;
  /**
   * Decision logs (README: "Decision logs"): one JSON line per refusal, retry, circuit change,
   * ban, suspension, resume, configuration change and store health change, in daily files.
   * `false` keeps them off even when `FLOODGATE_LOG_DIR` is set.
   * @default off, or `{ dir: FLOODGATE_LOG_DIR }` when that variable is set (read at first use)
   */
  readonly logging?: LoggingOptions | false;
}

export interface ExecuteOptions {
  /** Keeps state apart per platform: the scope becomes `service:platform`. */
  readonly platform?: string;
  /** A label for statistics within the scope. */
  readonly endpoint?: string;
  /** Aborting removes the call from the admission queue (no token spent) or cancels its retry wait. */
  readonly signal?: AbortSignal;
  /**
   * What the call costs against the token caps (`tokensPerMinute`, ...): tokens, or `{ input, output }`
   * estimates, reconciled with its real usage afterwards. @default the manager's estimator (0 for execute)
   */
  readonly cost?: Cost;
  /** The model called, for its price (the result's `model` field wins). */
  readonly model?: string;
  /** Identical concurrent calls with this key share one provider call; with `cache`, the result is also kept. */
  readonly cacheKey?: string;
  /** Keeps results under `cacheKey` for `ttlMs` (at most `max` per scope; the first configuration of a scope wins). */
  readonly cache?: Omit<CacheOptions, 'key'>;
}

export interface ConfigureOptions {
  /** Configure only the scope `service:platform`, on top of the service's configuration. */
  readonly platform?: string;
}

export interface ApplyPolicyOptions {
  /** The hash the artifact must have (from `exportPolicy()` or `policyHash()` where it was made, through a channel you trust). */
  readonly expectedHash: string;
}

export interface SuspendOptions {
  readonly platform?: string;
  /** @default the scope's `banSuspensionMs` */
  readonly durationMs?: number;
  readonly reason: string;
}

export interface ResumeOptions {
  readonly platform?: string;
}

let singleton: ThrottleManager | undefined;
/** The decorators' way in (see {@link coreOf}); set once, by the class below. */
let readCore: (manager: ThrottleManager) => ManagerCore;

/**
 * The traffic controller: every call to an outside API goes through one of its scopes.
 * Use the process-wide {@link throttleManager}, or `new ThrottleManager()` for an
 * independent one (tests, dependency injection).
 */
export class ThrottleManager extends EventEmitter<FloodgateEvents> {
  readonly #core: ManagerCore;
  readonly #policy: ManagerPolicy;

  static {
    readCore = (manager) => manager.#core;
  }

  constructor(options: ThrottleManagerOptions = {}) {
    super();
    this.#core = new ManagerCore(this, options);
    this.#policy = new ManagerPolicy(this.#core);
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
    const core = this.#core;
    const { configs, scopes } = core;
    core.firstUse();
    const now = Date.now();
    // A store that cannot hold token caps refuses them before anything changes.
    if (this.#core.store.weighted !== true) this.#core.checkWeighted(validatePartial(service, partial));
    if (options.platform !== undefined) {
      const resolved = configs.configurePlatform(service, options.platform, partial);
      this.#policy.invalidate();
      scopes.get(service, options.platform)?.reconfigure(resolved, now);
      emitConfigured(this, service, options.platform, partial);
      return resolved;
    }
    const { resolved, platforms } = configs.configureService(service, partial);
    this.#policy.invalidate();
    for (const scope of scopes.values()) {
      if (scope.service === service) scope.reconfigure(platforms.get(scope.key) ?? resolved, now);
    }
    emitConfigured(this, service, undefined, partial);
    return resolved;
  }


  /** The configuration in force for a service (or one of its platforms). */
  getConfig(service: ServiceName, options: ConfigureOptions = {}): ThrottleConfig {
    checkName('service', service);
    return this.#core.configs.resolve(service, options.platform);
  }

  /**
   * Merges `options` onto the anti-loop guard over outbound calls (createFetch); a bad value
   * throws ConfigError and changes nothing. Counting starts afresh.
   */
  configureGuard(options: GuardOptions): void {
    this.#core.guard.configure(options);
  }

  /** Switches to another store (e.g. Redis) for scopes created from now on. */
  useStore(store: ThrottleStore): void {
    this.#core.useStore(store);
  }

  // Calls

  /**
   * Runs `fn` through the service's scope: suspension, circuit, limits, retries. `fn` gets the
   * caller's signal and the call's context (`call.reportUsage(...)`).
   */
  execute<T>(service: ServiceName, fn: (signal: AbortSignal | undefined, call: CallContext) => Promise<T> | T, options?: ExecuteOptions): Promise<T> {
    const core = this.#core;
    let scope;
    try {
      scope = core.scopeOf(service, options?.platform);
    } catch (error) {
      // A bad service or platform name rejects the call rather than throwing.
      return Promise.reject(error);
    }
    if (options === undefined) return runCall(core, scope, undefined, undefined, fn as never, undefined, undefined) as Promise<T>;
    let endpoint, signal, metered, cacheKey, cache: CacheOptions | undefined;
    try {
      // Each option read once: a getter cannot answer differently later, nor throw out of execute().
      ({ endpoint, signal, cacheKey } = options);
      // The options object itself meters the call (no copy on the hot path): openCharge reads cost and model once, inside the call's try.
      metered = options.cost !== undefined || options.model !== undefined ? options : undefined;
      if (cacheKey !== undefined) {
        if (typeof cacheKey !== 'string') throw new ConfigError('cacheKey', cacheKey, 'must be a string');
        cache = options.cache === undefined ? undefined : checkCacheOptions(options.cache);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    if (cacheKey === undefined) return runCall(core, scope, endpoint, signal, fn as never, undefined, undefined, metered) as Promise<T>;
    return core.cached(scope.key, scope, cacheKey, cache, () => runCall(core, scope, endpoint, signal, fn as never, undefined, undefined, metered)) as Promise<T>;
  }

  // Spend

  /**
   * Sets model prices (USD per million tokens): merged per model into the table (the documented
   * defaults at first), or replacing it with `{ replace: true }`. From then on every call of this
   * manager records its spend (README "LLM spend"). Prices are policy: part of `policyHash()`.
   */
  setPrices(prices: Readonly<Record<string, ModelPrice>>, options?: { readonly replace?: boolean }): void {
    this.#core.setPrices(prices, options);
    this.#policy.invalidate();
  }

  /** What each metered scope spent (tokens, USD, per model) and its budget: a plain JSON value. */
  getCostSummary(): CostSummary {
    return buildCostSummary(this.#core.scopes.values(), Date.now());
  }

  // Suspension

  /** Refuses every call of the scope with PlatformSuspendedError until resumed or expired. */
  suspend(service: ServiceName, options: SuspendOptions): void {
    const scope = this.#core.scopeOf(service, options.platform);
    const durationMs = options.durationMs ?? scope.config.banSuspensionMs;
    if (!(durationMs > 0) || !Number.isFinite(durationMs)) throw new ConfigError('durationMs', durationMs, 'must be a finite number > 0');
    if (typeof options.reason !== 'string' || options.reason === '') throw new ConfigError('reason', options.reason, 'must be a non-empty string');
    scope.suspend(Date.now() + durationMs, redactText(options.reason), false); // a reason may quote a provider's message
  }

  /**
   * Lifts the scope's suspension and any pause a provider asked for (Retry-After): waiting
   * calls are admitted again at once. Fleet mode: in every process.
   */
  resume(service: ServiceName, options: ResumeOptions = {}): void {
    const core = this.#core;
    const scope = core.scopes.get(service, options.platform);
    if (scope !== undefined && (scope.suspension !== null || scope.pausedUntil > 0)) scope.resume('manual', false);
    // Fleet mode: lift it in every process, even one that never saw it here.
    else core.store.shared?.publishResume(scopeKey(service, options.platform));
  }

  // Errors

  /** Classifies an error the way the call path does (nothing is recorded). */
  classifyError(error: unknown, service?: ServiceName): ErrorClassification {
    return this.#core.classifier.classify(error, service);
  }

  /** Adds a pattern to the classifier, tried before the defaults unless `position: 'after'`. */
  registerErrorPattern(pattern: ErrorPattern, options?: RegisterPatternOptions): void {
    this.#core.classifier.register(pattern, options);
    this.#policy.invalidate();
  }

  /** Runs `handler` for every failure handled of that category and/or service; returns the function that removes it. */
  onError(filter: { readonly category?: ErrorCategory; readonly service?: ServiceName }, handler: ErrorHandler): () => void {
    const handlers = this.#core.handlers;
    const entry = { ...filter, handler };
    handlers.push(entry);
    return () => {
      const index = handlers.indexOf(entry);
      if (index >= 0) handlers.splice(index, 1);
    };
  }

  getErrorStatistics(options?: ErrorStatisticsOptions): ErrorStatistics {
    return this.#core.history.getStatistics(options);
  }

  // Status and lifecycle

  getStatusReport(): StatusReport {
    const { scopes, store } = this.#core;
    const now = Date.now();
    for (const scope of scopes.values()) scope.expireSuspension(now);
    return buildStatusReport(scopes.values(), store.name, now, store.health?.(), this.#policy.hash(), this.#core.guard.status(now), this.#core.firstUse()?.status() ?? null);
  }

  // Governance (README "Policy hash", "Decision ledger")

  /**
   * SHA-256 (64 lowercase hex digits) of the RFC 8785 form of the policy in force: every
   * resolved configuration (presets, services and platforms configured, modes, contracts) and
   * the pattern table in its order. Key order never changes it; any value does.
   */
  policyHash(): string {
    return this.#policy.hash();
  }

  /** Writes the policy in force and its hash to `path` (`{ policy, hash }`, atomically); resolves with the hash. */
  exportPolicy(path: string): Promise<string> {
    return this.#policy.export(path);
  }

  /**
   * Applies an artifact written by `exportPolicy()` once its policy hashes to `expectedHash`:
   * every configuration and the user patterns are replaced, live scopes reconfigured. Rejects
   * with ConfigError, changing nothing, when the artifact is refused or any part is invalid.
   */
  applyPolicy(path: string, options: ApplyPolicyOptions): Promise<string> {
    return this.#policy.apply(path, options?.expectedHash);
  }

  /** Records this manager's decisions in `ledger` (`ledger.attach(manager)`); returns the function that stops it. */
  useLedger(ledger: { attach(source: DecisionSource): () => void }): () => void {
    return ledger.attach(this);
  }

  /** Forgets every scope, counter and handled error; waiting calls reject with CallCancelledError. */
  reset(): void {
    this.#core.dropScopes('the manager was reset');
    this.#core.history.clear();
  }

  /** Like reset(), and releases the store. The manager stays usable afterwards. */
  async close(): Promise<void> {
    await this.#core.close();
  }
}

/** The `configured` event (validated already: `partial` is a plain object here). */
function emitConfigured(manager: ThrottleManager, service: string, platform: string | undefined, partial: object): void {
  if (manager.listenerCount('configured') === 0) return;
  const fields = Object.keys(partial);
  manager.emit('configured', platform === undefined ? { service, fields } : { service, platform, fields });
}

/** The internals behind `manager` (the decorators' entry). Not exported from the package. */
export function coreOf(manager: ThrottleManager): ManagerCore {
  return readCore(manager);
}

/** The process-wide manager that the decorators use unless given another. */
export const throttleManager: ThrottleManager = ThrottleManager.getInstance();
