import { CallTimeoutError } from '../errors/errors.js';
import { DeadlineTimer } from '../timers/deadline-timer.js';

/** An attempt running under a deadline. The list is intrusive: watching an attempt allocates nothing here. */
export interface DeadlineNode {
  deadline: number;
  prev: DeadlineNode | null;
  next: DeadlineNode | null;
  linked: boolean;
  /** Its key is only built if the attempt times out or is cancelled. */
  readonly scope: { readonly key: string };
  /** Called once the node is unlinked: the attempt ran out of time, or the manager was closed or reset. */
  abandon(error: unknown): void;
}

/**
 * Deadlines of attempts that share one `timeoutMs`, with a single timer, instead of a timer
 * per attempt: the manager keeps one list per distinct `timeoutMs` (as Node groups its own
 * timers by duration), so deadlines follow arrival order and inserting is O(1). A settled
 * attempt unlinks itself; the timer is not moved for it, and when it fires early it simply
 * re-arms for the new head. Under steady traffic it fires about once per `timeoutMs`. The
 * timer keeps the process alive only while some attempt is watched, and no scope holds one.
 */
export class AttemptTimeouts {
  private head: DeadlineNode | null = null;
  private tail: DeadlineNode | null = null;
  private readonly timer = new DeadlineTimer(() => this.expire());

  constructor(private readonly timeoutMs: number) {}

  /** Watches an attempt that started at `start`: it is abandoned with CallTimeoutError unless removed before its deadline. */
  add(node: DeadlineNode, start: number): void {
    const deadline = start + this.timeoutMs;
    node.deadline = deadline;
    node.linked = true;
    const wasEmpty = this.head === null;
    let after = this.tail;
    while (after !== null && after.deadline > deadline) after = after.prev;
    node.prev = after;
    node.next = after === null ? this.head : after.next;
    if (node.next === null) this.tail = node;
    else node.next.prev = node;
    if (after === null) this.head = node;
    else after.next = node;
    if (wasEmpty) this.timer.keepAlive(true);
    this.timer.armBy(deadline);
  }

  /** The attempt settled in time (a node no longer linked is left alone). */
  remove(node: DeadlineNode): void {
    if (!node.linked) return;
    node.linked = false;
    if (node.prev === null) this.head = node.next;
    else node.prev.next = node.next;
    if (node.next === null) this.tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = node.next = null;
    // Nothing watched: the armed timer must not hold the process open.
    if (this.head === null) this.timer.keepAlive(false);
  }

  /** Abandons every watched attempt (on close or reset) and drops the timer. */
  cancelAll(error: (scopeKey: string) => unknown): void {
    this.timer.disarm();
    for (let node = this.head; node !== null; node = this.head) {
      this.remove(node);
      node.abandon(error(node.scope.key));
    }
  }

  private expire(): void {
    const now = Date.now();
    while (this.head !== null && this.head.deadline <= now) {
      const node = this.head;
      this.remove(node);
      node.abandon(new CallTimeoutError(node.scope.key, this.timeoutMs));
    }
    if (this.head !== null) this.timer.arm(this.head.deadline);
  }
}
