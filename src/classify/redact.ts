/**
 * Secrets must never leave the call: everything stored in history, counted, emitted or reported
 * passes through these helpers first. They over-redact rather than under-redact, never throw,
 * and use only linear RegExps (each starts on a literal or a bounded prefix), so hostile input
 * costs time proportional to its length.
 */
import { extractFacts, isObjectLike, read } from './extract.js';

export const REDACTED = '[REDACTED]';
const MAX_SUMMARY_MESSAGE = 500;
const MAX_SHORT = 100;
const MAX_HEADER_VALUE = 2_000;
const MAX_HEADERS = 200;

// Names whose values are credentials: query and form parameters, JSON and object keys, header
// names. Written as a tree of shared prefixes: every position of a text is tried against it.
const NAMES = [
  'x-(?:api-key|amz-(?:security-token|signature|credential)|auth-token|access-token)',
  'api[_-]?key',
  'access[_-]?(?:key|token)',
  'secret(?:[_-]?key)?',
  'private[_-]?key',
  'client[_-]?secret',
  '(?:refresh|id|session)[_-]?token',
  'auth(?:[_-]?token|orization)?',
  'proxy-authorization',
  'token',
  'sig(?:nature)?',
  'passw(?:or)?d',
  'pwd',
  'key',
  '(?:set-)?cookie',
].join('|');
// Every name above contains one of these: a text without any skips the name-keyed passes.
const NAME_HINT = /key|token|secret|sig|passw|pwd|auth|cookie|cred/i;

const TOKEN_SHAPES: readonly RegExp[] = [
  /\bsk-[A-Za-z0-9_-]{8,}/g, // OpenAI sk-/sk-proj-, Anthropic sk-ant-
  /\b[rsp]k_(?:live|test)_[A-Za-z0-9]{8,}/g, // Stripe
  /\bxox[abposre]-[A-Za-z0-9-]{8,}/g, // Slack
  /\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})/g, // GitHub
  /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, // AWS access key ids
  /\bAIza[0-9A-Za-z_-]{30,}/g, // Google API keys
  /\bhf_[A-Za-z0-9]{20,}/g, // Hugging Face
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, // JWTs
  /(?<![0-9])\d{6,12}:[A-Za-z0-9_-]{30,}/g, // Telegram bot tokens (they sit in URL paths)
];

// A name, bare or quoted, then its value in one of the forms code prints (one pass for all):
//  - quoted or bracketed after `:`, `=>` or `=`: JSON (`"api_key": "..."`), util.inspect and
//    Python repr of header objects (`'x-api-key': 'K...'`, `cookie: 'sid=...'`,
//    `'set-cookie': [ 'sid=...' ]`, a Map's `'authorization' => '...'`), JS and YAML literals;
//  - one bare word after a colon: `api_key: X`, `token: X` (logs, YAML, prose);
//  - one bare word after `=`: URLs, forms, `password=X` in prose.
// A name is matched from the start of its word and may carry a prefix of up to six words
// (`OPENAI_API_KEY`, `"db-password"`, `x-goog-api-key`), bounded so that no text makes the pass
// quadratic; so `monkey=` never matches `key=`. `[REDACTED]` is never a bare word, and as a
// bracketed value it is replaced by itself (idempotence).
const NAMED_VALUE = new RegExp(
  `(?<![A-Za-z0-9_-])(['"]?)((?:[A-Za-z0-9]{1,32}[_-]){0,6}(?:${NAMES}))\\1(?:` +
    `(\\s*(?::|=>|=)\\s*)('(?:[^'\\\\\\r\\n]|\\\\.)*'|"(?:[^"\\\\\\r\\n]|\\\\.)*"|\\[[^\\]]*\\])` +
    `|([ \\t]*:[ \\t]*)(?![\\s'"\\[])[^\\s,;'"&)}\\]]+` +
    `|=[^&\\s"'#<>;,]+)`,
  'gi',
);
// The same inside a JSON string printed again (`{\"api_key\":\"...\"}`): its quotes are `\"`.
const ESCAPED_JSON = new RegExp(`\\\\"(${NAMES})\\\\"(\\s*:\\s*)\\\\"(?:[^\\\\\\r\\n]|\\\\[^"])*\\\\"`, 'gi');
// Header lines echoed into text: `Authorization: Bearer ...`, `Cookie: a=1; b=2`, to the end of
// the line. The value starts on a visible character: a quoted one is NAMED_VALUE's.
const HEADER_LINE = /\b((?:proxy-)?authorization|set-cookie|cookie|x-api-key|api-key|x-auth-token|x-access-token)(\s*[:=][ \t]*)(?=[^\s"'])[^\r\n"']+/gi;
const BEARER = /\b(Bearer)\s+[A-Za-z0-9._~+/=-]{8,}/gi;
// "Basic" is ordinary English too: only a token that looks like base64 (a digit or padding) counts.
const BASIC = /\b(Basic) (?=[A-Za-z+/]*[0-9=])[A-Za-z0-9+/]{8,}={0,2}/g;
// `scheme://user:pass@host`: starts on the literal `://`, so it cannot backtrack quadratically.
const URL_CREDENTIALS = /:\/\/[^\s/?#@]+@/g;

const SENSITIVE_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'api-key',
]);
const SENSITIVE_HEADER_WORDS = /token|secret|passw|api-?key|signature|session|credential|auth|cookie/i;

/**
 * Texts found to hold nothing to redact. Providers repeat their messages ("read ECONNRESET",
 * "HTTP 503"), and a dozen RegExp passes cost more than the rest of recording a failure. Only
 * clean texts are kept, so no secret is held here; short ones only, and at most CLEAN_MAX.
 */
const CLEAN = new Set<string>();
const CLEAN_MAX = 512;
const CLEAN_MAX_LENGTH = 256;

/** Replaces API keys, tokens, credentials and secret parameters in free text with `[REDACTED]`. */
export function redactText(text: string): string {
  if (typeof text !== 'string') return '';
  if (text === '' || CLEAN.has(text)) return text;
  const redacted = redactAll(text);
  if (redacted === text && text.length <= CLEAN_MAX_LENGTH) {
    if (CLEAN.size >= CLEAN_MAX) CLEAN.clear();
    CLEAN.add(text);
  }
  return redacted;
}

function redactAll(text: string): string {
  try {
    let s = text;
    if (NAME_HINT.test(s)) {
      s = s.replace(ESCAPED_JSON, `\\"$1\\"$2\\"${REDACTED}\\"`);
      s = s.replace(HEADER_LINE, `$1$2${REDACTED}`);
      s = s.replace(NAMED_VALUE, namedValue);
    }
    s = s.replace(BEARER, `$1 ${REDACTED}`);
    s = s.replace(BASIC, `$1 ${REDACTED}`);
    s = s.replace(URL_CREDENTIALS, `://${REDACTED}@`);
    for (const shape of TOKEN_SHAPES) s = s.replace(shape, REDACTED);
    return s;
  } catch {
    // Only reachable on engine failures (out of memory): show nothing rather than the secret.
    return REDACTED;
  }
}

/** Keeps the name, the separator and a quoted value's quotes: `'x-api-key': '[REDACTED]'`, `token: [REDACTED]`. */
function namedValue(_match: string, quote: string, name: string, separator: string | undefined, quoted: string | undefined, colon: string | undefined): string {
  const key = `${quote}${name}${quote}`;
  if (quoted !== undefined) {
    const q = quoted[0] === '[' ? '' : quoted[0];
    return `${key}${separator}${q}${REDACTED}${q}`;
  }
  return colon !== undefined ? `${key}${colon}${REDACTED}` : `${key}=${REDACTED}`;
}

/** Redacts user-info and credential query parameters (and token shapes) in a URL. */
export function redactUrl(url: string | URL): string {
  let s: string;
  try {
    s = typeof url === 'string' ? url : String(url);
  } catch {
    return '';
  }
  return redactText(s);
}

function headerText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.filter((v) => typeof v === 'string' || typeof v === 'number').join(', ');
  return undefined;
}

/**
 * A plain-object copy of headers (Headers, Map, a plain object, or `[name, value]` pairs) with
 * credential headers replaced by `[REDACTED]` and every other value passed through {@link redactText}.
 */
export function redactHeaders(headers: unknown): Record<string, string> {
  const pairs: [string, string][] = [];
  const add = (key: unknown, value: unknown): void => {
    if (typeof key !== 'string' || pairs.length >= MAX_HEADERS) return;
    const v = headerText(value);
    if (v === undefined) return;
    const name = key.slice(0, MAX_SHORT);
    const lower = name.toLowerCase();
    const secret = SENSITIVE_HEADERS.has(lower) || SENSITIVE_HEADER_WORDS.test(lower);
    pairs.push([name, secret ? REDACTED : redactText(v.slice(0, MAX_HEADER_VALUE))]);
  };
  try {
    if (!isObjectLike(headers)) return {};
    if (Array.isArray(headers)) {
      for (const pair of headers.slice(0, MAX_HEADERS)) if (Array.isArray(pair)) add(pair[0], pair[1]);
    } else if (typeof read(headers, 'forEach') === 'function' && (headers instanceof Map || typeof read(headers, 'get') === 'function')) {
      // Headers and Map call back with (value, key).
      (headers as { forEach(cb: (value: unknown, key: unknown) => void): void }).forEach((value, key) => add(key, value));
    } else {
      for (const key of Object.keys(headers).slice(0, MAX_HEADERS)) add(key, read(headers, key));
    }
  } catch {
    // Keep what was copied; a hostile object cannot make this throw.
  }
  // fromEntries defines own properties, so a `__proto__` header cannot reach the prototype.
  return Object.fromEntries(pairs);
}

/** A safe, short description of any thrown value, for logs, history and events. */
export interface ErrorSummary {
  readonly name: string;
  /** Message (plus body text and cause messages), redacted and cut to 500 characters. */
  readonly message: string;
  readonly code?: string;
  readonly statusCode?: number;
}

function cut(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Summarizes any thrown value; secrets are redacted. Never throws. */
export function summarizeError(error: unknown): ErrorSummary {
  try {
    const facts = extractFacts(error);
    // Redact the whole (already length-capped) text before cutting: a secret straddling the cut
    // would otherwise survive half-visible.
    const summary: { name: string; message: string; code?: string; statusCode?: number } = {
      name: cut(redactText(facts.name), MAX_SHORT),
      message: cut(redactText(facts.text), MAX_SUMMARY_MESSAGE),
    };
    if (facts.code !== undefined) summary.code = cut(redactText(facts.code), MAX_SHORT);
    if (facts.statusCode !== undefined) summary.statusCode = facts.statusCode;
    return summary;
  } catch {
    return { name: 'unknown', message: '' };
  }
}
