/**
 * Endpoint groups: route templates (`/api/v1/users/:id`) or prefixes (`/api/v1/chat/*`), each with
 * its own limits, matched most specific first; unmatched paths fall to the `default` group.
 */
import type { ThrottleConfig } from '../../config/types.js';
import type { ScopeMode } from '../../governance/observe.js';
import { capBinds } from '../../stores/memory-store.js';
import { ConfigError } from '../../errors/errors.js';
import { mergeConfig } from '../../config/validate.js';
import { CUSTOM_SERVICE_PRESET } from '../../config/presets.js';
import { quotaPolicy, type QuotaPolicy } from './ratelimit-headers.js';

/**
 * Limits of a token bucket, a rolling-minute cap and a concurrency cap: each client key's in a
 * group, all keys' together in its `total`.
 */
export interface GroupTotalLimits {
  /** Token-bucket refill rate. @default Infinity (no bucket) */
  readonly requestsPerSecond?: number;
  /** Token-bucket capacity. @default `requestsPerSecond` rounded up (at least 1), or `requestsPerMinute` when there is no bucket */
  readonly burst?: number;
  /** Hard cap: no more than this many requests start in any rolling 60 s. @default Infinity */
  readonly requestsPerMinute?: number;
  /** Requests in flight at once (held until the response ends or the client goes away). @default Infinity */
  readonly maxConcurrent?: number;
  /** How long a request may wait for its turn before it is refused. @default 0 (refused at once) */
  readonly maxWaitMs?: number;
  /** Requests allowed to wait (with `maxWaitMs` > 0). @default 100 */
  readonly maxQueue?: number;
}

/** The limits of one group, each per client key (and in `total` for all keys together), plus its name and the outbound scopes it depends on. */
export interface GroupLimits extends GroupTotalLimits {
  /**
   * The group's name: the policy name in the RateLimit headers, and the scope's service is
   * `<limiter name>.<group name>` in the status report.
   * @default the template's segments joined with '.' (`/api/v1/chat/*` → `api.v1.chat`)
   */
  readonly name?: string;
  /**
   * Outbound scopes this group's requests depend on (`'llm_api'`, `'social_media:reddit'`): while
   * one is suspended (a ban, `suspend()`) or its circuit is open, the group's requests are refused
   * at once (status per `refusalStatus`), before any work is done.
   * @default []
   */
  readonly upstream?: string | readonly string[];
  /**
   * Limits for all keys of the group together (the scope `<service>:total`), checked beside the
   * per-key limits: a request goes on only when both allow it. A group with `total` and no
   * per-key limit is limited as a whole only (no scope per key).
   * @default none
   */
  readonly total?: GroupTotalLimits;
  /**
   * `'observe'`: the group's limits (per key and `total`) and its closed states (`upstream`, a
   * suspension) are decided and counted as in enforce mode, but no request is refused or made to
   * wait: each would-be refusal is counted in the scope's `wouldRefuse` and announced as a
   * `wouldRefuse` event (README "Observe mode"), and the request goes on.
   * @default 'enforce'
   */
  readonly mode?: ScopeMode;
}

const LIMIT_KEYS = ['requestsPerSecond', 'burst', 'requestsPerMinute', 'maxConcurrent', 'maxWaitMs', 'maxQueue'] as const;
const GROUP_KEYS: ReadonlySet<string> = new Set<string>([...LIMIT_KEYS, 'name', 'upstream', 'total', 'mode']);
const TOTAL_KEYS: ReadonlySet<string> = new Set<string>(LIMIT_KEYS);

/** The platform of a group's group-wide scope (client keys are `actor:…`, `session:…`, `ip:…`: never this). */
export const TOTAL_PLATFORM = 'total';

/** A group-wide limit: the platform `total` of the group's service, configured on its own. */
export interface GroupTotal {
  /** `<service>:total`, the scope key its refusals carry. */
  readonly key: string;
  readonly config: ThrottleConfig;
  /** What the limiter passes to `manager.configure(service, ..., { platform: 'total' })`. */
  readonly settings: Partial<ThrottleConfig>;
  readonly policy: QuotaPolicy | null;
}

export interface Group {
  readonly name: string;
  /** The manager service of its scopes. */
  readonly service: string;
  readonly config: ThrottleConfig;
  /** What the limiter passes to `manager.configure(service, ...)`. */
  readonly settings: Partial<ThrottleConfig>;
  /** What the RateLimit headers show; null when no rate limit applies (only `maxConcurrent`). */
  readonly policy: QuotaPolicy | null;
  readonly upstream: readonly { readonly service: string; readonly platform: string | undefined }[];
  /** The group-wide limit, or null. */
  readonly total: GroupTotal | null;
  /** False when only `total` limits the group: requests get no scope per key. */
  readonly perKey: boolean;
}

interface Matcher {
  readonly group: Group;
  /** Literal segments, `null` for a `:param`. */
  readonly segments: readonly (string | null)[];
  readonly prefix: boolean;
}

/** The inbound defaults that every group starts from: no retries, no waiting, nothing but limits. */
const INBOUND_BASE: Partial<ThrottleConfig> = {
  requestsPerSecond: Infinity,
  requestsPerMinute: Infinity,
  maxConcurrent: Infinity,
  maxWaitMs: 0,
  maxQueue: 100,
  retryAttempts: 0,
  timeoutMs: 0,
};

/** The default group's limits when the options name none: the seed's 200 requests a minute per key. */
export const DEFAULT_GROUP_LIMITS: GroupLimits = { requestsPerMinute: 200 };

export class GroupTable {
  private readonly matchers: Matcher[] = [];
  /** Unmatched paths; null when `default: false` leaves them unlimited. */
  readonly fallback: Group | null;
  readonly all: Group[] = [];

  constructor(
    groups: unknown,
    private readonly limiterName: string,
    private readonly caseSensitive: boolean,
  ) {
    if (groups !== undefined && (typeof groups !== 'object' || groups === null || Array.isArray(groups))) {
      throw new ConfigError('groups', groups, "must be an object: { '/path/*': { requestsPerMinute: 300 }, default: { ... } }");
    }
    const entries = Object.entries((groups ?? {}) as Record<string, unknown>);
    const given = (groups ?? {}) as Record<string, unknown>;
    const fallbackLimits = Object.hasOwn(given, 'default') ? given.default : DEFAULT_GROUP_LIMITS;
    this.fallback = fallbackLimits === false ? null : this.build('default', 'default', fallbackLimits);
    for (const [template, limits] of entries) {
      if (template === 'default') continue;
      if (!template.startsWith('/') || /[?#\s]/.test(template) || (template.includes('*') && !template.endsWith('/*') && template !== '/*') || template.indexOf('*') !== template.lastIndexOf('*')) {
        throw new ConfigError('groups', template, "must be 'default' or a path template: '/exact/path', '/users/:id' or a prefix '/api/v1/chat/*'");
      }
      const prefix = template.endsWith('*');
      const path = prefix ? template.slice(0, -2) : template;
      const segments = this.split(path).map((segment) => (segment.startsWith(':') ? null : segment));
      const defaultName = segments.length === 0 ? 'root' : path.slice(1).split('/').map((s) => s.replace(/^:/, '')).join('.');
      this.matchers.push({ group: this.build(template, defaultName, limits), segments, prefix });
    }
    // Most specific first: more segments, then exact before prefix, then fewer parameters.
    const params = (m: Matcher): number => m.segments.filter((s) => s === null).length;
    this.matchers.sort((a, b) => b.segments.length - a.segments.length || Number(a.prefix) - Number(b.prefix) || params(a) - params(b));
    const names = new Set<string>();
    for (const group of this.all) {
      if (names.has(group.name)) throw new ConfigError('groups', group.name, 'group names must be unique (give one a `name`)');
      names.add(group.name);
    }
  }

  /** The group of `path` (no query), or null when it falls to a disabled default. */
  match(path: string): Group | null {
    const segments = this.split(path);
    for (const { group, segments: template, prefix } of this.matchers) {
      if (prefix ? segments.length < template.length : segments.length !== template.length) continue;
      let ok = true;
      for (let i = 0; i < template.length; i++) {
        const literal = template[i];
        if (literal !== null && literal !== segments[i]) {
          ok = false;
          break;
        }
        if (literal === null && segments[i] === '') ok = false;
      }
      if (ok) return group;
    }
    return this.fallback;
  }

  /** `/A/b/` → `['a', 'b']` (case folded unless case-sensitive; empty segments from `//` dropped, as routers see them differently). */
  private split(path: string): string[] {
    const text = this.caseSensitive ? path : path.toLowerCase();
    return text.split('/').filter((segment) => segment !== '');
  }

  private build(where: string, defaultName: string, limits: unknown): Group {
    const field = `groups['${where}']`;
    if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) throw new ConfigError(field, limits, where === 'default' ? 'must be an object of limits, or false' : 'must be an object of limits');
    const spec = limits as Record<string, unknown>;
    for (const key of Object.keys(spec)) {
      if (!GROUP_KEYS.has(key)) throw new ConfigError(`${field}.${key}`, spec[key], `is not a group option (known: ${[...GROUP_KEYS].join(', ')})`);
    }
    const name = spec.name ?? defaultName;
    if (typeof name !== 'string' || !/^[A-Za-z0-9_.{}-]{1,64}$/.test(name)) throw new ConfigError(`${field}.name`, name, "must be 1-64 characters of letters, digits, '_', '-', '.'");
    const service = `${this.limiterName}.${name}`;
    const { config, settings } = limitsOf(field, service, spec, spec.mode);
    const total = totalOf(`${field}.total`, service, `${name}.total`, spec.total, spec.mode);
    const perKey = total === null || config.requestsPerSecond !== Infinity || config.requestsPerMinute !== Infinity || config.maxConcurrent !== Infinity;
    const group: Group = { name, service, config, settings, policy: policyOf(name, config), upstream: upstreamOf(`${field}.upstream`, spec.upstream), total, perKey };
    this.all.push(group);
    return group;
  }
}

/** The inbound defaults overlaid with the limit fields of `spec`, validated; errors name `field`. */
function limitsOf(field: string, service: string, spec: Record<string, unknown>, mode: unknown): { config: ThrottleConfig; settings: Partial<ThrottleConfig> } {
  const partial: Record<string, unknown> = { ...INBOUND_BASE };
  for (const key of LIMIT_KEYS) if (spec[key] !== undefined) partial[key] = spec[key];
  if (mode !== undefined) partial.mode = mode;
  if (spec.burst === undefined) partial.burst = defaultBurst(partial.requestsPerSecond, partial.requestsPerMinute);
  try {
    return { config: mergeConfig(CUSTOM_SERVICE_PRESET, service, partial), settings: partial as Partial<ThrottleConfig> };
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(`${field}.${error.field}`, error.value, error.rule);
    throw error;
  }
}

/** The group-wide limit of `value` (the group's `total`); it runs in the group's `mode`. */
function totalOf(field: string, service: string, policyName: string, value: unknown, mode: unknown): GroupTotal | null {
  if (value === undefined) return null;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(field, value, 'must be an object of limits for all keys together ({ requestsPerMinute: 5000 })');
  const spec = value as Record<string, unknown>;
  for (const key of Object.keys(spec)) {
    if (!TOTAL_KEYS.has(key)) throw new ConfigError(`${field}.${key}`, spec[key], `is not a group-wide limit (known: ${[...TOTAL_KEYS].join(', ')})`);
  }
  const { config, settings } = limitsOf(field, service, spec, mode);
  if (config.requestsPerSecond === Infinity && config.requestsPerMinute === Infinity && config.maxConcurrent === Infinity) {
    throw new ConfigError(field, value, 'must set at least one of requestsPerSecond, requestsPerMinute, maxConcurrent');
  }
  return { key: `${service}:${TOTAL_PLATFORM}`, config, settings, policy: policyOf(policyName, config) };
}

/** Without a burst: the rate rounded up, within the minute cap; no bucket: the cap itself. */
function defaultBurst(rate: unknown, cap: unknown): number {
  const capped = typeof cap === 'number' && Number.isInteger(cap) && cap >= 1 ? cap : Infinity;
  if (typeof rate === 'number' && rate > 0 && Number.isFinite(rate)) return Math.min(Math.max(1, Math.ceil(rate)), capped);
  return capped === Infinity ? 1 : capped;
}

/** The window the headers describe: the per-minute cap when it binds, else the bucket. */
function policyOf(name: string, config: ThrottleConfig): QuotaPolicy | null {
  if (capBinds(config)) return quotaPolicy(name, config.requestsPerMinute, 60);
  if (config.requestsPerSecond !== Infinity) return quotaPolicy(name, config.burst, Math.max(1, Math.ceil(config.burst / config.requestsPerSecond)));
  return null;
}

function upstreamOf(field: string, value: unknown): Group['upstream'] {
  if (value === undefined) return [];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list)) throw new ConfigError(field, value, "must be a scope key ('llm_api', 'social_media:reddit') or a list of them");
  return list.map((key: unknown) => {
    if (typeof key !== 'string' || key === '' || key.startsWith(':') || key.endsWith(':')) throw new ConfigError(field, key, "must be a scope key: 'service' or 'service:platform'");
    const colon = key.indexOf(':');
    return colon < 0 ? { service: key, platform: undefined } : { service: key.slice(0, colon), platform: key.slice(colon + 1) };
  });
}
