/**
 * Reads the facts the classifier needs from whatever was thrown. Errors come from fetch/undici,
 * Node, axios, got, ky, the OpenAI/Anthropic/AWS SDKs, or user code throwing strings and plain
 * objects; some have throwing getters, Proxies or cycles. Nothing in here may throw.
 */

/** Cap on the text that patterns see: bounds the cost of any polynomial RegExp on hostile input. */
export const MAX_TEXT_LENGTH = 2_000;
/** Wrapper errors rarely nest deeper; the cap also bounds work on hostile cause chains. */
const MAX_CHAIN_DEPTH = 5;
const MAX_TYPES = 32;
const MAX_TYPE_LENGTH = 100;
const MAX_HEADER_KEYS = 200;

export interface ErrorFacts {
  readonly statusCode?: number;
  readonly retryAfterMs?: number;
  /** Lowercased codes, error types and names from the error and its cause chain. */
  readonly types: readonly string[];
  /** Message, body and cause messages, newline-separated, at most {@link MAX_TEXT_LENGTH} chars. */
  readonly text: string;
  readonly lowerText: string;
  /** The top-level error's `name` (or constructor name, or `typeof` for non-objects). */
  readonly name: string;
  /** The first string `code` found (top level first), original case. */
  readonly code?: string;
  /** Set when floodgate itself raised the error (`code` starts with `EFLOODGATE_`). */
  readonly floodgateCode?: string;
}

type Bag = Record<string, string>;

const RETRY_HEADERS = [
  'retry-after',
  'retry-after-ms',
  'x-ratelimit-reset-requests',
  'x-ratelimit-reset-tokens',
  'x-ratelimit-remaining',
  'anthropic-ratelimit-requests-reset',
  'anthropic-ratelimit-tokens-reset',
  'anthropic-ratelimit-input-tokens-reset',
  'anthropic-ratelimit-output-tokens-reset',
  'x-ratelimit-reset',
  'x-rate-limit-reset',
  'ratelimit-reset',
] as const;
const RETRY_HEADER_SET: ReadonlySet<string> = new Set(RETRY_HEADERS);

// Compiled once; all are linear and only ever run on short, length-capped strings.
const DELTA_SECONDS = /^\d{1,12}(?:\.\d{1,6})?$/;
const HTTP_DATE = /^[A-Za-z]{3,9}, \d{1,2}[ -][A-Za-z]{3}[ -]\d{2,4} \d{2}:\d{2}:\d{2} GMT$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;
// Hand-written wrappers often throw `new Error(`HTTP ${res.status}`)`: recover the status from that.
const STATUS_IN_TEXT = /\b(?:status(?:[ _-]?code)?|http(?:\/\d(?:\.\d)?)?)[ :=]{0,3}([45]\d\d)\b/i;

export function isObjectLike(value: unknown): value is object {
  return value !== null && (typeof value === 'object' || typeof value === 'function');
}

/** A property read that survives throwing getters and Proxy traps. */
export function read(target: unknown, key: string): unknown {
  if (!isObjectLike(target)) return undefined;
  try {
    return (target as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

/** The first element of an array, else undefined; survives Proxies of arrays and revoked ones. */
function firstOf(value: unknown): unknown {
  try {
    return Array.isArray(value) ? (value as unknown[])[0] : undefined;
  } catch {
    return undefined;
  }
}

function asStatus(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 100 && value <= 599 ? value : undefined;
  if (typeof value === 'string' && value.length === 3 && /^[1-5]\d\d$/.test(value)) return Number(value);
  return undefined;
}

function headerValue(value: unknown): string | undefined {
  if (typeof value === 'string') return value.length <= 128 ? value.trim() : undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  const first = firstOf(value);
  if (first !== undefined) return headerValue(first);
  return undefined;
}

/** Reads only the headers we need from a Headers/AxiosHeaders (`get`), a Map or a plain object. */
function readHeaderBag(headers: unknown, into: Bag): void {
  if (!isObjectLike(headers)) return;
  const put = (key: unknown, value: unknown): void => {
    if (typeof key !== 'string') return;
    const name = key.toLowerCase();
    if (!RETRY_HEADER_SET.has(name) || name in into) return;
    const v = headerValue(value);
    if (v !== undefined && v !== '') into[name] = v;
  };
  try {
    if (headers instanceof Map) {
      let n = 0;
      for (const [key, value] of headers) {
        if (++n > MAX_HEADER_KEYS) break;
        put(key, value);
      }
      return;
    }
    const get = read(headers, 'get');
    if (typeof get === 'function') {
      // WHATWG Headers and AxiosHeaders look names up case-insensitively.
      for (const name of RETRY_HEADERS) {
        if (name in into) continue;
        try {
          put(name, get.call(headers, name));
        } catch {
          // A hostile or foreign `get`: skip this header.
        }
      }
      return;
    }
    const keys = Object.keys(headers);
    for (let i = 0; i < keys.length && i < MAX_HEADER_KEYS; i++) {
      const key = keys[i] as string;
      put(key, read(headers, key));
    }
  } catch {
    // A Proxy refusing enumeration: keep what was read.
  }
}

function clampMs(ms: number): number | undefined {
  return Number.isFinite(ms) ? Math.max(0, Math.ceil(ms)) : undefined;
}

function parseDate(value: string, format: RegExp, now: number): number | undefined {
  if (!format.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : clampMs(at - now);
}

/** `Retry-After`: delta seconds or an HTTP date. */
export function parseRetryAfter(value: string, now: number): number | undefined {
  if (DELTA_SECONDS.test(value)) return clampMs(Number(value) * 1000);
  return parseDate(value, HTTP_DATE, now);
}

/**
 * OpenAI's Go-style durations: `1s`, `6m0s`, `20ms`, `1h2m3.5s` (one to four parts, each a number
 * of up to 9 digits with up to 9 decimals, then `h`, `m`, `s` or `ms`). Read in one pass: it runs
 * on every OpenAI response (see docs/benchmarks.md, "Outbound HTTP").
 */
export function parseGoDuration(value: string): number | undefined {
  const end = value.length;
  if (end === 0) return undefined;
  let total = 0;
  let at = 0;
  for (let parts = 1; at < end; parts++) {
    if (parts > 4) return undefined;
    const start = at;
    at = skipDigits(value, at, 9);
    if (at === start) return undefined;
    if (value.charCodeAt(at) === 0x2e /* . */) {
      const decimals = at + 1;
      at = skipDigits(value, decimals, 9);
      if (at === decimals) return undefined;
    }
    const amount = Number(value.slice(start, at));
    const unit = value.charCodeAt(at);
    if (unit === 0x68 /* h */) total += amount * 3_600_000;
    else if (unit === 0x73 /* s */) total += amount * 1000;
    else if (unit !== 0x6d /* m */) return undefined;
    else if (value.charCodeAt(at + 1) === 0x73 /* s */) {
      total += amount;
      at++;
    } else total += amount * 60_000;
    at++;
  }
  return clampMs(total);
}

/** The index after the run of ASCII digits starting at `at`, or `at` when the run is empty or longer than `max`. */
export function skipDigits(value: string, at: number, max: number): number {
  let i = at;
  while (i < value.length) {
    const c = value.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    i++;
  }
  return i - at > max ? at : i;
}

/** `x-ratelimit-reset` and kin: delta seconds, or an epoch (seconds, or ms) once the number is that large. */
export function parseReset(value: string, now: number): number | undefined {
  if (!DELTA_SECONDS.test(value)) return undefined;
  const n = Number(value);
  if (n >= 1e12) return clampMs(n - now);
  if (n >= 1e9) return clampMs(n * 1000 - now);
  return clampMs(n * 1000);
}

/** An RFC 3339 time (Anthropic's resets) as ms from `now`. */
export function parseRfc3339Delay(value: string, now: number): number | undefined {
  return parseDate(value, RFC3339, now);
}

function retryAfterFromHeaders(h: Bag, status: number | undefined, now: number): number | undefined {
  const ms = h['retry-after-ms'];
  if (ms !== undefined && DELTA_SECONDS.test(ms)) return clampMs(Number(ms));
  const ra = h['retry-after'];
  const fromRetryAfter = ra === undefined ? undefined : parseRetryAfter(ra, now);
  if (fromRetryAfter !== undefined) return fromRetryAfter;
  // Reset headers describe the budget and ride on every response; only a rate-limit rejection
  // (429, or GitHub-style 403 with nothing remaining) turns them into a requested wait.
  if (status !== 429 && !(status === 403 && h['x-ratelimit-remaining'] === '0')) return undefined;
  let best: number | undefined;
  const consider = (v: number | undefined): void => {
    // The longest reset wins: waiting for the shorter one alone would hit the other limit again.
    if (v !== undefined && (best === undefined || v > best)) best = v;
  };
  const get = (name: string): string | undefined => h[name];
  for (const name of ['x-ratelimit-reset-requests', 'x-ratelimit-reset-tokens']) {
    const v = get(name);
    if (v !== undefined) consider(parseGoDuration(v));
  }
  for (const name of RETRY_HEADERS) {
    if (!name.startsWith('anthropic-')) continue;
    const v = get(name);
    if (v !== undefined) consider(parseRfc3339Delay(v, now));
  }
  for (const name of ['x-ratelimit-reset', 'x-rate-limit-reset', 'ratelimit-reset']) {
    const v = get(name);
    if (v !== undefined) consider(parseReset(v, now));
  }
  return best;
}

class Collector {
  status: number | undefined;
  code: string | undefined;
  floodgateCode: string | undefined;
  name = 'unknown';
  ownRetryAfterMs: number | undefined;
  readonly types: string[] = [];
  readonly headers: Bag = {};
  text = '';

  addType(value: unknown): void {
    if (typeof value !== 'string' || value === '' || value.length > MAX_TYPE_LENGTH) return;
    if (this.types.length >= MAX_TYPES) return;
    const t = value.toLowerCase();
    if (!this.types.includes(t)) this.types.push(t);
  }

  addText(value: unknown): void {
    if (typeof value !== 'string' || value === '') return;
    const room = MAX_TEXT_LENGTH - this.text.length - (this.text === '' ? 0 : 1);
    if (room <= 0) return;
    // Slice before anything else touches it: a 1 MB message must cost no more than 2 KB.
    const piece = value.length > room ? value.slice(0, room) : value;
    // SDKs repeat the body's message in their own (OpenAI: "429 You exceeded ..."): keep one.
    if (this.text.includes(piece)) return;
    this.text = this.text === '' ? piece : `${this.text}\n${piece}`;
  }

  addStatus(value: unknown): void {
    if (this.status === undefined) this.status = asStatus(value);
  }

  /** Response bodies: a string (HTML, text), or JSON with the reason in one of the usual fields. */
  addBody(body: unknown): void {
    if (typeof body === 'string') return this.addText(body);
    if (!isObjectLike(body)) return;
    this.addText(read(body, 'message'));
    const err = read(body, 'error');
    if (typeof err === 'string') this.addText(err);
    else if (isObjectLike(err)) {
      this.addType(read(err, 'type'));
      this.addType(read(err, 'code'));
      this.addText(read(err, 'message'));
    }
    this.addText(read(body, 'error_description'));
    this.addText(read(body, 'detail'));
    this.addText(read(body, 'title'));
    const errors = read(body, 'errors');
    this.addText(read(firstOf(errors), 'message'));
  }

  visit(node: object, depth: number): void {
    const code = read(node, 'code');
    if (typeof code === 'string') {
      this.addType(code);
      this.code ??= code;
      if (depth === 0 && code.startsWith('EFLOODGATE_')) this.floodgateCode = code;
    }
    this.addType(read(node, 'type'));
    const name = read(node, 'name');
    this.addType(name);
    const ctorName = read(read(node, 'constructor'), 'name');
    if (ctorName !== 'Object') this.addType(ctorName);
    if (depth === 0) {
      if (typeof name === 'string' && name !== '') this.name = name;
      else if (typeof ctorName === 'string' && ctorName !== '') this.name = ctorName;
      else this.name = 'Object';
      const own = read(node, 'retryAfterMs');
      if (typeof own === 'number') this.ownRetryAfterMs = clampMs(own);
    }
    this.addText(read(node, 'message'));

    // OpenAI SDK: `error` is the body's error object ({ message, type, code }); Anthropic SDK:
    // `error` is the whole body ({ type: 'error', error: { type, message } }).
    const nested = read(node, 'error');
    if (typeof nested === 'string') this.addText(nested);
    else if (isObjectLike(nested)) {
      this.addType(read(nested, 'code'));
      this.addType(read(nested, 'type'));
      this.addText(read(nested, 'message'));
      const inner = read(nested, 'error');
      if (isObjectLike(inner)) {
        this.addType(read(inner, 'type'));
        this.addType(read(inner, 'code'));
        this.addText(read(inner, 'message'));
      }
    }

    this.addStatus(read(node, 'status'));
    this.addStatus(read(node, 'statusCode'));
    this.addStatus(read(read(node, '$metadata'), 'httpStatusCode'));
    const response = read(node, 'response');
    if (isObjectLike(response)) {
      this.addStatus(read(response, 'status'));
      this.addStatus(read(response, 'statusCode'));
      this.addBody(read(response, 'data'));
      // A fetch Response's `body` is a stream, not text: addBody ignores it.
      this.addBody(read(response, 'body'));
      this.addText(read(response, 'statusText'));
    }
    this.addBody(read(node, 'body'));
    readHeaderBag(read(node, 'headers'), this.headers);
    if (isObjectLike(response)) readHeaderBag(read(response, 'headers'), this.headers);
  }

  run(error: unknown): void {
    if (!isObjectLike(error)) {
      this.name = error === null ? 'null' : typeof error;
      if (typeof error === 'string') this.addText(error);
      else if (typeof error === 'number' || typeof error === 'boolean' || typeof error === 'bigint') this.addText(String(error));
      return;
    }
    const seen = new Set<object>();
    let node: unknown = error;
    for (let depth = 0; depth < MAX_CHAIN_DEPTH; depth++) {
      if (typeof node === 'string') {
        this.addText(node);
        break;
      }
      if (!isObjectLike(node) || seen.has(node)) break;
      seen.add(node);
      this.visit(node, depth);
      let next = read(node, 'cause');
      // Node's happy-eyeballs connect failures are AggregateErrors with the real errors inside.
      if (next === undefined) {
        next = firstOf(read(node, 'errors'));
      }
      node = next;
    }
  }
}

/** Reads status, retry-after, codes/types and text from any thrown value. Never throws. */
export function extractFacts(error: unknown): ErrorFacts {
  const c = new Collector();
  try {
    c.run(error);
  } catch {
    // Keep whatever was collected before the failure.
  }
  let status = c.status;
  if (status === undefined && c.text !== '') {
    const m = STATUS_IN_TEXT.exec(c.text);
    if (m) status = Number(m[1]);
  }
  const now = Date.now();
  let retryAfterMs: number | undefined;
  try {
    retryAfterMs = retryAfterFromHeaders(c.headers, status, now);
    if (retryAfterMs === undefined && c.floodgateCode !== undefined) retryAfterMs = floodgateRetryAfter(error, c, now);
  } catch {
    retryAfterMs = undefined;
  }
  return {
    types: c.types,
    text: c.text,
    lowerText: c.text.toLowerCase(),
    name: c.name,
    ...(status === undefined ? {} : { statusCode: status }),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    ...(c.code === undefined ? {} : { code: c.code }),
    ...(c.floodgateCode === undefined ? {} : { floodgateCode: c.floodgateCode }),
  };
}

/** floodgate's own errors say when to come back: RateLimitedError, CircuitOpenError, PlatformSuspendedError. */
function floodgateRetryAfter(error: unknown, c: Collector, now: number): number | undefined {
  if (c.ownRetryAfterMs !== undefined) return c.ownRetryAfterMs;
  for (const key of ['retryAt', 'suspendedUntil']) {
    const at = read(error, key);
    if (typeof at === 'number') return clampMs(at - now);
  }
  return undefined;
}
