// Type tests: `npm run typecheck` compiles this file under both decorator modes, so a
// signature that breaks one mode fails there; the runtime assertions keep it honest.
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  ServiceType,
  ThrottleManager,
  throttled,
  unifiedErrorHandling,
  type ErrorClassification,
  type RedisStoreOptions,
  type RetryEvent,
  type StatusReport,
  type ThrottleConfig,
} from 'floodgate';

const manager = new ThrottleManager({ env: {} });

class Client {
  prefix = 'hello ';

  @throttled(ServiceType.INTERNAL_API, { manager, endpoint: 'greet' })
  @unifiedErrorHandling(ServiceType.INTERNAL_API, { manager })
  async greet(name: string, times: number): Promise<string> {
    return this.prefix.repeat(times) + name;
  }

  @throttled('custom_service', { manager, platform: (tenant: string) => tenant })
  async forTenant(tenant: string): Promise<{ tenant: string }> {
    return { tenant };
  }
}

describe('public types', () => {
  it('decorated methods keep their parameters and return type', async () => {
    const client = new Client();
    expectTypeOf(client.greet).parameters.toEqualTypeOf<[string, number]>();
    expectTypeOf(client.greet).returns.toEqualTypeOf<Promise<string>>();
    expectTypeOf(client.forTenant).returns.resolves.toEqualTypeOf<{ tenant: string }>();
    expect(await client.greet('you', 2)).toBe('hello hello you');
    expect(await client.forTenant('acme')).toEqual({ tenant: 'acme' });
  });

  it('execute infers the result type and hands the function the signal', async () => {
    const result = manager.execute(ServiceType.LLM_API, async (signal) => {
      expectTypeOf(signal).toEqualTypeOf<AbortSignal | undefined>();
      return 7;
    });
    expectTypeOf(result).toEqualTypeOf<Promise<number>>();
    expect(await result).toBe(7);
  });

  it('configuration, events and reports are typed', () => {
    expectTypeOf(manager.getConfig(ServiceType.LLM_API)).toEqualTypeOf<ThrottleConfig>();
    expectTypeOf(manager.classifyError(new Error('x'))).toEqualTypeOf<ErrorClassification>();
    expectTypeOf(manager.getStatusReport()).toEqualTypeOf<StatusReport>();
    manager.on('retry', (event) => expectTypeOf(event).toEqualTypeOf<RetryEvent>());
    // @ts-expect-error: unknown configuration keys are rejected at compile time too
    expect(() => manager.configure(ServiceType.LLM_API, { requestsPerHour: 5 })).toThrow(/requestsPerHour/);
    // @ts-expect-error: configuration values are numbers
    expect(() => manager.configure(ServiceType.LLM_API, { burst: '5' })).toThrow(/burst/);
  });

  it('RedisStore options are one flat readonly type', () => {
    expectTypeOf<RedisStoreOptions['maxCredits']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<RedisStoreOptions['creditMs']>().toEqualTypeOf<number | undefined>();
    const tryToChange = (options: RedisStoreOptions): void => {
      // @ts-expect-error: options are readonly
      options.maxCredits = 4;
    };
    expectTypeOf(tryToChange).parameter(0).toEqualTypeOf<RedisStoreOptions>();
    // Test hooks are not options: the strict window is 60 s for users.
    expectTypeOf<RedisStoreOptions>().not.toHaveProperty('windowMs');
  });
});
