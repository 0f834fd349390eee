import canonicalize from 'canonicalize';
import { checkCacheOptions, type CacheOptions } from '../cache/response-cache.js';
import type { ServiceName } from '../config/types.js';
import { ConfigError } from '../errors/errors.js';
import { splitCost, type Cost } from '../tokens/cost.js';
import type { MeterOptions } from '../tokens/metering.js';
import type { Scope } from '../manager/scope.js';
import { checkName } from '../manager/service-configs.js';
import type { ManagerCore } from '../manager/manager-core.js';
import { coreOf } from '../manager/throttle-manager.js';
import { recorder } from './metadata.js';
import { methodDecorator, type AnyMethod, type AsyncMethodDecorator, type MethodRef } from './method-decorator.js';
import {
  describeTarget,
  managerOf,
  markWrapper,
  platformOf,
  sameTarget,
  targetOf,
  wrapperInfo,
  type DecoratorOptions,
  type DecoratorTarget,
} from './options.js';

export interface ThrottledOptions<Args extends unknown[] = any[]> extends DecoratorOptions<Args> {
  /**
   * The call's cost against the token caps: tokens, `{ input, output }`, or a function of the
   * method's arguments returning either. @default the manager's estimator (README "Estimating a cost")
   */
  readonly cost?: Cost | ((...args: Args) => Cost);
  /** The model called, for its price (a result's `model` field wins). */
  readonly model?: string | ((...args: Args) => string);
  /**
   * Keeps results for `ttlMs` (at most `max`), keyed by the arguments (or `key(...args)`);
   * identical calls in flight share one provider call. Failures, Responses and streams are never kept.
   */
  readonly cache?: CacheOptions<Args>;
}

/**
 * Sends every call of an async method through the service's scope: suspension, circuit
 * breaker, limits, retries. `this`, arguments and the return type are kept.
 *
 * @example
 * class Sentiment {
 *   @throttled(ServiceType.LLM_API, { endpoint: 'sentiment' })
 *   async analyze(text: string) { ... }
 * }
 */
export function throttled<Args extends unknown[] = any[]>(service: ServiceName, options: ThrottledOptions<Args> = {}): AsyncMethodDecorator<Args> {
  checkName('service', service);
  const target = targetOf(service, options as ThrottledOptions);
  const extras = extrasOf(options as ThrottledOptions);
  return methodDecorator(
    (decorated) => {
      // An @unifiedErrorHandling below with the same target and no fallback does nothing this
      // call path does not (refuse a suspended scope, classify and record each failure once).
      const inner = wrapperInfo(decorated.method);
      const original = inner?.decorator === 'unifiedErrorHandling' && !inner.hasFallback && sameTarget(inner, target) ? inner.original : decorated;
      const throttledCall = throttledMethod(target, original, extras.metering);
      return markWrapper(extras.cache === undefined ? throttledCall : cachedMethod(target, throttledCall, extras.cache), { ...target, decorator: 'throttled', original, hasFallback: false });
    },
    (method) => describeTarget(method, 'throttled', target),
    recorder,
  );
}

/** The metering and cache options, checked once when decorating. */
function extrasOf(options: ThrottledOptions): { metering: MeterOptions | undefined; cache: CacheOptions | undefined } {
  const { cost, model, cache } = options;
  if (cost !== undefined && typeof cost !== 'function') splitCost(cost, 'cost');
  if (model !== undefined && typeof model !== 'function' && (typeof model !== 'string' || model === '')) throw new ConfigError('model', model, 'must be a non-empty string or a function of the arguments');
  return { metering: cost === undefined && model === undefined ? undefined : { cost, model }, cache: cache === undefined ? undefined : checkCacheOptions(cache) };
}

/**
 * The method behind a response cache: calls with equal keys (scope and arguments) share one
 * call in flight, and its result for `ttlMs`. A key that cannot be computed skips the cache.
 */
function cachedMethod({ service, platform, manager: managerOption }: DecoratorTarget, method: AnyMethod, cache: CacheOptions): AnyMethod {
  const owner = {}; // this decorated method's caches, one per manager
  return function cachedThrottledMethod(this: unknown, ...args: unknown[]): Promise<unknown> {
    let key: string | undefined;
    let core: ManagerCore;
    let scope: Scope;
    try {
      key = cache.key === undefined ? canonicalize(args) : cache.key(...args);
      core = coreOf(managerOf(managerOption));
      scope = core.scopeOf(service, platformOf(platform, args));
    } catch {
      key = undefined; // arguments that cannot be keyed (a cycle, a BigInt): the call is not cached
    }
    if (typeof key !== 'string') return method.apply(this, args) as Promise<unknown>;
    return core!.cached(owner, scope!, key, cache, () => method.apply(this, args) as Promise<unknown>);
  };
}

function throttledMethod({ service, platform, endpoint, manager: managerOption }: DecoratorTarget, original: MethodRef, metering: MeterOptions | undefined): AnyMethod {
  if (typeof platform === 'function') {
    return function throttledMethod(this: unknown, ...args: unknown[]): Promise<unknown> {
      const core = coreOf(managerOf(managerOption));
      let scope: Scope;
      try {
        scope = core.scopeOf(service, platformOf(platform, args));
      } catch (error) {
        return Promise.reject(error);
      }
      return core.invokeMethod(scope, endpoint, original.current, this, args, metering);
    };
  }
  // A fixed scope: looked up once per manager, again only after the manager forgot a scope.
  let cachedCore: ManagerCore | undefined;
  let cachedScope: Scope | undefined;
  let cachedGeneration = -1;
  return function throttledMethod(this: unknown, ...args: unknown[]): Promise<unknown> {
    const core = coreOf(managerOf(managerOption));
    if (core !== cachedCore || core.scopeGeneration !== cachedGeneration) {
      try {
        cachedScope = core.scopeOf(service, platform);
      } catch (error) {
        return Promise.reject(error);
      }
      cachedCore = core;
      cachedGeneration = core.scopeGeneration;
    }
    return core.invokeMethod(cachedScope!, endpoint, original.current, this, args, metering);
  };
}
