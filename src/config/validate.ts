import { checkBreaker } from '../breaker/breakers.js';
import { ConfigError } from '../errors/errors.js';
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
};

export const CONFIG_KEYS = Object.keys(FIELD_RULES) as NumericConfigKey[];

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
 * `service` is only used to make the message point at the right place.
 */
export function validatePartial(service: string, partial: unknown): Partial<ThrottleConfig> {
  if (typeof partial !== 'object' || partial === null || Array.isArray(partial)) {
    throw new ConfigError(`configure(${JSON.stringify(service)})`, partial, 'must be an object of ThrottleConfig fields');
  }
  for (const [key, value] of Object.entries(partial)) {
    if (key === 'breaker') {
      if (value !== undefined) checkBreaker(value);
      continue;
    }
    if (!(key in FIELD_RULES)) {
      throw new ConfigError(key, value, `is not a ThrottleConfig field; known fields: ${[...CONFIG_KEYS, 'breaker'].join(', ')}`);
    }
    if (value === undefined) continue;
    checkField(key as NumericConfigKey, value);
  }
  return partial as Partial<ThrottleConfig>;
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

export function mergeConfig(base: ThrottleConfig, service: string, partial: unknown): ThrottleConfig {
  const checked = validatePartial(service, partial);
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(checked)) if (value !== undefined) merged[key] = value;
  return Object.freeze(validateWhole(merged as unknown as ThrottleConfig));
}
