/**
 * The read-only status routes, independent of the server framework: a request (method, path under
 * the prefix, the request object for `authorize`) becomes a reply (status, headers, body) or the
 * event stream. `createStatusHandler` (node:http), `statusRouter` (Express) and `statusPlugin`
 * (Fastify) only translate.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { redactText } from '../classify/redact.js';
import { ConfigError } from '../errors/errors.js';
import { ThrottleManager } from '../manager/throttle-manager.js';
import type { ScopeStatus, StatusReport } from '../status/report.js';
import { compress, negotiate, type Encoding } from './compress.js';
import { pageAsset } from './page-assets.js';

/** Options shared by `createStatusHandler`, `statusRouter` and `statusPlugin`. */
export interface StatusRoutesOptions<Req> {
  /** The manager whose report is shown. @default the process-wide `throttleManager` */
  readonly manager?: ThrottleManager;
  /**
   * Who may read the routes and the page: called with the framework's request for every request
   * to them; anything but `true`, a throw or a rejection answers `403` (fail closed). Without it,
   * anyone who reaches the server may read them: mount them on an internal port or put your
   * authentication first.
   * @default everyone
   */
  readonly authorize?: (req: Req) => boolean | Promise<boolean>;
  /**
   * How platforms (the part of a scope key after `service:`) are shown. Scope keys are the
   * caller's own names and often hold user or account ids (`llm_api:user-42`): `'hash'` shows
   * each platform as `#` + 12 hex digits of an HMAC under a key made when the handler is created
   * (stable while it runs, useless to reverse offline); `/metrics/:scope` then takes the shown key.
   * @default 'show'
   */
  readonly platforms?: 'show' | 'hash';
  /**
   * Serve `GET <prefix>/events`: a server-sent-events stream of the manager's low-volume events
   * (circuit changes, bans, suspensions, pauses, store health), whitelisted fields only, redacted.
   * The page uses it to refresh at once and to list recent events; without it the page polls.
   * @default true
   */
  readonly events?: boolean;
}

/** What a route answers: the framework adapter writes it. */
export type StatusReply =
  | { readonly kind: 'body'; readonly status: number; readonly headers: Readonly<Record<string, string>>; readonly body: string | Buffer }
  | { readonly kind: 'events'; readonly headers: Readonly<Record<string, string>> };

/** Security headers on every answer. */
const BASE_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
} as const;

/**
 * The page's policy: its own files only, nothing inline (every value from the report is set with
 * textContent, so even a missed escape could not run), no framing, no form posts.
 */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const JSON_HEADERS = { ...BASE_HEADERS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
const ASSET_HEADERS = { ...BASE_HEADERS, 'cache-control': 'no-cache', 'content-security-policy': PAGE_CSP, 'x-frame-options': 'DENY' };
export const EVENT_STREAM_HEADERS = {
  ...BASE_HEADERS,
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-store',
  'x-accel-buffering': 'no', // nginx: do not buffer the stream
};

const ALLOW = 'GET, HEAD';
/** Hashed platforms kept (`platforms: 'hash'`); past it the map starts afresh. */
const MAX_HASHED = 50_000;

/** A request as the routes see it. */
export interface StatusRequest {
  readonly method: string;
  /** The part of the path after the prefix, without the query; `''` for the prefix itself. */
  readonly path: string;
  /** The path the client asked for (for the redirect from `<prefix>` to `<prefix>/`). */
  readonly shownPath: string;
  readonly acceptEncoding: string | string[] | undefined;
}

export interface StatusRoutes<Req> {
  readonly manager: ThrottleManager;
  readonly eventsEnabled: boolean;
  /** The reply to `request`, or null when its path is none of the routes. `req` goes to `authorize`. */
  respond(request: StatusRequest, req: Req): Promise<StatusReply | null>;
  /** A scope key or event scope as shown (platform hashed when asked for). */
  showScope(key: string, service: string | undefined, platform: string | null | undefined): string;
}

export function createStatusRoutes<Req>(options: StatusRoutesOptions<Req>, where: string): StatusRoutes<Req> {
  if (typeof options !== 'object' || options === null) throw new ConfigError(where, options, 'must be an options object');
  const manager = options.manager ?? ThrottleManager.getInstance();
  // Structural, so a manager from another copy of the package works too.
  if (typeof manager?.getStatusReport !== 'function' || typeof manager.on !== 'function') throw new ConfigError('manager', manager, 'must be a ThrottleManager');
  const { authorize } = options;
  if (authorize !== undefined && typeof authorize !== 'function') throw new ConfigError('authorize', authorize, 'must be a function (req) => boolean | Promise<boolean>');
  const platforms = options.platforms ?? 'show';
  if (platforms !== 'show' && platforms !== 'hash') throw new ConfigError('platforms', platforms, "must be 'show' or 'hash'");
  const eventsEnabled = options.events ?? true;
  if (typeof eventsEnabled !== 'boolean') throw new ConfigError('events', eventsEnabled, 'must be a boolean');

  const hashKey = platforms === 'hash' ? randomBytes(32) : null;
  // Platforms repeat from one request to the next: each is hashed once (the map is bounded).
  const hashed = new Map<string, string>();
  const hashPlatform = (platform: string): string => {
    let shown = hashed.get(platform);
    if (shown === undefined) {
      if (hashed.size >= MAX_HASHED) hashed.clear();
      shown = `#${createHmac('sha256', hashKey!).update(platform).digest('hex').slice(0, 12)}`;
      hashed.set(platform, shown);
    }
    return shown;
  };
  const showScope = (key: string, service: string | undefined, platform: string | null | undefined): string =>
    hashKey === null || platform == null || service === undefined ? key : `${service}:${hashPlatform(platform)}`;

  async function allowed(req: Req): Promise<boolean> {
    if (authorize === undefined) return true;
    try {
      return (await authorize(req)) === true;
    } catch {
      return false; // fail closed: a guard that breaks lets nobody in
    }
  }

  function scopes(report: StatusReport): Record<string, ScopeStatus> {
    if (hashKey === null) return report.scopes as Record<string, ScopeStatus>;
    const shown: Record<string, ScopeStatus> = {};
    for (const [key, scope] of Object.entries(report.scopes)) {
      shown[showScope(key, scope.service, scope.platform)] = scope.platform === null ? scope : { ...scope, platform: hashPlatform(scope.platform) };
    }
    return shown;
  }

  return {
    manager,
    eventsEnabled,
    showScope,
    async respond({ method, path, shownPath, acceptEncoding }, req) {
      const route = matchRoute(path, eventsEnabled);
      if (route === null) return null;
      if (!(await allowed(req))) return jsonReply(403, { error: 'forbidden' }, null);
      if (method !== 'GET' && method !== 'HEAD') return { kind: 'body', status: 405, headers: { ...JSON_HEADERS, allow: ALLOW }, body: json({ error: 'method not allowed', allow: ALLOW }) };
      switch (route.name) {
        case 'redirect': {
          // Relative, so it works wherever the routes are mounted (Express sub-apps, proxies).
          const last = shownPath.slice(shownPath.lastIndexOf('/') + 1);
          return { kind: 'body', status: 308, headers: { ...BASE_HEADERS, location: `${last === '' ? '.' : last}/`, 'cache-control': 'no-store' }, body: '' };
        }
        case 'asset': {
          const asset = pageAsset(route.path, eventsEnabled)!;
          const { body, encoding } = asset.encoded(negotiate(acceptEncoding));
          return { kind: 'body', status: 200, headers: withEncoding({ ...ASSET_HEADERS, 'content-type': asset.type }, encoding), body };
        }
        case 'status': {
          const report = manager.getStatusReport();
          return jsonReply(200, { ...report, scopes: scopes(report) }, negotiate(acceptEncoding));
        }
        case 'metrics': {
          const report = manager.getStatusReport();
          const status = scopes(report)[route.scope];
          if (status === undefined) return jsonReply(404, { error: 'unknown scope', scope: route.scope }, null);
          return jsonReply(200, { generatedAt: report.generatedAt, scope: route.scope, status }, negotiate(acceptEncoding));
        }
        case 'events':
          return { kind: 'events', headers: EVENT_STREAM_HEADERS };
        case 'bad':
          return jsonReply(400, { error: 'malformed scope (bad percent-encoding)' }, null);
      }
    },
  };
}

type Route =
  | { readonly name: 'redirect' | 'status' | 'events' | 'bad' }
  | { readonly name: 'asset'; readonly path: string }
  | { readonly name: 'metrics'; readonly scope: string };

function matchRoute(path: string, eventsEnabled: boolean): Route | null {
  if (path === '') return { name: 'redirect' };
  if (path === '/status') return { name: 'status' };
  if (path === '/events') return eventsEnabled ? { name: 'events' } : null;
  if (path.startsWith('/metrics/') && path.length > '/metrics/'.length) {
    const raw = path.slice('/metrics/'.length);
    if (raw.includes('/')) return null;
    try {
      return { name: 'metrics', scope: decodeURIComponent(raw) };
    } catch {
      return { name: 'bad' };
    }
  }
  return pageAsset(path) === undefined ? null : { name: 'asset', path };
}

/**
 * Fields whose strings are names or enumerations, never free text: `service` and `platform` repeat
 * the scope key (an object key, which the replacer never sees: see the `platforms` option), the
 * rest are the report's own words. Skipping them keeps redaction off ~6 strings per scope.
 */
const NOT_FREE_TEXT: ReadonlySet<string> = new Set(['service', 'platform', 'state', 'mode', 'status', 'store', 'period', 'cause', 'from', 'to']);

/**
 * Every other string in a served body passes through the redaction the manager uses for errors:
 * the manager redacts what it records, and this keeps a secret a caller put in a manual
 * `suspend()` reason, a store error or a field added later off the wire too.
 */
export function json(value: unknown): string {
  return JSON.stringify(value, redactStrings);
}

function redactStrings(key: string, value: unknown): unknown {
  return typeof value === 'string' && !NOT_FREE_TEXT.has(key) ? redactText(value) : value;
}

function jsonReply(status: number, value: unknown, encoding: Encoding | null): StatusReply {
  const encoded = compress(json(value), encoding);
  return { kind: 'body', status, headers: withEncoding(JSON_HEADERS, encoded.encoding), body: encoded.body };
}

/** `Vary` always (a cache must not give one client's encoding to another). */
function withEncoding(headers: Readonly<Record<string, string>>, encoding: Encoding | null): Readonly<Record<string, string>> {
  return encoding === null ? { ...headers, vary: 'accept-encoding' } : { ...headers, vary: 'accept-encoding', 'content-encoding': encoding };
}

/** `/a/b?x=1` → `/a/b`. */
export function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}
