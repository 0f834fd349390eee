import { parseDictionary, parseList, type Item } from 'structured-headers';
import { parseGoDuration, parseReset, parseRfc3339Delay, skipDigits } from '../classify/extract.js';

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
 * or none parses. Never throws on a malformed value: that figure is left out. `now` (epoch ms):
 * what the resets given as times are measured from; without it, the clock is read when a dialect
 * that needs it (Anthropic, GitHub) answers.
 */
export function parseRateLimitHeaders(headers: HeaderSource, now?: number): RateLimitHeaders | null {
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

function fromIetf(h: HeaderSource, _now: number | undefined): RateLimitHeaders | null {
  const field = h.get('ratelimit');
  if (field === null) {
    // Draft 6 and express-rate-limit's `standardHeaders: 'draft-6'`.
    const remaining = h.get('ratelimit-remaining');
    if (remaining === null) return null;
    return finish('ietf', window(h.get('ratelimit-limit'), remaining, seconds(h.get('ratelimit-reset'))), undefined, undefined, undefined);
  }
  const lowered = field.toLowerCase();
  if (lowered.includes('remaining=')) {
    // Draft 7: one dictionary, `limit=100, remaining=0, reset=30`.
    const dict = parseDictionary(field);
    return finish('ietf', window(figure(dict.get('limit')), figure(dict.get('remaining')), secondsOf(figure(dict.get('reset')))), undefined, undefined, undefined);
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

function fromOpenAi(h: HeaderSource, _now: number | undefined): RateLimitHeaders | null {
  // Durations: no clock needed.
  const requests = readWindow(h, OPENAI_REQUESTS, 0);
  const tokens = readWindow(h, OPENAI_TOKENS, 0);
  if (requests === undefined && tokens === undefined) return null;
  return finish('openai', requests, tokens, undefined, undefined);
}

function fromAnthropic(h: HeaderSource, given: number | undefined): RateLimitHeaders | null {
  const now = given ?? Date.now();
  const requests = readWindow(h, ANTHROPIC_REQUESTS, now);
  const tokens = readWindow(h, ANTHROPIC_TOKENS, now);
  const inputTokens = readWindow(h, ANTHROPIC_INPUT_TOKENS, now);
  const outputTokens = readWindow(h, ANTHROPIC_OUTPUT_TOKENS, now);
  if (requests === undefined && tokens === undefined && inputTokens === undefined && outputTokens === undefined) return null;
  return finish('anthropic', requests, tokens, inputTokens, outputTokens);
}

function fromGitHub(h: HeaderSource, given: number | undefined): RateLimitHeaders | null {
  const now = given ?? Date.now();
  const requests = readWindow(h, GITHUB, now);
  return requests === undefined ? null : finish('github', requests, undefined, undefined, undefined);
}

/** A window's three header names, and how its reset reads (ms from `now`). */
interface WindowHeaders {
  readonly remaining: string;
  readonly reset: string;
  readonly limit: string;
  readonly parseReset: (value: string, now: number) => number | undefined;
}

/** Header names are constants, not built per response: a name `get` has not seen is hashed again at each call. */
function windowHeaders(remaining: string, reset: string, limit: string, parse: WindowHeaders['parseReset']): WindowHeaders {
  return Object.freeze({ remaining, reset, limit, parseReset: parse });
}

const OPENAI_REQUESTS = windowHeaders('x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests', 'x-ratelimit-limit-requests', parseGoDuration);
const OPENAI_TOKENS = windowHeaders('x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens', 'x-ratelimit-limit-tokens', parseGoDuration);
const ANTHROPIC_REQUESTS = windowHeaders('anthropic-ratelimit-requests-remaining', 'anthropic-ratelimit-requests-reset', 'anthropic-ratelimit-requests-limit', parseRfc3339Delay);
const ANTHROPIC_TOKENS = windowHeaders('anthropic-ratelimit-tokens-remaining', 'anthropic-ratelimit-tokens-reset', 'anthropic-ratelimit-tokens-limit', parseRfc3339Delay);
const ANTHROPIC_INPUT_TOKENS = windowHeaders('anthropic-ratelimit-input-tokens-remaining', 'anthropic-ratelimit-input-tokens-reset', 'anthropic-ratelimit-input-tokens-limit', parseRfc3339Delay);
const ANTHROPIC_OUTPUT_TOKENS = windowHeaders('anthropic-ratelimit-output-tokens-remaining', 'anthropic-ratelimit-output-tokens-reset', 'anthropic-ratelimit-output-tokens-limit', parseRfc3339Delay);
const GITHUB = windowHeaders('x-ratelimit-remaining', 'x-ratelimit-reset', 'x-ratelimit-limit', parseReset);

/** One window of a dialect: undefined when its `remaining` header is absent (the others are then not read). */
function readWindow(h: HeaderSource, names: WindowHeaders, now: number): RateLimitWindow | undefined {
  const remaining = h.get(names.remaining);
  if (remaining === null) return undefined;
  const reset = h.get(names.reset);
  return window(h.get(names.limit), remaining, reset === null ? undefined : names.parseReset(reset.trim(), now));
}

/** Tried in this order; the first that finds its headers answers. */
const DIALECTS: readonly ((h: HeaderSource, now: number | undefined) => RateLimitHeaders | null)[] = [fromIetf, fromOpenAi, fromAnthropic, fromGitHub];

/** Drops absent windows and works out the pause: the longest reset of a window with nothing left. */
function finish(dialect: RateLimitHeaders['dialect'], requests: RateLimitWindow | undefined, tokens: RateLimitWindow | undefined, inputTokens: RateLimitWindow | undefined, outputTokens: RateLimitWindow | undefined): RateLimitHeaders | null {
  const result: { -readonly [K in keyof RateLimitHeaders]: RateLimitHeaders[K] } = { dialect };
  let found = false;
  if (holdsFigures(requests)) found = add(result, 'requests', requests);
  if (holdsFigures(tokens)) found = add(result, 'tokens', tokens);
  if (holdsFigures(inputTokens)) found = add(result, 'inputTokens', inputTokens);
  if (holdsFigures(outputTokens)) found = add(result, 'outputTokens', outputTokens);
  return found ? result : null;
}

function holdsFigures(w: RateLimitWindow | undefined): w is RateLimitWindow {
  return w !== undefined && (w.remaining !== undefined || w.limit !== undefined);
}

function add(result: { -readonly [K in keyof RateLimitHeaders]: RateLimitHeaders[K] }, key: 'requests' | 'tokens' | 'inputTokens' | 'outputTokens', w: RateLimitWindow): true {
  result[key] = w;
  if (w.remaining !== undefined && w.remaining <= 0 && w.resetMs !== undefined) result.pauseMs = Math.max(result.pauseMs ?? 0, w.resetMs);
  return true;
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
  // 1 to 15 digits and nothing else.
  const end = skipDigits(text, 0, 15);
  return end > 0 && end === text.length ? Number(text) : undefined;
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
