import type { EventEmitter } from 'eventemitter3';
import type { CircuitStateName } from '../breaker/circuit.js';
import type { RateLimitedError } from '../errors/errors.js';
import type { FloodgateEvents, ScopeRef } from '../events/events.js';
import type { ContractFigures, ContractSpec } from '../governance/contracts.js';
import type { WouldRefuseReason } from '../governance/observe.js';
import type { SharedState } from '../stores/types.js';
import type { Scope, ScopeListener } from './scope.js';

/**
 * What the scopes of one manager tell it: each change becomes one of the manager's events,
 * and (fleet mode) a change decided here is published to the shared store.
 */
export class ScopeEvents implements ScopeListener {
  constructor(
    private readonly emitter: EventEmitter<FloodgateEvents>,
    /** The store's fleet-wide state, read at each change: `useStore()` may replace the store. */
    private readonly shared: () => SharedState | undefined,
  ) {}

  onRateLimited(scope: Scope, error: RateLimitedError): void {
    // A refusal must stay cheap: no event object when nobody listens.
    if (this.emitter.listenerCount('rateLimited') === 0) return;
    this.emitter.emit('rateLimited', { ...scopeRef(scope), reason: error.reason, retryAfterMs: error.retryAfterMs });
  }

  onCircuitChange(owner: unknown, from: CircuitStateName, to: CircuitStateName): void {
    this.emitter.emit('circuitStateChange', { ...scopeRef(owner as Scope), from, to });
  }

  onSuspended(scope: Scope, until: number, reason: string, fromFleet: boolean): void {
    if (!fromFleet) this.shared()?.publishSuspension(scope.key, until - Date.now(), reason);
    this.emitter.emit('suspended', { ...scopeRef(scope), until, reason });
  }

  onResumed(scope: Scope, cause: 'manual' | 'expired', fromFleet: boolean): void {
    // An expiry happens everywhere at once: only resume() is published.
    if (!fromFleet && cause === 'manual') this.shared()?.publishResume(scope.key);
    this.emitter.emit('resumed', { ...scopeRef(scope), cause });
  }

  onWouldRefuse(scope: Scope, reason: WouldRefuseReason): void {
    if (this.emitter.listenerCount('wouldRefuse') === 0) return;
    this.emitter.emit('wouldRefuse', { ...scopeRef(scope), reason });
  }

  onBudgetBurn(scope: Scope, contract: string, spec: Required<ContractSpec>, figures: ContractFigures): void {
    const { calls, failures, burnRate } = figures;
    this.emitter.emit('budgetBurn', { ...scopeRef(scope), contract, burnRate, burnAlert: spec.burnAlert, errorBudget: spec.errorBudget, windowMs: spec.windowMs, calls, failures });
  }
}

export function scopeRef(scope: Scope): ScopeRef {
  return scope.platform === undefined
    ? { scope: scope.key, service: scope.service }
    : { scope: scope.key, service: scope.service, platform: scope.platform };
}
