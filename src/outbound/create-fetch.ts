import { runCall } from '../manager/call.js';
import type { ManagerCore } from '../manager/manager-core.js';
import type { Scope } from '../manager/scope.js';
import { forbidRetry } from '../manager/unretryable.js';
import type { CallContext } from '../tokens/charge.js';
import type { MeterOptions } from '../tokens/metering.js';
import { ConfigError } from '../errors/errors.js';
import { holdUntilBodyEnds } from './held-body.js';
import { bodyExcerpt, HttpStatusError } from './http-status-error.js';
import { admitToGuard, attemptDeadline, isIdempotent, isStreamBody, meteringOf, readOutboundOptions, readResponseSignals, refuseIfDegraded, type OutboundOptions } from './outbound-scope.js';
import { routeLabeller } from './routes.js';

export interface CreateFetchOptions extends OutboundOptions<[input: RequestInfo | URL, init: RequestInit | undefined]> {
  /** The fetch that makes each attempt. @default globalThis.fetch, read at each call */
  readonly fetch?: typeof globalThis.fetch;
}

/**
 * A `fetch` that sends every attempt through the manager's scope `service:provider`: admitted by
 * its limits, retried as floodgate decides, paused by the provider's rate-limit headers (from
 * every response), guarded by the anti-loop guard. It resolves with the final Response whatever
 * its status, as fetch does; floodgate's refusals and network errors reject. Nothing global is
 * patched. See README "Outbound HTTP".
 */
export function createFetch(options: CreateFetchOptions): typeof globalThis.fetch {
  const { core, service, provider, routes, idempotencyHeader, cost } = readOutboundOptions('createFetch', options, ['fetch']);
  const fetchImpl = options.fetch;
  if (fetchImpl !== undefined && typeof fetchImpl !== 'function') throw new ConfigError('fetch', fetchImpl, 'must be a fetch function');
  const routeOf = routeLabeller(routes);
  // The scope, looked up again only when the manager forgot scopes (as the decorators do).
  let scope: Scope | undefined;
  let generation = -1;
  return function floodgateFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    let outbound: OutboundCall;
    let signal: AbortSignal | null | undefined;
    let metering: MeterOptions | undefined;
    try {
      if (core.scopeGeneration !== generation || scope === undefined) {
        scope = core.scopeOf(service, provider);
        generation = core.scopeGeneration;
      }
      refuseIfDegraded(core, scope);
      // A URL string (the common case) is not a Request: no lookup of the global `Request`.
      const request = typeof input !== 'string' && input instanceof Request ? input : undefined;
      const method = methodOf(request, init);
      const replayable = !isOneShot(request, init) && (isIdempotent(method) || headersOf(request, init)?.has(idempotencyHeader) === true);
      outbound = new OutboundCall(core, scope, fetchImpl ?? globalThis.fetch, input, init, replayable, `${method} ${routeOf(input)}`);
      signal = init?.signal ?? request?.signal;
      if (cost !== undefined) metering = meteringOf(cost, [input, init]);
    } catch (error) {
      // A hostile `init` (a throwing getter) rejects the call, as fetch would.
      return Promise.reject(error);
    }
    return outbound.run(signal, metering);
  };
}

/**
 * One createFetch call: its attempts, and the responses they received. Every response but the
 * one handed to the caller is cancelled (an earlier attempt's error response, an attempt
 * abandoned at its deadline), so connections and concurrency slots are never left behind.
 */
class OutboundCall {
  /** Made at the first response (most calls get one and hand it out). */
  private responses: Response[] | null = null;
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
    this.discardResponses(kept);
  }

  /** Cancels the bodies of the responses kept so far, but `kept`'s. */
  private discardResponses(kept: Response | undefined): void {
    if (this.responses === null) return;
    for (const response of this.responses) if (response !== kept) discard(response);
    this.responses = null;
  }

  /** One attempt: guard, fetch, rate-limit headers, then the status decides success or failure. */
  private async attempt(callSignal: AbortSignal | undefined, call: CallContext): Promise<Response> {
    const { core, scope } = this;
    this.discardResponses(undefined); // an earlier attempt's answer, not needed any more
    admitToGuard(core, scope);
    const controller = scope.config.timeoutMs > 0 && scope.config.timeoutMs !== Infinity ? new AbortController() : null;
    const deadline = controller === null ? null : attemptDeadline(scope, (error) => controller.abort(error));
    let response: Response;
    try {
      const init = controller === null ? this.init : { ...this.init, signal: callSignal === undefined ? controller.signal : AbortSignal.any([callSignal, controller.signal]) };
      response = await this.fetchImpl(this.input, init);
    } catch (error) {
      clearTimeout(deadline ?? undefined);
      if (!(callSignal?.aborted ?? false)) core.guard.failure(scope.key, Date.now());
      if (!this.replayable) forbidRetry(error);
      throw error;
    }
    readResponseSignals(core, scope, call, response.status, response.headers);
    if (response.status >= 400) {
      let excerpt: string;
      try {
        excerpt = await bodyExcerpt(response);
      } finally {
        clearTimeout(deadline ?? undefined);
      }
      this.keep(response);
      const error = new HttpStatusError(this.endpoint, response, excerpt);
      finalResponses.set(error, response);
      if (!this.replayable) forbidRetry(error);
      throw error;
    }
    clearTimeout(deadline ?? undefined);
    if (response.body === null || scope.config.maxConcurrent === Infinity) return this.keep(response);
    // The slot stays taken until the body ends: the scope's `release()` at success is matched
    // by this extra hold, released by the body (end, error, cancel).
    scope.active++;
    return this.keep(holdUntilBodyEnds(response, scope));
  }

  /** Records an attempt's response so the call can cancel it unless it is the one handed out. */
  private keep(response: Response): Response {
    if (this.settled) discard(response); // an attempt abandoned at its deadline answered after the call ended
    else (this.responses ??= []).push(response);
    return response;
  }
}

/** The response behind each status error, for the caller once the retries end. */
const finalResponses = new WeakMap<HttpStatusError, Response>();

function discard(response: Response): void {
  if (response.body !== null && !response.bodyUsed) response.body.cancel().catch(() => {});
}

function methodOf(request: Request | undefined, init: RequestInit | undefined): string {
  const method = init?.method ?? request?.method ?? 'GET';
  return UPPERCASE_METHODS.has(method) ? method : method.toUpperCase();
}

/** Methods as most callers spell them: no new string to make. */
const UPPERCASE_METHODS: ReadonlySet<unknown> = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);

/** A body that cannot be sent twice: a stream, an async iterable, or a Request's own body. */
function isOneShot(request: Request | undefined, init: RequestInit | undefined): boolean {
  const body = init?.body;
  if (body === undefined) return request !== undefined && request.body !== null;
  return isStreamBody(body);
}

function headersOf(request: Request | undefined, init: RequestInit | undefined): Headers | undefined {
  return init?.headers !== undefined ? new Headers(init.headers) : request?.headers;
}
