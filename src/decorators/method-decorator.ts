/**
 * One decorator function for both decorator modes: TypeScript's standard (TC39)
 * decorators call it as `(method, context)`, `experimentalDecorators` as
 * `(prototype, name, descriptor)`.
 */
export interface AsyncMethodDecorator {
  <This, Args extends unknown[], Return>(
    method: (this: This, ...args: Args) => Promise<Return>,
    context: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => Promise<Return>>,
  ): (this: This, ...args: Args) => Promise<Return>;
  (target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor): PropertyDescriptor;
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
 * Builds a dual-mode decorator from `wrap(original, name)`, which returns the
 * replacement method, and `record(target, info)` for discovery metadata.
 */
export function methodDecorator(
  wrap: (original: AnyMethod, name: string | symbol) => AnyMethod,
  describe: (name: string | symbol) => DecoratedMethodInfo,
  record: Recorder,
): AsyncMethodDecorator {
  return function decorate(target: unknown, context: unknown, descriptor?: PropertyDescriptor): unknown {
    if (isTc39Context(context)) {
      if (context.kind !== 'method') throw new TypeError(`floodgate decorators apply to methods, not to a ${context.kind}`);
      record.tc39(context.metadata, describe(context.name));
      return wrap(target as AnyMethod, context.name);
    }
    const name = context as string | symbol;
    if (descriptor === undefined || typeof descriptor.value !== 'function') {
      throw new TypeError(`floodgate decorators apply to methods; ${String(name)} is not a method`);
    }
    record.legacy(target as object, describe(name));
    return { ...descriptor, value: wrap(descriptor.value as AnyMethod, name) };
  } as AsyncMethodDecorator;
}

export interface Recorder {
  tc39(metadata: DecoratorMetadataObject | undefined, info: DecoratedMethodInfo): void;
  legacy(prototype: object, info: DecoratedMethodInfo): void;
}

function isTc39Context(value: unknown): value is ClassMethodDecoratorContext {
  return typeof value === 'object' && value !== null && 'kind' in value;
}
