import { checkBreaker } from '../breaker/breakers.js';
import { ConfigError } from '../errors/errors.js';
import { checkBudget } from '../spend/budget.js';
import { checkContracts } from '../governance/contracts.js';
import { checkMode } from '../governance/observe.js';
import type { NumericConfigKey, ThrottleConfig } from './types.js';

interface FieldRule {
  readonly integer: boolean;
  /** Smallest allowed value, and whether it is allowed itself. */
  readonly min: number;
  readonly minInclusive: boolean;
  readonly infinite: boolean;
}

const rule = (min: number, minInclusive: boolean, integer: boolean, infinite: boolean): FieldRule => ({
  min,
  minInclusive,
  integer,
  infinite,
});

export const FIELD_RULES: Readonly<Record<NumericConfigKey, FieldRule>> = {
  requestsPerSecond: rule(0, false, false, true),
  burst: rule(1, true, true, false),
  requestsPerMinute: rule(1, true, true, true),
  maxConcurrent: rule(1, true, true, true),
  circuitBreakerThreshold: rule(1, true, true, false),
  circuitBreakerResetMs: rule(0, false, false, false),
  retryAttempts: rule(0, true, true, false),
  backoffBaseMs: rule(0, true, false, false),
  backoffMaxMs: rule(0, true, false, false),
  timeoutMs: rule(0, true, false, true),
  maxWaitMs: rule(0, true, false, true),
  maxQueue: rule(0, true, true, true),
  banSuspensionMs: rule(0, false, false, false),
  maxRetryAfterMs: rule(0, false, false, true),
  tokensPerMinute: rule(1, true, true, true),
  inputTokensPerMinute: rule(1, true, true, true),
  outputTokensPerMinute: rule(1, true, true, true),
};

export const CONFIG_KEYS = Object.keys(FIELD_RULES) as NumericConfigKey[];

/** The fields that hold something else than a number, with their checks. */
const OTHER_FIELDS: Readonly<Record<string, (value: unknown) => unknown>> = { breaker: checkBreaker, mode: checkMode, contracts: checkContracts, budget: checkBudget };

export function describeRule(r: FieldRule): string {
  const bound = `${r.minInclusive ? '>=' : '>'} ${r.min}`;
  return `must be ${r.integer ? 'an integer' : 'a number'} ${bound}${r.infinite ? ', or Infinity' : ''}`;
}

/** Checks one value against its field's rule; `label` is what the error names (field or variable). */
export function checkField(key: NumericConfigKey, value: unknown, label: string = key): number {
  const r = FIELD_RULES[key];
  const ok =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    (value === Infinity ? r.infinite : Number.isFinite(value) && (!r.integer || Number.isInteger(value))) &&
    (r.minInclusive ? value >= r.min : value > r.min);
  if (!ok) throw new ConfigError(label, value, describeRule(r));
  return value as number;
}

/**
 * Validates a partial configuration: unknown keys and bad values throw {@link ConfigError}.
 * Only the object's own enumerable keys are fields (`{ toString: 5 }` is an unknown key, and an
 * inherited property is never read). Returns a plain copy, read once: a getter or Proxy cannot
 * answer differently between validation and use. `service` only makes the message point at the
 * right place.
 */
export function validatePartial(service: string, partial: unknown): Partial<ThrottleConfig> {
  const where = `configure(${JSON.stringify(service)})`;
  let entries: [string, unknown][] | undefined;
  try {
    if (typeof partial === 'object' && partial !== null && !Array.isArray(partial)) entries = Object.entries(partial);
  } catch {
    throw new ConfigError(where, partial, 'could not be read (a Proxy or a throwing getter)');
  }
  if (entries === undefined) throw new ConfigError(where, partial, 'must be an object of ThrottleConfig fields');
  const checked: Record<string, unknown> = {};
  for (const [key, value] of entries) {
    if (Object.hasOwn(OTHER_FIELDS, key)) {
      if (value !== undefined) checked[key] = OTHER_FIELDS[key]!(value);
      continue;
    }
    if (!Object.hasOwn(FIELD_RULES, key)) {
      throw new ConfigError(key, value, `is not a ThrottleConfig field; known fields: ${[...CONFIG_KEYS, ...Object.keys(OTHER_FIELDS)].join(', ')}`);
    }
    if (value === undefined) continue;
    checked[key] = checkField(key as NumericConfigKey, value);
  }
  return checked as Partial<ThrottleConfig>;
}

/** Rules that relate two fields, checked on the merged result. */
export function validateWhole(config: ThrottleConfig): ThrottleConfig {
  if (config.requestsPerMinute < config.burst) {
    throw new ConfigError(
      'requestsPerMinute',
      config.requestsPerMinute,
      `must be >= burst (${config.burst}): a burst larger than the per-minute cap could never be used`,
    );
  }
  if (config.backoffMaxMs < config.backoffBaseMs) {
    throw new ConfigError('backoffMaxMs', config.backoffMaxMs, `must be >= backoffBaseMs (${config.backoffBaseMs})`);
  }
  return config;
}

/**
 * `partial` validated and merged onto `base`. A `requestsPerMinute` below the burst in force
 * lowers that burst to the cap when `partial` does not set `burst` itself (the preset's or an
 * earlier call's burst gives way to the new cap); an explicit `burst` above the cap is a ConfigError.
 */
export function mergeConfig(base: ThrottleConfig, service: string, partial: unknown): ThrottleConfig {
  const checked = validatePartial(service, partial);
  const merged = { ...base, ...checked } as unknown as Record<string, number>;
  if (checked.burst === undefined && merged.requestsPerMinute! < merged.burst!) merged.burst = merged.requestsPerMinute!;
  return Object.freeze(validateWhole(merged as unknown as ThrottleConfig));
}
