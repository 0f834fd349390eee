import { describe, it, expect } from 'vitest';
import { ErrorClassifier, ErrorHistory, summarizeError } from '../../src/classify/index.js';
import { ConfigError } from '../../src/errors/errors.js';
import { axiosError, fetchFailed } from './fixtures.js';

const classifier = new ErrorClassifier();
const SECRET = ['sk', 'proj', 'Abc123Def456Ghi789Jkl012Mno345'].join('-');

function recordOne(history: ErrorHistory, error: unknown, scope = 'llm_api', time?: number): void {
  const service = scope.split(':')[0] ?? scope;
  history.record({ scope, service, endpoint: 'chat', classification: classifier.classify(error, service), error, ...(time === undefined ? {} : { time }) });
}

describe('ErrorHistory', () => {
  it('records entries with the classification and a redacted summary', () => {
    const history = new ErrorHistory();
    const error = axiosError(429, 'slow down');
    const entry = history.record({ scope: 'llm_api', service: 'llm_api', endpoint: 'chat', classification: classifier.classify(error), error, time: 1234 });
    expect(entry).toEqual({
      time: 1234,
      scope: 'llm_api',
      service: 'llm_api',
      endpoint: 'chat',
      category: 'rate_limit',
      severity: 'medium',
      pattern: 'http-429',
      statusCode: 429,
      retryable: true,
      isBan: false,
      error: { name: 'AxiosError', message: expect.stringContaining('status code 429'), code: 'ERR_BAD_REQUEST' },
    });
    expect(Object.isFrozen(entry)).toBe(true);
  });

  it('keeps no secret, whether given the raw error or a summary', () => {
    const history = new ErrorHistory();
    const error = new Error(`Incorrect API key provided: ${SECRET}`);
    recordOne(history, error);
    history.record({ scope: 'llm_api', service: 'llm_api', classification: classifier.classify(error), error: summarizeError(error) });
    // An endpoint given as a URL is redacted too.
    history.record({ scope: 'llm_api', service: 'llm_api', endpoint: `https://api.example.com/v1?api_key=${SECRET}`, classification: classifier.classify(error), error });
    const json = JSON.stringify(history.getStatistics());
    expect(json).not.toContain(SECRET);
    expect(json).toContain('Incorrect API key provided: [REDACTED]');
  });

  it('counts by category, severity, service, scope and pattern since start, beyond the ring', () => {
    const history = new ErrorHistory({ capacity: 2 });
    recordOne(history, axiosError(429, 'x'), 'llm_api');
    recordOne(history, axiosError(403, 'Forbidden'), 'social_media:reddit');
    recordOne(history, fetchFailed('ECONNRESET'), 'social_media:twitter');
    const stats = history.getStatistics();
    expect(stats.total).toBe(3);
    expect(stats.bans).toBe(1);
    expect(stats.byCategory).toEqual({ rate_limit: 1, ban: 1, network: 1 });
    expect(stats.bySeverity).toEqual({ medium: 2, critical: 1 });
    expect(stats.byService).toEqual({ llm_api: 1, social_media: 2 });
    expect(stats.byScope).toEqual({ llm_api: 1, 'social_media:reddit': 1, 'social_media:twitter': 1 });
    expect(stats.byPattern).toEqual({ 'http-429': 1, 'social-ban-signal': 1, 'network-code': 1 });
    expect(stats.recent.map((e) => e.scope)).toEqual(['social_media:twitter', 'social_media:reddit']);
  });

  it('is bounded: the ring keeps the newest `capacity` entries, newest first', () => {
    const history = new ErrorHistory({ capacity: 5 });
    for (let i = 0; i < 12; i++) recordOne(history, new Error(`e${i}`), 'llm_api', i);
    expect(history.length).toBe(5);
    expect(history.getRecent().map((e) => e.time)).toEqual([11, 10, 9, 8, 7]);
    expect(history.getStatistics({ limit: 2 }).recent.map((e) => e.time)).toEqual([11, 10]);
    expect(history.getStatistics().total).toBe(12);
  });

  it('defaults to 1,000 entries and 100 recent in statistics', () => {
    const history = new ErrorHistory();
    expect(history.capacity).toBe(1000);
    for (let i = 0; i < 1_050; i++) recordOne(history, new Error('x'), 'llm_api', i);
    expect(history.length).toBe(1000);
    expect(history.getStatistics().recent).toHaveLength(100);
  });

  it('reads every kept entry, page by page or at once (limit, offset), newest first', () => {
    const history = new ErrorHistory({ capacity: 1_000 });
    for (let i = 0; i < 1_050; i++) recordOne(history, new Error('x'), 'llm_api', i);
    const all = history.getStatistics({ limit: Infinity });
    expect(all.kept).toBe(1_000);
    expect(all.recent).toHaveLength(1_000);
    expect(all.recent[0]!.time).toBe(1_049);
    expect(all.recent[999]!.time).toBe(50);
    const pages: number[] = [];
    for (let offset = 0; offset < all.kept; offset += 300) pages.push(...history.getStatistics({ limit: 300, offset }).recent.map((e) => e.time));
    expect(pages).toEqual(all.recent.map((e) => e.time));
    expect(history.getStatistics({ offset: 990 }).recent.map((e) => e.time)).toEqual([59, 58, 57, 56, 55, 54, 53, 52, 51, 50]);
    expect(history.getStatistics({ offset: 5_000 }).recent).toEqual([]);
    expect(history.getStatistics({ limit: 0 }).recent).toEqual([]);
  });

  it.each([
    ['limit', -1],
    ['limit', 1.5],
    ['limit', NaN],
    ['offset', Infinity],
    ['offset', -3],
    ['offset', '10'],
  ] as const)('refuses %s: %s with a ConfigError', (field, value) => {
    const history = new ErrorHistory();
    expect(() => history.getStatistics({ [field]: value } as never)).toThrow(ConfigError);
    expect(() => history.getStatistics({ [field]: value } as never)).toThrow(`getErrorStatistics.${field}`);
  });

  it('returns plain JSON: no Maps, no undefined holes, survives a JSON round trip', () => {
    const history = new ErrorHistory();
    history.record({ scope: 'x', service: 'x', classification: classifier.classify('boom'), error: 'boom' });
    const stats = history.getStatistics();
    expect(JSON.parse(JSON.stringify(stats))).toEqual(stats);
    expect(stats.recent[0]).not.toHaveProperty('endpoint');
    expect(stats.recent[0]).not.toHaveProperty('statusCode');
    expect(stats.recent[0]?.error).not.toHaveProperty('code');
  });

  it('keeps a `__proto__` scope name as data', () => {
    const history = new ErrorHistory();
    history.record({ scope: '__proto__', service: '__proto__', classification: classifier.classify('x'), error: 'x' });
    const stats = history.getStatistics();
    expect(Object.getOwnPropertyDescriptor(stats.byScope, '__proto__')?.value).toBe(1);
    expect(Object.getPrototypeOf(stats.byScope)).toBe(Object.prototype);
  });

  it('clear() resets entries and counts', () => {
    const history = new ErrorHistory();
    recordOne(history, new Error('x'));
    history.clear();
    expect(history.getStatistics()).toMatchObject({ total: 0, bans: 0, byCategory: {}, recent: [] });
    recordOne(history, new Error('y'));
    expect(history.getRecent()).toHaveLength(1);
  });

  it.each([0, -1, 1.5, Number.NaN, Infinity, '10', 2_000_000])('rejects capacity %s with a ConfigError', (capacity) => {
    expect(() => new ErrorHistory({ capacity: capacity as number })).toThrow(ConfigError);
  });
});
