import { ConfigError } from '../errors/errors.js';
import { ThrottleManager } from '../manager/throttle-manager.js';
import type { AnyMethod, DecoratedMethodInfo, MethodRef } from './method-decorator.js';

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

function describePlatform(option: DecoratorOptions['platform']): { platform?: string } {
  if (option === undefined) return {};
  return { platform: typeof option === 'function' ? 'dynamic' : option };
}

/** Where a decorator sends its calls: two decorators with equal targets serve the same scope and endpoint. */
export interface DecoratorTarget {
  readonly service: string;
  readonly platform: DecoratorOptions['platform'];
  readonly endpoint: string | undefined;
  readonly manager: DecoratorOptions['manager'];
}

export function targetOf(service: string, options: DecoratorOptions): DecoratorTarget {
  return { service, platform: options.platform, endpoint: options.endpoint, manager: options.manager };
}

/** The discovery record of a method decorated with `target` (see getDecoratedMethods). */
export function describeTarget(method: string | symbol, decorator: DecoratedMethodInfo['decorator'], target: DecoratorTarget): DecoratedMethodInfo {
  return { method, decorator, service: target.service, ...(target.endpoint === undefined ? {} : { endpoint: target.endpoint }), ...describePlatform(target.platform) };
}

/** What a floodgate decorator remembers on the method it returns, so that another one stacked on it can fold into it. */
export interface WrapperInfo extends DecoratorTarget {
  readonly decorator: 'throttled' | 'unifiedErrorHandling';
  /** The method it wraps (through its first-call check while that stands). */
  readonly original: MethodRef;
  readonly hasFallback: boolean;
}

const WRAPPER = Symbol('floodgate.wrapper');

export function markWrapper(method: AnyMethod, info: WrapperInfo): AnyMethod {
  Object.defineProperty(method, WRAPPER, { value: info });
  return method;
}

export function wrapperInfo(method: AnyMethod): WrapperInfo | undefined {
  return (method as { [WRAPPER]?: WrapperInfo })[WRAPPER];
}

export function sameTarget(a: DecoratorTarget, b: DecoratorTarget): boolean {
  return a.service === b.service && a.platform === b.platform && a.endpoint === b.endpoint && a.manager === b.manager;
}
