/**
 * `floodgate/undici`: createFetch's behaviour as an undici interceptor, for programs that
 * configure a dispatcher (`new Agent().compose(floodgateInterceptor({ provider }))`) instead of
 * wrapping fetch. undici is an optional peer: the types below are structural, so this module's
 * declarations never import undici's.
 */
import { runCall } from '../manager/call.js';
import type { ManagerCore } from '../manager/manager-core.js';
import type { Scope } from '../manager/scope.js';
import { forbidRetry } from '../manager/unretryable.js';
import type { CallContext } from '../tokens/charge.js';
import type { MeterOptions } from '../tokens/metering.js';
import { chunksExcerpt, HttpStatusError } from './http-status-error.js';
import { admitToGuard, attemptDeadline, isIdempotent, isStreamBody, meteringOf, readOutboundOptions, readResponseSignals, refuseIfDegraded, type OutboundOptions } from './outbound-scope.js';
import type { HeaderSource } from './rate-limit-headers.js';
import { routeOfPath } from './routes.js';

/** Response headers as undici hands them to a handler: lowercase names. */
export type DispatchHeaders = Record<string, string | string[] | undefined>;

/** What the interceptor reads of undici's dispatch options (its `Dispatcher.DispatchOptions`). */
export interface DispatchRequest {
  readonly origin?: string | URL | undefined;
  readonly path: string;
  readonly method: string;
  readonly body?: unknown;
  readonly headers?: unknown;
}

/** undici's `Dispatcher.DispatchController` (undici 7). */
export interface DispatchController {
  readonly aborted: boolean;
  readonly paused: boolean;
  readonly reason: Error | null;
  abort(reason: Error): void;
  pause(): void;
  resume(): void;
}

/** undici's `Dispatcher.DispatchHandler`, the controller-based methods (undici 7). */
export interface DispatchHandler {
  onRequestStart?(controller: DispatchController, context: unknown): void;
  onRequestUpgrade?(controller: DispatchController, statusCode: number, headers: DispatchHeaders, socket: unknown): void;
  onResponseStart?(controller: DispatchController, statusCode: number, headers: DispatchHeaders, statusMessage?: string): void;
  onResponseData?(controller: DispatchController, chunk: Uint8Array): void;
  onResponseEnd?(controller: DispatchController, trailers: DispatchHeaders): void;
  onResponseError?(controller: DispatchController, error: Error): void;
}

/**
 * undici's `Dispatcher['dispatch']`. Declared as a method so that its parameters compare
 * bivariantly, as undici's own (a method too) do: undici's richer option and handler types
 * then fit it both ways without this package naming them.
 */
export type Dispatch = { dispatch(options: DispatchRequest, handler: DispatchHandler): boolean }['dispatch'];

/**
 * What `floodgateInterceptor` returns: give it to `dispatcher.compose(...)`. Generic so that it
 * takes and gives back undici's own `Dispatch` type, whatever its version declares.
 */
export type FloodgateInterceptor = <D extends Dispatch>(dispatch: D) => D;

/** As createFetch's options (without `fetch`); a `cost` function receives undici's dispatch options. */
export type InterceptorOptions = OutboundOptions<[request: DispatchRequest]>;

/**
 * An undici interceptor that sends every request dispatched through it via the manager's scope
 * `service:provider`, as createFetch does: admitted by the scope's limits, retried as floodgate
 * decides, paused and token-fed by the provider's rate-limit headers (from every response),
 * guarded by the anti-loop guard, with the `maxConcurrent` slot held until the body ends. The
 * handler receives the final response whatever its status; an error response is read whole
 * before floodgate decides on a retry, and replayed to the handler if it is the final one.
 * See README "undici interceptor".
 */
export function floodgateInterceptor(options: InterceptorOptions): FloodgateInterceptor {
  const settings = readOutboundOptions('floodgateInterceptor', options, []);
  return <D extends Dispatch>(dispatch: D): D => {
    const floodgateDispatch: Dispatch = (request, handler) => {
      new InterceptedCall(settings.core, dispatch, request, handler).start(settings);
      return true;
    };
    return floodgateDispatch as D;
  };
}

type Settings = ReturnType<typeof readOutboundOptions<[request: DispatchRequest]>>;

/** An error response read whole, replayed to the handler if it is the final answer. */
interface HeldErrorResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: DispatchHeaders;
  readonly chunks: Uint8Array[];
  trailers: DispatchHeaders;
}

/**
 * One dispatched request: its attempts, and the controller the handler holds for the whole call
 * (aborting it while the call waits takes it out of the queue; during an attempt it aborts it).
 */
class InterceptedCall implements DispatchController {
  aborted = false;
  paused = false;
  reason: Error | null = null;
  /** The attempt whose events reach the handler; null once the call has settled. */
  current: Attempt | null = null;
  /** The error response of the attempt that failed last, with the error it became. */
  heldError: { readonly error: HttpStatusError; readonly response: HeldErrorResponse } | null = null;
  scope!: Scope;
  endpoint = '';
  replayable = false;
  private cancel: AbortController | null = null;

  constructor(
    readonly core: ManagerCore,
    readonly dispatch: Dispatch,
    readonly request: DispatchRequest,
    readonly handler: DispatchHandler,
  ) {}

  start(settings: Settings): void {
    let metering: MeterOptions | undefined;
    try {
      this.scope = this.core.scopeOf(settings.service, settings.provider);
      refuseIfDegraded(this.core, this.scope);
      const { method, path, body, headers } = this.request;
      const upper = method.toUpperCase();
      this.replayable = !isStreamBody(body) && (isIdempotent(upper) || hasHeader(headers, settings.idempotencyHeader));
      this.endpoint = `${upper} ${routeOfPath(settings.routes, path)}`;
      if (settings.cost !== undefined) metering = meteringOf(settings.cost, [this.request]);
    } catch (error) {
      this.handler.onRequestStart?.(this, {});
      this.fail(error);
      return;
    }
    this.handler.onRequestStart?.(this, {});
    if (this.aborted) return this.fail(this.reason);
    this.cancel = new AbortController();
    runCall(this.core, this.scope, this.endpoint, this.cancel.signal, (signal, call) => this.attempt(signal as AbortSignal, call as CallContext), undefined, undefined, metering).then(
      () => {
        this.cancel = null;
      },
      (error: unknown) => {
        this.cancel = null;
        const held = this.heldError;
        if (held !== null && held.error === error) this.replay(held.response);
        else this.fail(error);
      },
    );
  }

  private attempt(signal: AbortSignal, call: CallContext): Promise<void> {
    this.heldError = null;
    admitToGuard(this.core, this.scope);
    return new Promise<void>((resolve, reject) => {
      const attempt = new Attempt(this, call, signal, resolve, reject);
      this.current = attempt;
      attempt.deadline = attemptDeadline(this.scope, (error) => attempt.abort(error));
      try {
        this.dispatch(this.request, attempt);
      } catch (error) {
        attempt.onResponseError(null, error as Error);
      }
    });
  }

  /** The call ended without a response to hand over: the handler gets the error (the caller's own reason after an abort). */
  private fail(error: unknown): void {
    this.current = null;
    const reported = this.aborted && this.reason !== null ? this.reason : error instanceof Error ? error : new Error(String(error));
    this.handler.onResponseError?.(this, reported);
  }

  private replay(response: HeldErrorResponse): void {
    this.current = null;
    const { handler } = this;
    handler.onResponseStart?.(this, response.status, response.headers, response.statusText);
    for (const chunk of response.chunks) {
      if (this.aborted) break;
      handler.onResponseData?.(this, chunk);
    }
    // Aborted by the handler while the held body was handed over: it ends as an abort does.
    if (this.aborted) handler.onResponseError?.(this, this.reason ?? new Error('aborted'));
    else handler.onResponseEnd?.(this, response.trailers);
  }

  abort(reason: Error): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.cancel?.abort(reason);
    this.current?.abort(reason);
  }

  pause(): void {
    this.paused = true;
    this.current?.controller?.pause();
  }

  resume(): void {
    this.paused = false;
    this.current?.controller?.resume();
  }
}

/**
 * One attempt's handler, between undici and the call. Headers of a success settle the attempt
 * and from then on its events go to the caller's handler (no retry once headers arrived); an
 * error status is read whole and becomes an HttpStatusError the classifier judges. An attempt
 * the call no longer waits for (abandoned at its deadline) is aborted and heard no more.
 */
class Attempt implements DispatchHandler {
  controller: DispatchController | null = null;
  deadline: ReturnType<typeof setTimeout> | null = null;
  private error: HeldErrorResponse | null = null;
  private streaming = false;
  private held = false;
  private pendingAbort: Error | null = null;

  constructor(
    private readonly call: InterceptedCall,
    private readonly context: CallContext,
    private readonly signal: AbortSignal,
    private readonly resolve: () => void,
    private readonly reject: (error: unknown) => void,
  ) {}

  abort(reason: Error): void {
    if (this.controller === null) this.pendingAbort = reason;
    else this.controller.abort(reason);
  }

  onRequestStart(controller: DispatchController): void {
    this.controller = controller;
    const reason = this.pendingAbort ?? (this.call.aborted ? this.call.reason : null);
    if (reason !== null) controller.abort(reason);
    else if (this.call.current === this && this.call.paused) controller.pause();
  }

  onRequestUpgrade(controller: DispatchController, statusCode: number, headers: DispatchHeaders, socket: unknown): void {
    clearTimeout(this.deadline ?? undefined);
    if (this.call.current !== this) return controller.abort(new Error('attempt abandoned'));
    this.streaming = true;
    this.resolve();
    this.call.handler.onRequestUpgrade?.(this.call, statusCode, headers, socket);
  }

  onResponseStart(controller: DispatchController, statusCode: number, headers: DispatchHeaders, statusMessage?: string): void {
    clearTimeout(this.deadline ?? undefined);
    const { call } = this;
    if (call.current !== this) return controller.abort(new Error('attempt abandoned'));
    const scope = call.scope;
    readResponseSignals(call.core, scope, this.context, statusCode, headerSource(headers));
    if (statusCode >= 400) {
      this.error = { status: statusCode, statusText: statusMessage ?? '', headers, chunks: [], trailers: {} };
      return;
    }
    this.streaming = true;
    if (scope.config.maxConcurrent !== Infinity) {
      // The slot stays taken until the body ends: the scope's `release()` at success is matched by this hold.
      scope.active++;
      this.held = true;
    }
    this.resolve();
    call.handler.onResponseStart?.(call, statusCode, headers, statusMessage);
  }

  onResponseData(_controller: DispatchController, chunk: Uint8Array): void {
    if (this.error !== null) this.error.chunks.push(chunk);
    else if (this.streaming) this.call.handler.onResponseData?.(this.call, chunk);
  }

  onResponseEnd(_controller: DispatchController, trailers: DispatchHeaders): void {
    const response = this.error;
    if (response !== null) {
      response.trailers = trailers;
      const error = new HttpStatusError(this.call.endpoint, response, chunksExcerpt(response.chunks));
      this.call.heldError = { error, response };
      if (!this.call.replayable) forbidRetry(error);
      this.reject(error);
      return;
    }
    if (!this.streaming) return;
    this.release();
    this.call.handler.onResponseEnd?.(this.call, trailers);
  }

  onResponseError(_controller: DispatchController | null, error: Error): void {
    clearTimeout(this.deadline ?? undefined);
    if (this.streaming) {
      this.release();
      if (this.call.current === this) this.call.handler.onResponseError?.(this.call, error);
      return;
    }
    if (!this.signal.aborted && !this.call.aborted) this.call.core.guard.failure(this.call.scope.key, Date.now());
    if (!this.call.replayable) forbidRetry(error);
    this.reject(error);
  }

  private release(): void {
    if (!this.held) return;
    this.held = false;
    this.call.scope.release();
  }
}

/** undici's response headers (lowercase names) as the rate-limit parser reads them. */
function headerSource(headers: DispatchHeaders): HeaderSource {
  return {
    get(name) {
      const value = headers[name];
      return value === undefined ? null : Array.isArray(value) ? value.join(', ') : String(value);
    },
  };
}

/** Whether undici's request headers (an object, a flat `[name, value, ...]` array, or an iterable of pairs) hold `name` (lowercase). */
function hasHeader(headers: unknown, name: string): boolean {
  if (typeof headers !== 'object' || headers === null) return false;
  if (Array.isArray(headers)) {
    if (typeof headers[0] === 'string') {
      for (let i = 0; i < headers.length; i += 2) if (String(headers[i]).toLowerCase() === name) return true;
      return false;
    }
    return headers.some((pair) => Array.isArray(pair) && String(pair[0]).toLowerCase() === name);
  }
  if (Symbol.iterator in headers) {
    for (const pair of headers as Iterable<unknown>) if (Array.isArray(pair) && String(pair[0]).toLowerCase() === name) return true;
    return false;
  }
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}
