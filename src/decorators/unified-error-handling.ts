import type { ErrorClassification } from '../classify/types.js';
import type { ServiceName } from '../config/types.js';
import { nextSequence } from '../manager/call.js';
import { checkName } from '../manager/service-configs.js';
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

export interface UnifiedErrorHandlingOptions<Args extends unknown[] = any[]> extends DecoratorOptions<Args> {
  /**
   * Returns a value in place of the failure. Without it the original error is rethrown;
   * its classification is then available from `getClassification(error)`.
   */
  readonly fallback?: (error: unknown, classification: ErrorClassification) => unknown;
}

/**
 * Classifies and records every failure of an async method once (stacked with
 * `@throttled` in either order), emits `errorClassified`, runs the manager's error
 * handlers, detects bans (suspending the scope), and refuses calls at once while the
 * scope is suspended. Rethrows the original error unless a `fallback` is given.
 */
export function unifiedErrorHandling<Args extends unknown[] = any[]>(service: ServiceName, options: UnifiedErrorHandlingOptions<Args> = {}): AsyncMethodDecorator<Args> {
  checkName('service', service);
  const { fallback } = options;
  const target = targetOf(service, options);
  return methodDecorator(
    (decorated) => {
      // Over @throttled with the same target and no fallback, this layer would only repeat
      // what the throttled call path does: the method stays as @throttled made it.
      const inner = wrapperInfo(decorated.method);
      if (fallback === undefined && inner?.decorator === 'throttled' && sameTarget(inner, target)) return decorated.method;
      return markWrapper(unifiedMethod(target, fallback, decorated), { ...target, decorator: 'unifiedErrorHandling', original: decorated, hasFallback: fallback !== undefined });
    },
    (method) => describeTarget(method, 'unifiedErrorHandling', target),
    recorder,
  );
}

function unifiedMethod({ service, platform, endpoint, manager: managerOption }: DecoratorTarget, fallback: UnifiedErrorHandlingOptions['fallback'], original: MethodRef): AnyMethod {
  return async function unifiedMethod(this: unknown, ...args: unknown[]): Promise<unknown> {
    const core = coreOf(managerOf(managerOption));
    const sequence = nextSequence();
    let chosen: string | undefined;
    try {
      chosen = platformOf(platform, args);
      core.throwIfSuspended(service, chosen);
      return await original.current.apply(this, args);
    } catch (error) {
      const classification = core.handleMethodFailure(service, chosen, endpoint, error, sequence);
      if (fallback === undefined) throw error;
      return fallback(error, classification);
    }
  };
}
