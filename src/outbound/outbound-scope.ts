import { ErrorCategory, ErrorSeverity, type ErrorClassification } from '../classify/types.js';
import { CallTimeoutError, ConfigError } from '../errors/errors.js';
import type { ManagerCore } from '../manager/manager-core.js';
import type { Scope } from '../manager/scope.js';
import { coreOf, ThrottleManager, throttleManager } from '../manager/throttle-manager.js';
import type { CallContext } from '../tokens/charge.js';
import { splitCost, type Cost } from '../tokens/cost.js';
import type { MeterOptions } from '../tokens/metering.js';
import { parseRateLimitHeaders, type HeaderSource } from './rate-limit-headers.js';
import { compileRoutes, type CompiledRoute } from './routes.js';
import { feedTokenWindows, hasTokenFigures } from './token-figures.js';

/**
 * The options createFetch and the undici interceptor share: which scope, how endpoints are
 * labelled, when a non-idempotent request may be retried, what a request costs.
 * `R` is what the cost function receives (fetch's arguments, or undici's dispatch options).
 */
export interface OutboundOptions<R extends unknown[]> {
  /** The provider called (`github`, `openai`, ...): the scope is `service:provider`. */
  readonly provider: string;
  /** The service type whose configuration applies. @default 'http' */
  readonly service?: string;
  /** @default the process-wide throttleManager */
  readonly manager?: ThrottleManager;
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
   * `{ input, output }`, or a function of the request returning either (a bad value rejects
   * the call with ConfigError). The response's token headers then correct the windows
   * (README "Token figures"). @default none: a call is admitted while the windows are not full
   */
  readonly cost?: Cost | ((...request: R) => Cost);
}

/** The options read once and validated. */
export interface OutboundSettings<R extends unknown[]> {
  readonly core: ManagerCore;
  readonly service: string;
  readonly provider: string;
  readonly routes: readonly CompiledRoute[];
  /** Lowercased. */
  readonly idempotencyHeader: string;
  readonly cost: OutboundOptions<R>['cost'];
}

const SHARED_KEYS = ['provider', 'service', 'manager', 'routes', 'idempotencyHeader', 'cost'] as const;

/**
 * Reads each option once (a getter cannot answer differently later) and validates it; `extra`
 * names the caller's own options (createFetch's `fetch`), which it validates itself.
 */
export function readOutboundOptions<R extends unknown[]>(what: string, options: OutboundOptions<R>, extra: readonly string[]): OutboundSettings<R> {
  if (options === null || typeof options !== 'object') throw new ConfigError('options', options, 'must be an object with at least `provider`');
  const known = [...SHARED_KEYS, ...extra];
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new ConfigError(key, (options as unknown as Record<string, unknown>)[key], `unknown ${what} option (known: ${known.join(', ')})`);
  }
  const { provider, service = 'http', manager = throttleManager, routes = [], idempotencyHeader = 'Idempotency-Key', cost } = options;
  if (typeof provider !== 'string' || provider === '') throw new ConfigError('provider', provider, 'must be a non-empty string');
  if (typeof service !== 'string' || service === '') throw new ConfigError('service', service, 'must be a non-empty string');
  if (!(manager instanceof ThrottleManager)) throw new ConfigError('manager', manager, 'must be a ThrottleManager');
  if (typeof idempotencyHeader !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(idempotencyHeader)) {
    throw new ConfigError('idempotencyHeader', idempotencyHeader, 'must be an HTTP header name');
  }
  if (cost !== undefined && typeof cost !== 'function') splitCost(cost, 'cost');
  const core = coreOf(manager);
  // Validates the names now: a bad provider is a ConfigError at creation, not at the first call.
  core.scopeOf(service, provider);
  return { core, service, provider, routes: compileRoutes(routes), idempotencyHeader: idempotencyHeader.toLowerCase(), cost };
}

/** The metering of one request with a `cost` option (callers without one skip it: nothing allocated). */
export function meteringOf<R extends unknown[]>(cost: NonNullable<OutboundSettings<R>['cost']>, request: R): MeterOptions {
  return { cost: typeof cost === 'function' ? cost(...request) : cost };
}

/** Refuses a call at once while the guard is degraded, counted in the scope like any refusal. */
export function refuseIfDegraded(core: ManagerCore, scope: Scope): void {
  if (!core.guard.degraded) return;
  if (scope.config.mode === 'observe') return; // each attempt meets the guard (admitToGuard), counted there
  try {
    core.guard.throwIfDegraded(scope.key, Date.now());
  } catch (error) {
    scope.requests++;
    scope.incidents().rejected++;
    throw error;
  }
}

/** Counts an attempt in the anti-loop guard, which may refuse it (DegradedError) or trip. */
export function admitToGuard(core: ManagerCore, scope: Scope): void {
  if (!core.guard.watching) return;
  try {
    core.guard.admit(scope.key, Date.now());
  } catch (error) {
    // Observe mode: the guard decided (and may have tripped); the attempt is sent anyway.
    if (scope.config.mode !== 'observe' || !scope.letThrough(error)) throw error;
  }
}

/** Methods whose repetition has the effect of one request (RFC 9110 §9.2.2). */
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * Methods whose repetition has the effect of one request (RFC 9110 §9.2.2): an attempt may be
 * sent again when its method is one of them or it carries the idempotency header, and its body
 * can be sent twice (not a stream).
 */
export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}

/** A request body that cannot be sent twice: a stream or an async iterable. */
export function isStreamBody(body: unknown): boolean {
  return typeof body === 'object' && body !== null && (body instanceof ReadableStream || Symbol.asyncIterator in body || typeof (body as { pipe?: unknown }).pipe === 'function');
}

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
 * What every response tells the scope, whatever its status: the rate-limit headers pause it
 * (nothing left until a reset) and feed its token windows; a 429 or 5xx counts for the guard.
 */
export function readResponseSignals(core: ManagerCore, scope: Scope, call: CallContext, status: number, headers: HeaderSource): void {
  const figures = parseRateLimitHeaders(headers);
  if (figures !== null) {
    const pauseMs = figures.pauseMs ?? 0;
    const tokens = hasTokenFigures(figures);
    // The clock is read only when something needs the time (most responses need none).
    if (pauseMs > 0 || tokens) {
      const now = Date.now();
      if (pauseMs > 0) core.pauseScope(scope, pauseMs, HEADER_PAUSE, now);
      if (tokens) feedTokenWindows(scope, call, figures, now);
    }
  }
  if (status === 429 || status >= 500) core.guard.failure(scope.key, Date.now());
}

/**
 * An attempt's `timeoutMs` up to the response headers: aborts the request (with
 * CallTimeoutError) so that an attempt the call path gave up on does not keep its connection.
 * A stream's body is not under it: the caller's own signal governs the body. Null without a
 * finite `timeoutMs`.
 */
export function attemptDeadline(scope: Scope, abort: (error: Error) => void): ReturnType<typeof setTimeout> | null {
  const timeoutMs = scope.config.timeoutMs;
  if (!(timeoutMs > 0 && timeoutMs !== Infinity)) return null;
  const timer = setTimeout(() => abort(new CallTimeoutError(scope.key, timeoutMs)), timeoutMs);
  timer.unref();
  return timer;
}
