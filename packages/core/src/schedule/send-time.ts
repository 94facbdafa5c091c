/**
 * Adding plan durations in a zone, and the send time of a message: `from + delay`, then the
 * next local `at`, then quiet hours.
 *
 * @packageDocumentation
 */
import { DAY_MS, MINUTE_MS, civilFromDays, daysFromCivil, daysInMonth, type CivilDate } from './calendar.js';
import { resolveDuration, type Duration } from './duration.js';
import { nextLocalTimeIn, parseLocalTime } from './local-time.js';
import { applyQuietHoursIn, type QuietHoursInput } from './quiet-hours.js';
import { GAP_SHIFT, advanceToLocal, checkInstant, getZone, offsetOf, type ZoneState } from './zone.js';

const scratch: CivilDate = { year: 0, month: 0, day: 0 };

/**
 * {@link addDuration} on a resolved zone and duration, without argument checks.
 *
 * @internal
 */
export function addDurationIn(z: ZoneState, instant: number, d: Duration): number {
  let t = instant;
  const days = d.days + 7 * d.weeks;
  if (d.years !== 0 || d.months !== 0) {
    const local = t + offsetOf(z, t) * MINUTE_MS;
    const day = Math.floor(local / DAY_MS);
    const msOfDay = local - day * DAY_MS;
    const c = civilFromDays(day, scratch);
    const total = c.year * 12 + (c.month - 1) + d.years * 12 + d.months;
    const year = Math.floor(total / 12);
    const month = total - year * 12 + 1;
    const dom = Math.min(c.day, daysInMonth(year, month));
    t = advanceToLocal(z, t, (daysFromCivil(year, month, dom) + days) * DAY_MS + msOfDay, GAP_SHIFT);
  } else if (days !== 0) {
    const local = t + offsetOf(z, t) * MINUTE_MS;
    t = advanceToLocal(z, t, local + days * DAY_MS, GAP_SHIFT);
  }
  return t + d.timeMs;
}

/**
 * Adds a non-negative ISO-8601 duration to an instant, in `zone`:
 *
 * 1. the calendar parts (years, months, weeks, days) are added to the local wall-clock date,
 *    keeping the local time of day, so `P1D` from 09:00 is 09:00 the next day even across a DST
 *    change. Months and years clamp the day to the month's end (Jan 31 + `P1M` = Feb 28/29),
 *    like luxon. A wall time skipped by a DST gap moves forward by the gap's length (02:30 on a
 *    spring-forward day in America/Los_Angeles becomes 03:30 PDT, as luxon does); an ambiguous
 *    wall time (fall-back) takes the earlier instant;
 * 2. then the time part (hours, minutes, seconds) is added as exact milliseconds: `PT24H` is
 *    always 86 400 000 ms later, whatever the clocks do.
 *
 * @param duration an ISO-8601 string (parsed once and cached) or a parsed {@link Duration}.
 * @throws DriplineError `INVALID_DURATION`, `INVALID_TIMEZONE`, or `INVALID_TIME` (bad instant).
 * @example
 * ```ts
 * const sat9am = Date.UTC(2026, 2, 7, 17, 0);                // 2026-03-07 09:00 PST
 * addDuration(sat9am, 'P1D', 'America/Los_Angeles');         // 2026-03-08 09:00 PDT = Date.UTC(2026, 2, 8, 16, 0)
 * addDuration(sat9am, 'PT24H', 'America/Los_Angeles');       // 2026-03-08 10:00 PDT = sat9am + 86_400_000
 * ```
 */
export function addDuration(instant: number, duration: string | Duration, zone: string): number {
  checkInstant(instant);
  const z = getZone(zone);
  const t = addDurationIn(z, instant, resolveDuration(duration));
  checkInstant(t, 'result');
  return t;
}

/** The inputs of {@link computeSendTime}. */
export interface SendTimeInput {
  /** When the contact entered the node (epoch milliseconds). */
  from: number;
  /** ISO-8601 delay after `from` (default `PT0S`). */
  delay?: string | Duration;
  /** `HH:mm`: send at the first local occurrence of this time at or after `from + delay`. */
  at?: string;
  /** IANA zone the times are local to: the contact's own zone if known, else the plan's. */
  zone: string;
  /** Quiet hours that apply (several in an array all apply). */
  quietHours?: QuietHoursInput;
}

/** The result of {@link explainSendTime}. */
export interface SendTimeExplained {
  /** When to send (epoch milliseconds): what {@link computeSendTime} returns. */
  at: number;
  /** When the send was due before quiet hours were applied (`from + delay`, then `at`). */
  requested: number;
  /** Whether quiet hours moved the send (`at !== requested`). */
  movedByQuietHours: boolean;
}

function requestedTime(z: ZoneState, input: SendTimeInput): number {
  checkInstant(input.from, 'from');
  let t = input.delay === undefined ? input.from : addDurationIn(z, input.from, resolveDuration(input.delay));
  if (input.at !== undefined) t = nextLocalTimeIn(z, t, parseLocalTime(input.at));
  checkInstant(t, 'send time');
  return t;
}

/**
 * When a message is sent: `t = addDuration(from, delay ?? 'PT0S', zone)`; if `at` is given, the
 * first instant at or after `t` at which the local clock shows `at` (see `nextLocalTime`); then
 * the earliest instant at or after that which is outside quiet hours (see `applyQuietHours`).
 * Pure and allocation-free after warm-up: zones, offsets, durations, times and quiet hours are
 * all cached.
 *
 * @throws DriplineError `INVALID_DURATION`, `INVALID_TIMEZONE`, `INVALID_TIME`,
 *   `QUIET_HOURS_COVER_ALL`.
 * @example
 * ```ts
 * // Entered Friday 2026-06-05 20:30 in Chicago; send one hour later but not during 21:00–07:30:
 * computeSendTime({
 *   from: Date.UTC(2026, 5, 6, 1, 30),
 *   delay: 'PT1H',
 *   zone: 'America/Chicago',
 *   quietHours: { start: '21:00', end: '07:30' },
 * }); // Saturday 2026-06-06 07:30 CDT = Date.UTC(2026, 5, 6, 12, 30)
 * ```
 */
export function computeSendTime(input: SendTimeInput): number {
  const z = getZone(input.zone);
  const t = requestedTime(z, input);
  return input.quietHours === undefined ? t : applyQuietHoursIn(z, t, input.quietHours);
}

/**
 * Like {@link computeSendTime}, and also reports the time before quiet hours were applied, so a
 * simulator can count "sends moved by quiet hours".
 *
 * @example
 * ```ts
 * explainSendTime({ from: Date.UTC(2026, 5, 6, 1, 30), delay: 'PT1H', zone: 'America/Chicago',
 *   quietHours: { start: '21:00', end: '07:30' } });
 * // { at: Date.UTC(2026, 5, 6, 12, 30), requested: Date.UTC(2026, 5, 6, 2, 30), movedByQuietHours: true }
 * ```
 */
export function explainSendTime(input: SendTimeInput): SendTimeExplained {
  const z = getZone(input.zone);
  const requested = requestedTime(z, input);
  const at = input.quietHours === undefined ? requested : applyQuietHoursIn(z, requested, input.quietHours);
  return { at, requested, movedByQuietHours: at !== requested };
}
