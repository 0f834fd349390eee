/**
 * Errors carry a brand under a registered symbol (`Symbol.for`), so the `isX` guards
 * recognise errors thrown by another copy of this package (two versions in one tree).
 */
const BRAND = Symbol.for('floodgate.error');

/** Every error floodgate raises itself. `code` is stable and machine-readable. */
export class FloodgateError extends Error {
  declare readonly [BRAND]: string;
  /** A stable code: `EFLOODGATE_RATE_LIMITED`, `EFLOODGATE_CIRCUIT_OPEN`, ... */
  readonly code: string;

  /**
   * `captureStack: false` (floodgate's refusals) skips the stack frames: a refusal is thrown
   * from floodgate's own code, the frames would only name it, and capturing them is most of
   * what a refusal costs (see docs/benchmarks.md, "Refusal path"). `stack` is then the
   * `Name: message` line alone.
   */
  /** `message` undefined: the subclass builds it when first read (see errors.ts, lazyMessage). */
  constructor(code: string, message: string | undefined, options?: { readonly cause?: unknown; readonly captureStack?: boolean }) {
    if (options?.captureStack === false) {
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 0;
      super(message, options);
      Error.stackTraceLimit = limit;
    } else {
      super(message, options);
    }
    this.code = code;
    this.name = new.target.name;
    Object.defineProperty(this, BRAND, { value: code, enumerable: false });
  }
}

export function brandOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  try {
    const brand = (error as { [BRAND]?: unknown })[BRAND];
    return typeof brand === 'string' ? brand : undefined;
  } catch {
    // A Proxy trapping `get`, or a revoked one: not ours, whatever it is.
    return undefined;
  }
}

/** True for any error raised by floodgate, from this copy of the package or another. */
export function isFloodgateError(error: unknown): error is FloodgateError {
  return brandOf(error) !== undefined;
}
