import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ERROR_PATTERNS, hashPolicy, isConfigError, SERVICE_PRESETS, verifyPolicy, writePolicyArtifact, decodePolicy, encodePolicy } from 'floodgate';
import { tempDir } from './helpers.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
/** A deep copy sharing nothing (structuredClone keeps shared references shared), RegExps kept. */
const copy = (value: unknown): unknown =>
  Array.isArray(value) ? value.map(copy) : typeof value === 'object' && value !== null && !(value instanceof RegExp) ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copy(v)])) : value;
/** A policy like the manager's: resolved presets (with Infinity) and the pattern table (with RegExps). */
const policy = () => copy({ configs: SERVICE_PRESETS, patterns: DEFAULT_ERROR_PATTERNS }) as Record<string, unknown>;

/** Every [path, value] leaf of a JSON-like value. */
function leaves(value: unknown, path: (string | number)[] = []): [(string | number)[], unknown][] {
  if (typeof value !== 'object' || value === null || value instanceof RegExp) return [[path, value]];
  return Object.entries(value).flatMap(([key, item]) => leaves(item, [...path, Array.isArray(value) ? Number(key) : key]));
}

function withLeaf(value: unknown, path: (string | number)[], leaf: unknown): unknown {
  const edited = copy(value) as Record<string | number, unknown>;
  let at = edited;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  at[path.at(-1)!] = leaf;
  return edited;
}

const changed = (leaf: unknown): unknown =>
  typeof leaf === 'number' ? (Number.isFinite(leaf) ? leaf + 1 : 1) : typeof leaf === 'string' ? `${leaf}x` : typeof leaf === 'boolean' ? !leaf : leaf instanceof RegExp ? new RegExp(leaf.source, `${leaf.flags}m`) : 'x';

describe('hashPolicy', () => {
  it('is the SHA-256 of the RFC 8785 form, Infinity and RegExps tagged (a known answer)', () => {
    expect(hashPolicy({})).toBe('44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
    expect(hashPolicy({ b: [1, Infinity], a: /x+/i, c: undefined })).toBe(sha256('{"a":{"$regexp":"/x+/i"},"b":[1,{"$number":"Infinity"}]}'));
    expect(hashPolicy({ z: 1e21, y: 0.1, x: 'é' })).toBe(sha256(canonicalize({ z: 1e21, y: 0.1, x: 'é' })!));
  });

  it('does not depend on key order', () => {
    const reversed = (value: unknown): unknown =>
      Array.isArray(value) ? value.map(reversed) : typeof value === 'object' && value !== null && !(value instanceof RegExp) ? Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reversed(v)])) : value;
    const original = policy();
    expect(Object.keys(reversed(original) as object)).toEqual(['patterns', 'configs']);
    expect(hashPolicy(reversed(original))).toBe(hashPolicy(original));
  });

  it('changes with any single field of the presets and pattern table', () => {
    const original = policy();
    const base = hashPolicy(original);
    const all = leaves(original);
    expect(all.length).toBeGreaterThan(100);
    const hashes = new Set([base]);
    for (const [path, leaf] of all) hashes.add(hashPolicy(withLeaf(original, path, changed(leaf))));
    expect(hashes.size).toBe(all.length + 1);
    // A RegExp and the string that prints like it are different policies.
    expect(hashPolicy({ m: /a/i })).not.toBe(hashPolicy({ m: '/a/i' }));
    expect(hashPolicy({ n: Infinity })).not.toBe(hashPolicy({ n: 'Infinity' }));
  });

  it('refuses what it cannot hash faithfully, naming where', () => {
    for (const [value, where] of [
      [{ a: { b: Number.NaN } }, 'policy.a.b'],
      [{ m: new Map([[1, 2]]) }, 'policy.m'],
      [{ f: () => 1 }, 'policy.f'],
      [{ list: [1, 2n] }, 'policy.list[1]'],
    ] as const) {
      let caught: unknown;
      try {
        hashPolicy(value);
      } catch (error) {
        caught = error;
      }
      expect(isConfigError(caught), where).toBe(true);
      expect((caught as Error).message).toContain(where);
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => hashPolicy(cyclic)).toThrow(/policy\.self/);
  });

  it('decodePolicy(encodePolicy(p)) gives p back', () => {
    const original = policy();
    expect(decodePolicy(encodePolicy(original))).toEqual(original);
  });
});

describe('policy artifacts', () => {
  it('writePolicyArtifact writes { policy, hash }; verifyPolicy accepts it and returns the decoded policy', async () => {
    const path = join(tempDir(), 'policy.json');
    const original = policy();
    const hash = await writePolicyArtifact(path, original);
    expect(hash).toBe(hashPolicy(original));
    const artifact = JSON.parse(readFileSync(path, 'utf8')) as { policy: unknown; hash: string };
    expect(artifact).toEqual({ policy: encodePolicy(original), hash });
    const result = await verifyPolicy(path, hash);
    expect(result).toMatchObject({ ok: true, actualHash: hash });
    expect(result.policy).toEqual(original);
  });

  it('refuses a tampered artifact, even when its embedded hash was recomputed', async () => {
    const path = join(tempDir(), 'policy.json');
    const expected = await writePolicyArtifact(path, { configs: { llm_api: { requestsPerMinute: 20 } } });
    const artifact = JSON.parse(readFileSync(path, 'utf8')) as { policy: { configs: { llm_api: { requestsPerMinute: number } } }; hash: string };
    artifact.policy.configs.llm_api.requestsPerMinute = 2_000;
    writeFileSync(path, JSON.stringify(artifact));
    const edited = await verifyPolicy(path, expected);
    expect(edited).toEqual({ ok: false, actualHash: hashPolicy(artifact.policy), reason: 'hash_mismatch' });

    artifact.hash = hashPolicy(artifact.policy); // the forger fixes the embedded hash too
    writeFileSync(path, JSON.stringify(artifact));
    expect(await verifyPolicy(path, expected)).toMatchObject({ ok: false, reason: 'hash_mismatch' });
    expect((await verifyPolicy(path, expected)).policy).toBeUndefined();
  });

  it('refuses an artifact whose embedded hash disagrees, and a file that is not an artifact', async () => {
    const dir = tempDir();
    const path = join(dir, 'policy.json');
    const hash = await writePolicyArtifact(path, { a: 1 });
    writeFileSync(path, JSON.stringify({ policy: { a: 1 }, hash: '0'.repeat(64) }));
    expect(await verifyPolicy(path, hash)).toEqual({ ok: false, actualHash: hash, reason: 'embedded_hash_mismatch' });
    writeFileSync(path, '{ not json');
    expect(await verifyPolicy(path, hash)).toEqual({ ok: false, actualHash: null, reason: 'unreadable' });
    expect(await verifyPolicy(join(dir, 'missing.json'), hash)).toEqual({ ok: false, actualHash: null, reason: 'unreadable' });
  });
});
