// Type tests for the outbound API: `npm run typecheck` compiles this file in both decorator modes.
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  createFetch,
  isDegradedError,
  parseRateLimitHeaders,
  ThrottleManager,
  type CreateFetchOptions,
  type DegradedError,
  type FloodgateEvents,
  type GuardStatus,
  type RateLimitHeaders,
  type StatusReport,
} from 'floodgate';

describe('outbound types', () => {
  it("createFetch returns exactly the global fetch's type, so it drops in wherever fetch is expected", () => {
    const manager = new ThrottleManager({ env: {} });
    const f = createFetch({ provider: 'github', manager });
    expectTypeOf(f).toEqualTypeOf<typeof globalThis.fetch>();
    expectTypeOf<CreateFetchOptions['provider']>().toEqualTypeOf<string>();
    // @ts-expect-error: provider is required
    expect(() => createFetch({ manager })).toThrow(/provider/);
    expect(typeof f).toBe('function');
  });

  it('the guard, its events and its error are typed', () => {
    expectTypeOf<StatusReport['guard']>().toEqualTypeOf<GuardStatus>();
    expectTypeOf<GuardStatus['state']>().toEqualTypeOf<'ok' | 'degraded'>();
    expectTypeOf<FloodgateEvents['degraded'][0]['reason']>().toEqualTypeOf<DegradedError['reason']>();
    expectTypeOf<FloodgateEvents['recovered'][0]['at']>().toEqualTypeOf<number>();
    const e: unknown = undefined;
    if (isDegradedError(e)) expectTypeOf(e.until).toEqualTypeOf<number>();
    expectTypeOf(parseRateLimitHeaders).returns.toEqualTypeOf<RateLimitHeaders | null>();
    expect(isDegradedError(new Error('x'))).toBe(false);
  });
});
