import { ErrorCategory, ErrorSeverity, type ErrorClassification } from '../classify/types.js';
import { CallTimeoutError, ConfigError } from '../errors/errors.js';
import { runCall } from '../manager/call.js';
import type { ManagerCore } from '../manager/manager-core.js';
import type { Scope } from '../manager/scope.js';
import { coreOf, ThrottleManager, throttleManager } from '../manager/throttle-manager.js';
import { forbidRetry } from '../manager/unretryable.js';
import type { CallContext } from '../tokens/charge.js';
import { splitCost, type Cost } from '../tokens/cost.js';
import type { MeterOptions } from '../tokens/metering.js';
import { holdUntilBodyEnds } from './held-body.js';
import { bodyExcerpt, HttpStatusError } from './http-status-error.js';
import { parseRateLimitHeaders } from './rate-limit-headers.js';
import { compileRoutes, routeOf, type CompiledRoute } from './routes.js';
import { feedTokenWindows } from './token-figures.js';

export interface CreateFetchOptions {
  /** The provider called (`github`, `openai`, ...): the scope is `service:provider`. */
  readonly provider: string;
  /** The service type whose configuration applies. @default 'http' */
  readonly service?: string;
  /** @default the process-wide throttleManager */
  readonly manager?: ThrottleManager;
  /** The fetch that makes each attempt. @default globalThis.fetch, read at each call */
  readonly fetch?: typeof globalThis.fetch;
  /**
   * Path templates (`'/repos/{owner}/{repo}'`, `'/v1/*'`) naming the endpoint label
   * `METHOD template`; a path no template matches is labelled `METHOD *`. The raw URL (ids,
   * query strings) is never a label. The first template that matches wins.
   * @default [] (every call is `METHOD *`)
   */
  readonly routes?: readonly string[];
  /**
   * The header whose presence makes a non-idempotent request (POST, PATCH, ...) safe to retry.
   * @default 'Idempotency-Key'
   */
  readonly idempotencyHeader?: string;
  /**
   * What a request costs against the scope's token caps (`tokensPerMinute`, ...): tokens,
   * `{ input, output }`, or a function of fetch's arguments returning either (a bad value
   * rejects the call with ConfigError). The response's token headers then correct the windows
   * (README "Token figures"). @default none: a call is admitted while the windows are not full
   */
  readonly cost?: Cost | ((input: RequestInfo | URL, init: RequestInit | undefined) => Cost);
}

/** Methods whose repetition has the effect of one request (RFC 9110 §9.2.2). */
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
const OPTION_KEYS: ReadonlySet<string> = new Set(['provider', 'service', 'manager', 'fetch', 'routes', 'idempotencyHeader', 'cost']);

/** What a pause from a response's rate-limit headers looks like in the `paused` event. */
const HEADER_PAUSE: ErrorClassification = Object.freeze({
  category: ErrorCategory.RATE_LIMIT,
  severity: ErrorSeverity.LOW,
  retryable: true,
  backoffMultiplier: 1,
  isBan: false,
  pattern: 'rate-limit-headers',
});

/**
 * A `fetch` that sends every attempt through the manager's scope `service:provider`: admitted by
 * its limits, retried as floodgate decides, paused by the provider's rate-limit headers (from
 * every response), guarded by the anti-loop guard. It resolves with the final Response whatever
 * its status, as fetch does; floodgate's refusals and network errors reject. Nothing global is
 * patched. See README "Outbound HTTP".
 */
export function createFetch(options: CreateFetchOptions): typeof globalThis.fetch {
  const settings = readOptions(options);
  const { service, provider, manager, routes, idempotencyHeader, cost } = settings;
  const core = coreOf(manager);
  // Validates the names now: a bad provider is a ConfigError at creation, not at the first call.
  core.scopeOf(service, provider);
  const fetchImpl = settings.fetch;
  return function floodgateFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    let scope: Scope;
    let outbound: OutboundCall;
    let signal: AbortSignal | null | undefined;
    let metering: MeterOptions | undefined;
    try {
      scope = core.scopeOf(service, provider);
      if (core.guard.degraded) refuseDegraded(core, scope);
      const method = methodOf(input, init);
      const replayable = isReplayable(method, input, init, idempotencyHeader);
      outbound = new OutboundCall(core, scope, fetchImpl ?? globalThis.fetch, input, init, replayable, `${method} ${routeOf(routes, input)}`);
      signal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
      if (cost !== undefined) metering = { cost: typeof cost === 'function' ? cost(input, init) : cost };
    } catch (error) {
      // A hostile `init` (a throwing getter) rejects the call, as fetch would.
      return Promise.reject(error);
    }
    return outbound.run(signal, metering);
  };
}

/** Refuses a call at once while the guard is degraded, counted in the scope like any refusal. */
function refuseDegraded(core: ManagerCore, scope: Scope): void {
  try {
    core.guard.throwIfDegraded(scope.key, Date.now());
  } catch (error) {
    scope.requests++;
    scope.incidents().rejected++;
    throw error;
  }
}

/**
 * One createFetch call: its attempts, and the responses they received. Every response but the
 * one handed to the caller is cancelled (an earlier attempt's error response, an attempt
 * abandoned at its deadline), so connections and concurrency slots are never left behind.
 */
class OutboundCall {
  private readonly responses: Response[] = [];
  private settled = false;

  constructor(
    private readonly core: ManagerCore,
    private readonly scope: Scope,
    private readonly fetchImpl: typeof globalThis.fetch,
    private readonly input: RequestInfo | URL,
    private readonly init: RequestInit | undefined,
    private readonly replayable: boolean,
    private readonly endpoint: string,
  ) {}

  async run(signal: AbortSignal | null | undefined, metering: MeterOptions | undefined): Promise<Response> {
    let response: Response;
    try {
      response = (await runCall(this.core, this.scope, this.endpoint, signal ?? undefined, (callSignal, call) => this.attempt(callSignal as AbortSignal | undefined, call as CallContext), undefined, undefined, metering)) as Response;
    } catch (error) {
      // A status error ends the call with its response, as fetch would have resolved.
      const final = error instanceof HttpStatusError ? finalResponses.get(error) : undefined;
      this.settle(final);
      if (final === undefined) throw error;
      return final;
    }
    this.settle(response);
    return response;
  }

  private settle(kept: Response | undefined): void {
    this.settled = true;
    for (const response of this.responses) if (response !== kept) discard(response);
    this.responses.length = 0;
  }

  /** One attempt: guard, fetch, rate-limit headers, then the status decides success or failure. */
  private async attempt(callSignal: AbortSignal | undefined, call: CallContext): Promise<Response> {
    const { core, scope } = this;
    for (const response of this.responses) discard(response); // an earlier attempt's answer, not needed any more
    this.responses.length = 0;
    core.guard.admit(scope.key, Date.now());
    const timeoutMs = scope.config.timeoutMs;
    const deadline = timeoutMs > 0 && timeoutMs !== Infinity ? new AttemptDeadline(scope.key, timeoutMs, callSignal) : null;
    let response: Response;
    try {
      const init = deadline === null ? this.init : { ...this.init, signal: deadline.signal };
      response = await this.fetchImpl(this.input, init);
    } catch (error) {
      deadline?.clear();
      if (!(callSignal?.aborted ?? false)) core.guard.failure(scope.key, Date.now());
      if (!this.replayable) forbidRetry(error);
      throw error;
    }
    const now = Date.now();
    const figures = parseRateLimitHeaders(response.headers, now);
    if (figures !== null) {
      if (figures.pauseMs !== undefined && figures.pauseMs > 0) core.pauseScope(scope, figures.pauseMs, HEADER_PAUSE, now);
      feedTokenWindows(scope, call, figures, now);
    }
    if (response.status >= 400) {
      if (response.status === 429 || response.status >= 500) core.guard.failure(scope.key, now);
      let excerpt: string;
      try {
        excerpt = await bodyExcerpt(response);
      } finally {
        deadline?.clear();
      }
      this.keep(response);
      const error = new HttpStatusError(this.endpoint, response, excerpt);
      finalResponses.set(error, response);
      if (!this.replayable) forbidRetry(error);
      throw error;
    }
    deadline?.clear();
    if (response.body === null || scope.config.maxConcurrent === Infinity) return this.keep(response);
    // The slot stays taken until the body ends: the scope's `release()` at success is matched
    // by this extra hold, released by the body (end, error, cancel).
    scope.active++;
    return this.keep(holdUntilBodyEnds(response, () => scope.release()));
  }

  /** Records an attempt's response so the call can cancel it unless it is the one handed out. */
  private keep(response: Response): Response {
    if (this.settled) discard(response); // an attempt abandoned at its deadline answered after the call ended
    else this.responses.push(response);
    return response;
  }
}

/** The response behind each status error, for the caller once the retries end. */
const finalResponses = new WeakMap<HttpStatusError, Response>();

function discard(response: Response): void {
  if (response.body !== null && !response.bodyUsed) response.body.cancel().catch(() => {});
}

/**
 * An attempt's `timeoutMs` up to the response headers: aborts the fetch (with CallTimeoutError)
 * so that an attempt the call path gave up on does not keep its connection. A stream's body is
 * not under it: the caller's own signal governs the body.
 */
class AttemptDeadline {
  private readonly controller = new AbortController();
  private readonly timer: ReturnType<typeof setTimeout>;
  readonly signal: AbortSignal;

  constructor(scope: string, timeoutMs: number, callSignal: AbortSignal | undefined) {
    this.timer = setTimeout(() => this.controller.abort(new CallTimeoutError(scope, timeoutMs)), timeoutMs);
    this.timer.unref();
    this.signal = callSignal === undefined ? this.controller.signal : AbortSignal.any([callSignal, this.controller.signal]);
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}

function methodOf(input: RequestInfo | URL, init: RequestInit | undefined): string {
  const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
  return method.toUpperCase();
}

/**
 * Whether an attempt may be sent again: an idempotent method, or one carrying the idempotency
 * header; and a body that can be sent twice (a stream, or a Request's own body, cannot).
 */
function isReplayable(method: string, input: RequestInfo | URL, init: RequestInit | undefined, idempotencyHeader: string): boolean {
  const body = init?.body;
  if (body === undefined && input instanceof Request && input.body !== null) return false;
  if (body !== null && body !== undefined && typeof body === 'object' && (body instanceof ReadableStream || Symbol.asyncIterator in body)) return false;
  if (IDEMPOTENT.has(method)) return true;
  const headers = init?.headers !== undefined ? new Headers(init.headers) : input instanceof Request ? input.headers : undefined;
  return headers !== undefined && headers.has(idempotencyHeader);
}

interface Settings {
  readonly provider: string;
  readonly service: string;
  readonly manager: ThrottleManager;
  readonly fetch: typeof globalThis.fetch | undefined;
  readonly routes: readonly CompiledRoute[];
  readonly idempotencyHeader: string;
  readonly cost: CreateFetchOptions['cost'];
}

/** Reads each option once (a getter cannot answer differently later) and validates it. */
function readOptions(options: CreateFetchOptions): Settings {
  if (options === null || typeof options !== 'object') throw new ConfigError('options', options, 'must be an object with at least `provider`');
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new ConfigError(key, (options as unknown as Record<string, unknown>)[key], `unknown createFetch option (known: ${[...OPTION_KEYS].join(', ')})`);
  }
  const { provider, service = 'http', manager = throttleManager, fetch, routes = [], idempotencyHeader = 'Idempotency-Key', cost } = options;
  if (typeof provider !== 'string' || provider === '') throw new ConfigError('provider', provider, 'must be a non-empty string');
  if (typeof service !== 'string' || service === '') throw new ConfigError('service', service, 'must be a non-empty string');
  if (!(manager instanceof ThrottleManager)) throw new ConfigError('manager', manager, 'must be a ThrottleManager');
  if (fetch !== undefined && typeof fetch !== 'function') throw new ConfigError('fetch', fetch, 'must be a fetch function');
  if (typeof idempotencyHeader !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(idempotencyHeader)) {
    throw new ConfigError('idempotencyHeader', idempotencyHeader, 'must be an HTTP header name');
  }
  if (cost !== undefined && typeof cost !== 'function') splitCost(cost, 'cost');
  return { provider, service, manager, fetch, routes: compileRoutes(routes), idempotencyHeader, cost };
}
