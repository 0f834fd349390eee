import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REDACTED, ThrottleManager, redactText, isPlatformSuspendedError, summarizeError } from 'floodgate';
import { useFakeManager } from '../helpers.js';

/**
 * Every form in which real code prints a secret, through every place floodgate shows a text:
 * the error summaries, the history, the statistics, the events, the status report, the
 * PlatformSuspendedError a ban or suspend() leaves behind, and the reason given to suspend().
 * Secrets are built at runtime, so that this file does not look like a leak to secret scanners.
 */
const join = (...parts: string[]): string => parts.join('');
const word = (n: number): string => join('Zq', String(n), 'x7Lm2Xp9Rt4Wk');

type Form = readonly [what: string, text: string, secret: string];
const FORMS: readonly Form[] = [
  // Header lines echoed into messages
  ['an Authorization header line', `Authorization: Bearer ${word(1)}`, word(1)],
  ['a Proxy-Authorization header line', `Proxy-Authorization: Digest ${word(2)}`, word(2)],
  ['a Bearer token in prose', `request with Bearer ${word(3)} was refused`, word(3)],
  ['Basic credentials', join('sent Basic ', 'dXNlcjpwYXNzd29yZDEy'), 'dXNlcjpwYXNzd29yZDEy'],
  ['a Cookie header line', `Cookie: sid=${word(5)}; theme=dark`, word(5)],
  ['a Set-Cookie header line', `Set-Cookie: session=${word(6)}; Path=/; HttpOnly`, word(6)],
  ['an x-api-key header line', `x-api-key: ${word(7)}`, word(7)],
  ['an X-Auth-Token header line', `X-Auth-Token: ${word(8)}`, word(8)],
  // URLs and forms
  ['URL credentials', `connect to https://admin:${word(9)}@db.example.com/x failed`, word(9)],
  ['an api_key query parameter', `GET https://api.example.com/v1/x?api_key=${word(10)}&q=1 failed`, word(10)],
  ['an access_token query parameter', `GET /me?access_token=${word(11)}`, word(11)],
  ['a client_secret form field', `grant_type=client_credentials&client_secret=${word(12)}`, word(12)],
  ['password= in prose', `login password=${word(13)} rejected`, word(13)],
  ['an X-Amz-Signature parameter', `GET /bucket/o?X-Amz-Signature=${word(14)}&X-Amz-Expires=60`, word(14)],
  // JSON, plain and printed again (escaped)
  ['a JSON api_key', `body: {"api_key":"${word(15)}"}`, word(15)],
  ['a JSON password with spaces', `{ "password" : "${word(16)}", "user": "a" }`, word(16)],
  ['a JSON authorization', `{"authorization":"Token ${word(17)}"}`, word(17)],
  ['escaped JSON api_key', join('{\\"api_key\\":\\"', word(18), '\\"}'), word(18)],
  ['escaped JSON token', join('payload "{\\"token\\": \\"', word(19), '\\", \\"n\\": 1}"'), word(19)],
  ['JSON.stringify of a JSON string', JSON.stringify(JSON.stringify({ client_secret: word(20), n: 1 })), word(20)],
  // util.inspect and repr of headers objects
  ["util.inspect of { 'x-api-key' }", `headers: ${inspect({ 'x-api-key': word(21), accept: '*/*' })}`, word(21)],
  ['util.inspect of { cookie }', inspect({ cookie: `sid=${word(22)}; theme=dark` }), word(22)],
  ['util.inspect of { authorization }', inspect({ authorization: `Token ${word(23)}` }), word(23)],
  ["util.inspect of { 'set-cookie': [...] }", inspect({ 'set-cookie': [`sid=${word(24)}; Path=/`, `csrf=${word(24)}`] }), word(24)],
  ['util.inspect of a Headers', inspect(new Headers({ 'x-api-key': word(25) })), word(25)],
  ['util.inspect of a Map', inspect(new Map([['authorization', `Token ${word(26)}`]])), word(26)],
  ['util.inspect of a request config', inspect({ config: { url: '/v1/x', headers: { 'X-Api-Key': word(27), Accept: 'application/json' } } }, { depth: 5 }), word(27)],
  ['util.inspect of an environment', inspect({ NODE_ENV: 'production', OPENAI_API_KEY: word(45), DB_PASSWORD: word(45) }), word(45)],
  ['a JSON key with a prefix', `{"openai_api_key": "${word(46)}", "x-goog-api-key": "${word(46)}"}`, word(46)],
  ['a Python repr', `{'api_key': '${word(28)}', 'q': 1}`, word(28)],
  ['a JS literal', `const apiKey = "${word(29)}";`, word(29)],
  // Colon forms (logs, YAML, prose)
  ['api_key: X', `api_key: ${word(30)}`, word(30)],
  ['token: X', `refresh failed, token: ${word(31)}`, word(31)],
  ['password: X', `password:  ${word(32)}, retry`, word(32)],
  ['client_secret:X', `client_secret:${word(33)}`, word(33)],
  ['YAML api_key: "X"', `api_key: "${word(34)}"`, word(34)],
  // Token shapes wherever they sit
  ['an OpenAI key', `calling with ${join('sk', '-proj-', 'Abc123Def456Ghi789Jkl012')} failed`, join('sk', '-proj-', 'Abc123Def456Ghi789Jkl012')],
  ['an Anthropic key', `key ${join('sk', '-ant-api03-', 'ZyX987wvU654tsR321qpO')} rejected`, join('sk', '-ant-api03-', 'ZyX987wvU654tsR321qpO')],
  ['a Stripe key', `charge with ${join('sk', '_live_', 'a1B2c3D4e5F6g7H8')} failed`, join('sk', '_live_', 'a1B2c3D4e5F6g7H8')],
  ['a Slack token', `token ${join('xoxb', '-123456789012-', 'AbCdEfGhIjKl')} revoked`, join('xoxb', '-123456789012-', 'AbCdEfGhIjKl')],
  ['a GitHub token', `push with ${join('ghp', '_', 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4')} failed`, join('ghp', '_', 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4')],
  ['an AWS access key id', `The security token ${join('AKIA', 'IOSFODNN7EXAMPLE')} is invalid`, join('AKIA', 'IOSFODNN7EXAMPLE')],
  ['a Google API key', `key=${join('AIza', 'SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6')} invalid`, join('AIza', 'SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6')],
  ['a Hugging Face token', `with ${join('hf', '_', 'AbCdEfGhIjKlMnOpQrStUv')} denied`, join('hf', '_', 'AbCdEfGhIjKlMnOpQrStUv')],
  ['a JWT', `session ${join('eyJ', 'hbGciOiJIUzI1NiJ9', '.', 'eyJzdWIiOiIxMjM0NTY3ODkwIn0', '.', 'dozjgNryP4J3jVmNHl0w5N')} expired`, join('hbGciOiJIUzI1NiJ9', '.', 'eyJzdWIiOiIxMjM0NTY3ODkwIn0')],
  ['a Telegram bot token in a URL path', `POST https://api.telegram.org/bot${join('123456789', ':', 'AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw')}/sendMessage`, 'AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw'],
];

/** Where the text rides on the thrown error: its message, an HTTP body (OpenAI shape), a cause. */
const CARRIERS = {
  message: (text: string, status: number): unknown => Object.assign(new Error(`HTTP ${status}: ${text}`), { status }),
  'response body': (text: string, status: number): unknown =>
    Object.assign(new Error(`Request failed with status code ${status}`), { response: { status, data: { error: { message: text } } } }),
  cause: (text: string, status: number): unknown => Object.assign(new Error(`upstream failed (${status})`, { cause: new Error(text) }), { status }),
} as const;

const SVC = 'secrets';
let manager: ThrottleManager;
let events: unknown[];
useFakeManager((m) => {
  manager = m;
  manager.configure(SVC, { requestsPerSecond: Infinity, burst: 100, requestsPerMinute: Infinity, retryAttempts: 1, backoffBaseMs: 0, backoffMaxMs: 0, circuitBreakerThreshold: 100 });
  events = [];
  for (const name of ['errorClassified', 'retry', 'banDetected', 'suspended', 'resumed', 'paused', 'rateLimited', 'circuitStateChange'] as const) {
    manager.on(name, (event: unknown) => events.push({ name, event }));
  }
});

function expectNoSecret(surface: string, value: unknown, secret: string): void {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  expect(text, `${surface} leaks the secret`).not.toContain(secret);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe.each(FORMS)('%s', (_what, text, secret) => {
  it('is redacted by redactText, which keeps it redacted when run again', () => {
    const once = redactText(text);
    expect(once).not.toContain(secret);
    expect(once).toContain(REDACTED);
    expect(redactText(once)).toBe(once);
  });

  it.each(Object.keys(CARRIERS) as (keyof typeof CARRIERS)[])('carried in the error %s: not in summaries, history, statistics, events, report, refusals', async (carrier) => {
    const make = CARRIERS[carrier];
    // A retryable failure (history, statistics, errorClassified, retry) ...
    const retried = make(text, 503);
    expectNoSecret('summarizeError', summarizeError(retried), secret);
    await rejection(manager.execute(SVC, () => Promise.reject(retried)));
    // ... then a ban (banDetected, suspended, the report's suspension, the refusal it causes).
    await rejection(manager.execute(SVC, () => Promise.reject(make(`captcha required: ${text}`, 403))));
    const refused = await rejection(manager.execute(SVC, () => 'never runs'));
    expect(isPlatformSuspendedError(refused)).toBe(true);

    const stats = manager.getErrorStatistics();
    expect(stats.total).toBe(3);
    expect(stats.recent.map((e) => e.error.message).join('\n')).toContain(REDACTED);
    expectNoSecret('the history', stats.recent, secret);
    expectNoSecret('the statistics', stats, secret);
    expect(events.map((e) => (e as { name: string }).name)).toEqual(expect.arrayContaining(['errorClassified', 'retry', 'banDetected', 'suspended']));
    expectNoSecret('the events', events, secret);
    const report = manager.getStatusReport();
    expect(report.scopes[SVC]!.suspension?.reason).toContain(REDACTED);
    expectNoSecret('the status report', report, secret);
    expectNoSecret('the refusal (PlatformSuspendedError)', { message: (refused as Error).message, reason: (refused as { reason: string }).reason }, secret);
  });

  it('given as the reason to suspend(): not in the report, the suspended event or the refusal', async () => {
    manager.suspend(SVC, { reason: `provider says: ${text}`, durationMs: 60_000 });
    const refused = await rejection(manager.execute(SVC, () => 'never runs'));
    expect(isPlatformSuspendedError(refused)).toBe(true);
    const reason = (refused as { reason: string }).reason;
    expect(reason).toContain('provider says: ');
    expect(reason).toContain(REDACTED);
    expectNoSecret('the refusal (PlatformSuspendedError)', { message: (refused as Error).message, reason }, secret);
    expectNoSecret('the suspended event', events, secret);
    expectNoSecret('the status report', manager.getStatusReport(), secret);
  });
});

describe('clean text stays as it was', () => {
  it.each([
    'monkey: banana, turkey: "club", hockey=3',
    'Authentication failed for user alice',
    'Bearer-token refresh scheduled',
    'key features: speed',
    "{ accept: 'application/json', 'content-type': 'text/plain' }",
  ])('%s', (text) => {
    expect(summarizeError(new Error(text)).message).toBe(text);
  });
});
