import type { Scope } from './scope.js';

/**
 * What the call path tells an attached observer (the Prometheus and OpenTelemetry collectors,
 * the decision log). The manager holds one slot: null when nothing is attached, so that a call
 * pays a single null check; several observers share it through {@link ObserverSlot}.
 * Observers must not throw (a throw would reach the caller): each one guards itself.
 */
export interface CallObserver {
  /**
   * An attempt ended: `askedAt` when it asked for admission, `startedAt` when it started (both
   * epoch ms, the manager's clock), `tookMs` how long it ran, `ok` whether it succeeded.
   * `tookMs` is -1 for a success the scope did not time: reading the clock costs as much as the
   * rest of a call, so successes are timed as the status report's latency is (a scope's first
   * 128, then one in 8); every failure is timed.
   */
  attemptEnded(scope: Scope, endpoint: string | undefined, askedAt: number, startedAt: number, tookMs: number, ok: boolean): void;
  /** A call ended without success; `error` is what its caller gets (a refusal, the provider's error, a cancellation). */
  callFailed(scope: Scope, error: unknown): void;
}

/** The observers attached to one manager, seen by the call path as one (or none). */
export class ObserverSlot {
  /** Read by the call path: null, the only observer, or a fan-out over several. */
  current: CallObserver | null = null;
  private readonly observers: CallObserver[] = [];

  /** Attaches `observer`; returns the function that detaches it (idempotent). */
  attach(observer: CallObserver): () => void {
    this.observers.push(observer);
    this.update();
    return () => {
      const index = this.observers.indexOf(observer);
      if (index < 0) return;
      this.observers.splice(index, 1);
      this.update();
    };
  }

  private update(): void {
    const observers = [...this.observers];
    this.current = observers.length === 0 ? null : observers.length === 1 ? observers[0]! : fanOut(observers);
  }
}

function fanOut(observers: readonly CallObserver[]): CallObserver {
  return {
    attemptEnded(scope, endpoint, askedAt, startedAt, tookMs, ok) {
      for (const observer of observers) observer.attemptEnded(scope, endpoint, askedAt, startedAt, tookMs, ok);
    },
    callFailed(scope, error) {
      for (const observer of observers) observer.callFailed(scope, error);
    },
  };
}
