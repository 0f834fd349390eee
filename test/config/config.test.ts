import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  CUSTOM_SERVICE_PRESET,
  SERVICE_PRESETS,
  ServiceType,
  ThrottleManager,
  isConfigError,
  isRateLimitedError,
  type ConfigError,
  type ThrottleConfig,
} from 'floodgate';
import { mergeConfig } from '../../src/config/index.js';
import { SVC, roomy, track, flush } from '../helpers.js';

let manager: ThrottleManager;
beforeEach(() => {
  manager = new ThrottleManager({ env: {} });
});
afterEach(async () => {
  await manager.close();
  vi.useRealTimers();
});

/** Runs `fn` and returns the ConfigError it throws (failing the test if it throws anything else or nothing). */
function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(isConfigError(error), `threw a ConfigError, got ${String(error)}`).toBe(true);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('SERVICE_PRESETS', () => {
  it('keeps the seed values for LLM_API', () => {
    expect(SERVICE_PRESETS[ServiceType.LLM_API]).toMatchObject({
      requestsPerSecond: 0.5,
      requestsPerMinute: 20,
      circuitBreakerThreshold: 3,
      backoffMaxMs: 120_000,
      retryAttempts: 2,
    });
  });

  it('keeps the seed values for SOCIAL_MEDIA', () => {
    expect(SERVICE_PRESETS[ServiceType.SOCIAL_MEDIA]).toMatchObject({
      requestsPerSecond: 0.2,
      requestsPerMinute: 10,
      circuitBreakerThreshold: 2,
      backoffMaxMs: 900_000,
      retryAttempts: 1,
      banSuspensionMs: 4 * 60 * 60 * 1000,
    });
  });

  it('has a valid preset for every built-in service type', () => {
    for (const service of Object.values(ServiceType)) {
      const preset = SERVICE_PRESETS[service];
      expect(preset, service).toBeDefined();
      expect(() => mergeConfig(preset, service, {}), service).not.toThrow();
    }
    expect(() => mergeConfig(CUSTOM_SERVICE_PRESET, 'custom', {})).not.toThrow();
  });

  it('is frozen, with frozen entries', () => {
    expect(Object.isFrozen(SERVICE_PRESETS)).toBe(true);
    expect(Object.isFrozen(CUSTOM_SERVICE_PRESET)).toBe(true);
    for (const preset of Object.values(SERVICE_PRESETS)) expect(Object.isFrozen(preset)).toBe(true);
    expect(() => {
      (SERVICE_PRESETS[ServiceType.LLM_API] as { burst: number }).burst = 99;
    }).toThrow(TypeError);
  });
});

describe('configure()', () => {
  it('merges onto the preset, accumulates across calls and returns the resolved config', () => {
    const first = manager.configure(ServiceType.LLM_API, { requestsPerMinute: 30 });
    expect(first).toEqual({ ...SERVICE_PRESETS[ServiceType.LLM_API], requestsPerMinute: 30 });
    const second = manager.configure(ServiceType.LLM_API, { burst: 5 });
    expect(second).toEqual({ ...SERVICE_PRESETS[ServiceType.LLM_API], requestsPerMinute: 30, burst: 5 });
    expect(manager.getConfig(ServiceType.LLM_API)).toEqual(second);
    // The preset itself and other managers are untouched.
    expect(SERVICE_PRESETS[ServiceType.LLM_API].requestsPerMinute).toBe(20);
    expect(new ThrottleManager({ env: {} }).getConfig(ServiceType.LLM_API).requestsPerMinute).toBe(20);
  });

  const invalid: [string, Partial<Record<string, number>>, string, unknown, RegExp][] = [
    ['negative rps', { requestsPerSecond: -1 }, 'requestsPerSecond', -1, /> 0/],
    ['burst 0', { burst: 0 }, 'burst', 0, />= 1/],
    ['fractional burst', { burst: 1.5 }, 'burst', 1.5, /integer/],
    ['NaN', { maxWaitMs: NaN }, 'maxWaitMs', NaN, /number/],
    ['unknown key', { requestPerMinute: 30 }, 'requestPerMinute', 30, /not a ThrottleConfig field/],
    ['rpm below burst', { burst: 25 }, 'requestsPerMinute', 20, /burst \(25\)/],
    ['backoffMax below base', { backoffBaseMs: 5_000, backoffMaxMs: 1_000 }, 'backoffMaxMs', 1_000, /backoffBaseMs \(5000\)/],
  ];

  it.each(invalid)('rejects %s with a ConfigError naming field, value and rule, and changes nothing', (_, partial, field, value, rule) => {
    const before = manager.getConfig(ServiceType.LLM_API);
    const error = configErrorOf(() => manager.configure(ServiceType.LLM_API, partial as Partial<ThrottleConfig>));
    expect(error.field).toBe(field);
    expect(Object.is(error.value, value)).toBe(true);
    expect(error.rule).toMatch(rule);
    expect(error.message).toContain(field);
    expect(error.message).toContain(String(value));
    expect(error.message).toMatch(rule);
    expect(manager.getConfig(ServiceType.LLM_API)).toEqual(before);
  });

  it('gives unconfigured custom service types CUSTOM_SERVICE_PRESET, and merges onto it', () => {
    expect(manager.getConfig('my_service')).toEqual(CUSTOM_SERVICE_PRESET);
    expect(manager.configure('my_service', { burst: 2 })).toEqual({ ...CUSTOM_SERVICE_PRESET, burst: 2 });
  });

  it('rejects an empty service name', () => {
    expect(configErrorOf(() => manager.configure('', { burst: 2 })).field).toBe('service');
  });

  it('configures one platform on top of its service, leaving the others alone', () => {
    manager.configure(ServiceType.SOCIAL_MEDIA, { requestsPerMinute: 5 }, { platform: 'reddit' });
    expect(manager.getConfig(ServiceType.SOCIAL_MEDIA, { platform: 'reddit' }).requestsPerMinute).toBe(5);
    expect(manager.getConfig(ServiceType.SOCIAL_MEDIA, { platform: 'twitter' }).requestsPerMinute).toBe(10);
    expect(manager.getConfig(ServiceType.SOCIAL_MEDIA).requestsPerMinute).toBe(10);
    // A later service-wide change shows through, the platform's own value stays on top.
    manager.configure(ServiceType.SOCIAL_MEDIA, { retryAttempts: 0 });
    expect(manager.getConfig(ServiceType.SOCIAL_MEDIA, { platform: 'reddit' })).toMatchObject({ requestsPerMinute: 5, retryAttempts: 0 });
  });

  it('does not keep a rejected platform override', () => {
    expect(() => manager.configure(ServiceType.SOCIAL_MEDIA, { burst: 0 }, { platform: 'reddit' })).toThrow();
    expect(manager.configure(ServiceType.SOCIAL_MEDIA, { requestsPerMinute: 12 }, { platform: 'reddit' })).toMatchObject({
      burst: SERVICE_PRESETS[ServiceType.SOCIAL_MEDIA].burst,
      requestsPerMinute: 12,
    });
  });

  it('applies to a live scope', async () => {
    vi.useFakeTimers();
    roomy(manager, { requestsPerSecond: 0.1, burst: 1, maxWaitMs: 60_000 });
    await manager.execute(SVC, () => 'first');
    const waiting = track(manager.execute(SVC, () => 'second'));
    await flush();
    expect(waiting.state).toBe('pending');
    manager.configure(SVC, { maxWaitMs: 0 });
    const refused = track(manager.execute(SVC, () => 'third'));
    await flush();
    expect(refused.state).toBe('rejected');
    expect(isRateLimitedError(refused.error)).toBe(true);
  });
});

describe('environment overrides', () => {
  it('reads FLOODGATE_<SERVICE>_<FIELD> for built-in services', () => {
    const m = new ThrottleManager({ env: { FLOODGATE_LLM_API_REQUESTS_PER_MINUTE: '30' } });
    expect(m.getConfig(ServiceType.LLM_API)).toEqual({ ...SERVICE_PRESETS[ServiceType.LLM_API], requestsPerMinute: 30 });
  });

  it('reads custom service types from the variable name', () => {
    const m = new ThrottleManager({ env: { FLOODGATE_MY_SVC_BURST: '2', FLOODGATE_MY_SVC_BACKOFF_MAX_MS: '90000' } });
    expect(m.getConfig('my_svc')).toEqual({ ...CUSTOM_SERVICE_PRESET, burst: 2, backoffMaxMs: 90_000 });
  });

  it('reads process.env when no env is given', () => {
    vi.stubEnv('FLOODGATE_WEB_SCRAPER_MAX_QUEUE', '7');
    expect(new ThrottleManager().getConfig(ServiceType.WEB_SCRAPER).maxQueue).toBe(7);
  });

  it('ignores unrelated variables', () => {
    const m = new ThrottleManager({ env: { PATH: '/bin', FLOODGATE_LLM_API_COLOUR: 'blue', OTHER_LLM_API_BURST: 'x' } });
    expect(m.getConfig(ServiceType.LLM_API)).toEqual(SERVICE_PRESETS[ServiceType.LLM_API]);
  });

  it.each(['abc', '1.5', '', '-2'])('rejects FLOODGATE_LLM_API_BURST=%j with a ConfigError naming the variable', (raw) => {
    const error = configErrorOf(() => new ThrottleManager({ env: { FLOODGATE_LLM_API_BURST: raw } }));
    expect(error.field).toBe('FLOODGATE_LLM_API_BURST');
    expect(error.message).toContain('FLOODGATE_LLM_API_BURST');
  });
});

describe('configuration edge cases', () => {
  it('names the environment variable when env values break a rule between fields', () => {
    // Valid alone, but below the preset's burst of 3.
    const error = (() => {
      try {
        new ThrottleManager({ env: { FLOODGATE_LLM_API_REQUESTS_PER_MINUTE: '2' } });
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(isConfigError(error)).toBe(true);
    expect((error as ConfigError).field).toBe('FLOODGATE_LLM_API_REQUESTS_PER_MINUTE');
    expect((error as ConfigError).message).toMatch(/FLOODGATE_LLM_API_REQUESTS_PER_MINUTE.*2.*burst/);
  });

  it('changes nothing when a service change would break one of its platform overrides', () => {
    const manager = new ThrottleManager({ env: {} });
    manager.configure('svc', { burst: 2, requestsPerMinute: 10 });
    manager.configure('svc', { requestsPerMinute: 5 }, { platform: 'p' });
    // A burst of 8 is fine for the service (cap 10) but not for platform p (cap 5).
    expect(() => manager.configure('svc', { burst: 8 })).toThrow(/requestsPerMinute/);
    expect(manager.getConfig('svc').burst).toBe(2);
    expect(manager.getConfig('svc', { platform: 'p' }).burst).toBe(2);
  });

  it('refuses a service name with a colon, which would clash with service:platform keys', () => {
    const manager = new ThrottleManager({ env: {} });
    expect(() => manager.configure('a:b', { burst: 1 })).toThrow(/must not contain ":"/);
  });
});
