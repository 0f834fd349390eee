// Limit fidelity: a caller that saturates a scope gets as close to the ideal as the limits
// allow, and no window ever holds more starts than the limits promise.
import { isRateLimitedError } from '../dist/index.js';
import { benchManager } from './stacks/floodgate.mjs';

/** The most starts in any half-open window [t, t + windowMs), t ranging over the starts. */
export function maxInWindow(starts, windowMs) {
  let most = 0;
  for (let lo = 0, hi = 0; lo < starts.length; lo++) {
    while (hi < starts.length && starts[hi] < starts[lo] + windowMs) hi++;
    if (hi - lo > most) most = hi - lo;
  }
  return most;
}

/** Windows [t, t + windowMs) starting at a start, holding more than `limit` starts. */
function windowsOver(starts, windowMs, limit) {
  let over = 0;
  for (let lo = 0, hi = 0; lo < starts.length; lo++) {
    while (hi < starts.length && starts[hi] < starts[lo] + windowMs) hi++;
    if (hi - lo > limit) over++;
  }
  return over;
}

/**
 * 50/s, burst 5, in real time: `workers` callers loop on `execute` (waiting in the scope's
 * FIFO queue) for `durationMs`. Ideal over the half-open run [t0, tEnd): the burst at t0,
 * then one start each 1/rate after t0, i.e. burst + ceil(rate x elapsed) - 1.
 */
export async function realTimeBucket({ durationMs, workers = 20 }) {
  const rate = 50;
  const burst = 5;
  const { manager, service } = benchManager({ requestsPerSecond: rate, burst, requestsPerMinute: Infinity, maxConcurrent: Infinity, maxQueue: Infinity, maxWaitMs: 60_000 });
  const starts = [];
  const record = () => {
    starts.push(Date.now());
    return 1;
  };
  const t0 = Date.now();
  const end = t0 + durationMs;
  let cancelled = 0;
  const worker = async () => {
    while (Date.now() < end) {
      try {
        await manager.execute(service, record);
      } catch (error) {
        // close() at the end cancels the callers still waiting; nothing else may fail.
        if (error?.code !== 'EFLOODGATE_CANCELLED') throw error;
        cancelled++;
      }
    }
  };
  const running = Array.from({ length: workers }, worker);
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  const tEnd = Date.now();
  await manager.close();
  await Promise.all(running);
  const inRun = starts.filter((t) => t < tEnd);
  const ideal = burst + Math.ceil((rate * (tEnd - t0)) / 1000) - 1;
  const limit1s = burst + rate;
  return {
    name: `${rate}/s, burst ${burst} (real time, ${(durationMs / 1000).toFixed(0)} s, ${workers} callers)`,
    admitted: inRun.length,
    ideal,
    ratio: inRun.length / ideal,
    max1s: maxInWindow(inRun, 1000),
    limit1s,
    over1s: windowsOver(inRun, 1000, limit1s),
    max60s: null,
    limit60s: null,
    over60s: 0,
    note: `${cancelled} waiting callers cancelled by close() at the end; 0 refused`,
  };
}

/**
 * 60 per rolling minute on top of a 2/s bucket with burst 10 (which alone would let
 * 10 + 2 x 60 = 130 through in a minute), over a simulated clock: Date.now is replaced
 * by a virtual clock that the caller advances 1 ms at a time; at every millisecond it calls
 * `execute` until it is refused (maxWaitMs 0: refusals are immediate, no timer involved).
 * Ideal: 60 per minute, i.e. 60 x minutes over the half-open run [0, minutes x 60 s).
 */
export async function simulatedMinute({ minutes = 5, stepMs = 1 }) {
  const rpm = 60;
  const rate = 2;
  const burst = 10;
  const realNow = Date.now;
  let clock = realNow.call(Date);
  const t0 = clock;
  const end = t0 + minutes * 60_000;
  Date.now = () => clock;
  const starts = [];
  let refused = 0;
  try {
    const { manager, service } = benchManager({ requestsPerSecond: rate, burst, requestsPerMinute: rpm, maxConcurrent: Infinity, maxQueue: Infinity, maxWaitMs: 0 });
    const record = () => {
      starts.push(Date.now());
      return 1;
    };
    for (; clock < end; clock += stepMs) {
      for (;;) {
        try {
          await manager.execute(service, record);
        } catch (error) {
          if (!isRateLimitedError(error)) throw error;
          refused++;
          break;
        }
      }
    }
    await manager.close();
  } finally {
    Date.now = realNow;
  }
  const ideal = rpm * minutes;
  return {
    name: `${rpm}/min (rolling), ${rate}/s, burst ${burst} (simulated clock, ${minutes} min, ${stepMs} ms steps)`,
    admitted: starts.length,
    ideal,
    ratio: starts.length / ideal,
    max1s: maxInWindow(starts, 1000),
    limit1s: burst + rate,
    over1s: windowsOver(starts, 1000, burst + rate),
    max60s: maxInWindow(starts, 60_000),
    limit60s: rpm,
    over60s: windowsOver(starts, 60_000, rpm),
    note: `${refused} immediate refusals (RateLimitedError) of the saturating caller`,
  };
}
