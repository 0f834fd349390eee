import { describe, it, expect } from 'vitest';
import { ErrorCategory as C, ErrorClassifier, ErrorSeverity as S, summarizeError } from '../../src/classify/index.js';
import { extractFacts } from '../../src/classify/extract.js';

const classifier = new ErrorClassifier();

function hostileValues(): [string, unknown][] {
  const circular: Record<string, unknown> = { message: 'loop', status: 502 };
  circular.self = circular;
  circular.cause = circular;
  circular.response = { status: 502, headers: circular, data: circular };

  const causeCycle = new Error('outer');
  const inner = new Error('inner', { cause: causeCycle });
  Object.defineProperty(causeCycle, 'cause', { value: inner });

  const throwingGetters = Object.create(null, {
    message: { get: () => { throw new Error('boom'); } },
    status: { get: () => { throw new Error('boom'); } },
    code: { get: () => { throw new Error('boom'); } },
    response: { get: () => { throw new Error('boom'); } },
    headers: { get: () => { throw new Error('boom'); } },
    constructor: { get: () => { throw new Error('boom'); } },
    name: { get: () => { throw new Error('boom'); } },
  }) as object;

  const trapEverything = new Proxy({}, {
    get: () => { throw new Error('trap'); },
    has: () => { throw new Error('trap'); },
    ownKeys: () => { throw new Error('trap'); },
    getPrototypeOf: () => { throw new Error('trap'); },
    getOwnPropertyDescriptor: () => { throw new Error('trap'); },
  });
  const { proxy: revoked, revoke } = Proxy.revocable({}, {});
  revoke();

  const hostileHeaders = {
    status: 429,
    headers: { get: () => { throw new Error('nope'); } },
    response: { headers: new Proxy({}, { ownKeys: () => { throw new Error('nope'); } }) },
  };

  return [
    ['circular object', circular],
    ['cause cycle', causeCycle],
    ['throwing getters', throwingGetters],
    ['Proxy that throws on every trap', trapEverything],
    ['revoked Proxy', revoked],
    ['hostile headers', hostileHeaders],
    ['symbol', Symbol('x')],
    ['bigint', 10n],
    ['function', () => 1],
    ['array', [1, 2, 3]],
    ['object with non-string fields', { message: 42, code: {}, name: [], status: '429x', headers: 'x' }],
  ];
}

describe('classify never throws', () => {
  it.each(hostileValues())('%s', (_what, value) => {
    const result = classifier.classify(value, 'social_media');
    expect(Object.values(C)).toContain(result.category);
    expect(typeof result.pattern).toBe('string');
    expect(() => summarizeError(value)).not.toThrow();
    expect(typeof summarizeError(value).message).toBe('string');
  });

  it('still classifies a circular error by what it could read', () => {
    const [, circular] = hostileValues()[0]!;
    expect(classifier.classify(circular)).toMatchObject({ category: C.SERVER, statusCode: 502 });
  });

  it('walks a bounded number of causes', () => {
    let error: Error = Object.assign(new Error('deep'), { code: 'ECONNRESET' });
    for (let i = 0; i < 50; i++) error = new Error(`wrap ${i}`, { cause: error });
    // The network code sits 50 levels down: far past the walk, so it is not seen (and nothing hangs).
    expect(classifier.classify(error).category).toBe(C.UNKNOWN);
    const shallow = new Error('wrap', { cause: new Error('wrap', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) }) });
    expect(classifier.classify(shallow).category).toBe(C.NETWORK);
  });
});

describe('long hostile messages', () => {
  it('caps the text patterns see, so a 1 MB message is cheap to classify', () => {
    const huge = 'a'.repeat(1_000_000);
    const facts = extractFacts(new Error(huge));
    expect(facts.text.length).toBeLessThanOrEqual(2_000);
  });

  it('finishes with a user RegExp that backtracks polynomially on a 1 MB message', () => {
    const c = new ErrorClassifier();
    // On the full 1 MB this scan is ~10^12 steps; on the capped text it is a few million.
    c.register({ name: 'backtracker', category: C.CLIENT, severity: S.LOW, retryable: false, messages: [/a+b/] });
    const error = Object.assign(new Error('a'.repeat(1_000_000)), { response: { data: 'a'.repeat(1_000_000) } });
    expect(c.classify(error).pattern).toBe('default');
    const summary = summarizeError(error);
    expect(summary.message.length).toBeLessThanOrEqual(500);
  });

  it('matches a signal that appears early in a long body', () => {
    const error = Object.assign(new Error('Request failed with status code 403'), {
      response: { status: 403, data: `<html>Please solve the captcha${' '.repeat(500_000)}</html>` },
    });
    expect(classifier.classify(error)).toMatchObject({ category: C.BAN, isBan: true });
  });
});

describe('hostile values inside an error keep the facts read around them', () => {
  const revoked = (): object => {
    const { proxy, revoke } = Proxy.revocable([], {});
    revoke();
    return proxy;
  };
  const trappedArray = (): object => new Proxy(['x'], { get: () => { throw new Error('trap'); } });

  it.each([
    ['a revoked Proxy as the body errors list', () => ({ data: { errors: revoked() } })],
    ['a trapping Proxy array as the body errors list', () => ({ data: { errors: trappedArray() } })],
  ])('%s: status and Retry-After read after it still count', (_what, response) => {
    const error = Object.assign(new Error('Too Many Requests'), { response: { status: 429, ...response(), headers: { 'retry-after': '5' } } });
    expect(classifier.classify(error)).toMatchObject({ category: C.RATE_LIMIT, statusCode: 429, retryAfterMs: 5_000 });
  });

  it('a trapping Proxy array as an AggregateError list and as a header value', () => {
    const error = Object.assign(new Error('boom'), { status: 503, errors: trappedArray(), headers: { 'retry-after': trappedArray(), 'retry-after-ms': '250' } });
    expect(classifier.classify(error)).toMatchObject({ category: C.SERVER, statusCode: 503, retryAfterMs: 250 });
  });
});

describe('registering a hostile pattern', () => {
  it('a pattern whose getters answer differently on a second read is kept as validated', () => {
    const mine = new ErrorClassifier();
    let reads = 0;
    mine.register({
      name: 'flaky',
      get category() {
        return ++reads === 1 ? C.BAN : ('not-a-category' as C);
      },
      severity: S.HIGH,
      retryable: false,
      messages: ['flaky provider'],
    });
    expect(mine.classify(new Error('flaky provider')).category).toBe(C.BAN);
    expect(reads).toBe(1);
  });

  it.each([
    ['a Proxy trapping get', () => new Proxy({}, { get: () => { throw new Error('trap'); } })],
    ['a revoked Proxy', () => { const { proxy, revoke } = Proxy.revocable({}, {}); revoke(); return proxy; }],
  ])('%s is a ConfigError', (_what, make) => {
    expect(() => new ErrorClassifier().register(make() as never)).toThrow(/Invalid errorPattern\.pattern: \[object\] \(could not be read/);
  });
});
