import { describe, it, expect } from 'vitest';
import { redactHeaders, redactText, redactUrl, summarizeError, REDACTED } from '../../src/classify/index.js';
import { axiosError, OpenAIAPIError } from './fixtures.js';

// Built at runtime so this file does not itself look like it leaks keys to secret scanners.
const OPENAI_KEY = ['sk', 'proj', 'Abc123Def456Ghi789Jkl012Mno345'].join('-');
const ANTHROPIC_KEY = ['sk', 'ant', 'api03', 'ZyX987wvU654tsR321qpO'].join('-');
const SLACK = ['xoxb', '123456789012', 'AbCdEfGhIjKl'].join('-');
const GITHUB = `ghp_${'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8'}`;
const AWS = `AKIA${'IOSFODNN7EXAMPLE'}`;
const HEX = 'deadbeefcafebabe0123456789abcdef';

describe('redactText', () => {
  it('redacts a secret however often it was seen, and however many clean texts came before', () => {
    const secret = `GET /v1/items?token=${HEX} failed`;
    for (let i = 0; i < 3; i++) expect(redactText(secret)).not.toContain(HEX);
    for (let i = 0; i < 2_000; i++) expect(redactText(`HTTP 503 #${i}`)).toBe(`HTTP 503 #${i}`);
    expect(redactText('read ECONNRESET')).toBe('read ECONNRESET');
    expect(redactText(secret)).not.toContain(HEX);
    expect(redactText(`${'x'.repeat(300)} token=${HEX}`)).not.toContain(HEX);
  });

  it.each([
    ['an OpenAI key', `Incorrect API key provided: ${OPENAI_KEY}.`, OPENAI_KEY],
    ['an Anthropic key', `key ${ANTHROPIC_KEY} rejected`, ANTHROPIC_KEY],
    ['a Slack token', `token ${SLACK} revoked`, SLACK],
    ['a GitHub token', `push with ${GITHUB} failed`, GITHUB],
    ['an AWS access key id', `The security token ${AWS} is invalid`, AWS],
    ['a Bearer token', 'Authorization failed for Bearer abc.def.ghi-very-secret', 'abc.def.ghi-very-secret'],
    ['an Authorization header line', 'Request headers: Authorization: Basic dXNlcjpwYXNz\nAccept: */*', 'dXNlcjpwYXNz'],
    ['a Cookie header line', 'Cookie: session=s3cr3t; theme=dark', 's3cr3t'],
    ['an x-api-key header line', 'x-api-key: my-private-key-value', 'my-private-key-value'],
    ['a hex token after token=', `GET /v1/items?token=${HEX} failed`, HEX],
    ['a token after key=', `GET /maps?key=${HEX}&q=x`, HEX],
    ['a JSON body secret', `body: {"api_key": "${HEX}", "q": 1}`, HEX],
    ['URL credentials', 'connect to https://admin:hunter2@db.example.com/x failed', 'hunter2'],
  ])('removes %s', (_what, input, secret) => {
    const out = redactText(input);
    expect(out).not.toContain(secret);
    expect(out).toContain(REDACTED);
  });

  it('keeps the rest of the message readable', () => {
    expect(redactText(`Incorrect API key provided: ${OPENAI_KEY}. You can find your key at https://platform.openai.com.`)).toBe(
      'Incorrect API key provided: [REDACTED]. You can find your key at https://platform.openai.com.',
    );
    expect(redactText('monkey=banana and task-1234567890abcdef')).toBe('monkey=banana and task-1234567890abcdef');
  });

  it('is idempotent', () => {
    const once = redactText(`Bearer ${HEX} key=${HEX} https://u:p@h/ ${OPENAI_KEY}`);
    expect(redactText(once)).toBe(once);
  });

  it('returns an empty string for non-strings', () => {
    expect(redactText(undefined as unknown as string)).toBe('');
  });
});

describe('redactUrl', () => {
  it.each(['api_key', 'apikey', 'key', 'token', 'access_token', 'secret', 'signature', 'password', 'auth', 'X-Amz-Signature'])(
    'redacts the %s query parameter',
    (name) => {
      const out = redactUrl(`https://api.example.com/v1/x?page=2&${name}=${HEX}#frag`);
      expect(out).toBe(`https://api.example.com/v1/x?page=2&${name}=[REDACTED]#frag`);
    },
  );

  it('redacts user info and accepts URL objects', () => {
    expect(redactUrl(new URL('https://user:pa55@example.com/p?q=1'))).toBe('https://[REDACTED]@example.com/p?q=1');
  });

  it('redacts a Telegram bot token in the path', () => {
    const token = `123456789:${'AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw'}`;
    expect(redactUrl(`https://api.telegram.org/bot${token}/getMe`)).not.toContain(token);
  });
});

describe('redactHeaders', () => {
  const secretHeaders = {
    Authorization: `Bearer ${OPENAI_KEY}`,
    'Proxy-Authorization': 'Basic dXNlcjpwYXNz',
    Cookie: 'session=abc',
    'Set-Cookie': 'sid=xyz; HttpOnly',
    'x-api-key': ANTHROPIC_KEY,
    'api-key': HEX,
    'Content-Type': 'application/json',
  };

  it.each([
    ['a plain object', secretHeaders],
    ['a Headers', new Headers(secretHeaders)],
    ['a Map', new Map(Object.entries(secretHeaders))],
    ['pairs', Object.entries(secretHeaders)],
  ])('redacts credential headers in %s and keeps the others', (_what, headers) => {
    const out = redactHeaders(headers);
    const json = JSON.stringify(out);
    for (const secret of [OPENAI_KEY, 'dXNlcjpwYXNz', 'session=abc', 'sid=xyz', ANTHROPIC_KEY, HEX]) expect(json).not.toContain(secret);
    const contentType = Object.entries(out).find(([k]) => k.toLowerCase() === 'content-type');
    expect(contentType?.[1]).toBe('application/json');
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });

  it('never throws and returns {} for non-objects', () => {
    expect(redactHeaders(null)).toEqual({});
    expect(redactHeaders('Authorization: x')).toEqual({});
    expect(() => redactHeaders(new Proxy({}, { ownKeys: () => { throw new Error('x'); } }))).not.toThrow();
  });
});

describe('summarizeError', () => {
  it('gives name, redacted message, code and status', () => {
    const e = new OpenAIAPIError(401, { message: `Incorrect API key provided: ${OPENAI_KEY}.`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' }, new Headers());
    const summary = summarizeError(e);
    expect(summary).toMatchObject({ name: 'Error', code: 'invalid_api_key', statusCode: 401 });
    expect(summary.message).toContain('Incorrect API key provided');
    expect(JSON.stringify(summary)).not.toContain(OPENAI_KEY);
  });

  it('redacts secrets found in response bodies and causes', () => {
    const e = new Error('upstream failed', { cause: axiosError(500, { message: `echo: Authorization: Bearer ${HEX}` }) });
    const summary = summarizeError(e);
    expect(summary.message).toContain('upstream failed');
    expect(JSON.stringify(summary)).not.toContain(HEX);
  });

  it('truncates long messages to 500 characters', () => {
    expect(summarizeError(new Error('x'.repeat(10_000))).message.length).toBeLessThanOrEqual(500);
  });

  it('summarizes non-errors', () => {
    expect(summarizeError('boom')).toEqual({ name: 'string', message: 'boom' });
    expect(summarizeError(null)).toEqual({ name: 'null', message: '' });
    expect(summarizeError(undefined)).toEqual({ name: 'undefined', message: '' });
    expect(summarizeError({ message: `key=${HEX}` })).toEqual({ name: 'Object', message: 'key=[REDACTED]' });
  });
});
