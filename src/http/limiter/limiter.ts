/**
 * Inbound limits for your own HTTP server, on the manager's scopes: each endpoint group is a
 * service (`inbound.<group>`), each client key a platform of it (hashed), so limits, counters,
 * the status report and fleet mode (Redis) are the manager's own. `createLimiter` for node:http;
 * `limiterMiddleware` (Express) and `limiterPlugin` (Fastify) translate.
 */
import { hash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BlockList } from 'node:net';
import { CircuitOpenError, ConfigError, DegradedError, PlatformSuspendedError, retryAfterOf } from '../../errors/errors.js';
import { brandOf } from '../../errors/floodgate-error.js';
import { runCall } from '../../manager/call.js';
import type { ManagerCore } from '../../manager/manager-core.js';
import type { Scope } from '../../manager/scope.js';
import { coreOf, ThrottleManager } from '../../manager/throttle-manager.js';
import type { ScopeLimiter } from '../../stores/types.js';
import { pathOf } from '../status-routes.js';
import { boundedMemo } from './bounded-memo.js';
import { addressKey, compileTrustedProxies, forwardedHops, isTrusted, unmapIPv4 } from './client-address.js';
import { GroupTable, TOTAL_PLATFORM, type Group, type GroupLimits } from './groups.js';
import { checkHeaderFormats, policyHeaders, quotaHeaders, stateHeaders, type QuotaPolicy, type QuotaState, type RateLimitHeaderFormat } from './ratelimit-headers.js';

/** Why a request was refused; `refusalStatus` maps each to a status code. */
export type RefusalKind = 'rate_limited' | 'suspended' | 'circuit_open' | 'degraded';

/** Where a client key comes from: header names (the first present wins), a function of the request, or `false` (not used). */
export type KeySource<Req> = readonly string[] | ((req: Req) => string | number | null | undefined) | false;

/** How requests are told apart: actor, then session, then the client address. */
export interface LimiterKeys<Req = IncomingMessage> {
  /** @default ['x-actor', 'x-user-id'] */
  readonly actor?: KeySource<Req>;
  /** @default ['x-session-id'] */
  readonly session?: KeySource<Req>;
  /**
   * Who may name the actor and session by header. Anyone can send `X-Actor: <random>` and get a
   * fresh quota with every request, so by default the headers count only on requests from a
   * trusted proxy (`trustProxy`: your gateway or frontend server that sets them); from other
   * peers they are ignored (one warning) and the client address is the key. `'anyone'` when the
   * server is reachable only by callers you trust. Key functions are always used.
   * @default 'trusted-proxies'
   */
  readonly headersFrom?: 'trusted-proxies' | 'anyone';
  /** IPv6 clients are keyed by this network prefix: one subscriber usually holds a whole /64. @default 64 */
  readonly ipv6Subnet?: number;
  /**
   * The HMAC key that hashes keys before they are stored or shown (`actor:<22 chars>`). Random per
   * limiter by default; a fleet (Redis store) must give every instance the same one (at least 16
   * bytes), or each instance keys alike clients apart. Never printed.
   * @default 32 random bytes
   */
  readonly secret?: string | Uint8Array;
}

export interface LimiterOptions<Req = IncomingMessage> {
  /**
   * Endpoint groups by path template (`'/exact'`, `'/users/:id'`, prefix `'/api/v1/chat/*'`), each
   * with its limits per client key and, in `total`, for all keys together; the most specific
   * template matches. `default` holds the limits of unmatched paths (`false`: unmatched paths are
   * not limited).
   * @default { default: { requestsPerMinute: 200 } }
   */
  readonly groups?: Readonly<Record<string, GroupLimits | false>>;
  readonly keys?: LimiterKeys<Req>;
  /**
   * The RateLimit header fields on every limited response, admitted or refused: IETF `draft-8`
   * (`RateLimit-Policy: "chat";q=300;w=60`, `RateLimit: "chat";r=299;t=1`), `draft-7`
   * (`RateLimit-Policy: 300;w=60`, `RateLimit: limit=300, remaining=299, reset=1`), `legacy`
   * (`X-RateLimit-Limit`, `-Remaining`, `-Reset` as an epoch second), a list, or `false`.
   * `Retry-After` is on every refusal whatever this says.
   * @default 'draft-8'
   */
  readonly headers?: RateLimitHeaderFormat | readonly RateLimitHeaderFormat[] | false;
  /**
   * Paths never limited nor counted (exact, or a prefix ending in `/*`): health and readiness
   * probes. Your list replaces the default.
   * @default ['/health', '/healthz', '/ready', '/readyz', '/livez']
   */
  readonly exempt?: readonly string[];
  /** The manager whose scopes hold the limits. @default the process-wide `throttleManager` */
  readonly manager?: ThrottleManager;
  /**
   * The proxies whose forwarded header is believed: addresses, CIDR ranges (`'10.0.0.0/8'`,
   * `'fd00::/8'`) or `'loopback'`, `'linklocal'`, `'uniquelocal'`. The client is the nearest hop
   * that is not one of them. From any other peer the header is ignored (one warning). Independent
   * of Express's `trust proxy` setting.
   * @default [] (the peer's own address is the client)
   */
  readonly trustProxy?: readonly string[];
  /** The header a trusted proxy names the client in. @default 'x-forwarded-for' */
  readonly forwardedHeader?: 'x-forwarded-for' | 'forwarded';
  /**
   * The status of each kind of refusal. `suspended` and `circuit_open`: a group's `upstream`
   * scope (or the group's own service, with `manager.suspend('inbound.<group>', ...)`) refuses
   * calls; `degraded`: the manager's anti-loop guard is degraded and the group names an
   * `upstream` (its requests would only reach a refused outbound call);
   * `{ suspended: 503, circuit_open: 503, degraded: 503 }` says "unavailable" rather than "slow down".
   * @default 429 for every kind
   */
  readonly refusalStatus?: Readonly<Partial<Record<RefusalKind, number>>>;
  /** Services are named `<name>.<group>`; two limiters on one manager need different names. @default 'inbound' */
  readonly name?: string;
  /** Match templates case-sensitively (Express and Fastify route case-insensitively by default). @default false */
  readonly caseSensitive?: boolean;
}

/** What a limiter decided for one request. */
export type Verdict =
  | { readonly admitted: true; readonly headers: Readonly<Record<string, string>> | null }
  | { readonly admitted: false; readonly status: number; readonly headers: Readonly<Record<string, string>>; readonly body: string };

export interface Limiter<Req = IncomingMessage> {
  /**
   * Resolves `true` when the request may go on (RateLimit headers set on `res`; its concurrency
   * slot is held until the response ends or the client goes away), `false` when the limiter
   * answered the refusal itself (429 or per `refusalStatus`, `Retry-After`, a small JSON body).
   */
  check(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /** The verdict without writing it: the framework adapters write it their way. `keyReq` goes to key functions. */
  decide(req: IncomingMessage, res: ServerResponse, keyReq: Req): Verdict | Promise<Verdict>;
  readonly manager: ThrottleManager;
}

/** Hashed keys and matched paths remembered (each memo). */
const MEMO_SIZE = 10_000;
const DEFAULT_EXEMPT = ['/health', '/healthz', '/ready', '/readyz', '/livez'];
const OPTION_KEYS: ReadonlySet<string> = new Set(['groups', 'keys', 'headers', 'exempt', 'manager', 'trustProxy', 'forwardedHeader', 'refusalStatus', 'name', 'caseSensitive']);
const KEY_OPTION_KEYS: ReadonlySet<string> = new Set(['actor', 'session', 'headersFrom', 'ipv6Subnet', 'secret']);
const REFUSAL_KINDS: readonly RefusalKind[] = ['rate_limited', 'suspended', 'circuit_open', 'degraded'];
const ADMITTED_BARE: Verdict = Object.freeze({ admitted: true, headers: null });
const REFUSAL_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

/**
 * A limiter for a bare `node:http` server:
 *
 * ```ts
 * const limiter = createLimiter({ groups: { '/api/v1/chat/*': { requestsPerMinute: 300 } } });
 * http.createServer(async (req, res) => {
 *   if (!(await limiter.check(req, res))) return; // refused: answered already
 *   // ... the rest of the app
 * });
 * ```
 */
export function createLimiter<Req = IncomingMessage>(options: LimiterOptions<Req> = {}): Limiter<Req> {
  if (typeof options !== 'object' || options === null) throw new ConfigError('createLimiter options', options, 'must be an options object');
  for (const key of Object.keys(options)) if (!OPTION_KEYS.has(key)) throw new ConfigError(key, (options as Record<string, unknown>)[key], `is not a limiter option (known: ${[...OPTION_KEYS].join(', ')})`);
  const manager = options.manager ?? ThrottleManager.getInstance();
  if (!(manager instanceof ThrottleManager)) throw new ConfigError('manager', manager, 'must be a ThrottleManager of this copy of floodgate');
  const core = coreOf(manager);
  const name = options.name ?? 'inbound';
  if (typeof name !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(name)) throw new ConfigError('name', name, "must be 1-32 letters, digits, '_' or '-'");
  const caseSensitive = options.caseSensitive ?? false;
  if (typeof caseSensitive !== 'boolean') throw new ConfigError('caseSensitive', caseSensitive, 'must be a boolean');
  const table = new GroupTable(options.groups, name, caseSensitive);
  const exempt = exemptTable(options.exempt, name, caseSensitive);
  const formats = checkHeaderFormats(options.headers);
  const statusOf = refusalStatuses(options.refusalStatus);
  const trusted = compileTrustedProxies(options.trustProxy);
  const forwardedHeader = options.forwardedHeader ?? 'x-forwarded-for';
  if (forwardedHeader !== 'x-forwarded-for' && forwardedHeader !== 'forwarded') throw new ConfigError('forwardedHeader', forwardedHeader, "must be 'x-forwarded-for' or 'forwarded'");
  const keys = clientKeys<Req>(options.keys, core, trusted, forwardedHeader);
  // Every group's limits go onto its service: per-key scopes inherit them.
  for (const group of table.all) {
    manager.configure(group.service, group.settings);
    if (group.total !== null) manager.configure(group.service, group.total.settings, { platform: TOTAL_PLATFORM });
  }
  // Paths repeat: each is matched once (exempt first), the answer remembered.
  const groupOf = boundedMemo<Group | null>(MEMO_SIZE, (path) => (exempt.match(path) !== null ? null : table.match(path)));
  const policies = new Map(table.all.map((group) => [group, group.policy === null ? {} : policyHeaders(formats, group.policy)]));

  function decide(req: IncomingMessage, res: ServerResponse, keyReq: Req): Verdict | Promise<Verdict> {
    const path = pathOf((req as { originalUrl?: string }).originalUrl ?? req.url ?? '/');
    const group = groupOf(path);
    if (group === null) return ADMITTED_BARE;
    const now = Date.now();
    const closed = groupRefusal(core, group, now);
    if (closed !== null && core.configs.resolve(group.service, undefined).mode !== 'observe') return refuse(group, closed, now);
    const own = group.perKey ? core.scopeOf(group.service, keys(req, keyReq)) : null;
    // Observe mode: a closed group's refusal is counted on the request's scope, and the request goes on.
    if (closed !== null) (own ?? core.scopeOf(group.service, TOTAL_PLATFORM)).letThrough(closed);
    if (group.total === null) return enter(group, own!, null, res);
    const total = core.scopeOf(group.service, TOTAL_PLATFORM);
    if (own === null) return enter(group, total, null, res);
    // The group-wide scope goes first only while it is full: then a refused request spends no
    // key's quota, and a key over its own limit never spends the group's.
    return fullNow(total, now) ? enter(group, total, own, res) : enter(group, own, total, res);
  }

  /**
   * Admission through `first`, then `second` (a call of the manager in each, held until the
   * response ends). Synchronous when both decide at once (the memory store admits or refuses
   * in the call); a promise when a store answers later or a request waits its turn.
   */
  function enter(group: Group, first: Scope, second: Scope | null, res: ServerResponse): Verdict | Promise<Verdict> {
    let verdict: Verdict | undefined;
    let settle: ((verdict: Verdict) => void) | undefined;
    const admitted = (): Promise<void> => {
      verdict = admit(group, first, second, Date.now());
      settle?.(verdict);
      return responseEnd(res);
    };
    const call = runCall(core, first, undefined, undefined, second === null ? admitted : () => runCall(core, second, undefined, undefined, admitted, undefined, undefined), undefined, undefined);
    // Admitted already: the call settles when the response ends, never rejecting.
    if (verdict !== undefined) return verdict;
    return new Promise<Verdict>((resolve) => {
      settle = resolve;
      // Before admission only: once admitted the call settles when the response ends, never rejecting.
      call.catch((error: unknown) => resolve(refuse(group, error, Date.now())));
    });
  }

  function admit(group: Group, first: Scope, second: Scope | null, now: number): Verdict {
    if (formats.length === 0) return ADMITTED_BARE;
    if (second === null && first.platform !== TOTAL_PLATFORM) {
      // One quota, the group's per-key one: its policy field was formatted once.
      const policy = group.policy;
      if (policy === null) return ADMITTED_BARE;
      const headers: Record<string, string> = { ...policies.get(group) };
      const remaining = remainingOf(first.limiter, policy, now);
      stateHeaders(headers, formats, policy, remaining, Math.ceil(first.limiter.estimateWait(remaining, now) / 1_000), now);
      return { admitted: true, headers };
    }
    const quotas: QuotaState[] = [];
    for (const scope of second === null ? [first] : [first, second]) {
      const policy = scope.platform === TOTAL_PLATFORM ? group.total!.policy : group.policy;
      if (policy === null) continue;
      const remaining = remainingOf(scope.limiter, policy, now);
      quotas.push({ policy, remaining, resetSeconds: Math.ceil(scope.limiter.estimateWait(remaining, now) / 1_000) });
    }
    if (quotas.length === 0) return ADMITTED_BARE;
    // Per key first, then the group's: the order the headers list them in, whichever was asked first.
    if (quotas.length === 2 && first.platform === TOTAL_PLATFORM) quotas.reverse();
    const headers: Record<string, string> = {};
    quotaHeaders(headers, formats, quotas, now);
    return { admitted: true, headers };
  }

  function refuse(group: Group, error: unknown, now: number): Verdict {
    const waitMs = retryAfterOf(error, now);
    const retryAfter = Math.max(1, Math.ceil((waitMs ?? 1_000) / 1_000));
    const kind = refusalKind(error);
    const status = statusOf[kind];
    const headers: Record<string, string> = { ...REFUSAL_HEADERS, 'retry-after': String(retryAfter) };
    // The quota that refused: nothing remains now, and it grows again when the client may retry.
    const policy = group.total !== null && scopeOfRefusal(error) === group.total.key ? group.total.policy : group.policy;
    if (policy !== null && formats.length > 0) quotaHeaders(headers, formats, [{ policy, remaining: 0, resetSeconds: retryAfter }], now);
    const body = `{"error":"${status === 429 ? 'too_many_requests' : status === 503 ? 'service_unavailable' : 'refused'}","retryAfterSeconds":${retryAfter}}`;
    return { admitted: false, status, headers, body };
  }

  return {
    manager,
    decide,
    async check(req, res) {
      const verdict = await decide(req, res, req as unknown as Req);
      return writeVerdict(verdict, res);
    },
  };
}

/** Writes a verdict on a node response: headers of an admitted request, or the whole refusal. */
export function writeVerdict(verdict: Verdict, res: ServerResponse): boolean {
  if (verdict.admitted) {
    if (verdict.headers !== null && !res.headersSent) for (const field in verdict.headers) res.setHeader(field, verdict.headers[field]!);
    return true;
  }
  if (!res.headersSent && !res.destroyed) {
    res.writeHead(verdict.status, { ...verdict.headers, 'content-length': String(Buffer.byteLength(verdict.body)) });
    res.end(verdict.body);
  }
  return false;
}

/** Requests the quota still allows now: the bucket's tokens and the minute's starts, within the policy's limit. */
function remainingOf(limiter: ScopeLimiter, policy: QuotaPolicy, now: number): number {
  const snapshot = limiter.snapshot(now);
  return Math.max(0, Math.min(policy.limit, snapshot.tokens, snapshot.minuteRemaining ?? Infinity));
}

/** True when `scope` would not admit a request now (every slot busy, no token, the minute full, or callers in line). */
function fullNow(scope: Scope, now: number): boolean {
  return scope.active >= scope.config.maxConcurrent || (scope.queue !== null && scope.queue.size > 0) || scope.estimateWait(0, now) > 0;
}

/** The scope key a refusal names (floodgate's refusals carry one), or undefined. */
function scopeOfRefusal(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { scope?: unknown }).scope : undefined;
}

/** Settles when the response is over: finished, or the client went away. */
function responseEnd(res: ServerResponse): Promise<void> {
  if (res.destroyed || res.writableFinished) return Promise.resolve();
  return new Promise((resolve) => res.once('close', resolve));
}

/** A group closed for now: its own service suspended, the guard degraded (a group with upstreams), or an upstream scope suspended or with its circuit open. */
function groupRefusal(core: ManagerCore, group: Group, now: number): unknown {
  const own = core.scopes.get(group.service, undefined)?.suspension;
  if (own != null && own.until > now) return new PlatformSuspendedError(group.service, own.until, own.reason);
  if (group.upstream.length > 0) {
    const degraded = core.guard.refusal(group.service, now);
    if (degraded !== null) return degraded;
  }
  for (const { service, platform } of group.upstream) {
    const scope = core.scopes.get(service, platform);
    if (scope === undefined) continue;
    const suspension = scope.suspension;
    if (suspension !== null && suspension.until > now) return new PlatformSuspendedError(scope.key, suspension.until, suspension.reason);
    const circuit = scope.circuit;
    if (circuit !== null && circuit.stateName === 'open' && circuit.retryAt > now) return new CircuitOpenError(scope.key, circuit.retryAt);
  }
  return null;
}

function refusalKind(error: unknown): RefusalKind {
  const brand = brandOf(error);
  if (brand === PlatformSuspendedError.code) return 'suspended';
  if (brand === CircuitOpenError.code) return 'circuit_open';
  if (brand === DegradedError.code) return 'degraded';
  return 'rate_limited';
}

function refusalStatuses(value: unknown): Readonly<Record<RefusalKind, number>> {
  const statuses: Record<RefusalKind, number> = { rate_limited: 429, suspended: 429, circuit_open: 429, degraded: 429 };
  if (value === undefined) return statuses;
  if (typeof value !== 'object' || value === null) throw new ConfigError('refusalStatus', value, `must be an object of statuses by kind (${REFUSAL_KINDS.join(', ')})`);
  for (const [kind, status] of Object.entries(value)) {
    if (!REFUSAL_KINDS.includes(kind as RefusalKind)) throw new ConfigError(`refusalStatus.${kind}`, status, `is not a refusal kind (known: ${REFUSAL_KINDS.join(', ')})`);
    if (!Number.isInteger(status) || status < 400 || status > 599) throw new ConfigError(`refusalStatus.${kind}`, status, 'must be an HTTP error status (an integer from 400 to 599)');
    statuses[kind as RefusalKind] = status;
  }
  return statuses;
}

/** The exempt paths as a group table (same templates as groups, never configured on the manager); nothing else falls in. */
function exemptTable(value: unknown, name: string, caseSensitive: boolean): GroupTable {
  const list = value ?? DEFAULT_EXEMPT;
  const rule = "must be a list of paths ('/health') or prefixes ('/internal/*')";
  if (!Array.isArray(list)) throw new ConfigError('exempt', value, rule);
  const groups: Record<string, GroupLimits | false> = { default: false };
  list.forEach((path: unknown, index) => {
    if (typeof path !== 'string' || path === 'default') throw new ConfigError('exempt', path, rule);
    groups[path] = { name: `exempt${index}` };
  });
  try {
    return new GroupTable(groups, `${name}-exempt`, caseSensitive);
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError('exempt', error.value, rule);
    throw error;
  }
}

/**
 * The function from a request to its hashed key (the scope's platform): `actor:…`, `session:…`
 * or `ip:…`, a keyed hash of the raw value under the limiter's secret (see {@link keyHasher}).
 */
function clientKeys<Req>(
  value: LimiterKeys<Req> | undefined,
  core: ManagerCore,
  trusted: BlockList | null,
  forwardedHeader: 'x-forwarded-for' | 'forwarded',
): (req: IncomingMessage, keyReq: Req) => string {
  const options = value ?? {};
  if (typeof options !== 'object' || options === null) throw new ConfigError('keys', options, 'must be an object');
  for (const key of Object.keys(options)) if (!KEY_OPTION_KEYS.has(key)) throw new ConfigError(`keys.${key}`, (options as Record<string, unknown>)[key], `is not a key option (known: ${[...KEY_OPTION_KEYS].join(', ')})`);
  const actor = keySource('keys.actor', options.actor, ['x-actor', 'x-user-id']);
  const session = keySource('keys.session', options.session, ['x-session-id']);
  const headersFrom = options.headersFrom ?? 'trusted-proxies';
  if (headersFrom !== 'trusted-proxies' && headersFrom !== 'anyone') throw new ConfigError('keys.headersFrom', headersFrom, "must be 'trusted-proxies' or 'anyone'");
  const ipv6Subnet = options.ipv6Subnet ?? 64;
  if (!Number.isInteger(ipv6Subnet) || ipv6Subnet < 1 || ipv6Subnet > 128) throw new ConfigError('keys.ipv6Subnet', ipv6Subnet, 'must be an integer from 1 to 128');
  const hashKey = keyHasher(hashSecret(options.secret, core));
  const warned = { forwarded: false, identity: false };
  const forwardedName = forwardedHeader;
  // One memo per kind: raw value → `kind:<hash>`; the raw values live only here, in process memory.
  const memoOf = (kind: string): ((raw: string) => string) => boundedMemo(MEMO_SIZE, (raw) => `${kind}:${hashKey(raw)}`);
  const identities = [
    { source: actor, hashed: memoOf('actor') },
    { source: session, hashed: memoOf('session') },
  ].filter((identity) => identity.source !== false);
  const hashedAddress = memoOf('ip');

  return (req, keyReq) => {
    const peer = unmapIPv4(req.socket?.remoteAddress ?? '');
    const fromProxy = trusted !== null && isTrusted(trusted, peer);
    const headers = req.headers;
    const identityTrusted = headersFrom === 'anyone' || fromProxy;
    for (let i = 0; i < identities.length; i++) {
      const { source, hashed } = identities[i]!;
      if (typeof source === 'function') {
        let found: unknown;
        try {
          found = source(keyReq);
        } catch {
          found = undefined; // a throwing key function falls back to the next key, never fails the request
        }
        if (typeof found === 'string' && found !== '') return hashed(found);
        if (typeof found === 'number' && Number.isFinite(found)) return hashed(String(found));
        continue;
      }
      for (const field of source as readonly string[]) {
        const header = headers[field];
        const found = Array.isArray(header) ? header[0] : header;
        if (typeof found !== 'string' || found === '') continue;
        if (identityTrusted) return hashed(found);
        if (!warned.identity) {
          warned.identity = true;
          process.emitWarning(
            `floodgate limiter: a request named its actor or session by header (${field}) but did not come from a trusted proxy; the header is ignored and the client address is its key. ` +
              "List the proxy that sets these headers in `trustProxy`, or set `keys.headersFrom: 'anyone'` if only trusted callers reach this server. (Warned once.)",
            { code: 'FLOODGATE_UNTRUSTED_IDENTITY_HEADER' },
          );
        }
      }
    }
    let client = peer;
    const forwarded = headers[forwardedName];
    if (forwarded !== undefined) {
      if (fromProxy) {
        // From the nearest hop back: the first address that is not a trusted proxy is the client.
        const hops = forwardedHops(forwarded, forwardedName);
        for (let i = hops.length - 1; i >= 0; i--) {
          const hop = hops[i]!;
          if (hop === '') break; // `unknown` or garbage: the last trusted hop is as far as we know
          client = hop;
          if (!isTrusted(trusted, hop)) break;
        }
      } else if (!warned.forwarded) {
        warned.forwarded = true;
        process.emitWarning(
          `floodgate limiter: a request carried ${forwardedName === 'forwarded' ? 'Forwarded' : 'X-Forwarded-For'} from a peer that is not in \`trustProxy\`; the header is ignored (anyone can send it) and the peer's address is the client. ` +
            'If this server runs behind a proxy or load balancer, list its addresses in `trustProxy`. (Warned once.)',
          { code: 'FLOODGATE_UNTRUSTED_FORWARDED' },
        );
      }
    }
    return hashedAddress(addressKey(client, ipv6Subnet));
  };
}

function keySource<Req>(field: string, value: unknown, fallback: readonly string[]): KeySource<Req> {
  if (value === undefined) return fallback;
  if (value === false || typeof value === 'function') return value as KeySource<Req>;
  if (Array.isArray(value) && value.every((name) => typeof name === 'string' && /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name))) {
    return value.map((name: string) => name.toLowerCase());
  }
  throw new ConfigError(field, value, 'must be a list of header names, a function (req) => string | undefined, or false');
}

/**
 * The keyed hash of a raw key: SHA-256 of the secret then the value, cut to 22 base64url
 * characters (132 bits). The secret comes first and has one length per limiter, so no two
 * values share an input; the cut leaves nothing to extend. One call into OpenSSL (`crypto.hash`)
 * where an HMAC object costs three to four times as much per new key.
 */
function keyHasher(secret: Uint8Array): (raw: string) => string {
  const prefix = `${Buffer.from(secret).toString('base64')}\u0000`;
  return (raw) => hash('sha256', prefix + raw, 'base64url').slice(0, 22);
}

/** The hash key: the user's (never echoed in an error), or random; a shared store needs the user's. */
function hashSecret(value: unknown, core: ManagerCore): Uint8Array {
  if (value === undefined) {
    if (core.store.shared !== undefined) {
      throw new ConfigError('keys.secret', undefined, 'is required with a shared store (Redis): every instance must hash client keys with the same secret, or each keeps its own count');
    }
    return randomBytes(32);
  }
  const bytes = typeof value === 'string' ? Buffer.from(value) : value instanceof Uint8Array ? value : null;
  if (bytes === null || bytes.length < 16) throw new ConfigError('keys.secret', '[redacted]', 'must be a string or bytes, at least 16 bytes long');
  return Uint8Array.from(bytes);
}
