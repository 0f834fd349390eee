import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, ServiceType, ThrottleManager, getDecoratedMethods, isConfigError, isPlatformSuspendedError, throttleManager, throttled, unifiedErrorHandling } from 'floodgate';
import { SVC, configErrorOf, roomy } from '../helpers.js';

let manager: ThrottleManager;
beforeEach(() => {
  manager = new ThrottleManager({ env: {} });
  roomy(manager);
  roomy(manager, {}, ServiceType.SOCIAL_MEDIA);
});
afterEach(async () => {
  await manager.close();
});

class Client {
  calls: unknown[][] = [];
  constructor(readonly name: string) {}

  @throttled(SVC, { endpoint: 'greet', manager: () => manager })
  async greet(greeting: string, times: number): Promise<string> {
    this.calls.push([greeting, times]);
    return `${greeting} ${this.name}`.repeat(times);
  }

  @throttled(ServiceType.SOCIAL_MEDIA, { platform: 'reddit', endpoint: 'post', manager: () => manager })
  async postToReddit(text: string): Promise<string> {
    return `reddit:${text}`;
  }

  @throttled(ServiceType.SOCIAL_MEDIA, { platform: (platform: string) => platform, manager: () => manager })
  async post(platform: string, text: string): Promise<string> {
    return `${platform}:${text}`;
  }
}

const scopes = (m: ThrottleManager = manager) => m.getStatusReport().scopes;

describe('@throttled', () => {
  it('keeps this, the arguments and the return value, and goes through the manager', async () => {
    const client = new Client('ada');
    await expect(client.greet('hi', 2)).resolves.toBe('hi adahi ada');
    expect(client.calls).toEqual([['hi', 2]]);
    expect(scopes()[SVC]!.counters).toMatchObject({ requests: 1, successes: 1 });
  });

  it('keeps instances apart', async () => {
    const [a, b] = [new Client('a'), new Client('b')];
    expect(await Promise.all([a.greet('x', 1), b.greet('y', 1)])).toEqual(['x a', 'y b']);
    expect([a.calls, b.calls]).toEqual([[['x', 1]], [['y', 1]]]);
  });

  it('uses a separate scope per platform, fixed or computed from the arguments', async () => {
    const client = new Client('c');
    expect(await client.postToReddit('a')).toBe('reddit:a');
    expect(await client.post('twitter', 'b')).toBe('twitter:b');
    expect(await client.post('reddit', 'c')).toBe('reddit:c');
    const report = scopes();
    expect(report['social_media:reddit']!.counters.requests).toBe(2);
    expect(report['social_media:twitter']!.counters.requests).toBe(1);
    expect(report[ServiceType.SOCIAL_MEDIA]).toBeUndefined();
  });

  it('rejects when the platform function returns no platform', async () => {
    await expect(new Client('d').post('', 'x')).rejects.toSatisfy(isConfigError);
  });

  it('routes to the manager given, looking a function up at each call', async () => {
    const other = new ThrottleManager({ env: {} });
    roomy(other);
    let current = manager;
    class Routed {
      @throttled(SVC, { manager: other })
      async fixed(): Promise<number> {
        return 1;
      }
      @throttled(SVC, { manager: () => current })
      async dynamic(): Promise<number> {
        return 2;
      }
    }
    const routed = new Routed();
    await routed.fixed();
    await routed.dynamic();
    current = other;
    await routed.dynamic();
    expect(scopes(other)[SVC]!.counters.requests).toBe(2);
    expect(scopes(manager)[SVC]!.counters.requests).toBe(1);
    expect(scopes(throttleManager)[SVC]).toBeUndefined();
    await other.close();
  });

  it('follows its scope through reset(), eviction and a new store', async () => {
    const client = new Client('e');
    await client.greet('a', 1);
    manager.reset();
    await client.greet('b', 1);
    expect(scopes()[SVC]!.counters.requests).toBe(1);
    manager.suspend(SVC, { durationMs: 60_000, reason: 'maintenance' });
    await expect(client.greet('c', 1)).rejects.toSatisfy(isPlatformSuspendedError);
    manager.useStore(new MemoryStore());
    await expect(client.greet('d', 1)).resolves.toBe('d e');
    expect(scopes()[SVC]!.counters).toMatchObject({ requests: 1, successes: 1 });

    // Evicted (idle, past maxScopes) and created again: the method's calls reach the new scope.
    const small = new ThrottleManager({ env: {}, maxScopes: 2 });
    roomy(small);
    class Evicted {
      @throttled(SVC, { manager: small })
      async run(): Promise<string> {
        return 'ran';
      }
    }
    const evicted = new Evicted();
    await evicted.run();
    for (const platform of ['p1', 'p2', 'p3']) await small.execute(SVC, () => 1, { platform });
    expect(small.getStatusReport().scopes[SVC]).toBeUndefined();
    await evicted.run();
    expect(small.getStatusReport().scopes[SVC]!.counters.requests).toBe(1);
    await small.close();
  });

  it('uses the process-wide throttleManager by default', async () => {
    const service = `default-manager-${Math.random()}`;
    throttleManager.configure(service, { burst: 5 });
    class Plain {
      @throttled(service)
      async run(): Promise<string> {
        return 'ran';
      }
    }
    expect(await new Plain().run()).toBe('ran');
    expect(scopes(throttleManager)[service]!.counters.successes).toBe(1);
    throttleManager.reset();
  });

  it('throws TypeError when applied to something other than a method', () => {
    const decorator = throttled(SVC) as (...args: any[]) => any;
    expect(() => {
      class Field {
        @(decorator as any) value = 1;
      }
      return Field;
    }).toThrow(TypeError);
    expect(() => {
      class Getter {
        @(decorator as any) get value(): number {
          return 1;
        }
      }
      return Getter;
    }).toThrow(TypeError);
  });

  it('rejects an empty service name when decorating', () => {
    for (const make of [() => throttled(''), () => unifiedErrorHandling('')]) expect(configErrorOf(make).field).toBe('service');
  });
});

describe('getDecoratedMethods()', () => {
  class Base {
    @throttled(ServiceType.LLM_API, { endpoint: 'complete' })
    async complete(): Promise<void> {}
  }
  class Derived extends Base {
    @throttled(ServiceType.SOCIAL_MEDIA, { platform: (p: string) => p })
    @unifiedErrorHandling(ServiceType.SOCIAL_MEDIA, { platform: 'x' })
    async post(_p: string): Promise<void> {}
    async undecorated(): Promise<void> {}
  }

  it('lists throttled methods with service, endpoint and platform, inherited ones included', () => {
    expect(getDecoratedMethods(Base)).toEqual([{ method: 'complete', decorator: 'throttled', service: ServiceType.LLM_API, endpoint: 'complete' }]);
    const derived = getDecoratedMethods(Derived);
    expect(derived).toHaveLength(3);
    expect(derived).toEqual(
      expect.arrayContaining([
        { method: 'complete', decorator: 'throttled', service: ServiceType.LLM_API, endpoint: 'complete' },
        { method: 'post', decorator: 'throttled', service: ServiceType.SOCIAL_MEDIA, platform: 'dynamic' },
        { method: 'post', decorator: 'unifiedErrorHandling', service: ServiceType.SOCIAL_MEDIA, platform: 'x' },
      ]),
    );
    expect(derived.some((info) => info.method === 'undecorated')).toBe(false);
  });

  it('accepts an instance as well as a class', () => {
    expect(getDecoratedMethods(new Derived())).toEqual(getDecoratedMethods(Derived));
  });

  it('lists nothing for a class without floodgate decorators', () => {
    class Nothing {}
    expect(getDecoratedMethods(Nothing)).toEqual([]);
  });
});
