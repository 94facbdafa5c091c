/**
 * Local times of day (`HH:mm`) and "the next time the local clock shows HH:mm".
 *
 * @packageDocumentation
 */
import { DriplineError } from '../errors.js';
import { DAY_MS, MINUTE_MS } from './calendar.js';
import { checkInstant, findTransition, getZone, offsetOf, type ZoneState } from './zone.js';

const HH_MM = /^([01]\d|2[0-3]):([0-5]\d)$/;
/** Valid strings only, so at most 1440 entries. */
const cache = new Map<string, number>();

/**
 * Parses a strict 24-hour local time `HH:mm` (`00:00` .. `23:59`, two digits each) into minutes
 * since midnight, 0..1439. Results are cached per string.
 *
 * @throws DriplineError `INVALID_TIME` naming the value (`'25:00'`, `'7:30'`, `'07:30:00'`...).
 * @example
 * ```ts
 * parseLocalTime('07:30'); // 450
 * parseLocalTime('25:00'); // throws DriplineError INVALID_TIME: invalid local time "25:00" (expected HH:mm)
 * ```
 */
export function parseLocalTime(hhmm: string): number {
  const hit = cache.get(hhmm);
  if (hit !== undefined) return hit;
  const m = typeof hhmm === 'string' ? HH_MM.exec(hhmm) : null;
  if (m === null) {
    const shown = typeof hhmm === 'string' ? JSON.stringify(hhmm) : String(hhmm);
    throw new DriplineError('INVALID_TIME', `invalid local time ${shown} (expected HH:mm)`, {
      details: { value: typeof hhmm === 'string' ? hhmm : String(hhmm) },
    });
  }
  const minutes = Number(m[1]) * 60 + Number(m[2]);
  cache.set(hhmm, minutes);
  return minutes;
}

/** Throws `INVALID_TIME` unless `minuteOfDay` is an integer 0..1439. @internal */
export function checkMinuteOfDay(minuteOfDay: number): void {
  if (!Number.isInteger(minuteOfDay) || minuteOfDay < 0 || minuteOfDay > 1439) {
    throw new DriplineError('INVALID_TIME', `invalid minute of day ${String(minuteOfDay)} (expected 0..1439)`, {
      details: { value: minuteOfDay },
    });
  }
}

/**
 * {@link nextLocalTime} on a resolved zone, without argument checks.
 *
 * @internal
 */
export function nextLocalTimeIn(z: ZoneState, instant: number, minuteOfDay: number): number {
  const target = minuteOfDay * MINUTE_MS;
  let t = instant;
  for (let i = 0; i < 64; i++) {
    const off = offsetOf(z, t);
    const lt = t + off * MINUTE_MS;
    let local = Math.floor(lt / DAY_MS) * DAY_MS + target;
    if (local < lt) local += DAY_MS;
    if (local === lt) return t;
    const u = t + (local - lt);
    if (offsetOf(z, u) === off) return u;
    // The offset changes before the clock shows the target: look at the transition.
    const tr = findTransition(z, t, u, off);
    const lTr = tr + offsetOf(z, tr) * MINUTE_MS;
    // Reached exactly, or jumped over by a gap: the first instant the clock has passed it.
    if (lTr >= local) return tr;
    // Otherwise (the clock went back, or a gap that stops short) start over from there.
    t = tr;
  }
  throw new DriplineError('INVALID_TIME', `could not find local time in ${JSON.stringify(z.name)}`, {
    details: { zone: z.name, instant, minuteOfDay },
  });
}

/**
 * The first instant at or after `instant` at which the local clock of `zone` shows
 * `minuteOfDay` (exactly `HH:mm:00.000`). If a DST gap skips that wall time on a day, the result
 * is the first instant after the gap that day (e.g. 02:30 on 2026-03-08 in
 * America/Los_Angeles → 03:00 PDT). If a fall-back overlap repeats it, the first occurrence at or
 * after `instant` wins. An instant already past `HH:mm` by any amount (even one second) gets the
 * next day's occurrence.
 *
 * @param minuteOfDay minutes since local midnight, 0..1439 (see {@link parseLocalTime}).
 * @throws DriplineError `INVALID_TIMEZONE`, or `INVALID_TIME` for a bad instant or minute.
 * @example
 * ```ts
 * // 2026-03-10 18:00 PDT → the next 10:00 local is 2026-03-11 10:00 PDT
 * nextLocalTime(Date.UTC(2026, 2, 11, 1, 0), 'America/Los_Angeles', parseLocalTime('10:00'));
 * // === Date.UTC(2026, 2, 11, 17, 0)
 * ```
 */
export function nextLocalTime(instant: number, zone: string, minuteOfDay: number): number {
  checkInstant(instant);
  checkMinuteOfDay(minuteOfDay);
  return nextLocalTimeIn(getZone(zone), instant, minuteOfDay);
}
