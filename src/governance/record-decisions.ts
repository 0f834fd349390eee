/**
 * Which of a manager's public events become ledger records, and how. The manager is reached
 * only through `on`/`off` (and `policyHash()` when it has one), so any manager-like emitter works.
 */
import type { FloodgateEvents, ScopeRef } from '../events/events.js';
import type { DecisionEntry } from './ledger-record.js';

type EventName = keyof FloodgateEvents;
type Listener<E extends EventName> = (...args: FloodgateEvents[E]) => void;

/** What `ledger.attach()` needs of a manager: a `ThrottleManager` is one. */
export interface DecisionSource {
  on<E extends EventName>(event: E, listener: (...args: FloodgateEvents[E]) => void): unknown;
  off<E extends EventName>(event: E, listener: (...args: FloodgateEvents[E]) => void): unknown;
  /** Used for each record's `policyHash` when the ledger was given no `policyHash` option. */
  policyHash?(): string;
}

/** `state` decisions are always recorded; `refusal` and `retry` as the ledger's `record` option says. */
type Kind = 'state' | 'refusal' | 'retry';

const where = (event: ScopeRef) => ({ scope: event.scope, service: event.service, platform: event.platform });

/** Event → record. Messages are already redacted by the manager; raw errors are never copied. */
const DECISIONS: { readonly [E in EventName]?: { readonly kind: Kind; readonly entry: (...args: FloodgateEvents[E]) => DecisionEntry } } = {
  suspended: { kind: 'state', entry: (e) => ({ ...where(e), decision: 'suspend', reason: e.reason, until: e.until }) },
  resumed: { kind: 'state', entry: (e) => ({ ...where(e), decision: 'resume', reason: e.cause }) },
  circuitStateChange: { kind: 'state', entry: (e) => ({ ...where(e), decision: 'circuit', reason: e.to, from: e.from }) },
  banDetected: {
    kind: 'state',
    entry: (e) => ({ ...where(e), decision: 'ban', reason: e.classification.pattern, endpoint: e.endpoint, category: e.classification.category, statusCode: e.classification.statusCode, until: e.suspendedUntil }),
  },
  paused: {
    kind: 'state',
    entry: (e) => ({ ...where(e), decision: 'pause', reason: e.classification.pattern, category: e.classification.category, statusCode: e.classification.statusCode, until: e.until }),
  },
  storeHealth: { kind: 'state', entry: (e) => ({ scope: `store:${e.store}`, decision: 'store', reason: e.status, mode: e.mode }) },
  rateLimited: { kind: 'refusal', entry: (e) => ({ ...where(e), decision: 'refuse', reason: e.reason, retryAfterMs: e.retryAfterMs }) },
  budgetBurn: {
    kind: 'state',
    entry: (e) => ({ ...where(e), decision: 'budget_burn', reason: e.contract, burnRate: e.burnRate, burnAlert: e.burnAlert, calls: e.calls, failures: e.failures }),
  },
  wouldRefuse: { kind: 'refusal', entry: (e) => ({ ...where(e), decision: 'would_refuse', reason: e.reason }) },
  retry: {
    kind: 'retry',
    entry: (e) => ({ ...where(e), decision: 'retry', reason: e.classification.category, endpoint: e.endpoint, attempt: e.retry, delayMs: e.delayMs, statusCode: e.classification.statusCode }),
  },
};

/** The manager events a ledger records. */
export const RECORDED_EVENTS = Object.keys(DECISIONS) as EventName[];

/**
 * Subscribes `record` to the manager's decision events; returns the function that unsubscribes.
 * A payload that cannot be made into a record goes to `unrecordable`: nothing throws into the
 * manager's `emit`.
 */
export function attachDecisions(manager: DecisionSource, record: (entry: DecisionEntry, kind: Kind) => void, unrecordable: () => void): () => void {
  const subscriptions = RECORDED_EVENTS.map((event) => {
    const { kind, entry } = DECISIONS[event] as { kind: Kind; entry: (payload: unknown) => DecisionEntry };
    const listener = (payload: unknown): void => {
      try {
        record(entry(payload), kind);
      } catch {
        unrecordable();
      }
    };
    manager.on(event, listener as Listener<typeof event>);
    return () => manager.off(event, listener as Listener<typeof event>);
  });
  return () => {
    for (const unsubscribe of subscriptions) unsubscribe();
  };
}
