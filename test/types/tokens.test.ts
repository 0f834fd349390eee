// Type tests (compiled by `npm run typecheck` under both decorator modes): the option functions of
// the decorators are checked against the decorated method's arguments.
import { describe, expect, expectTypeOf, it } from 'vitest';
import { ThrottleManager, throttled, unifiedErrorHandling, type CallContext, type CostSummary, type ScopeCosts } from 'floodgate';

const manager = new ThrottleManager({ env: {} });
manager.configure('typed', { requestsPerSecond: Infinity, burst: 100, requestsPerMinute: Infinity, tokensPerMinute: 100_000 });

class Client {
  @throttled('typed', { manager, cost: (prompt: string, maxTokens: number) => ({ input: prompt.length, output: maxTokens }), model: () => 'gpt-4o' })
  async complete(prompt: string, maxTokens: number): Promise<string> {
    return prompt.slice(0, maxTokens);
  }

  // A function may read fewer arguments than the method takes.
  @throttled('typed', { manager, platform: (tenant: string) => tenant, cost: 10 })
  async forTenant(tenant: string, _extra: boolean): Promise<string> {
    return tenant;
  }

  // @ts-expect-error: the cost function reads a number where the method takes a string
  @throttled('typed', { manager, cost: (n: number) => n })
  async wrongCost(text: string): Promise<string> {
    return text;
  }

  // @ts-expect-error: the platform function reads a number where the method takes a string
  @unifiedErrorHandling('typed', { manager, platform: (n: number) => String(n) })
  async wrongPlatform(text: string): Promise<string> {
    return text;
  }

  // @ts-expect-error: the cache key function reads a number where the method takes a string
  @throttled('typed', { manager, cache: { ttlMs: 1_000, max: 1, key: (a: number) => String(a) } })
  async wrongKey(a: string): Promise<string> {
    return a;
  }
}

describe('token and spend types', () => {
  it('execute hands fn the call context; the summary is typed', async () => {
    const result = manager.execute('typed', (_signal, call) => {
      expectTypeOf(call).toEqualTypeOf<CallContext>();
      call.reportUsage({ input: 1, output: 2 });
      call.reportUsage(3);
      // @ts-expect-error: usage is a number or { input, output }
      expect(() => call.reportUsage('lots')).toThrow(/reportUsage/);
      return 1;
    }, { cost: { input: 5, output: 5 }, model: 'gpt-4o', cacheKey: 'k' });
    expectTypeOf(result).toEqualTypeOf<Promise<number>>();
    expect(await result).toBe(1);
    expectTypeOf(manager.getCostSummary()).toEqualTypeOf<CostSummary>();
    expectTypeOf(manager.getCostSummary().scopes['typed']!).toEqualTypeOf<ScopeCosts>();
    const client = new Client();
    expect(await client.complete('hello', 2)).toBe('he');
    expect(await client.forTenant('acme', true)).toBe('acme');
    expectTypeOf(client.complete).parameters.toEqualTypeOf<[string, number]>();
  });
});
