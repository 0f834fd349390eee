import type { ServiceName } from '../config/types.js';
import type { Scope } from '../manager/scope.js';
import { checkName } from '../manager/service-configs.js';
import type { ManagerCore } from '../manager/manager-core.js';
import { coreOf } from '../manager/throttle-manager.js';
import { recorder } from './metadata.js';
import { methodDecorator, type AnyMethod, type AsyncMethodDecorator } from './method-decorator.js';
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

export type ThrottledOptions<Args extends unknown[] = any[]> = DecoratorOptions<Args>;

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
export function throttled(service: ServiceName, options: ThrottledOptions = {}): AsyncMethodDecorator {
  checkName('service', service);
  const target = targetOf(service, options);
  return methodDecorator(
    (method) => {
      // An @unifiedErrorHandling below with the same target and no fallback does nothing this
      // call path does not (refuse a suspended scope, classify and record each failure once).
      const inner = wrapperInfo(method);
      const original = inner?.decorator === 'unifiedErrorHandling' && !inner.hasFallback && sameTarget(inner, target) ? inner.original : method;
      return markWrapper(throttledMethod(target, original), { ...target, decorator: 'throttled', original, hasFallback: false });
    },
    (method) => describeTarget(method, 'throttled', target),
    recorder,
  );
}

function throttledMethod({ service, platform, endpoint, manager: managerOption }: DecoratorTarget, original: AnyMethod): AnyMethod {
  if (typeof platform === 'function') {
    return function throttledMethod(this: unknown, ...args: unknown[]): Promise<unknown> {
      const core = coreOf(managerOf(managerOption));
      let scope: Scope;
      try {
        scope = core.scopeOf(service, platformOf(platform, args));
      } catch (error) {
        return Promise.reject(error);
      }
      return core.invokeMethod(scope, endpoint, original, this, args);
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
    return core.invokeMethod(cachedScope!, endpoint, original, this, args);
  };
}
