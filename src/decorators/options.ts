import { ConfigError } from '../errors/errors.js';
import { ThrottleManager } from '../manager/throttle-manager.js';

/** Options shared by both decorators. */
export interface DecoratorOptions<Args extends unknown[] = any[]> {
  /** A platform name, or a function of the call's arguments that returns one: the scope becomes `service:platform`. */
  readonly platform?: string | ((...args: Args) => string);
  /** A label for statistics within the scope. */
  readonly endpoint?: string;
  /**
   * The manager to use, or a function returning it (looked up at each call).
   * @default the process-wide `throttleManager`
   */
  readonly manager?: ThrottleManager | (() => ThrottleManager);
}

export function managerOf(option: DecoratorOptions['manager']): ThrottleManager {
  if (option === undefined) return ThrottleManager.getInstance();
  return typeof option === 'function' ? option() : option;
}

export function platformOf(option: DecoratorOptions['platform'], args: unknown[]): string | undefined {
  if (typeof option !== 'function') return option;
  const platform = option(...args);
  if (typeof platform !== 'string' || platform === '') throw new ConfigError('platform', platform, 'the platform function must return a non-empty string');
  return platform;
}

export function describePlatform(option: DecoratorOptions['platform']): { platform?: string } {
  if (option === undefined) return {};
  return { platform: typeof option === 'function' ? 'dynamic' : option };
}
