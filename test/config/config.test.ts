import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  CUSTOM_SERVICE_PRESET,
  SERVICE_PRESETS,
  ServiceType,
  ThrottleManager,
  isConfigError,
  isRateLimitedError,
  type ThrottleConfig,
} from 'floodgate';
import { mergeConfig } from '../../src/config/index.js';
import { SVC, configErrorOf, roomy, track, flush } from '../helpers.js';

let manager: ThrottleManager;
beforeEach(() => {
  manager = new ThrottleManager({ env: {} });
});
afterEach(async () => {
  await manager.close();
  vi.useRealTimers();
});

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

  it('ignores variables outside FLOODGATE_ and the ones read elsewhere (FLOODGATE_LOG_DIR)', () => {
    const m = new ThrottleManager({ env: { PATH: '/bin', OTHER_LLM_API_BURST: 'x', FLOODGATE_LOG_DIR: '/var/log/floodgate' } });
    expect(m.getConfig(ServiceType.LLM_API)).toEqual(SERVICE_PRESETS[ServiceType.LLM_API]);
  });

  it('reports a FLOODGATE_ variable that ends in no field (a typo would otherwise do nothing)', () => {
    const m = new ThrottleManager({ env: { FLOODGATE_LLM_API_REQUEST_PER_MINUTE: '30' } });
    const error = configErrorOf(() => m.getConfig(ServiceType.LLM_API));
    expect(error.field).toBe('FLOODGATE_LLM_API_REQUEST_PER_MINUTE');
    expect(error.value).toBe('30');
    expect(error.rule).toMatch(/must end in a ThrottleConfig field.*REQUESTS_PER_MINUTE/);
  });

  it.each(['abc', '1.5', '', '-2', '0x10', '12abc', '1_000', 'NaN'])(
    'rejects FLOODGATE_LLM_API_BURST=%j with a ConfigError naming the variable and showing its text',
    (raw) => {
      // Constructing never throws: the environment is read at first use.
      const m = new ThrottleManager({ env: { FLOODGATE_LLM_API_BURST: raw } });
      const error = configErrorOf(() => m.getConfig(ServiceType.LLM_API));
      expect(error.field).toBe('FLOODGATE_LLM_API_BURST');
      expect(error.value).toBe(raw);
      expect(error.message).toBe(`Invalid FLOODGATE_LLM_API_BURST: ${JSON.stringify(raw)} (must be an integer >= 1)`);
      expect(error.message).not.toContain('NaN (');
    },
  );

  it('reports an environment error at every use until the variable is fixed, by configure and execute alike', async () => {
    const env: Record<string, string> = { FLOODGATE_SVC_MAX_QUEUE: 'lots' };
    const m = new ThrottleManager({ env });
    expect(configErrorOf(() => m.configure(SVC, { burst: 1 })).field).toBe('FLOODGATE_SVC_MAX_QUEUE');
    const rejected = await m.execute(SVC, () => 'never').catch((error: unknown) => error);
    expect(isConfigError(rejected) && rejected.field).toBe('FLOODGATE_SVC_MAX_QUEUE');
    env.FLOODGATE_SVC_MAX_QUEUE = '7';
    expect(m.getConfig(SVC).maxQueue).toBe(7);
    await m.close();
  });

  it('takes the longest field name that ends the variable', () => {
    const m = new ThrottleManager({ env: { FLOODGATE_MY_SVC_BACKOFF_MAX_MS: '90000', FLOODGATE_MY_SVC_MAX_WAIT_MS: '5' } });
    expect(m.getConfig('my_svc')).toMatchObject({ backoffMaxMs: 90_000, maxWaitMs: 5 });
  });
});

describe('configuration edge cases', () => {
  it('names the environment variable when env values break a rule between fields', () => {
    const m = new ThrottleManager({ env: { FLOODGATE_LLM_API_BURST: '5', FLOODGATE_LLM_API_REQUESTS_PER_MINUTE: '2' } });
    const error = configErrorOf(() => m.getConfig(ServiceType.LLM_API));
    expect(error.field).toBe('FLOODGATE_LLM_API_REQUESTS_PER_MINUTE');
    expect(error.message).toMatch(/FLOODGATE_LLM_API_REQUESTS_PER_MINUTE.*2.*burst \(5\)/);
  });

  it('an environment cap below the preset burst lowers that burst', () => {
    const m = new ThrottleManager({ env: { FLOODGATE_LLM_API_REQUESTS_PER_MINUTE: '2' } });
    expect(m.getConfig(ServiceType.LLM_API)).toMatchObject({ requestsPerMinute: 2, burst: 2 });
  });

  it('a service change lowers the burst a platform inherits to fit that platform\'s own cap', () => {
    const manager = new ThrottleManager({ env: {} });
    manager.configure('svc', { burst: 2, requestsPerMinute: 10 });
    manager.configure('svc', { requestsPerMinute: 5 }, { platform: 'p' });
    manager.configure('svc', { burst: 8 });
    expect(manager.getConfig('svc').burst).toBe(8);
    expect(manager.getConfig('svc', { platform: 'p' })).toMatchObject({ burst: 5, requestsPerMinute: 5 });
  });

  it('changes nothing when a service change would break a platform\'s own explicit setting', () => {
    const manager = new ThrottleManager({ env: {} });
    manager.configure('svc', { backoffBaseMs: 100, backoffMaxMs: 1_000 });
    manager.configure('svc', { backoffMaxMs: 500 }, { platform: 'p' });
    // A base of 800 is fine for the service (max 1000) but not for platform p (max 500).
    expect(() => manager.configure('svc', { backoffBaseMs: 800 })).toThrow(/backoffMaxMs/);
    expect(manager.getConfig('svc').backoffBaseMs).toBe(100);
    expect(manager.getConfig('svc', { platform: 'p' }).backoffBaseMs).toBe(100);
  });

  it('refuses a service name with a colon, which would clash with service:platform keys', () => {
    const manager = new ThrottleManager({ env: {} });
    expect(() => manager.configure('a:b', { burst: 1 })).toThrow(/must not contain ":"/);
  });
});

describe('a lower cap and an inherited burst', () => {
  it('lowering requestsPerMinute below the preset burst lowers the burst to fit, and the report shows it', async () => {
    expect(SERVICE_PRESETS[ServiceType.INTERNAL_API].burst).toBe(100);
    const resolved = manager.configure(ServiceType.INTERNAL_API, { requestsPerMinute: 50 });
    expect(resolved).toMatchObject({ requestsPerMinute: 50, burst: 50 });
    await manager.execute(ServiceType.INTERNAL_API, () => 'ok');
    expect(manager.getStatusReport().scopes[ServiceType.INTERNAL_API]!.limits).toMatchObject({ burst: 50, requestsPerMinute: 50 });
  });

  it('a burst set by an earlier call gives way too; one at or below the new cap stays', () => {
    manager.configure(SVC, { burst: 20, requestsPerMinute: 100 });
    expect(manager.configure(SVC, { requestsPerMinute: 10 })).toMatchObject({ burst: 10, requestsPerMinute: 10 });
    manager.configure(SVC, { burst: 4, requestsPerMinute: 100 });
    expect(manager.configure(SVC, { requestsPerMinute: 10 })).toMatchObject({ burst: 4, requestsPerMinute: 10 });
  });

  it('applies the lower burst to a live scope', async () => {
    manager.configure(ServiceType.INTERNAL_API, { requestsPerSecond: 0.001 });
    await manager.execute(ServiceType.INTERNAL_API, () => 'warm');
    expect(manager.getStatusReport().scopes[ServiceType.INTERNAL_API]!.limits.tokens).toBe(99);
    manager.configure(ServiceType.INTERNAL_API, { requestsPerMinute: 3 });
    expect(manager.getStatusReport().scopes[ServiceType.INTERNAL_API]!.limits).toMatchObject({ burst: 3, tokens: 3, requestsPerMinute: 3 });
  });

  it('on a platform, lowers the burst the platform inherits or was given earlier', () => {
    manager.configure(SVC, { burst: 20, requestsPerMinute: 100 });
    expect(manager.configure(SVC, { requestsPerMinute: 8 }, { platform: 'p' })).toMatchObject({ burst: 8, requestsPerMinute: 8 });
    manager.configure(SVC, { burst: 6, requestsPerMinute: 50 }, { platform: 'q' });
    expect(manager.configure(SVC, { requestsPerMinute: 4 }, { platform: 'q' })).toMatchObject({ burst: 4, requestsPerMinute: 4 });
    // The service itself is untouched.
    expect(manager.getConfig(SVC)).toMatchObject({ burst: 20, requestsPerMinute: 100 });
  });

  it.each([{ platform: undefined }, { platform: 'p' }])('an explicit burst above the cap in the same call stays a ConfigError (%o)', ({ platform }) => {
    manager.configure(SVC, { burst: 2, requestsPerMinute: 100 });
    const error = configErrorOf(() => manager.configure(SVC, { burst: 20, requestsPerMinute: 10 }, platform === undefined ? {} : { platform }));
    expect(error.field).toBe('requestsPerMinute');
    expect(error.rule).toMatch(/burst \(20\)/);
    expect(manager.getConfig(SVC, platform === undefined ? {} : { platform })).toMatchObject({ burst: 2, requestsPerMinute: 100 });
  });
});

describe('what configure() accepts', () => {
  it.each([null, 42, 'x', [], undefined])('configure(service, %j, { platform }) throws the ConfigError the service path throws', (partial) => {
    const servicePath = configErrorOf(() => manager.configure(SVC, partial as never));
    const platformPath = configErrorOf(() => manager.configure(SVC, partial as never, { platform: 'p' }));
    expect(platformPath.field).toBe(servicePath.field);
    expect(platformPath.rule).toBe(servicePath.rule);
    expect(platformPath.message).toBe(servicePath.message);
    expect(platformPath.message).toMatch(/configure\("svc"\).*must be an object of ThrottleConfig fields/);
    // Nothing was stored: a later valid platform call sees the service's settings only.
    expect(manager.configure(SVC, { maxQueue: 3 }, { platform: 'p' })).toEqual({ ...CUSTOM_SERVICE_PRESET, maxQueue: 3 });
  });

  it.each(['toString', 'constructor', 'hasOwnProperty', 'valueOf', '__proto__'])('only own keys are fields: { %s: 5 } is an unknown key', (key) => {
    const partial = JSON.parse(`{${JSON.stringify(key)}: 5}`) as Partial<ThrottleConfig>;
    for (const options of [{}, { platform: 'p' }]) {
      const error = configErrorOf(() => manager.configure(SVC, partial, options));
      expect(error.field).toBe(key);
      expect(error.value).toBe(5);
      expect(error.rule).toMatch(/is not a ThrottleConfig field/);
      expect(error.message).not.toContain('undefined');
    }
  });

  it('never reads inherited properties', () => {
    const partial = Object.create({ burst: 0 }) as Partial<ThrottleConfig>;
    expect(manager.configure(SVC, partial)).toEqual(CUSTOM_SERVICE_PRESET);
  });

  it('reads each value once: a getter cannot pass validation and then answer otherwise', () => {
    let reads = 0;
    const partial = {
      get burst() {
        return ++reads === 1 ? 2 : 0;
      },
    };
    expect(manager.configure(SVC, partial)).toMatchObject({ burst: 2 });
    expect(reads).toBe(1);
  });

  it.each([
    ['a Proxy trapping ownKeys', () => new Proxy({}, { ownKeys: () => { throw new Error('trap'); } })],
    ['a throwing getter', () => ({ get burst(): number { throw new Error('trap'); } })],
    ['a revoked Proxy', () => { const { proxy, revoke } = Proxy.revocable({}, {}); revoke(); return proxy; }],
  ])('refuses %s with a ConfigError, changing nothing', (_what, make) => {
    for (const options of [{}, { platform: 'p' }]) {
      const error = configErrorOf(() => manager.configure(SVC, make() as never, options));
      expect(error.rule).toMatch(/could not be read/);
    }
    expect(manager.getConfig(SVC, { platform: 'p' })).toEqual(CUSTOM_SERVICE_PRESET);
  });
});

describe("import 'floodgate' with a malformed environment", () => {
  it('never throws; the singleton (the same object) reports the variable at first use', async () => {
    vi.stubEnv('FLOODGATE_LLM_API_BURST', 'abc');
    vi.resetModules();
    const fresh = await import('floodgate');
    expect(fresh.throttleManager).toBe(fresh.ThrottleManager.getInstance());
    const error = configErrorOf(() => fresh.throttleManager.getConfig(fresh.ServiceType.LLM_API));
    expect(error.field).toBe('FLOODGATE_LLM_API_BURST');
    expect(error.value).toBe('abc');
    expect(fresh.isConfigError(await fresh.throttleManager.execute(fresh.ServiceType.LLM_API, () => 'never').catch((e: unknown) => e))).toBe(true);
  });

  it('a variable set after the import but before first use is honoured', async () => {
    vi.resetModules();
    const fresh = await import('floodgate');
    vi.stubEnv('FLOODGATE_LLM_API_MAX_QUEUE', '9');
    expect(fresh.throttleManager.getConfig(fresh.ServiceType.LLM_API).maxQueue).toBe(9);
  });
});
