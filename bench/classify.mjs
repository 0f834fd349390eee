// Classification cost: median time per error against the default pattern table.
import { redactText, ThrottleManager } from '../dist/index.js';
import { median, timeSync } from './harness.mjs';
import { connectionReset } from './stacks/targets.mjs';

class HttpError extends Error {
  constructor(status, message, extra = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    Object.assign(this, extra);
  }
}

/** A realistic mix of what providers and Node throw. */
export function errorMix() {
  const fetchFailed = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED', errno: -111, syscall: 'connect' }) });
  const axios429 = Object.assign(new Error('Request failed with status code 429'), {
    name: 'AxiosError',
    code: 'ERR_BAD_REQUEST',
    response: { status: 429, statusText: 'Too Many Requests', headers: { 'retry-after': '30', 'x-ratelimit-remaining': '0', 'content-type': 'application/json' } },
  });
  return [
    ['429 + Retry-After (axios-style `response.headers`)', axios429],
    ['429 + `Headers` (fetch-style)', new HttpError(429, 'Too Many Requests', { headers: new Headers({ 'retry-after': '2', 'x-ratelimit-reset': '1700000000' }) })],
    ['503 Service Unavailable', new HttpError(503, 'Service Unavailable')],
    ['ECONNRESET system error', connectionReset()],
    ['fetch failed TypeError with cause', fetchFailed],
    ['400 Bad Request', new HttpError(400, 'Bad Request: invalid parameter "model"')],
    ['plain Error', new Error('something unexpected happened')],
    ['string thrown', 'upstream said no'],
  ];
}

export function benchClassify({ quick }) {
  const manager = new ThrottleManager({ env: {} });
  const service = 'bench_classify';
  const mix = errorMix();
  const n = quick ? 2_000 : 20_000;
  const rounds = quick ? 5 : 11;
  const perKind = mix.map(([label, error]) => ({
    label,
    category: manager.classifyError(error, service).category,
    nsPerError: timeSync(() => manager.classifyError(error, service), { n, rounds }),
  }));
  const errors = mix.map(([, error]) => error);
  const mixNs = timeSync((i) => manager.classifyError(errors[i % errors.length], service), { n: n * 2, rounds });
  return { perKind, mixNs, medianOfKinds: median(perKind.map((k) => k.nsPerError)) };
}

/**
 * Redaction of a text a failure stores (history, events): a repeated short message (remembered
 * clean after the first time), a long clean body (too long to remember: every pass runs), and a
 * message carrying secrets in four forms (never remembered).
 */
export function benchRedact({ quick }) {
  const n = quick ? 2_000 : 20_000;
  const rounds = quick ? 5 : 11;
  const body =
    '<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 Service Temporarily Unavailable</h1></center>' +
    '<hr><center>nginx</center> upstream connect error or disconnect/reset before headers. reset reason: connection termination</body></html>';
  const secrets =
    'POST https://api.example.com/v1/chat?api_key=abcdef0123456789 failed: {"error":{"message":"Incorrect API key provided: ' +
    ['sk', 'proj', 'Abc123Def456Ghi789'].join('-') +
    "\"}} headers: { 'x-api-key': 'K0123456789abcdef', cookie: 'sid=0123456789' }";
  const texts = [
    ['repeated short message (`read ECONNRESET`)', 'read ECONNRESET'],
    [`long clean text (${body.length}-character HTML 503 body)`, body],
    [`text with secrets in four forms (${secrets.length} characters)`, secrets],
  ];
  return texts.map(([label, text]) => ({ label, nsPerText: timeSync(() => redactText(text), { n, rounds }) }));
}
