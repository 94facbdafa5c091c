/** A {@link Clock} moved by hand, for tests and simulations. It refuses to go backwards. */
import { DriplineError } from '../errors.js';
import type { Clock } from '../ports/clock.js';

/** A clock that only moves when told to. */
export interface VirtualClock extends Clock {
  /** Moves to `t` (epoch ms). Throws `CLOCK_BACKWARDS` if `t` is earlier than now. */
  advanceTo(t: number): void;
  /** Moves forward by `ms`. */
  advanceBy(ms: number): void;
}

/**
 * Creates a virtual clock starting at `start` (epoch ms, or an ISO string).
 *
 * @example
 * ```ts
 * const clock = createVirtualClock('2026-03-02T09:00:00Z');
 * clock.advanceBy(60_000);
 * ```
 */
export function createVirtualClock(start: number | string | Date): VirtualClock {
  let now = typeof start === 'number' ? start : new Date(start).getTime();
  if (!Number.isFinite(now)) throw new DriplineError('INVALID_INPUT', `virtual clock start ${JSON.stringify(start)} is not a time`);
  return {
    now: () => now,
    advanceTo(t) {
      if (t < now)
        throw new DriplineError('CLOCK_BACKWARDS', `virtual clock cannot go back from ${new Date(now).toISOString()} to ${new Date(t).toISOString()}`, {
          details: { now, to: t },
        });
      now = t;
    },
    advanceBy(ms) {
      if (ms < 0) throw new DriplineError('CLOCK_BACKWARDS', `virtual clock cannot move by ${ms} ms`, { details: { ms } });
      now += ms;
    },
  };
}
