// Users of emitDecoratorMetadata load reflect-metadata globally, first; so does this file.
import 'reflect-metadata';
import ts from 'typescript';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as floodgate from 'floodgate';
import { ThrottleManager, getDecoratedMethods, isConfigError, throttled, unifiedErrorHandling, type ConfigError } from 'floodgate';
import { ROOMY, configErrorOf } from '../helpers.js';

/**
 * Under experimentalDecorators any method type-checks, and a plain (non-async) one would
 * silently start returning a Promise. floodgate refuses it: when decorated if TypeScript
 * declared its return type (design:returntype), else at its first call.
 */
const SVC = 'legacy_return';
let manager: ThrottleManager;
beforeEach(() => {
  manager = new ThrottleManager({ env: {} });
  manager.configure(SVC, { ...ROOMY, retryAttempts: 2, circuitBreakerThreshold: 1 });
});
afterEach(async () => {
  await manager.close();
});

type LegacyDecorator = (target: object, key: string, descriptor: PropertyDescriptor) => PropertyDescriptor | void;

/** What TypeScript's `__decorate` does under experimentalDecorators: the last decorator first. */
function decorate(decorators: LegacyDecorator[], prototype: object, key: string): void {
  let descriptor = Object.getOwnPropertyDescriptor(prototype, key)!;
  for (let i = decorators.length - 1; i >= 0; i--) descriptor = decorators[i]!(prototype, key, descriptor) || descriptor;
  Object.defineProperty(prototype, key, descriptor);
}

/** `Reflect.metadata('design:returntype', type)`, exactly as tsc emits it with emitDecoratorMetadata. */
const returns = (type: unknown): LegacyDecorator => Reflect.metadata('design:returntype', type) as unknown as LegacyDecorator;
const opts = { manager: () => manager };
const DECORATORS = {
  '@throttled': (): LegacyDecorator[] => [throttled(SVC, opts) as LegacyDecorator],
  '@unifiedErrorHandling': (): LegacyDecorator[] => [unifiedErrorHandling(SVC, opts) as LegacyDecorator],
  '@throttled @unifiedErrorHandling': (): LegacyDecorator[] => [throttled(SVC, opts) as LegacyDecorator, unifiedErrorHandling(SVC, opts) as LegacyDecorator],
  '@unifiedErrorHandling @throttled': (): LegacyDecorator[] => [unifiedErrorHandling(SVC, opts) as LegacyDecorator, throttled(SVC, opts) as LegacyDecorator],
};

describe.each(Object.entries(DECORATORS))('%s on a legacy-decorated method', (label, make) => {
  // The decorator nearest the method runs first, and refuses it.
  const inner = label.split(' ').at(-1)!;

  it.each([
    ['Number', Number],
    ['String', String],
    ['Boolean', Boolean],
    ['Array', Array],
    ['void', undefined],
    ['a class without then', class Result {}],
  ])('declared to return %s: refused when decorated, with a ConfigError naming class and method', (_what, type) => {
    class Client {
      calls = 0;
      count(): number {
        return ++this.calls;
      }
    }
    const error = configErrorOf(() => decorate([...make(), returns(type)], Client.prototype, 'count'));
    expect(error.field).toBe('Client.count');
    expect(error.message).toMatch(/^Invalid Client\.count: "returns \w+" \(@\w+ wraps methods that return a Promise/);
    expect(error.rule).toMatch(new RegExp(`^${inner} wraps methods`));
    // Nothing was recorded for discovery either.
    expect(getDecoratedMethods(Client)).toEqual([]);
  });

  it('declared to return a Promise: decorated and called as usual', async () => {
    class Client {
      async count(): Promise<number> {
        return 1;
      }
    }
    decorate([...make(), returns(Promise)], Client.prototype, 'count');
    await expect(new Client().count()).resolves.toBe(1);
    expect(getDecoratedMethods(Client).map((m) => m.method)).toContain('count');
  });

  it('no metadata, a plain method: its first call rejects with the ConfigError, later calls do not run it', async () => {
    class Client {
      calls = 0;
      count(): number {
        return ++this.calls;
      }
    }
    decorate(make(), Client.prototype, 'count');
    const client = new Client();
    const first = await (client.count() as unknown as Promise<number>).catch((e: unknown) => e);
    expect(isConfigError(first)).toBe(true);
    expect((first as ConfigError).message).toMatch(/^Invalid Client\.count: "returned number instead of a Promise"/);
    expect(client.calls).toBe(1);
    const second = await (client.count() as unknown as Promise<number>).catch((e: unknown) => e);
    expect(isConfigError(second) && second.value).toBe('returned no Promise');
    expect(client.calls).toBe(1);
    // floodgate's own error: not a provider failure, no retry (retryAttempts 2), circuit (threshold 1) still closed.
    expect(manager.getErrorStatistics().total).toBe(0);
    expect(manager.getStatusReport().scopes[SVC]?.circuit.state ?? 'closed').toBe('closed');
  });

  it('no metadata (or Object: a union), a method returning a Promise without async: works, every call', async () => {
    class Client {
      calls = 0;
      count(): Promise<number> {
        return Promise.resolve(++this.calls);
      }
    }
    decorate([...make(), returns(Object)], Client.prototype, 'count');
    const client = new Client();
    await expect(client.count()).resolves.toBe(1);
    await expect(client.count()).resolves.toBe(2);
  });
});

describe('compiled by TypeScript itself (experimentalDecorators + emitDecoratorMetadata)', () => {
  /** Compiles `source` with TypeScript's emitter and runs it, with 'floodgate' and the test's manager as its imports. */
  function compileAndRun(source: string, emitDecoratorMetadata: boolean): Record<string, unknown> {
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { experimentalDecorators: true, emitDecoratorMetadata, module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
    });
    const modules: Record<string, unknown> = { floodgate, 'reflect-metadata': {}, './manager': { manager } };
    const exports: Record<string, unknown> = {};
    new Function('require', 'exports', outputText)((name: string) => modules[name], exports);
    return exports;
  }
  const fixture = (method: string): string => `
    import 'reflect-metadata';
    import { throttled, unifiedErrorHandling } from 'floodgate';
    import { manager } from './manager';
    export class Client {
      @throttled('${SVC}', { manager })
      @unifiedErrorHandling('${SVC}', { manager, endpoint: 'x' })
      ${method}
    }`;

  it('a method declared `: number` is refused as the class is defined', () => {
    const error = configErrorOf(() => compileAndRun(fixture('count(): number { return 1; }'), true));
    expect(error.field).toBe('Client.count');
    expect(error.value).toBe('returns Number');
  });

  it('a method declared `: void` is refused as the class is defined', () => {
    expect(configErrorOf(() => compileAndRun(fixture('log(): void {}'), true)).value).toBe('returns void');
  });

  it('an async method declared `: Promise<number>` works', async () => {
    const { Client } = compileAndRun(fixture('async count(): Promise<number> { return 7; }'), true) as { Client: new () => { count(): Promise<number> } };
    await expect(new Client().count()).resolves.toBe(7);
  });

  it('without emitDecoratorMetadata, the plain method is refused at its first call', async () => {
    const { Client } = compileAndRun(fixture('count(): number { return 1; }'), false) as { Client: new () => { count(): unknown } };
    const error = await (new Client().count() as Promise<unknown>).catch((e: unknown) => e);
    expect(isConfigError(error) && error.field).toBe('Client.count');
  });
});
