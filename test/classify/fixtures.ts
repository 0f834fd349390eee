// Errors built the way the real libraries build them, so the classifier is tested against
// the shapes users actually catch (not against objects shaped to suit the classifier).

/** undici's fetch: a TypeError('fetch failed') whose cause is the socket/DNS error. */
export function fetchFailed(code: string, message = `connect ${code} 127.0.0.1:1`): TypeError {
  return new TypeError('fetch failed', { cause: Object.assign(new Error(message), { code }) });
}

/** A Node system error as `net`/`dns` raise it. */
export function systemError(code: string, syscall: string, errno: number): Error {
  return Object.assign(new Error(`${syscall} ${code} api.example.com`), { code, errno, syscall, hostname: 'api.example.com' });
}

/** undici's own errors (UND_ERR_*), e.g. HeadersTimeoutError. */
export function undiciError(name: string, code: string, message: string): Error {
  const e = new Error(message);
  e.name = name;
  return Object.assign(e, { code });
}

/** axios: `Request failed with status code N`, with the response attached. */
export function axiosError(status: number, data: unknown, headers: Record<string, string> = {}): Error {
  return Object.assign(new Error(`Request failed with status code ${status}`), {
    name: 'AxiosError',
    code: status >= 500 ? 'ERR_BAD_RESPONSE' : 'ERR_BAD_REQUEST',
    isAxiosError: true,
    config: { url: 'https://api.example.com/v1/items' },
    response: { status, statusText: '', headers, data },
  });
}

/** The OpenAI SDK (v4+): APIError subclasses with status, Headers, the body's `error` object. */
export class OpenAIAPIError extends Error {
  readonly status: number | undefined;
  readonly headers: Headers | undefined;
  readonly error: { message: string; type: string; param: string | null; code: string | null } | undefined;
  readonly code: string | null | undefined;
  readonly type: string | undefined;

  constructor(status: number | undefined, error: OpenAIAPIError['error'], headers?: Headers) {
    super(status === undefined ? (error?.message ?? 'Connection error.') : `${status} ${error?.message ?? 'status code (no body)'}`);
    this.status = status;
    this.headers = headers;
    this.error = error;
    this.code = error?.code;
    this.type = error?.type;
  }
}
export class RateLimitError extends OpenAIAPIError {}
export class AuthenticationError extends OpenAIAPIError {}
export class APIConnectionError extends OpenAIAPIError {
  constructor(cause?: unknown) {
    super(undefined, undefined);
    if (cause !== undefined) Object.defineProperty(this, 'cause', { value: cause });
  }
}
export class APIConnectionTimeoutError extends APIConnectionError {
  constructor() {
    super();
    this.message = 'Request timed out.';
  }
}

/** The Anthropic SDK: `error` is the whole body `{ type: 'error', error: { type, message } }`. */
export class AnthropicAPIError extends Error {
  readonly status: number;
  readonly headers: Headers;
  readonly error: { type: 'error'; error: { type: string; message: string } };

  constructor(status: number, type: string, message: string, headers: Record<string, string> = {}) {
    const body = { type: 'error' as const, error: { type, message } };
    super(`${status} ${JSON.stringify(body)}`);
    this.status = status;
    this.headers = new Headers(headers);
    this.error = body;
  }
}

/** A fetch wrapper that throws with the Response attached (ky, hand-written clients). */
export function httpErrorWithResponse(status: number, headers: Record<string, string> = {}): Error {
  return Object.assign(new Error(`Request failed with status code ${status}`), {
    name: 'HTTPError',
    response: new Response(null, { status, headers }),
  });
}

/** AWS SDK v3 service exceptions. */
export function awsError(name: string, httpStatusCode: number): Error {
  const e = new Error(`${name}: Rate exceeded`);
  e.name = name;
  return Object.assign(e, { $fault: 'client', $metadata: { httpStatusCode, requestId: 'abc', attempts: 1 } });
}
