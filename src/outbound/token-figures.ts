import type { Scope } from '../manager/scope.js';
import { Charge } from '../tokens/charge.js';
import type { CallContext } from '../tokens/charge.js';
import type { RateLimitHeaders, RateLimitWindow } from './rate-limit-headers.js';

/**
 * Feeds a response's token figures to the scope's token windows (README "Token figures"): where
 * the provider says fewer tokens are left than the local windows think (other clients of the
 * same key, an estimate too low), the difference is charged to this attempt's admission, so the
 * next calls with a cost wait for capacity the provider no longer has. The provider's figures
 * only tighten the windows, never loosen them (the local cap may be the tighter of the two); a
 * window with nothing left and a known reset is not charged: the pause until that reset covers
 * it, and a charge would outlast it (a charge ages out with the attempt's start, 60 s later).
 * Nothing happens in a scope without token caps, on a store whose limiter cannot amend a cost,
 * or for a call not admitted through the token windows. The caller makes sure first that the
 * figures say something about tokens ({@link hasTokenFigures}).
 */
export function feedTokenWindows(scope: Scope, call: CallContext, figures: RateLimitHeaders, now: number): void {
  const limiter = scope.limiter;
  if (!(call instanceof Charge) || call.ticket < 0 || limiter.amendCost === undefined) return;
  const local = limiter.snapshot(now).tokensRemaining;
  if (local === undefined) return;
  const total = deficit(figures.tokens, local.total);
  let input = deficit(figures.inputTokens, local.input);
  const output = deficit(figures.outputTokens, local.output);
  // A total deficit not covered by the input and output ones is charged as input (as a plain-number cost is).
  if (total > input + output) input = total - output;
  if (input > 0 || output > 0) limiter.amendCost(call.ticket, input, output);
}

/** Whether the provider said anything about tokens. */
export function hasTokenFigures(figures: RateLimitHeaders): boolean {
  return figures.tokens !== undefined || figures.inputTokens !== undefined || figures.outputTokens !== undefined;
}

/** How many tokens the local window (`localLeft`, null when uncapped) has beyond what the provider says is left. */
function deficit(window: RateLimitWindow | undefined, localLeft: number | null): number {
  const remaining = window?.remaining;
  if (remaining === undefined || localLeft === null) return 0;
  if (remaining <= 0 && window!.resetMs !== undefined) return 0; // paused until the reset instead
  return Math.max(0, localLeft - remaining);
}
