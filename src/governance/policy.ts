/**
 * Policy hashes and artifacts: a policy is any JSON-like value (resolved configurations, modes,
 * pattern tables); its hash is the SHA-256 of its RFC 8785 canonical form, so key order never
 * changes it and any value does.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { ConfigError } from '../errors/errors.js';
import { canonicalJson, sha256Hex } from './canonical.js';

/**
 * A policy in JSON terms. JSON has no Infinity and no RegExp, and a policy has both (an
 * unlimited `requestsPerMinute`, message patterns), so they are written as tagged objects:
 * `{ "$number": "Infinity" }`, `{ "$regexp": "/source/flags" }`. {@link decodePolicy} reverses it.
 */
export type PolicyJson = null | boolean | number | string | readonly PolicyJson[] | { readonly [key: string]: PolicyJson };

/** The policy as JSON: non-finite numbers and RegExps tagged, `undefined` fields left out. */
export function encodePolicy(value: unknown): PolicyJson {
  return encode(value, 'policy', new Set());
}

function encode(value: unknown, path: string, seen: Set<object>): PolicyJson {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return value;
    if (Number.isNaN(value)) throw new ConfigError(path, value, 'a policy value must not be NaN');
    return { $number: value > 0 ? 'Infinity' : '-Infinity' };
  }
  if (value instanceof RegExp) return { $regexp: String(value) };
  if (typeof value !== 'object') throw new ConfigError(path, typeof value, 'a policy holds only JSON values, Infinity and RegExps');
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return encode((value as { toJSON(): unknown }).toJSON(), path, seen);
  const proto = Object.getPrototypeOf(value) as unknown;
  // A Map or a class instance would hash as `{}`: a change in it would go unnoticed.
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) throw new ConfigError(path, Object.prototype.toString.call(value), 'a policy holds only plain objects and arrays');
  if (seen.has(value)) throw new ConfigError(path, '[circular]', 'a policy must not refer to itself');
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((item, index) => (item === undefined ? null : encode(item, `${path}[${index}]`, seen)));
    const out: Record<string, PolicyJson> = {};
    for (const key of Object.keys(value)) {
      const item = (value as Record<string, unknown>)[key];
      if (item !== undefined) out[key] = encode(item, `${path}.${key}`, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

/** Reverses {@link encodePolicy}: tagged numbers and RegExps come back as such. */
export function decodePolicy(value: PolicyJson): unknown {
  if (Array.isArray(value)) return value.map(decodePolicy);
  if (typeof value !== 'object' || value === null) return value;
  const keys = Object.keys(value);
  const record = value as { readonly [key: string]: PolicyJson };
  if (keys.length === 1 && typeof record.$number === 'string') return Number(record.$number);
  if (keys.length === 1 && typeof record.$regexp === 'string') {
    const match = /^\/(.*)\/([a-z]*)$/s.exec(record.$regexp);
    if (match) return new RegExp(match[1]!, match[2]);
  }
  return Object.fromEntries(keys.map((key) => [key, decodePolicy(record[key]!)]));
}

/** SHA-256 (64 lowercase hex digits) of the canonical form of the encoded policy. */
export function hashPolicy(policy: unknown): string {
  return sha256Hex(canonicalJson(encodePolicy(policy)));
}

/** What an artifact file holds. */
export interface PolicyArtifact {
  readonly policy: PolicyJson;
  readonly hash: string;
}

/**
 * Writes `{ policy, hash }` (the encoded policy and its hash) to `path`, atomically (a temporary
 * file renamed over it). Returns the hash.
 */
export async function writePolicyArtifact(path: string, policy: unknown): Promise<string> {
  const encoded = encodePolicy(policy);
  const hash = sha256Hex(canonicalJson(encoded));
  const artifact: PolicyArtifact = { policy: encoded, hash };
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(artifact, null, 2)}\n`);
  await rename(temporary, path);
  return hash;
}

export interface PolicyVerification {
  /** True when the policy's recomputed hash is `expectedHash` (and the artifact's own `hash`). */
  readonly ok: boolean;
  /** The hash recomputed from the artifact's policy; null when the file holds no policy. */
  readonly actualHash: string | null;
  /** The decoded policy, present when `ok`: apply this, not a second read of the file. */
  readonly policy?: unknown;
  /** Why not ok: `hash_mismatch`, `embedded_hash_mismatch` or `unreadable`. */
  readonly reason?: 'hash_mismatch' | 'embedded_hash_mismatch' | 'unreadable';
}

/**
 * Checks a policy artifact against the hash you expect. The hash is recomputed from the
 * policy itself: an artifact whose policy and embedded `hash` were both edited still fails.
 * Never rejects for a bad or missing file (`ok: false`, `reason: 'unreadable'`).
 */
export async function verifyPolicy(path: string, expectedHash: string): Promise<PolicyVerification> {
  let artifact: { policy?: unknown; hash?: unknown };
  let actualHash: string;
  try {
    artifact = JSON.parse(await readFile(path, 'utf8')) as typeof artifact;
    if (typeof artifact !== 'object' || artifact === null || !('policy' in artifact)) return { ok: false, actualHash: null, reason: 'unreadable' };
    actualHash = sha256Hex(canonicalJson(artifact.policy));
  } catch {
    return { ok: false, actualHash: null, reason: 'unreadable' };
  }
  if (actualHash !== expectedHash) return { ok: false, actualHash, reason: 'hash_mismatch' };
  if (artifact.hash !== actualHash) return { ok: false, actualHash, reason: 'embedded_hash_mismatch' };
  return { ok: true, actualHash, policy: decodePolicy(artifact.policy as PolicyJson) };
}
