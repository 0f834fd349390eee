/**
 * The RateLimit header fields a response carries: the IETF drafts (`draft-8`: one policy item per
 * field; `draft-7`: `limit=, remaining=, reset=`) or the legacy `X-RateLimit-*` trio. The same
 * three numbers feed every format.
 */
import { ConfigError } from '../../errors/errors.js';

/** How a response tells the client its quota. */
export type RateLimitHeaderFormat = 'draft-8' | 'draft-7' | 'legacy';

const FORMATS: readonly RateLimitHeaderFormat[] = ['draft-8', 'draft-7', 'legacy'];

/** One group's quota as the headers show it. */
export interface QuotaPolicy {
  /** The group's name (draft-8's policy item name). */
  readonly name: string;
  /** Requests allowed per window. */
  readonly limit: number;
  /** The window in seconds: 60 for a per-minute cap, the bucket's refill time for a token bucket. */
  readonly windowSeconds: number;
  /** Its `RateLimit-Policy` item in draft-8 and draft-7: fixed, so formatted once (see {@link quotaPolicy}). */
  readonly draft8: string;
  readonly draft7: string;
}

/** A quota policy with its header items formatted. */
export function quotaPolicy(name: string, limit: number, windowSeconds: number): QuotaPolicy {
  return { name, limit, windowSeconds, draft8: `"${name}";q=${limit};w=${windowSeconds}`, draft7: `${limit};w=${windowSeconds}` };
}

/** The formats asked for: one, a list, or none (`false`). */
export function checkHeaderFormats(value: unknown): readonly RateLimitHeaderFormat[] {
  if (value === undefined) return ['draft-8'];
  if (value === false) return [];
  const list = Array.isArray(value) ? (value as unknown[]) : [value];
  for (const format of list) {
    if (!FORMATS.includes(format as RateLimitHeaderFormat)) throw new ConfigError('headers', format, "must be 'draft-8', 'draft-7', 'legacy', a list of them, or false");
  }
  if (list.includes('draft-7') && list.includes('draft-8')) throw new ConfigError('headers', list, "must not hold both 'draft-7' and 'draft-8' (both use the RateLimit and RateLimit-Policy fields)");
  return list as RateLimitHeaderFormat[];
}

/** The `RateLimit-Policy` field of the format asked for (fixed per group: computed once). */
export function policyHeaders(formats: readonly RateLimitHeaderFormat[], policy: QuotaPolicy): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  for (const format of formats) {
    if (format === 'draft-8') headers['ratelimit-policy'] = policy.draft8;
    else if (format === 'draft-7') headers['ratelimit-policy'] = policy.draft7;
  }
  return headers;
}

/**
 * Sets the current state on `headers`: `remaining` requests allowed now, `resetSeconds` until the
 * quota grows again. Legacy `X-RateLimit-Reset` is the epoch second of that moment (as GitHub and
 * express-rate-limit's legacy headers send it).
 */
export function stateHeaders(
  headers: Record<string, string>,
  formats: readonly RateLimitHeaderFormat[],
  policy: QuotaPolicy,
  remaining: number,
  resetSeconds: number,
  now: number,
): void {
  for (const format of formats) {
    if (format === 'draft-8') headers.ratelimit = draft8State(policy, remaining, resetSeconds);
    else if (format === 'draft-7') headers.ratelimit = `limit=${policy.limit}, remaining=${remaining}, reset=${resetSeconds}`;
    else {
      headers['x-ratelimit-limit'] = String(policy.limit);
      headers['x-ratelimit-remaining'] = String(remaining);
      headers['x-ratelimit-reset'] = String(Math.ceil(now / 1000) + resetSeconds);
    }
  }
}

/** One quota's state, for {@link quotaHeaders}. */
export interface QuotaState {
  readonly policy: QuotaPolicy;
  readonly remaining: number;
  readonly resetSeconds: number;
}

/**
 * Policy and state fields of several quotas at once (a group's per-key and group-wide limits):
 * draft-8 lists every one (its fields are lists); draft-7 and legacy hold one quota, so they
 * show the one with the fewest requests remaining (the first of equals).
 */
export function quotaHeaders(headers: Record<string, string>, formats: readonly RateLimitHeaderFormat[], quotas: readonly QuotaState[], now: number): void {
  let tightest = quotas[0]!;
  for (const quota of quotas) if (quota.remaining < tightest.remaining) tightest = quota;
  for (const format of formats) {
    if (format === 'draft-8') {
      let policies = '';
      let states = '';
      for (const quota of quotas) {
        const separator = policies === '' ? '' : ', ';
        policies += separator + quota.policy.draft8;
        states += separator + draft8State(quota.policy, quota.remaining, quota.resetSeconds);
      }
      headers['ratelimit-policy'] = policies;
      headers.ratelimit = states;
    } else {
      if (format === 'draft-7') headers['ratelimit-policy'] = tightest.policy.draft7;
      stateHeaders(headers, [format], tightest.policy, tightest.remaining, tightest.resetSeconds, now);
    }
  }
}

const draft8State = (policy: QuotaPolicy, remaining: number, resetSeconds: number): string => `"${policy.name}";r=${remaining};t=${resetSeconds}`;
