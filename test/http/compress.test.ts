import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { compress, negotiate } from '../../src/http/compress.js';

describe('compression of the status bodies', () => {
  it('negotiates brotli first, then gzip, honouring q=0 and lists', () => {
    expect(negotiate('gzip, deflate, br, zstd')).toBe('br');
    expect(negotiate('gzip')).toBe('gzip');
    expect(negotiate('br;q=0, gzip;q=0.5')).toBe('gzip');
    expect(negotiate('BR ; q=1')).toBe('br');
    expect(negotiate('*')).toBe('gzip');
    expect(negotiate('gzip;q=0, br;q=0.0')).toBeNull();
    expect(negotiate(['deflate', 'gzip'])).toBe('gzip');
    expect(negotiate('identity')).toBeNull();
    expect(negotiate('')).toBeNull();
    expect(negotiate(undefined)).toBeNull();
  });

  it('compresses bodies of 1 KB or more, round-trips them, and leaves small ones alone', () => {
    const big = JSON.stringify({ scopes: Array.from({ length: 200 }, (_, i) => ({ key: `svc:user-${i}`, state: 'ok' })) });
    const br = compress(big, 'br');
    expect(br.encoding).toBe('br');
    expect(brotliDecompressSync(br.body as Buffer).toString()).toBe(big);
    const gz = compress(big, 'gzip');
    expect(gunzipSync(gz.body as Buffer).toString()).toBe(big);
    expect((gz.body as Buffer).length).toBeLessThan(big.length / 4);
    expect(compress('{"a":1}', 'br')).toEqual({ body: '{"a":1}', encoding: null });
    expect(compress(big, null)).toEqual({ body: big, encoding: null });
  });
});
