import { ConfigError } from '../errors/errors.js';
import type { NumericConfigKey, ThrottleConfig } from './types.js';
import { checkField, CONFIG_KEYS } from './validate.js';

const PREFIX = 'FLOODGATE_';

/** `requestsPerMinute` → `REQUESTS_PER_MINUTE`. */
export const envFieldName = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();

const FIELD_BY_SUFFIX = new Map(CONFIG_KEYS.map((key) => [`_${envFieldName(key)}`, key]));

/**
 * Reads `FLOODGATE_<SERVICE>_<FIELD>` variables into per-service overrides.
 * `<SERVICE>` is the service type in upper case (`LLM_API`, or a custom `MY_SERVICE`
 * for `my_service`). A value that is not a valid number for its field is a ConfigError
 * naming the variable.
 */
export function readEnvOverrides(env: Readonly<Record<string, string | undefined>>): Map<string, Partial<ThrottleConfig>> {
  const overrides = new Map<string, Partial<ThrottleConfig>>();
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(PREFIX) || raw === undefined) continue;
    const match = matchField(name);
    if (!match) continue;
    const [service, key] = match;
    const text = raw.trim();
    const value = text === '' ? NaN : Number(text);
    checkField(key, value, name);
    const current = (overrides.get(service) ?? {}) as Record<string, number>;
    current[key] = value;
    overrides.set(service, current as Partial<ThrottleConfig>);
  }
  return overrides;
}

function matchField(name: string): [string, NumericConfigKey] | undefined {
  for (const [suffix, key] of FIELD_BY_SUFFIX) {
    if (!name.endsWith(suffix)) continue;
    const service = name.slice(PREFIX.length, name.length - suffix.length);
    if (service === '') throw new ConfigError(name, '', 'must name a service: FLOODGATE_<SERVICE>_<FIELD>');
    return [service.toLowerCase(), key];
  }
  return undefined;
}
