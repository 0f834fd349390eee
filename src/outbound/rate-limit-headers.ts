import { parseDictionary, parseList, type Item } from 'structured-headers';
import { parseGoDuration, parseReset, parseRfc3339Delay } from '../classify/extract.js';

/** One window a provider announced: what it allows, what is left, and when it refills (ms from now). */
export interface RateLimitWindow {
  readonly limit?: number;
  readonly remaining?: number;
  /** ms from the response until the window refills (or resets). */
  readonly resetMs?: number;
}

/**
 * What a response's rate-limit headers say, whatever the provider's dialect. Token figures
 * (OpenAI, Anthropic) are kept apart from request figures so that token windows can use them.
 */
export interface RateLimitHeaders {
  /** Which dialect spoke: `ietf` (RateLimit draft 8, or draft 7 / 6), `openai`, `anthropic` or `github` (plain `x-ratelimit-*`). */
  readonly dialect: 'ietf' | 'openai' | 'anthropic' | 'github';
  readonly requests?: RateLimitWindow;
  readonly tokens?: RateLimitWindow;
  /** Anthropic's separate input and output token windows. */
  readonly inputTokens?: RateLimitWindow;
  readonly outputTokens?: RateLimitWindow;
  /**
   * Set when a window has nothing left: the longest reset among those windows (ms). Sending
   * before it would only earn a 429, so createFetch pauses the scope this long.
   */
  readonly pauseMs?: number;
}

/** Anything with a case-insensitive `get`: a WHATWG `Headers`. */
export interface HeaderSource {
  get(name: string): string | null;
}

/**
 * Reads a response's rate-limit headers: the IETF `RateLimit` / `RateLimit-Policy` fields
 * (draft 8 structured lists `"name";r=0;t=30`, draft 7 `limit=, remaining=, reset=`, and the
 * draft-6 `RateLimit-Limit/-Remaining/-Reset` trio), OpenAI's `x-ratelimit-*-{requests,tokens}`
 * (Go durations such as `6m0s`), Anthropic's `anthropic-ratelimit-*` (RFC 3339 resets) and
 * GitHub's `x-ratelimit-{limit,remaining,reset}` (epoch seconds). `null` when none is present
 * or none parses. Never throws on a malformed value: that figure is left out.
 */
export function parseRateLimitHeaders(headers: HeaderSource, now: number = Date.now()): RateLimitHeaders | null {
  for (const dialect of DIALECTS) {
    try {
      const figures = dialect(headers, now);
      if (figures !== null) return figures;
    } catch {
      // A malformed field, or a foreign Headers whose get() throws: no figures from this dialect.
    }
  }
  return null;
}

function fromIetf(h: HeaderSource, _now: number): RateLimitHeaders | null {
  const field = h.get('ratelimit');
  if (field === null) {
    // Draft 6 and express-rate-limit's `standardHeaders: 'draft-6'`.
    const remaining = h.get('ratelimit-remaining');
    if (remaining === null) return null;
    return finish('ietf', { requests: window(h.get('ratelimit-limit'), remaining, seconds(h.get('ratelimit-reset'))) });
  }
  const lowered = field.toLowerCase();
  if (lowered.includes('remaining=')) {
    // Draft 7: one dictionary, `limit=100, remaining=0, reset=30`.
    const dict = parseDictionary(field);
    return finish('ietf', { requests: window(figure(dict.get('limit')), figure(dict.get('remaining')), secondsOf(figure(dict.get('reset')))) });
  }
  // Draft 8: a list of policies, `"default";r=0;t=30`; the quota is in RateLimit-Policy (`q`).
  const quotas = new Map<string, number>();
  const policy = h.get('ratelimit-policy');
  if (policy !== null) {
    try {
      for (const [name, params] of parseList(policy) as Item[]) {
        const q = params.get('q');
        if (typeof q === 'number') quotas.set(String(name), q);
      }
    } catch {
      // A malformed policy: the remaining figures still count.
    }
  }
  let tightest: RateLimitWindow | undefined;
  let pauseMs: number | undefined;
  for (const [name, params] of parseList(field) as Item[]) {
    const r = params.get('r');
    const t = params.get('t');
    if (typeof r !== 'number') continue;
    const limit = quotas.get(String(name));
    const current = window(limit, r, typeof t === 'number' ? secondsOf(t) : undefined);
    if (r <= 0 && current.resetMs !== undefined) pauseMs = Math.max(pauseMs ?? 0, current.resetMs);
    // The policy with the least left is the one that binds.
    if (tightest === undefined || (tightest.remaining ?? Infinity) > r) tightest = current;
  }
  if (tightest === undefined) return null;
  return pauseMs === undefined ? { dialect: 'ietf', requests: tightest } : { dialect: 'ietf', requests: tightest, pauseMs };
}

function fromOpenAi(h: HeaderSource, _now: number): RateLimitHeaders | null {
  const requests = openAiWindow(h, 'requests');
  const tokens = openAiWindow(h, 'tokens');
  if (requests === undefined && tokens === undefined) return null;
  return finish('openai', { requests, tokens });
}

function openAiWindow(h: HeaderSource, kind: 'requests' | 'tokens'): RateLimitWindow | undefined {
  const remaining = h.get(`x-ratelimit-remaining-${kind}`);
  if (remaining === null) return undefined;
  const reset = h.get(`x-ratelimit-reset-${kind}`);
  return window(h.get(`x-ratelimit-limit-${kind}`), remaining, reset === null ? undefined : parseGoDuration(reset.trim()));
}

function fromAnthropic(h: HeaderSource, now: number): RateLimitHeaders | null {
  const read = (kind: string): RateLimitWindow | undefined => {
    const remaining = h.get(`anthropic-ratelimit-${kind}-remaining`);
    if (remaining === null) return undefined;
    const reset = h.get(`anthropic-ratelimit-${kind}-reset`);
    return window(h.get(`anthropic-ratelimit-${kind}-limit`), remaining, reset === null ? undefined : parseRfc3339Delay(reset.trim(), now));
  };
  const requests = read('requests');
  const tokens = read('tokens');
  const inputTokens = read('input-tokens');
  const outputTokens = read('output-tokens');
  if (requests === undefined && tokens === undefined && inputTokens === undefined && outputTokens === undefined) return null;
  return finish('anthropic', { requests, tokens, inputTokens, outputTokens });
}

function fromGitHub(h: HeaderSource, now: number): RateLimitHeaders | null {
  const remaining = h.get('x-ratelimit-remaining');
  if (remaining === null) return null;
  const reset = h.get('x-ratelimit-reset');
  return finish('github', { requests: window(h.get('x-ratelimit-limit'), remaining, reset === null ? undefined : parseReset(reset.trim(), now)) });
}

/** Tried in this order; the first that finds its headers answers. */
const DIALECTS: readonly ((h: HeaderSource, now: number) => RateLimitHeaders | null)[] = [fromIetf, fromOpenAi, fromAnthropic, fromGitHub];

type Windows = Partial<Record<'requests' | 'tokens' | 'inputTokens' | 'outputTokens', RateLimitWindow | undefined>>;

/** Drops absent windows and works out the pause: the longest reset of a window with nothing left. */
function finish(dialect: RateLimitHeaders['dialect'], windows: Windows): RateLimitHeaders | null {
  const result: { -readonly [K in keyof RateLimitHeaders]: RateLimitHeaders[K] } = { dialect };
  let found = false;
  for (const key of ['requests', 'tokens', 'inputTokens', 'outputTokens'] as const) {
    const w = windows[key];
    if (w === undefined || (w.remaining === undefined && w.limit === undefined)) continue;
    result[key] = w;
    found = true;
    if (w.remaining !== undefined && w.remaining <= 0 && w.resetMs !== undefined) result.pauseMs = Math.max(result.pauseMs ?? 0, w.resetMs);
  }
  return found ? result : null;
}

function window(limit: unknown, remaining: unknown, resetMs: number | undefined): RateLimitWindow {
  const w: { limit?: number; remaining?: number; resetMs?: number } = {};
  const l = count(limit);
  const r = count(remaining);
  if (l !== undefined) w.limit = l;
  if (r !== undefined) w.remaining = r;
  if (resetMs !== undefined) w.resetMs = resetMs;
  return w;
}

/** A non-negative integer from a header value or a structured-field number. */
function count(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  return /^\d{1,15}$/.test(text) ? Number(text) : undefined;
}

/** A structured-field dictionary member's bare number (`limit=100`), if it is one. */
function figure(member: unknown): number | undefined {
  if (!Array.isArray(member)) return undefined;
  const value: unknown = member[0];
  return typeof value === 'number' ? value : undefined;
}

/** Delta seconds as a header string (`ratelimit-reset: 30`). */
function seconds(value: string | null): number | undefined {
  return value === null ? undefined : secondsOf(count(value));
}

function secondsOf(value: number | undefined): number | undefined {
  return value === undefined || !Number.isFinite(value) || value < 0 ? undefined : Math.ceil(value * 1000);
}
