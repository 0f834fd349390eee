import { describe, expect, it, vi } from 'vitest';
import {
  ErrorCategory,
  ServiceType,
  ThrottleManager,
  getClassification,
  getDecoratedMethods,
  isPlatformSuspendedError,
  throttled,
  unifiedErrorHandling,
  type ErrorClassification,
  type ErrorClassifiedEvent,
} from 'floodgate';
import { SVC, httpError, roomy, track, useFakeManager } from '../helpers.js';

let manager: ThrottleManager;
let classified: ErrorClassifiedEvent[];
useFakeManager((m) => {
  manager = m;
  roomy(manager, { retryAttempts: 2, backoffBaseMs: 10, backoffMaxMs: 10, circuitBreakerThreshold: 100 });
  classified = [];
  manager.on('errorClassified', (e) => classified.push(e));
});

const opts = { endpoint: 'complete', manager: () => manager };
/**
 * The same target through other option values (another manager function): the two layers cannot
 * tell they serve one scope, so each runs in full. With `opts` on both, `@throttled` folds the
 * other layer into its own call path; both ways must behave alike.
 */
const apart = { endpoint: 'complete', manager: () => manager };

/** The provider behind both stacks: fails with a fresh error per attempt while `failing`. */
class Provider {
  failing = true;
  attempts = 0;
  thrown: unknown[] = [];
  call(status: number): Promise<string> {
    this.attempts++;
    if (!this.failing) return Promise.resolve('ok');
    const error = httpError(status);
    this.thrown.push(error);
    return Promise.reject(error);
  }
}

class ThrottledOutside {
  provider = new Provider();
  @throttled(SVC, opts)
  @unifiedErrorHandling(SVC, opts)
  async complete(status: number): Promise<string> {
    return this.provider.call(status);
  }
}

class UnifiedOutside {
  provider = new Provider();
  @unifiedErrorHandling(SVC, opts)
  @throttled(SVC, opts)
  async complete(status: number): Promise<string> {
    return this.provider.call(status);
  }
}

class ThrottledOutsideApart {
  provider = new Provider();
  @throttled(SVC, opts)
  @unifiedErrorHandling(SVC, apart)
  async complete(status: number): Promise<string> {
    return this.provider.call(status);
  }
}

class UnifiedOutsideApart {
  provider = new Provider();
  @unifiedErrorHandling(SVC, apart)
  @throttled(SVC, opts)
  async complete(status: number): Promise<string> {
    return this.provider.call(status);
  }
}

const orders = [
  ['@throttled over @unifiedErrorHandling', () => new ThrottledOutside()],
  ['@unifiedErrorHandling over @throttled', () => new UnifiedOutside()],
  ['@throttled over @unifiedErrorHandling, options apart', () => new ThrottledOutsideApart()],
  ['@unifiedErrorHandling over @throttled, options apart', () => new UnifiedOutsideApart()],
] as const;

describe.each(orders)('%s', (_, make) => {
  it('lists both decorators for discovery', () => {
    expect(getDecoratedMethods(make()).map((info) => info.decorator).sort()).toEqual(['throttled', 'unifiedErrorHandling']);
  });

  it('counts each failed attempt once and rethrows the original error', async () => {
    const service = make();
    const call = track(service.complete(503));
    await vi.runAllTimersAsync();
    expect(service.provider.attempts).toBe(3);
    expect(call.state).toBe('rejected');
    expect(call.error).toBe(service.provider.thrown.at(-1));
    expect(manager.getStatusReport().scopes[SVC]!.counters).toMatchObject({ requests: 1, failures: 3, retries: 2 });
    expect(manager.getErrorStatistics().total).toBe(3);
    expect(classified).toHaveLength(3);
    expect(classified.every((e) => e.endpoint === 'complete' && e.scope === SVC)).toBe(true);
  });

  it('counts each failed attempt even when the provider throws the same error object every time', async () => {
    const service = make();
    const shared = httpError(503);
    service.provider.call = () => (service.provider.attempts++, Promise.reject(shared));
    const call = track(service.complete(503));
    await vi.runAllTimersAsync();
    expect(call.error).toBe(shared);
    expect(service.provider.attempts).toBe(3);
    expect(manager.getStatusReport().scopes[SVC]!.counters.failures).toBe(3);
    expect(manager.getErrorStatistics().total).toBe(3);
    expect(classified).toHaveLength(3);
  });

  it('makes the classification available from getClassification(error)', async () => {
    const service = make();
    const error = await service.complete(400).catch((e: unknown) => e);
    expect(error).toBe(service.provider.thrown[0]);
    expect(getClassification(error)).toMatchObject({ category: ErrorCategory.CLIENT, statusCode: 400, retryable: false });
    expect(manager.getErrorStatistics().total).toBe(1);
    expect(classified).toHaveLength(1);
  });

  it('counts a success after retries as one success', async () => {
    const service = make();
    const call = track(service.complete(503));
    await vi.advanceTimersByTimeAsync(0);
    service.provider.failing = false;
    await vi.runAllTimersAsync();
    expect(call.value).toBe('ok');
    expect(manager.getStatusReport().scopes[SVC]!.counters).toMatchObject({ requests: 1, successes: 1, failures: 1 });
    expect(manager.getErrorStatistics().total).toBe(1);
  });
});

describe('@unifiedErrorHandling', () => {
  it('returns the fallback value, handing it the error and its classification', async () => {
    const seen: [unknown, ErrorClassification][] = [];
    class WithFallback {
      @unifiedErrorHandling(SVC, { ...opts, fallback: (error, classification) => (seen.push([error, classification]), 'fallback') })
      async complete(): Promise<string> {
        throw httpError(401);
      }
    }
    expect(await new WithFallback().complete()).toBe('fallback');
    expect(seen).toHaveLength(1);
    expect(seen[0]![1]).toMatchObject({ category: ErrorCategory.AUTHENTICATION, statusCode: 401 });
    expect(getClassification(seen[0]![0])).toEqual(seen[0]![1]);
    expect(manager.getErrorStatistics().total).toBe(1);
  });

  it('returns the fallback value when stacked under @throttled, without retries', async () => {
    class Stacked {
      attempts = 0;
      @throttled(SVC, opts)
      @unifiedErrorHandling(SVC, { ...opts, fallback: () => 'cached' })
      async complete(): Promise<string> {
        this.attempts++;
        throw httpError(503);
      }
    }
    const stacked = new Stacked();
    expect(await stacked.complete()).toBe('cached');
    expect(stacked.attempts).toBe(1);
    expect(manager.getErrorStatistics().total).toBe(1);
  });

  it('refuses at once, without calling the method, while the scope is suspended', async () => {
    manager.suspend(ServiceType.SOCIAL_MEDIA, { platform: 'reddit', durationMs: 60_000, reason: 'ban' });
    let calls = 0;
    class Social {
      @unifiedErrorHandling(ServiceType.SOCIAL_MEDIA, { platform: 'reddit', manager: () => manager })
      async post(): Promise<string> {
        calls++;
        return 'posted';
      }
    }
    const error = await new Social().post().catch((e: unknown) => e);
    expect(isPlatformSuspendedError(error)).toBe(true);
    expect(calls).toBe(0);
  });
});
