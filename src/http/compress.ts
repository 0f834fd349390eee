import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

/**
 * Compression of the status routes' bodies. A 1,000-scope report is ~450 KB of JSON and the page
 * asks for it every second; brotli at quality 1 makes it a few KB for a fraction of a millisecond
 * (see docs/benchmarks.md). Express's `compression` and `@fastify/compress` leave a body that
 * already has a Content-Encoding alone.
 */
export type Encoding = 'br' | 'gzip';

/** Bodies smaller than this go as they are. */
const MIN_BYTES = 1_024;

/** The encoding to use for a client's `Accept-Encoding` (brotli first), or null. */
export function negotiate(acceptEncoding: string | string[] | undefined): Encoding | null {
  const header = Array.isArray(acceptEncoding) ? acceptEncoding.join(',') : acceptEncoding;
  if (header === undefined || header === '') return null;
  let gzip = false;
  for (const part of header.split(',')) {
    const [rawName = '', ...params] = part.toLowerCase().split(';');
    const name = rawName.trim();
    if (params.some((p) => /^\s*q\s*=\s*0(?:\.0*)?\s*$/.test(p))) continue; // q=0: refused
    if (name === 'br') return 'br';
    if (name === 'gzip' || name === '*') gzip = true;
  }
  return gzip ? 'gzip' : null;
}

export function compress(body: Buffer | string, encoding: Encoding | null): { body: Buffer | string; encoding: Encoding | null } {
  if (encoding === null || Buffer.byteLength(body) < MIN_BYTES) return { body, encoding: null };
  return {
    body: encoding === 'br' ? brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 1 } }) : gzipSync(body, { level: 1 }),
    encoding,
  };
}
