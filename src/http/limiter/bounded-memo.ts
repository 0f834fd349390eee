/**
 * Remembers `compute(input)` for up to `max` inputs, then starts afresh. For values that repeat
 * from one request to the next (a client's hashed key, a path's group): the same result string
 * every time also spares the manager's scope lookup from hashing a new string per request.
 * Clearing when full (rather than LRU order) keeps a lookup one Map read; a caller cycling
 * through more inputs than `max` only loses the cache.
 */
export function boundedMemo<T>(max: number, compute: (input: string) => T): (input: string) => T {
  const memo = new Map<string, T>();
  return (input) => {
    let value = memo.get(input);
    if (value === undefined) {
      value = compute(input);
      if (memo.size >= max) memo.clear();
      memo.set(input, value);
    }
    return value;
  };
}
