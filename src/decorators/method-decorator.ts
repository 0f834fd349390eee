import { ConfigError } from '../errors/errors.js';
import { declaredReturnType } from './metadata.js';
import { wrapperInfo } from './options.js';

/**
 * One decorator function for both decorator modes: TypeScript's standard (TC39)
 * decorators call it as `(method, context)`, `experimentalDecorators` as
 * `(prototype, name, descriptor)`.
 */
/**
 * A decorator for async methods. `Accepted`: the arguments its option functions (`platform`,
 * `cost`, `model`, `cache.key`) take: a method whose arguments do not start with them is a type error.
 */
export interface AsyncMethodDecorator<Accepted extends unknown[] = any[]> {
  <This, Args extends [...Accepted, ...unknown[]], Return>(
    method: (this: This, ...args: Args) => Promise<Return>,
    context: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => Promise<Return>>,
  ): (this: This, ...args: Args) => Promise<Return>;
  <Method extends (...args: [...Accepted, ...any[]]) => Promise<unknown>>(target: object, propertyKey: string | symbol, descriptor: TypedPropertyDescriptor<Method>): TypedPropertyDescriptor<Method>;
}

/** What a decorator records about the method it wraps, for discovery. */
export interface DecoratedMethodInfo {
  readonly method: string | symbol;
  readonly decorator: 'throttled' | 'unifiedErrorHandling';
  readonly service: string;
  readonly endpoint?: string;
  /** The platform name, or `dynamic` when it is computed from the arguments. */
  readonly platform?: string;
}

export type AnyMethod = (this: unknown, ...args: unknown[]) => unknown;

/**
 * The method a decorator's replacement calls, read at each call. A legacy decorator's starts as
 * the first-call check (see `asyncOnly`) and becomes the method itself once a call returned a
 * Promise, so that proven calls go straight to the method.
 */
export interface MethodRef {
  /** What the replacement calls now. */
  current: AnyMethod;
  /** The method decorated: another floodgate decorator's replacement, or the user's method. */
  readonly method: AnyMethod;
}

/**
 * Builds a dual-mode decorator from `wrap(original, name)`, which returns the
 * replacement method, and `record(target, info)` for discovery metadata.
 */
export function methodDecorator(
  wrap: (original: MethodRef, name: string | symbol) => AnyMethod,
  describe: (name: string | symbol) => DecoratedMethodInfo,
  record: Recorder,
): AsyncMethodDecorator<any[]> {
  return function decorate(target: unknown, context: unknown, descriptor?: PropertyDescriptor): unknown {
    if (isTc39Context(context)) {
      if (context.kind !== 'method') throw new TypeError(`floodgate decorators apply to methods, not to a ${context.kind}`);
      record.tc39(context.metadata, describe(context.name));
      return wrap({ current: target as AnyMethod, method: target as AnyMethod }, context.name);
    }
    const name = context as string | symbol;
    if (descriptor === undefined || typeof descriptor.value !== 'function') {
      throw new TypeError(`floodgate decorators apply to methods; ${String(name)} is not a method`);
    }
    const info = describe(name);
    const original = asyncOnly(target as object, name, descriptor.value as AnyMethod, info.decorator);
    record.legacy(target as object, info);
    return { ...descriptor, value: wrap(original, name) };
  } as AsyncMethodDecorator;
}

/**
 * Legacy decorators type-check any method, and a plain one would silently start returning a
 * Promise. Refused when decorated if TypeScript declared another return type (reflect-metadata's
 * `design:returntype`), else at the first call that returns no thenable (the method ran once;
 * later calls are refused without running it). A ConfigError, floodgate's own: the failed call
 * is neither counted against the provider nor retried. TC39 decorators refuse it at compile time.
 */
function asyncOnly(target: object, name: string | symbol, method: AnyMethod, decorator: DecoratedMethodInfo['decorator']): MethodRef {
  const ref: MethodRef = { current: method, method };
  // Another floodgate decorator below already returns a Promise (and checked the method).
  if (wrapperInfo(method) !== undefined) return ref;
  const where = `${typeof target === 'function' ? target.name : (target.constructor as { name?: string } | undefined)?.name ?? 'anonymous class'}.${String(name)}`;
  const rule = `@${decorator} wraps methods that return a Promise: make the method async, or leave it undecorated`;
  const declared = declaredReturnType(target, name);
  if (declared === 'promise') return ref;
  if (declared !== undefined) throw new ConfigError(where, `returns ${declared}`, rule);
  let returnsPromise: boolean | undefined;
  ref.current = function checkedAtFirstCall(this: unknown, ...args: unknown[]): unknown {
    if (returnsPromise === false) throw new ConfigError(where, 'returned no Promise', rule);
    const result = method.apply(this, args);
    if (returnsPromise === undefined) {
      returnsPromise = isThenable(result);
      if (!returnsPromise) throw new ConfigError(where, `returned ${typeof result} instead of a Promise`, rule);
      // Proven async: later calls skip the check (a call in progress keeps its own reference).
      ref.current = method;
    }
    return result;
  };
  return ref;
}

function isThenable(value: unknown): boolean {
  if (value instanceof Promise) return true;
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
  try {
    return typeof (value as { then?: unknown }).then === 'function';
  } catch {
    return true; // unreadable: not ours to judge; the call path settles it like any result
  }
}

export interface Recorder {
  tc39(metadata: DecoratorMetadataObject | undefined, info: DecoratedMethodInfo): void;
  legacy(prototype: object, info: DecoratedMethodInfo): void;
}

function isTc39Context(value: unknown): value is ClassMethodDecoratorContext {
  return typeof value === 'object' && value !== null && 'kind' in value;
}
