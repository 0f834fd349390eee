import { defineMetadata, getMetadata, getOwnMetadata, hasOwnMetadata } from 'reflect-metadata/no-conflict';
import type { DecoratedMethodInfo, Recorder } from './method-decorator.js';

// TypeScript only fills `context.metadata` when Symbol.metadata exists (Node 20 lacks it).
// The registered symbol is the one TypeScript's and esbuild's helpers fall back to.
(Symbol as { metadata?: symbol }).metadata ??= Symbol.for('Symbol.metadata');

const KEY = Symbol.for('floodgate.decorated-methods');

/** Records through `context.metadata` (TC39) or reflect-metadata on the class (legacy). */
export const recorder: Recorder = {
  tc39(metadata, info) {
    if (metadata === undefined) return;
    const bag = metadata as Record<symbol, DecoratedMethodInfo[] | undefined>;
    // A subclass's metadata object inherits from its parent's: copy before adding.
    const own = Object.prototype.hasOwnProperty.call(bag, KEY) ? bag[KEY]! : [...(bag[KEY] ?? [])];
    own.push(info);
    bag[KEY] = own;
  },
  legacy(prototype, info) {
    const target = (prototype as { constructor: object }).constructor;
    const inherited = (getMetadata(KEY, target) as DecoratedMethodInfo[] | undefined) ?? [];
    defineMetadata(KEY, [...inherited, info], target);
  },
};

/**
 * Lists the methods of a class (or of an instance's class) decorated by floodgate,
 * including inherited ones, under either decorator mode.
 */
export function getDecoratedMethods(classOrInstance: object): readonly DecoratedMethodInfo[] {
  const target: object = typeof classOrInstance === 'function' ? classOrInstance : classOrInstance.constructor;
  const metadata = (target as { [Symbol.metadata]?: Record<symbol, DecoratedMethodInfo[] | undefined> | null })[Symbol.metadata];
  const tc39 = metadata?.[KEY] ?? [];
  const legacy = (getMetadata(KEY, target) as DecoratedMethodInfo[] | undefined) ?? [];
  return [...tc39, ...legacy];
}

/**
 * What TypeScript declared a legacy-decorated method to return, read from the `design:returntype`
 * metadata it emits under `emitDecoratorMetadata` (when the program loads reflect-metadata):
 * `'promise'` for Promise (or a class whose instances have `then`), the type's name for anything
 * else, `undefined` when unknown (no metadata, or `Object`: a union, an interface, `any`).
 */
export function declaredReturnType(prototype: object, method: string | symbol): 'promise' | string | undefined {
  if (!hasOwnMetadata('design:returntype', prototype, method)) return undefined;
  const declared: unknown = getOwnMetadata('design:returntype', prototype, method);
  if (declared === Object) return undefined;
  if (typeof declared !== 'function') return 'void';
  return typeof (declared.prototype as { then?: unknown } | undefined)?.then === 'function' ? 'promise' : declared.name;
}
