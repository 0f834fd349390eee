import { describe, expect, it } from 'vitest';
import type { Scope } from '../../src/manager/scope.js';
import { ScopeRegistry } from '../../src/manager/scope-registry.js';

/** A scope as the registry sees it: its names, when it was last used, and whether it is idle (each question counted). */
function scope(platform: string, lastUsed: number, state: { idle: boolean; asked: number }): Scope {
  return {
    service: 'inbound.chat',
    platform,
    lastUsed,
    isIdle: () => {
      state.asked++;
      return state.idle;
    },
  } as unknown as Scope;
}

describe('ScopeRegistry.evictIdle', () => {
  it('forgets the least recently used idle scopes', () => {
    const registry = new ScopeRegistry();
    const state = { idle: true, asked: 0 };
    for (let i = 0; i < 10; i++) registry.add(scope(`k${i}`, 100 - i, state));
    registry.evictIdle(3, 0);
    expect(registry.size).toBe(7);
    expect(['k9', 'k8', 'k7'].map((key) => registry.get('inbound.chat', key))).toEqual([undefined, undefined, undefined]);
    expect(registry.get('inbound.chat', 'k0')).toBeDefined();
  });

  it('with every scope busy, scans again only once a tenth more scopes were added, not at each new one', () => {
    const registry = new ScopeRegistry();
    const state = { idle: false, asked: 0 };
    for (let i = 0; i < 100; i++) registry.add(scope(`k${i}`, i, state));
    registry.evictIdle(10, 0);
    expect(state.asked).toBe(100);
    // The next nine creations (up to 109 scopes) ask nobody.
    for (let i = 100; i < 110; i++) {
      registry.evictIdle(10, 0);
      registry.add(scope(`k${i}`, i, state));
    }
    expect(state.asked).toBe(100);
    expect(registry.size).toBe(110);
    // At 110 the scopes are scanned again: idle by now, the oldest go.
    state.idle = true;
    registry.evictIdle(10, 0);
    expect(state.asked).toBe(210);
    expect(registry.size).toBe(100);
    expect(registry.get('inbound.chat', 'k0')).toBeUndefined();
    // Enough were idle: the next call scans at once.
    registry.evictIdle(10, 0);
    expect(registry.size).toBe(90);
  });
});
