// Type tests: `npm run typecheck` compiles this file under both decorator modes, so a
// signature that breaks one mode fails there; the runtime assertions keep it honest.
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  ServiceType,
  ThrottleManager,
  isCircuitOpenError,
  retryAfterOf,
  SamplingBreaker,
  throttled,
  unifiedErrorHandling,
  type ErrorClassification,
  type ErrorStatistics,
  type ErrorStatisticsOptions,
  getClassification,
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

  it('breaker takes cockatiel breakers or the declarative form, checked at compile time', () => {
    const typed = new ThrottleManager({ env: {} });
    typed.configure('typed_breaker', { breaker: new SamplingBreaker({ threshold: 0.2, duration: 30_000, minimumRps: 5 }) });
    typed.configure('typed_breaker', { breaker: { kind: 'count', threshold: 0.5, size: 20 } });
    // @ts-expect-error: a sampling breaker needs its window
    expect(() => typed.configure('typed_breaker', { breaker: { kind: 'sampling', threshold: 0.2 } })).toThrow(/durationMs/);
    expectTypeOf<ThrottleConfig['maxRetryAfterMs']>().toEqualTypeOf<number>();
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

  it('the manager shows users only what they call: no internal member, in the types or at run time', () => {
    const members = Object.getOwnPropertyNames(ThrottleManager.prototype).filter((name) => name !== 'constructor').sort();
    expect(members).toEqual(
      ['applyPolicy', 'classifyError', 'close', 'configure', 'configureGuard', 'execute', 'exportPolicy', 'getConfig', 'getCostSummary', 'getErrorStatistics', 'getStatusReport', 'onError', 'policyHash', 'registerErrorPattern', 'reset', 'resume', 'setPrices', 'suspend', 'useLedger', 'useStore'].sort(),
    );
    const own = Object.keys(new ThrottleManager({ env: {} })).filter((key) => !key.startsWith('_'));
    expect(own).toEqual([]);
    // @ts-expect-error: the decorators' entry is not part of the public type
    expect(manager.invokeMethod).toBeUndefined();
  });

  it('retryAfterOf(error) answers "when may I try again?" for any refusal', async () => {
    const refusing = new ThrottleManager({ env: {} });
    refusing.configure('retry_after_svc', { circuitBreakerThreshold: 1, circuitBreakerResetMs: 30_000, retryAttempts: 0 });
    await refusing.execute('retry_after_svc', () => Promise.reject(Object.assign(new Error('down'), { status: 503 }))).catch(() => undefined);
    const refusal = await refusing.execute('retry_after_svc', () => 'never').catch((error: unknown) => error);
    expect(isCircuitOpenError(refusal)).toBe(true);
    expectTypeOf(retryAfterOf).returns.toEqualTypeOf<number | undefined>();
    expect(retryAfterOf(refusal)).toBeGreaterThan(29_000);
    expect(retryAfterOf(refusal)).toBeLessThanOrEqual(30_000);
    expect(retryAfterOf(new Error('provider'))).toBeUndefined();
    await refusing.close();
  });

  it('getErrorStatistics takes { limit, offset } and reports how many entries are kept', () => {
    expectTypeOf(manager.getErrorStatistics).parameter(0).toEqualTypeOf<ErrorStatisticsOptions | undefined>();
    expectTypeOf<ErrorStatisticsOptions>().toEqualTypeOf<{ readonly limit?: number; readonly offset?: number }>();
    expectTypeOf<ErrorStatistics['kept']>().toEqualTypeOf<number>();
    expectTypeOf(getClassification).returns.toEqualTypeOf<ErrorClassification | undefined>();
    expect(manager.getErrorStatistics({ limit: Infinity, offset: 0 }).kept).toBe(0);
  });
});
