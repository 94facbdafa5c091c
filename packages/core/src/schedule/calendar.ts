/**
 * Integer calendar arithmetic on proleptic Gregorian "day numbers" (days since 1970-01-01).
 * Internal to `schedule/`: no time zones here, only wall-clock dates.
 *
 * @internal
 * @packageDocumentation
 */

/** Milliseconds in a minute. @internal */
export const MINUTE_MS = 60_000;
/** Milliseconds in an hour. @internal */
export const HOUR_MS = 3_600_000;
/** Milliseconds in a (wall-clock) day. @internal */
export const DAY_MS = 86_400_000;

/**
 * Day number (days since 1970-01-01) of a proleptic Gregorian date. `month` is 1..12, `day`
 * may exceed the month's length (it simply counts on). Howard Hinnant's `days_from_civil`.
 *
 * @internal
 */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** A mutable scratch date filled by {@link civilFromDays} (avoids allocating). @internal */
export interface CivilDate {
  year: number;
  month: number;
  day: number;
}

/**
 * Fills `out` with the proleptic Gregorian date of a day number and returns it. Howard
 * Hinnant's `civil_from_days`.
 *
 * @internal
 */
export function civilFromDays(dayNumber: number, out: CivilDate): CivilDate {
  const z = dayNumber + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  out.year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  out.month = month;
  out.day = day;
  return out;
}

/** Whether `year` is a Gregorian leap year. @internal */
export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** Number of days in `month` (1..12) of `year`. @internal */
export function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** ISO weekday (1 = Monday .. 7 = Sunday) of a day number; 1970-01-01 was a Thursday. @internal */
export function weekdayOfDay(dayNumber: number): number {
  return ((((dayNumber + 3) % 7) + 7) % 7) + 1;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** `YYYY-MM-DD` of a civil date (years outside 0..9999 are written as they are). @internal */
export function formatIsoDate(year: number, month: number, day: number): string {
  const y = year >= 0 && year < 10000 ? String(year).padStart(4, '0') : String(year);
  return `${y}-${pad2(month)}-${pad2(day)}`;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * Day number of a strict `YYYY-MM-DD` calendar date, or `undefined` if the string is not one
 * (wrong shape, month 13, February 30...).
 *
 * @internal
 */
export function parseIsoDate(value: string): number | undefined {
  const m = ISO_DATE.exec(value);
  if (m === null) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  return daysFromCivil(year, month, day);
}
