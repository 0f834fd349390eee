import type { ServiceName } from '../config/types.js';
import { checkName } from '../manager/service-configs.js';
import { recorder } from './metadata.js';
import { methodDecorator, type AsyncMethodDecorator } from './method-decorator.js';
import { describePlatform, managerOf, platformOf, type DecoratorOptions } from './options.js';

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
  const { endpoint, platform } = options;
  return methodDecorator(
    (original) =>
      function throttledMethod(this: unknown, ...args: unknown[]): Promise<unknown> {
        const manager = managerOf(options.manager);
        if (typeof platform !== 'function') return manager.invokeMethod(service, platform, endpoint, original, this, args);
        let chosen: string | undefined;
        try {
          chosen = platformOf(platform, args);
        } catch (error) {
          return Promise.reject(error);
        }
        return manager.invokeMethod(service, chosen, endpoint, original, this, args);
      },
    (method) => ({ method, decorator: 'throttled', service, ...(endpoint === undefined ? {} : { endpoint }), ...describePlatform(platform) }),
    recorder,
  );
}
