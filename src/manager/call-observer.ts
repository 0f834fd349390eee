import type { Scope } from './scope.js';

/**
 * What the call path tells an attached observer (the Prometheus and OpenTelemetry collectors,
 * the decision log). The manager holds one slot: null when nothing is attached, so that a call
 * pays a single null check; several observers share it through {@link ObserverSlot}.
 * Observers must not throw (a throw would reach the caller): each one guards itself.
 */
export interface CallObserver {
  /**
   * An attempt ended: `waitMs` how long it waited for admission, `tookMs` how long it ran (both
   * ms, the manager's clock), `ok` whether it succeeded.
   * `tookMs` is -1 for a success the scope did not time: reading the clock costs as much as the
   * rest of a call, so successes are timed as the status report's latency is (a scope's first
   * 128, then one in 8); every failure is timed.
   */
  attemptEnded(scope: Scope, endpoint: string | undefined, waitMs: number, tookMs: number, ok: boolean): void;
  /**
   * `count` successes of `scope` and `endpoint`, each admitted at once and not timed: what
   * `count` calls of `attemptEnded(scope, endpoint, 0, -1, true)` would say, told in one. An
   * observer that has this method is told such successes this way (see {@link ObserverSlot.run});
   * one without it is told each through `attemptEnded`.
   */
  successesAdmittedAtOnce?(scope: Scope, endpoint: string | undefined, count: number): void;
  /** A call ended without success; `error` is what its caller gets (a refusal, the provider's error, a cancellation). */
  callFailed(scope: Scope, error: unknown): void;
}

/** The observers attached to one manager, seen by the call path as one (or none). */
export class ObserverSlot {
  /** Read by the call path: null, the only observer, or a fan-out over several. */
  current: CallObserver | null = null;
  /**
   * The run of successes admitted at once and not timed, all of `runScope` and `runEndpoint`,
   * that the call path counted here without telling the observer yet: a run of calls to one
   * method costs an increment each. Told to the observer when a success of another scope or
   * endpoint starts a new run, and by {@link flush} (a collector's scrape, a detach).
   */
  private runScope: Scope | null = null;
  private runEndpoint: string | undefined = undefined;
  private runLength = 0;
  /** Whether the observer takes runs (has `successesAdmittedAtOnce`); else each success is told apart. */
  private countsRuns = false;
  private readonly observers: CallObserver[] = [];

  /** Attaches `observer`; returns the function that detaches it (idempotent). */
  attach(observer: CallObserver): () => void {
    this.flush();
    this.observers.push(observer);
    this.update();
    return () => {
      const index = this.observers.indexOf(observer);
      if (index < 0) return;
      this.flush();
      this.observers.splice(index, 1);
      this.update();
    };
  }

  /**
   * A success of the call path, told while `current` is not null: counted in the run when it
   * is one of the run's (same scope and endpoint, admitted at once, not timed).
   */
  succeeded(scope: Scope, endpoint: string | undefined, waitMs: number, tookMs: number): void {
    if (scope === this.runScope && endpoint === this.runEndpoint && tookMs < 0 && waitMs === 0) this.runLength++;
    else this.tellSuccess(scope, endpoint, waitMs, tookMs);
  }

  /** A success outside the run: told at once, or (admitted at once, not timed) the start of a new run. */
  private tellSuccess(scope: Scope, endpoint: string | undefined, waitMs: number, tookMs: number): void {
    if (tookMs >= 0 || waitMs !== 0 || !this.countsRuns) {
      this.current!.attemptEnded(scope, endpoint, waitMs, tookMs, true);
      return;
    }
    this.flush();
    this.runScope = scope;
    this.runEndpoint = endpoint;
    this.runLength = 1;
  }

  /** Tells the observer the run counted so far. */
  flush(): void {
    const scope = this.runScope;
    if (scope === null || this.runLength === 0) return;
    const count = this.runLength;
    this.runLength = 0;
    this.current!.successesAdmittedAtOnce!(scope, this.runEndpoint, count);
  }

  private update(): void {
    const observers = [...this.observers];
    const current = observers.length === 0 ? null : observers.length === 1 ? observers[0]! : fanOut(observers);
    this.current = current;
    // Every attach and detach flushed the run first.
    this.runScope = null;
    this.runEndpoint = undefined;
    this.runLength = 0;
    this.countsRuns = current !== null && current.successesAdmittedAtOnce !== undefined;
  }
}

function fanOut(observers: readonly CallObserver[]): CallObserver {
  const fan: CallObserver = {
    attemptEnded(scope, endpoint, waitMs, tookMs, ok) {
      for (const observer of observers) observer.attemptEnded(scope, endpoint, waitMs, tookMs, ok);
    },
    callFailed(scope, error) {
      for (const observer of observers) observer.callFailed(scope, error);
    },
  };
  if (observers.every((observer) => observer.successesAdmittedAtOnce !== undefined)) {
    fan.successesAdmittedAtOnce = (scope, endpoint, count) => {
      for (const observer of observers) observer.successesAdmittedAtOnce!(scope, endpoint, count);
    };
  }
  return fan;
}
