import { ConfigError, isConfigError } from '../errors/errors.js';
import type { NumericConfigKey, ThrottleConfig } from './types.js';
import { checkField, CONFIG_KEYS } from './validate.js';

const PREFIX = 'FLOODGATE_';

/** `FLOODGATE_` variables that are not `<SERVICE>_<FIELD>` overrides (read elsewhere, e.g. by logging). */
export const OTHER_FLOODGATE_VARIABLES: ReadonlySet<string> = new Set(['FLOODGATE_LOG_DIR']);

/** `requestsPerMinute` → `REQUESTS_PER_MINUTE`. */
export const envFieldName = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();

/** Longest first: a field whose name ends another's (`TOKENS_PER_MINUTE`) must not take its variables. */
const FIELD_BY_SUFFIX: readonly (readonly [string, NumericConfigKey])[] = CONFIG_KEYS.map((key) => [`_${envFieldName(key)}`, key] as const).sort(
  (a, b) => b[0].length - a[0].length,
);

// Decimal numbers and Infinity only: `0x10`, `1_000` or `12abc` are mistakes, not numbers.
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$|^\+?Infinity$/;

/**
 * Reads `FLOODGATE_<SERVICE>_<FIELD>` variables into per-service overrides.
 * `<SERVICE>` is the service type in upper case (`LLM_API`, or a custom `MY_SERVICE`
 * for `my_service`). A value that is not a valid number for its field, or a `FLOODGATE_`
 * variable that ends in no field, is a ConfigError naming the variable and showing its text.
 */
export function readEnvOverrides(env: Readonly<Record<string, string | undefined>>): Map<string, Partial<ThrottleConfig>> {
  const overrides = new Map<string, Partial<ThrottleConfig>>();
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(PREFIX) || raw === undefined || OTHER_FLOODGATE_VARIABLES.has(name)) continue;
    const [service, key] = matchField(name, raw);
    const text = raw.trim();
    let value: number;
    try {
      value = checkField(key, NUMBER.test(text) ? Number(text) : NaN, name);
    } catch (error) {
      // Show what was written (`"abc"`), not the NaN it parsed to.
      throw isConfigError(error) ? new ConfigError(name, raw, error.rule) : error;
    }
    const current = (overrides.get(service) ?? {}) as Record<string, number>;
    current[key] = value;
    overrides.set(service, current as Partial<ThrottleConfig>);
  }
  return overrides;
}

function matchField(name: string, raw: string): [string, NumericConfigKey] {
  for (const [suffix, key] of FIELD_BY_SUFFIX) {
    if (!name.endsWith(suffix)) continue;
    const service = name.slice(PREFIX.length, name.length - suffix.length);
    if (service === '') throw new ConfigError(name, raw, 'must name a service: FLOODGATE_<SERVICE>_<FIELD>');
    return [service.toLowerCase(), key];
  }
  throw new ConfigError(name, raw, `must end in a ThrottleConfig field (FLOODGATE_<SERVICE>_<FIELD>, <FIELD> one of ${FIELD_BY_SUFFIX.map(([s]) => s.slice(1)).sort().join(', ')})`);
}
