import { ErrorClassifier } from '../classify/classifier.js';
import type { ErrorClassification } from '../classify/types.js';
import { isFloodgateError } from '../errors/floodgate-error.js';
import { nextSequence } from './call.js';

/** The decorator layers that record failures. @internal */
export type FailureLayer = 'throttled' | 'unified';

/**
 * Every error recorded: its classification (for getClassification), and which layer recorded
 * it last, and when. Stacked decorators see the same failure twice (the inner layer first); the
 * outer one skips a failure the other layer recorded after the outer one started. An error
 * object thrown again later (a client that reuses its error, `mockRejectedValue(error)`) is a
 * new failure and is counted again. One map, one entry per failure: a WeakMap write is among
 * the dearest steps of the failure path.
 */
const recorded = new WeakMap<object, { readonly classification: ErrorClassification; readonly layer: FailureLayer; readonly seq: number }>();

/** floodgate's own errors are classified by the default table alone (see ErrorClassifier). */
const ownErrors = new ErrorClassifier();

/**
 * The classification floodgate recorded for an error that went through a scope; for floodgate's
 * own errors (from any copy of the package), the one the default table gives them (RATE_LIMIT for
 * RateLimitedError, BAN without a new ban for PlatformSuspendedError, ...), recorded or not;
 * otherwise undefined.
 */
export function getClassification(error: unknown): ErrorClassification | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  return recorded.get(error)?.classification ?? (isFloodgateError(error) ? ownErrors.classify(error) : undefined);
}

/** The other layer's classification when it recorded this very failure since `since` (then count it once). */
export function recordedByOtherLayer(error: unknown, since: number, layer: FailureLayer): ErrorClassification | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const mark = recorded.get(error);
  return mark !== undefined && mark.layer !== layer && mark.seq >= since ? mark.classification : undefined;
}

export function markRecorded(error: unknown, classification: ErrorClassification, layer: FailureLayer): void {
  if (typeof error !== 'object' || error === null) return;
  recorded.set(error, { classification, layer, seq: nextSequence() });
}
