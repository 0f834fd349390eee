import { envFieldName, readEnvOverrides } from '../config/env.js';
import { presetFor } from '../config/presets.js';
import type { ThrottleConfig } from '../config/types.js';
import { mergeConfig, validatePartial } from '../config/validate.js';
import { ConfigError, isConfigError } from '../errors/errors.js';
import { scopeKey } from './scope.js';

/**
 * The configuration of every service and platform, resolved in this order:
 * preset < environment < `configure()` for the service < `configure()` for the platform.
 * Every change is validated whole before anything is stored.
 *
 * The environment is read at first use, not on construction: importing floodgate creates the
 * singleton, and a malformed `FLOODGATE_*` variable must surface as a ConfigError where the
 * manager is used, never as an exception from `import`.
 */
export class ServiceConfigs {
  private readonly services = new Map<string, ThrottleConfig>();
  /** Platform settings by scope key, kept as given so that they re-apply over later service changes. */
  private readonly platforms = new Map<string, Partial<ThrottleConfig>>();
  /** Until read: the variables to read (a failed read is tried again at the next use). */
  private env: Readonly<Record<string, string | undefined>> | undefined;

  constructor(env: Readonly<Record<string, string | undefined>>) {
    this.env = env;
  }

  resolve(service: string, platform: string | undefined): ThrottleConfig {
    const base = this.service(service);
    const override = platform === undefined ? undefined : this.platforms.get(scopeKey(service, platform));
    return override === undefined ? base : mergeConfig(base, service, override);
  }

  /** Merges onto the service; returns its new configuration and those of its configured platforms. */
  configureService(service: string, partial: unknown): { readonly resolved: ThrottleConfig; readonly platforms: ReadonlyMap<string, ThrottleConfig> } {
    checkName('service', service);
    const resolved = mergeConfig(this.service(service), service, partial);
    // Every platform setting must still hold on the new base before anything changes.
    const platforms = new Map<string, ThrottleConfig>();
    for (const [key, override] of this.platforms) {
      if (key.startsWith(`${service}:`)) platforms.set(key, mergeConfig(resolved, service, override));
    }
    this.services.set(service, resolved);
    return { resolved, platforms };
  }

  /** Merges onto the platform's own settings, on top of the service's configuration. */
  configurePlatform(service: string, platform: string, partial: unknown): ThrottleConfig {
    checkName('service', service);
    checkName('platform', platform);
    const checked = validatePartial(service, partial);
    const key = scopeKey(service, platform);
    const override: { -readonly [K in keyof ThrottleConfig]?: ThrottleConfig[K] } = { ...this.platforms.get(key), ...checked };
    // A burst this platform was given earlier gives way to a lower cap, as an inherited one does.
    if (checked.burst === undefined && checked.requestsPerMinute !== undefined && override.burst !== undefined) {
      override.burst = Math.min(override.burst, checked.requestsPerMinute);
    }
    const resolved = mergeConfig(this.service(service), service, override);
    this.platforms.set(key, override);
    return resolved;
  }

  /** The services and platforms (scope keys) given a configuration by the environment or `configure()`. */
  configured(): { readonly services: readonly string[]; readonly platforms: readonly string[] } {
    if (this.env !== undefined) this.readEnv(this.env);
    return { services: [...this.services.keys()], platforms: [...this.platforms.keys()] };
  }

  /** Replaces every configuration at once (applyPolicy, which validated them); the environment is not read again. */
  replace(services: ReadonlyMap<string, ThrottleConfig>, platforms: ReadonlyMap<string, Partial<ThrottleConfig>>): void {
    this.env = undefined;
    this.services.clear();
    this.platforms.clear();
    for (const [service, config] of services) this.services.set(service, config);
    for (const [key, override] of platforms) this.platforms.set(key, override);
  }

  private service(service: string): ThrottleConfig {
    if (this.env !== undefined) this.readEnv(this.env);
    return this.services.get(service) ?? presetFor(service);
  }

  private readEnv(env: Readonly<Record<string, string | undefined>>): void {
    const fromEnv = new Map<string, ThrottleConfig>();
    for (const [service, overrides] of readEnvOverrides(env)) {
      fromEnv.set(service, withEnvNames(service, () => mergeConfig(presetFor(service), service, overrides)));
    }
    for (const [service, config] of fromEnv) this.services.set(service, config);
    this.env = undefined;
  }
}

export function checkName(field: 'service' | 'platform', value: unknown): void {
  if (typeof value !== 'string' || value.trim() === '') throw new ConfigError(field, value, 'must be a non-empty string');
  // `service:platform` is the scope key: a colon in a service name would make keys ambiguous.
  if (field === 'service' && value.includes(':')) throw new ConfigError(field, value, 'must not contain ":" (it separates service and platform in scope keys)');
}

/** A rule broken by environment values (e.g. a cap below the burst) names the variable, not the field. */
function withEnvNames<T>(service: string, build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (!isConfigError(error)) throw error;
    throw new ConfigError(`FLOODGATE_${service.toUpperCase()}_${envFieldName(error.field)}`, error.value, error.rule);
  }
}
