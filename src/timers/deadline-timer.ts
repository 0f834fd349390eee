/** setTimeout takes at most a signed 32-bit delay (about 24.8 days); a later deadline re-arms on wake-up. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * One timer for the earliest of many deadlines (epoch ms, `Date.now()` time). Its owner keeps
 * the deadlines (a queue, a list, a batch in flight) and arms this for the earliest one; when
 * it fires, the owner handles what is due and arms it again for the next. It never fires
 * before its deadline: a deadline beyond {@link MAX_TIMER_MS} re-arms silently, and the delay
 * is at least 1 ms (a shorter one would wake at the same instant, find nothing due and spin;
 * under fake timers the clock would never move).
 */
export class DeadlineTimer {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private at = Infinity;
  private keepsAlive = true;

  constructor(private readonly onDeadline: () => void) {}

  /** When it fires (epoch ms); Infinity when not armed. */
  get deadline(): number {
    return this.at;
  }

  /** Fires at `at` unless already armed to fire no later. `at = Infinity` changes nothing. */
  armBy(at: number): void {
    if (at < this.at) this.arm(at);
  }

  /** Fires at `at` (Infinity: never), replacing whatever it was armed for. */
  arm(at: number): void {
    this.disarm();
    if (at === Infinity) return;
    this.at = at;
    this.schedule();
  }

  disarm(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.at = Infinity;
  }

  /**
   * Whether the armed timer keeps the process alive (true at first). An owner with nothing
   * left waiting may leave the timer armed but unref'd rather than clear it: cheaper when
   * work comes back soon, and it never holds an idle process open.
   */
  keepAlive(yes: boolean): void {
    if (yes === this.keepsAlive) return;
    this.keepsAlive = yes;
    if (this.timer !== undefined) {
      if (yes) this.timer.ref?.();
      else this.timer.unref?.();
    }
  }

  private schedule(): void {
    const delay = Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(this.at - Date.now())));
    this.timer = setTimeout(this.fire, delay);
    if (!this.keepsAlive) this.timer.unref?.();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    if (Date.now() < this.at) return this.schedule(); // beyond MAX_TIMER_MS: not due yet
    this.at = Infinity;
    this.onDeadline();
  };
}

/**
 * A first-in first-out array that shifts in O(1): the head moves along, and the array is
 * compacted once more than 1,024 slots before the head are dead and they are at least half of
 * it (so a long queue is not copied at every shift, and a drained one holds no garbage).
 */
export class HeadQueue<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  /** Items from the head on (including any the owner treats as gone but has not shifted yet). */
  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** The item at the head, or undefined when empty. */
  peek(): T | undefined {
    return this.items[this.head];
  }

  /** The item `offset` places behind the head. */
  at(offset: number): T | undefined {
    return this.items[this.head + offset];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head++;
    if (this.head === this.items.length) this.clear();
    else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}
