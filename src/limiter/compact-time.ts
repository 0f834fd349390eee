/**
 * Epoch milliseconds (~1.8e12) are too large for V8's small integers, so every object
 * field holding one gets its own boxed number (16 bytes). Times kept per scope are stored
 * relative to this module's load instead: small integers for the first 24 days of a
 * process, stored inline. Only memory changes; the arithmetic is the same.
 */
const ORIGIN = Date.now();

export function compactTime(epochMs: number): number {
  return unboxed(epochMs - ORIGIN);
}

/**
 * `value` itself, as a small integer when it is one. Arithmetic on epoch times (`Date.now() -
 * start`) gives a boxed number even when the result is small and whole, and one boxed value
 * stored in a field makes V8 box that field in every object of its shape (16 bytes each, per
 * scope): per-scope times and durations are stored through this.
 */
export function unboxed(value: number): number {
  return value === (value | 0) ? value | 0 : value;
}
