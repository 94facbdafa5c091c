/**
 * Per-recipient frequency caps: at most `max` messages in any window of `windowMs`.
 *
 * @packageDocumentation
 */
import { invalid } from './options.js';

/** The input of {@link frequencyCapDecision}. */
export interface FrequencyCapInput {
  /** When earlier messages to this recipient were sent, epoch ms, ascending. Older ones are ignored. */
  recentSendTimes: readonly number[];
  /** Messages allowed per window (integer >= 1). */
  max: number;
  /** The window, in ms (> 0). */
  windowMs: number;
  /** Now, epoch ms. */
  now: number;
}

/** The outcome of {@link frequencyCapDecision}. */
export type FrequencyCapDecision = { ok: true } | { ok: false; retryAt: number };

/**
 * Whether one more message may be sent to a recipient at `now` without exceeding `max`
 * messages in the window `(now - windowMs, now]`. If not, `retryAt` is exact: the time the
 * oldest send that is in the way leaves the window, `recentSendTimes[length - max] + windowMs`.
 * Times outside the window are ignored; an unsorted list is sorted (a copy) first.
 *
 * @throws DriplineError `INVALID_INPUT` for a `max` that is not an integer >= 1, a `windowMs`
 *   that is not > 0, or a send time that is not a finite number.
 * @example
 * ```ts
 * // us-fl-ok: at most 3 messages per 24 h.
 * frequencyCapDecision({ recentSendTimes: [t0, t0 + 1000, t0 + 2000], max: 3, windowMs: 86_400_000, now: t0 + 5000 });
 * // { ok: false, retryAt: t0 + 86_400_000 }
 * ```
 */
export function frequencyCapDecision(input: FrequencyCapInput): FrequencyCapDecision {
  const { max, windowMs, now } = input;
  let times = input.recentSendTimes;
  if (!(typeof max === 'number' && Number.isInteger(max) && max >= 1)) invalid('frequencyCap.max', 'must be an integer >= 1', max);
  if (!(typeof windowMs === 'number' && Number.isFinite(windowMs) && windowMs > 0)) invalid('frequencyCap.windowMs', 'must be a number > 0', windowMs);
  if (typeof now !== 'number' || !Number.isFinite(now)) invalid('now', 'must be a finite number of epoch ms', now);
  if (!Array.isArray(times)) invalid('recentSendTimes', 'must be an array of epoch ms', times);
  let sorted = true;
  for (let i = 0; i < times.length; i++) {
    const t = times[i];
    if (typeof t !== 'number' || !Number.isFinite(t)) invalid(`recentSendTimes[${i}]`, 'must be a finite number of epoch ms', t);
    if (i > 0 && t < times[i - 1]!) sorted = false;
  }
  if (!sorted) times = [...times].sort((a, b) => a - b);
  // Sends still in the window are a suffix of the sorted list (`t + windowMs > now`).
  let inWindow = 0;
  for (let i = times.length - 1; i >= 0 && times[i]! + windowMs > now; i--) inWindow++;
  if (inWindow < max) return { ok: true };
  return { ok: false, retryAt: times[times.length - max]! + windowMs };
}
