import type { SharedStateListener, StoreHealth } from '../stores/types.js';
import type { ScopeRegistry } from './scope-registry.js';

/**
 * Fleet mode: applies what the shared store (Redis) reports from other processes to this
 * manager's scopes. Scopes unknown here are skipped: their next admission sees the shared state.
 */
export function storeListener(scopes: ScopeRegistry, onHealthChange: (health: StoreHealth) => void, onMessage: (topic: string, payload: string) => void): SharedStateListener {
  return {
    onSuspended: (key, remainingMs, reason) => {
      scopes.getByKey(key)?.suspend(Date.now() + remainingMs, reason, true);
    },
    onResumed: (key) => {
      const scope = scopes.getByKey(key);
      // As resume() does here: the suspension and the provider's pause are lifted.
      if (scope !== undefined && (scope.suspension !== null || scope.pausedUntil > 0)) scope.resume('manual', true);
    },
    onPaused: (key, remainingMs) => {
      scopes.getByKey(key)?.pauseUntil(Date.now() + remainingMs);
    },
    onCircuitOpened: (key, remainingMs) => {
      scopes.getByKey(key)?.ensureCircuit().forceOpen(Date.now() + remainingMs);
    },
    onCircuitClosed: (key) => {
      scopes.getByKey(key)?.circuit?.forceClose();
    },
    onHealthChange,
    onMessage,
  };
}
