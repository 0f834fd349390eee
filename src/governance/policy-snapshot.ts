/**
 * A manager's policy as plain data: every resolved configuration (the built-in presets, the
 * services and platforms configured), modes included, and the classifier's pattern table in the
 * order it is tried. `manager.policyHash()` hashes it; `exportPolicy` writes it; `applyPolicy`
 * reads it back ({@link readPolicySnapshot}).
 */
import { ConsecutiveBreaker, CountBreaker, SamplingBreaker } from 'cockatiel';
import type { BreakerOption, BreakerSpec } from '../breaker/breakers.js';
import { ErrorClassifier } from '../classify/classifier.js';
import { DEFAULT_ERROR_PATTERNS } from '../classify/patterns.js';
import type { ErrorPattern } from '../classify/types.js';
import { presetFor } from '../config/presets.js';
import { ServiceType, type ThrottleConfig } from '../config/types.js';
import { mergeConfig } from '../config/validate.js';
import { ConfigError } from '../errors/errors.js';
import { checkName } from '../manager/service-configs.js';
import { checkPrices, type PriceTable } from '../spend/prices.js';
import { hashPolicy } from './policy.js';

export const POLICY_FORMAT = 'floodgate-policy/1';

/** A policy snapshot (see the README's "Policy hash"): plain data, RegExps and Infinity aside. */
export interface PolicySnapshot {
  readonly format: typeof POLICY_FORMAT;
  /** Every built-in service type and every service configured, resolved. */
  readonly services: Readonly<Record<string, PolicyConfig>>;
  /** Every platform configured (`service:platform`), resolved. */
  readonly platforms: Readonly<Record<string, PolicyConfig>>;
  /** The pattern table in the order it is tried: user patterns `before`, the defaults, user patterns `after`. */
  readonly patterns: { readonly before: readonly ErrorPattern[]; readonly defaults: readonly ErrorPattern[]; readonly after: readonly ErrorPattern[] };
  /** The model price table in force (the defaults as `setPrices` left them): budgets refuse by it. */
  readonly prices: PriceTable;
}

/** A resolved configuration with its mode spelt out and its breaker in declarative form. */
export type PolicyConfig = Omit<ThrottleConfig, 'breaker'> & { readonly mode: 'enforce' | 'observe'; readonly breaker?: BreakerSpec | { readonly kind: 'custom'; readonly class: string } };

/** What the snapshot reads of a manager. */
export interface PolicySource {
  configured(): { readonly services: readonly string[]; readonly platforms: readonly string[] };
  resolve(service: string, platform: string | undefined): ThrottleConfig;
  readonly patterns: readonly ErrorPattern[];
  readonly prices: PriceTable;
}

export function policySnapshot(source: PolicySource): PolicySnapshot {
  const { services, platforms } = source.configured();
  const serviceConfigs: Record<string, PolicyConfig> = {};
  for (const service of new Set([...Object.values(ServiceType), ...services])) serviceConfigs[service] = describeConfig(source.resolve(service, undefined));
  const platformConfigs: Record<string, PolicyConfig> = {};
  for (const key of platforms) {
    const colon = key.indexOf(':');
    platformConfigs[key] = describeConfig(source.resolve(key.slice(0, colon), key.slice(colon + 1)));
  }
  // The defaults sit in the table as one run of the very same objects.
  const table = source.patterns;
  const start = table.indexOf(DEFAULT_ERROR_PATTERNS[0]!);
  const before = table.slice(0, start);
  const after = table.slice(start + DEFAULT_ERROR_PATTERNS.length);
  return { format: POLICY_FORMAT, services: serviceConfigs, platforms: platformConfigs, patterns: { before, defaults: DEFAULT_ERROR_PATTERNS, after }, prices: source.prices };
}

function describeConfig(config: ThrottleConfig): PolicyConfig {
  const { breaker, ...rest } = config;
  const described = describeBreaker(breaker);
  return { ...rest, mode: config.mode ?? 'enforce', ...(described === undefined ? {} : { breaker: described }) };
}

/**
 * A breaker as data: a cockatiel breaker object by its settings (the same {@link BreakerSpec} that
 * builds it again), a spec as itself, anything else as `{ kind: 'custom', class }` (a policy that
 * holds one cannot be applied elsewhere).
 */
export function describeBreaker(option: BreakerOption | undefined): PolicyConfig['breaker'] {
  if (option === undefined) return undefined;
  const fields = option as unknown as Record<string, unknown>;
  if (option instanceof ConsecutiveBreaker) return { kind: 'consecutive', threshold: fields.threshold as number };
  if (option instanceof SamplingBreaker) {
    return { kind: 'sampling', threshold: fields.threshold as number, durationMs: fields.duration as number, minimumRps: (fields.minimumRpms as number) * 1000 };
  }
  if (option instanceof CountBreaker) {
    return { kind: 'count', threshold: fields.threshold as number, size: (fields.samples as unknown[]).length, minimumNumberOfCalls: fields.minimumNumberOfCalls as number };
  }
  if (typeof fields.kind === 'string' && typeof fields.success !== 'function') return specFields(option as BreakerSpec);
  return { kind: 'custom', class: (Object.getPrototypeOf(option) as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'unknown' };
}

/** A validated spec's own settings only: whatever else its object carries is not policy (and may not be data). */
function specFields(spec: BreakerSpec): BreakerSpec {
  const optional = <K extends string>(key: K, value: number | undefined) => (value === undefined ? {} : ({ [key]: value } as Record<K, number>));
  switch (spec.kind) {
    case 'consecutive':
      return { kind: 'consecutive', threshold: spec.threshold };
    case 'sampling':
      return { kind: 'sampling', threshold: spec.threshold, durationMs: spec.durationMs, ...optional('minimumRps', spec.minimumRps) };
    default:
      return { kind: 'count', threshold: spec.threshold, size: spec.size, ...optional('minimumNumberOfCalls', spec.minimumNumberOfCalls) };
  }
}

/** A snapshot read back and validated whole: configurations ready to store, patterns ready to register. */
export interface CheckedPolicy {
  readonly services: ReadonlyMap<string, ThrottleConfig>;
  /** What each platform sets on top of its service (so that later changes of the service still reach it). */
  readonly platforms: ReadonlyMap<string, Partial<ThrottleConfig>>;
  readonly before: readonly ErrorPattern[];
  readonly after: readonly ErrorPattern[];
  readonly prices: PriceTable;
}

/**
 * Checks a decoded snapshot as `configure()` and `registerErrorPattern()` would, without changing
 * anything: throws ConfigError naming the field (prefixed `policy.`) at the first fault.
 */
export function readPolicySnapshot(value: unknown): CheckedPolicy {
  const policy = record(value, 'policy');
  if (policy.format !== POLICY_FORMAT) throw new ConfigError('policy.format', policy.format, `must be ${JSON.stringify(POLICY_FORMAT)}`);
  const services = new Map<string, ThrottleConfig>();
  for (const [service, config] of Object.entries(record(policy.services, 'policy.services'))) {
    services.set(service, named(`policy.services.${service}`, () => {
      checkName('service', service);
      return mergeConfig(presetFor(service), service, withoutDefaultMode(config));
    }));
  }
  const platforms = new Map<string, Partial<ThrottleConfig>>();
  for (const [key, config] of Object.entries(record(policy.platforms, 'policy.platforms'))) {
    platforms.set(key, named(`policy.platforms.${key}`, () => {
      const colon = key.indexOf(':');
      if (colon < 0) throw new ConfigError('key', key, 'must be "service:platform"');
      const service = key.slice(0, colon);
      checkName('service', service);
      checkName('platform', key.slice(colon + 1));
      const base = services.get(service) ?? presetFor(service);
      return differences(mergeConfig(base, service, withoutDefaultMode(config)), base);
    }));
  }
  const patterns = record(policy.patterns, 'policy.patterns');
  // Another version of floodgate may have other defaults: applying its policy here would not run it.
  if (hashPolicy(patterns.defaults ?? null) !== hashPolicy(DEFAULT_ERROR_PATTERNS)) {
    throw new ConfigError('policy.patterns.defaults', '[the artifact\'s default table]', "must equal this floodgate's default pattern table (the artifact comes from another version)");
  }
  const check = new ErrorClassifier();
  const list = (field: 'before' | 'after'): ErrorPattern[] => {
    const items = patterns[field];
    if (!Array.isArray(items)) throw new ConfigError(`policy.patterns.${field}`, items, 'must be an array of error patterns');
    for (const [index, pattern] of items.entries()) named(`policy.patterns.${field}[${index}]`, () => check.register(pattern as ErrorPattern, { position: field }));
    return items as ErrorPattern[];
  };
  const prices = Object.fromEntries(named('policy.prices', () => checkPrices(policy.prices)));
  return { services, platforms, before: list('before'), after: list('after'), prices };
}

/** The snapshot spells out `mode: 'enforce'`; a configuration leaves it out (the default). */
function withoutDefaultMode(config: unknown): unknown {
  if (typeof config !== 'object' || config === null || (config as { mode?: unknown }).mode !== 'enforce') return config;
  const { mode: _enforce, ...rest } = config as Record<string, unknown>;
  return rest;
}

/** The fields of `config` that differ from `base`. */
function differences(config: ThrottleConfig, base: ThrottleConfig): Partial<ThrottleConfig> {
  const out: Record<string, unknown> = {};
  const same = (a: unknown, b: unknown): boolean => a === b || hashPolicy(describeBreaker(a as BreakerOption) ?? null) === hashPolicy(describeBreaker(b as BreakerOption) ?? null);
  for (const key of Object.keys(config) as (keyof ThrottleConfig)[]) {
    const value = config[key];
    if (key === 'breaker' ? !same(value, base.breaker) : key === 'contracts' ? hashPolicy(value ?? null) !== hashPolicy(base.contracts ?? null) : value !== base[key]) out[key] = value;
  }
  return out;
}

function record(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(field, value, 'must be an object');
  return value as Record<string, unknown>;
}

/** Runs `check`; a ConfigError it throws names `where` first. */
function named<T>(where: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(`${where}: ${error.field}`, error.value, error.rule);
  }
}
