import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseRateLimitHeaders, type RateLimitHeaders } from 'floodgate';

const NOW = Date.parse('2026-12-03T10:00:00Z');

/**
 * Real header samples, as each provider sends them (values from their documentation and
 * captured responses), and what floodgate reads from them.
 */
const SAMPLES: readonly { name: string; headers: Record<string, string>; expected: RateLimitHeaders | null }[] = [
  {
    name: 'OpenAI, budget left',
    headers: {
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-limit-tokens': '150000',
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-remaining-tokens': '149984',
      'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-reset-tokens': '6m0s',
    },
    expected: {
      dialect: 'openai',
      requests: { limit: 60, remaining: 59, resetMs: 1_000 },
      tokens: { limit: 150_000, remaining: 149_984, resetMs: 360_000 },
    },
  },
  {
    name: 'OpenAI, requests exhausted (pause until the request reset)',
    headers: {
      'x-ratelimit-limit-requests': '500',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '20ms',
      'x-ratelimit-limit-tokens': '30000',
      'x-ratelimit-remaining-tokens': '29000',
      'x-ratelimit-reset-tokens': '1m30.5s',
    },
    expected: {
      dialect: 'openai',
      requests: { limit: 500, remaining: 0, resetMs: 20 },
      tokens: { limit: 30_000, remaining: 29_000, resetMs: 90_500 },
      pauseMs: 20,
    },
  },
  {
    name: 'OpenAI, tokens exhausted (pause until the token reset)',
    headers: { 'x-ratelimit-remaining-requests': '10', 'x-ratelimit-reset-requests': '2s', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s' },
    expected: { dialect: 'openai', requests: { remaining: 10, resetMs: 2_000 }, tokens: { remaining: 0, resetMs: 360_000 }, pauseMs: 360_000 },
  },
  {
    name: 'Anthropic, with input and output token windows',
    headers: {
      'anthropic-ratelimit-requests-limit': '50',
      'anthropic-ratelimit-requests-remaining': '49',
      'anthropic-ratelimit-requests-reset': '2026-12-03T10:00:01Z',
      'anthropic-ratelimit-tokens-limit': '90000',
      'anthropic-ratelimit-tokens-remaining': '89000',
      'anthropic-ratelimit-tokens-reset': '2026-12-03T10:00:30Z',
      'anthropic-ratelimit-input-tokens-limit': '40000',
      'anthropic-ratelimit-input-tokens-remaining': '39500',
      'anthropic-ratelimit-input-tokens-reset': '2026-12-03T10:00:02.500Z',
      'anthropic-ratelimit-output-tokens-limit': '8000',
      'anthropic-ratelimit-output-tokens-remaining': '0',
      'anthropic-ratelimit-output-tokens-reset': '2026-12-03T10:00:12Z',
    },
    expected: {
      dialect: 'anthropic',
      requests: { limit: 50, remaining: 49, resetMs: 1_000 },
      tokens: { limit: 90_000, remaining: 89_000, resetMs: 30_000 },
      inputTokens: { limit: 40_000, remaining: 39_500, resetMs: 2_500 },
      outputTokens: { limit: 8_000, remaining: 0, resetMs: 12_000 },
      pauseMs: 12_000,
    },
  },
  {
    name: 'GitHub REST, core resource exhausted (epoch-seconds reset)',
    headers: { 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '0', 'x-ratelimit-used': '5000', 'x-ratelimit-reset': String(NOW / 1000 + 1_800), 'x-ratelimit-resource': 'core' },
    expected: { dialect: 'github', requests: { limit: 5_000, remaining: 0, resetMs: 1_800_000 }, pauseMs: 1_800_000 },
  },
  {
    name: 'GitHub REST, budget left',
    headers: { 'x-ratelimit-limit': '60', 'x-ratelimit-remaining': '59', 'x-ratelimit-reset': String(NOW / 1000 + 3_600) },
    expected: { dialect: 'github', requests: { limit: 60, remaining: 59, resetMs: 3_600_000 } },
  },
  {
    name: 'IETF draft 8 (structured lists), two policies, the daily one exhausted',
    headers: { ratelimit: '"burst";r=40;t=1, "daily";r=0;t=3600', 'ratelimit-policy': '"burst";q=100;w=60, "daily";q=1000;w=86400' },
    expected: { dialect: 'ietf', requests: { limit: 1_000, remaining: 0, resetMs: 3_600_000 }, pauseMs: 3_600_000 },
  },
  {
    name: 'IETF draft 8, budget left, no policy header',
    headers: { ratelimit: '"default";r=50;t=30' },
    expected: { dialect: 'ietf', requests: { remaining: 50, resetMs: 30_000 } },
  },
  {
    name: 'IETF draft 7 (one dictionary)',
    headers: { ratelimit: 'limit=100, remaining=0, reset=50', 'ratelimit-policy': '100;w=60' },
    expected: { dialect: 'ietf', requests: { limit: 100, remaining: 0, resetMs: 50_000 }, pauseMs: 50_000 },
  },
  {
    name: 'IETF draft 6 trio (express-rate-limit draft-6)',
    headers: { 'ratelimit-limit': '10', 'ratelimit-remaining': '3', 'ratelimit-reset': '42' },
    expected: { dialect: 'ietf', requests: { limit: 10, remaining: 3, resetMs: 42_000 } },
  },
  { name: 'no rate-limit headers', headers: { 'content-type': 'application/json' }, expected: null },
  { name: 'malformed draft 8 is ignored', headers: { ratelimit: '"default";r=;t=' }, expected: null },
  { name: 'garbage numbers are left out', headers: { 'x-ratelimit-remaining-requests': 'lots', 'x-ratelimit-limit-requests': '-5' }, expected: null },
];

describe('parseRateLimitHeaders', () => {
  it.each(SAMPLES)('$name', ({ headers, expected }) => {
    expect(parseRateLimitHeaders(new Headers(headers), NOW)).toEqual(expected);
  });

  it('never throws on a foreign headers object whose get() throws', () => {
    const hostile = {
      get(): string {
        throw new Error('boom');
      },
    };
    expect(parseRateLimitHeaders(hostile, NOW)).toBeNull();
  });

  describe('without `now`', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('measures times (GitHub epoch seconds, Anthropic RFC 3339) from the clock, as with `now` given', () => {
      vi.useFakeTimers({ now: NOW });
      for (const sample of SAMPLES) expect([sample.name, parseRateLimitHeaders(new Headers(sample.headers))]).toEqual([sample.name, sample.expected]);
    });
  });
});

describe('parseRateLimitHeaders with several dialects', () => {
  it('still reads the provider dialect when an IETF field is malformed', () => {
    const headers = new Headers({ ratelimit: 'limit=, remaining=', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '3s' });
    expect(parseRateLimitHeaders(headers, NOW)).toEqual({ dialect: 'openai', requests: { remaining: 0, resetMs: 3_000 }, pauseMs: 3_000 });
  });
});
