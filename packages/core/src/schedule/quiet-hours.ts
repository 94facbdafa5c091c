/**
 * Quiet hours: a daily local window (which may wrap midnight), whole quiet weekdays and quiet
 * holiday dates, and the earliest instant at which a message may be sent.
 *
 * @packageDocumentation
 */
import { DriplineError } from '../errors.js';
import { DAY_MS, MINUTE_MS, civilFromDays, formatIsoDate, parseIsoDate, weekdayOfDay } from './calendar.js';
import { checkMinuteOfDay, parseLocalTime } from './local-time.js';
import { checkInstant, findTransition, getZone, offsetOf, type ZoneState } from './zone.js';

/** A day of the week as plans write it. */
export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

/** The weekdays in ISO order; index + 1 is luxon's weekday number (1 = Monday .. 7 = Sunday). */
export const WEEKDAYS: readonly Weekday[] = Object.freeze(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const);

/**
 * Quiet hours as they appear in plan JSON. All times and dates are local to the zone they are
 * applied in (the contact's zone, else the plan's).
 *
 * - The daily window is `[start, end)` in local wall-clock minutes: `start` is quiet, `end` is
 *   free. `start > end` wraps midnight (`21:00`–`07:30` is quiet from 21:00 until 07:30 the next
 *   morning). `start === end` is an empty daily window: nothing is quiet daily, only `days` and
 *   `dates` apply. A daily window therefore always leaves at least one free minute a day.
 * - `days` are whole local days that are quiet (all seven is refused: nothing could be sent).
 * - `dates` are whole local dates that are quiet (holidays).
 *
 * Objects are compiled once and cached by identity: do not mutate one after first use.
 */
export interface QuietHours {
  /** `HH:mm` local time when quiet starts (inclusive). */
  start: string;
  /** `HH:mm` local time when quiet ends (exclusive); earlier than `start` wraps midnight. */
  end: string;
  /** Whole local weekdays that are quiet. */
  days?: Weekday[];
  /** Local `YYYY-MM-DD` dates that are quiet (holidays). */
  dates?: string[];
}

/** Quiet hours with times parsed and sets built, as {@link compileQuietHours} returns them. */
export interface CompiledQuietHours {
  /** Minute of day (0..1439) when the daily window starts (inclusive). */
  startMinute: number;
  /** Minute of day (0..1439) when the daily window ends (exclusive). */
  endMinute: number;
  /** Quiet weekdays as luxon numbers them: 1 = Monday .. 7 = Sunday. */
  days: ReadonlySet<number>;
  /** Quiet local dates, `YYYY-MM-DD`. */
  dates: ReadonlySet<string>;
}

/** Anything the quiet-hours functions accept: one set of quiet hours, or several that all apply. */
export type QuietHoursInput = QuietHours | CompiledQuietHours | readonly (QuietHours | CompiledQuietHours)[];

/** The fast internal form of one set of quiet hours. */
interface Rule {
  /** Window start and end in milliseconds since local midnight. */
  readonly s: number;
  readonly e: number;
  /** Bit `1 << weekday` set for each quiet weekday (bits 1..7). */
  readonly dayMask: number;
  /** Quiet day numbers (days since 1970-01-01), or null if none. */
  readonly dayNums: ReadonlySet<number> | null;
}

const ALL_DAYS = 0b1111_1110;

const rules = new WeakMap<object, Rule>();
const compiledOf = new WeakMap<object, CompiledQuietHours>();
const arrays = new WeakMap<object, { items: readonly object[]; rules: readonly Rule[] }>();

function fail(message: string, value: unknown): never {
  throw new DriplineError('INVALID_TIME', message, { details: { value: typeof value === 'string' ? value : String(value) } });
}

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function isCompiled(q: QuietHours | CompiledQuietHours): q is CompiledQuietHours {
  return typeof (q as CompiledQuietHours).startMinute === 'number';
}

function buildRule(q: QuietHours | CompiledQuietHours): Rule {
  if (typeof q !== 'object' || q === null) fail(`invalid quiet hours ${show(q)}`, q);
  let s: number;
  let e: number;
  let dayMask = 0;
  let dayNums: Set<number> | null = null;
  if (isCompiled(q)) {
    checkMinuteOfDay(q.startMinute);
    checkMinuteOfDay(q.endMinute);
    s = q.startMinute;
    e = q.endMinute;
    for (const d of q.days ?? []) {
      if (!Number.isInteger(d) || d < 1 || d > 7) fail(`invalid weekday ${show(d)} in quiet hours (expected 1..7)`, d);
      dayMask |= 1 << d;
    }
    for (const date of q.dates ?? []) {
      const n = typeof date === 'string' ? parseIsoDate(date) : undefined;
      if (n === undefined) fail(`invalid date ${show(date)} in quiet hours (expected YYYY-MM-DD)`, date);
      (dayNums ??= new Set()).add(n);
    }
  } else {
    s = parseLocalTime(q.start);
    e = parseLocalTime(q.end);
    if (q.days !== undefined) {
      if (!Array.isArray(q.days)) fail(`invalid quiet days ${show(q.days)} (expected an array of mon..sun)`, q.days);
      for (const d of q.days) {
        const i = WEEKDAYS.indexOf(d);
        if (i < 0) fail(`invalid weekday ${show(d)} in quiet hours (expected mon..sun)`, d);
        dayMask |= 1 << (i + 1);
      }
    }
    if (q.dates !== undefined) {
      if (!Array.isArray(q.dates)) fail(`invalid quiet dates ${show(q.dates)} (expected an array of YYYY-MM-DD)`, q.dates);
      for (const date of q.dates) {
        const n = typeof date === 'string' ? parseIsoDate(date) : undefined;
        if (n === undefined) fail(`invalid date ${show(date)} in quiet hours (expected YYYY-MM-DD)`, date);
        (dayNums ??= new Set()).add(n);
      }
    }
  }
  return { s: s * MINUTE_MS, e: e * MINUTE_MS, dayMask, dayNums };
}

function coverAll(zone: string | undefined, instant: number | undefined): never {
  throw new DriplineError('QUIET_HOURS_COVER_ALL', 'quiet hours leave no instant at which a message may be sent', {
    details: { ...(zone === undefined ? {} : { zone }), ...(instant === undefined ? {} : { instant }) },
  });
}

/** The cached rule of one quiet-hours object (validated on first use). */
function ruleOf(q: QuietHours | CompiledQuietHours): Rule {
  let r = rules.get(q);
  if (r === undefined) {
    r = buildRule(q);
    rules.set(q, r);
  }
  return r;
}

/** One rule, or the cached rules of an array (recomputed if the array's items changed). */
function resolve(quiet: QuietHoursInput): Rule | readonly Rule[] {
  if (!Array.isArray(quiet)) return ruleOf(quiet as QuietHours | CompiledQuietHours);
  const items = quiet as readonly (QuietHours | CompiledQuietHours)[];
  const hit = arrays.get(items);
  if (hit !== undefined && hit.items.length === items.length) {
    let same = true;
    for (let i = 0; i < items.length; i++) {
      if (hit.items[i] !== items[i]) {
        same = false;
        break;
      }
    }
    if (same) return hit.rules;
  }
  const rs = items.map(ruleOf);
  arrays.set(items, { items: items.slice(), rules: rs });
  return rs;
}

/**
 * Validates quiet hours and compiles them: `HH:mm` parsed to minutes, weekdays to luxon numbers,
 * dates checked. Cached per object (a `WeakMap`), so compiling the plan's quiet hours once and
 * passing either form to {@link applyQuietHours} costs the same. The result is frozen.
 *
 * @throws DriplineError `INVALID_TIME` for a bad `HH:mm`, weekday name or `YYYY-MM-DD` date
 *   (naming the value); `QUIET_HOURS_COVER_ALL` if all seven weekdays are quiet.
 * @example
 * ```ts
 * compileQuietHours({ start: '21:00', end: '07:30', days: ['sun'], dates: ['2026-12-25'] });
 * // { startMinute: 1260, endMinute: 450, days: Set {7}, dates: Set {'2026-12-25'} }
 * ```
 */
export function compileQuietHours(q: QuietHours): CompiledQuietHours {
  const hit = compiledOf.get(q);
  if (hit !== undefined) return hit;
  const r = ruleOf(q);
  if ((r.dayMask & ALL_DAYS) === ALL_DAYS) coverAll(undefined, undefined);
  const days = new Set<number>();
  for (let d = 1; d <= 7; d++) if ((r.dayMask >> d) & 1) days.add(d);
  const dates = new Set<string>();
  const c = { year: 0, month: 0, day: 0 };
  if (r.dayNums !== null) {
    for (const n of r.dayNums) {
      civilFromDays(n, c);
      dates.add(formatIsoDate(c.year, c.month, c.day));
    }
  }
  const compiled: CompiledQuietHours = Object.freeze({ startMinute: r.s / MINUTE_MS, endMinute: r.e / MINUTE_MS, days, dates });
  rules.set(compiled, r);
  compiledOf.set(q, compiled);
  return compiled;
}

/**
 * Whether quiet hours leave no free time at all, for the plan validator. A daily window never
 * does (`00:00`–`23:59` leaves 23:59 free; `start === end` is empty; a wrapping window leaves
 * `[end, start)` free), so this is true exactly when all seven weekdays are quiet. Holiday dates
 * are finite and never cover everything.
 *
 * @throws DriplineError `INVALID_TIME` for a bad `HH:mm`, weekday or date (naming the value).
 * @example
 * ```ts
 * quietHoursCoverWholeDay({ start: '00:00', end: '23:59' }); // false
 * quietHoursCoverWholeDay({ start: '21:00', end: '07:30', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] }); // true
 * ```
 */
export function quietHoursCoverWholeDay(q: QuietHours | CompiledQuietHours): boolean {
  return (ruleOf(q).dayMask & ALL_DAYS) === ALL_DAYS;
}

/**
 * Where one rule's quiet stretch containing local time `local` ends (local ms), or NaN if that
 * local time is free under the rule.
 */
function quietEnd(r: Rule, day: number, weekday: number, msOfDay: number): number {
  if (((r.dayMask >> weekday) & 1) !== 0 || (r.dayNums !== null && r.dayNums.has(day))) return (day + 1) * DAY_MS;
  const s = r.s;
  const e = r.e;
  if (s < e) return msOfDay >= s && msOfDay < e ? day * DAY_MS + e : NaN;
  if (s > e) {
    if (msOfDay >= s) return (day + 1) * DAY_MS + e;
    if (msOfDay < e) return day * DAY_MS + e;
  }
  return NaN;
}

/** The latest quiet end over all rules at a local time, or NaN/-Infinity if free under all. */
function quietEndAll(rs: Rule | readonly Rule[], day: number, weekday: number, msOfDay: number): number {
  if (!Array.isArray(rs)) return quietEnd(rs as Rule, day, weekday, msOfDay);
  let end = -Infinity;
  for (let i = 0; i < rs.length; i++) {
    const x = quietEnd(rs[i] as Rule, day, weekday, msOfDay);
    if (x > end) end = x;
  }
  return end;
}

function isQuietIn(z: ZoneState, instant: number, rs: Rule | readonly Rule[]): boolean {
  const local = instant + offsetOf(z, instant) * MINUTE_MS;
  const day = Math.floor(local / DAY_MS);
  return quietEndAll(rs, day, weekdayOfDay(day), local - day * DAY_MS) > local;
}

/**
 * Whether `instant` falls in quiet hours in `zone`: its local minute is inside a daily window,
 * or its local date is a quiet weekday or holiday, under any of the given quiet hours.
 *
 * @throws DriplineError `INVALID_TIMEZONE`, `INVALID_TIME` (bad instant or quiet hours).
 * @example
 * ```ts
 * const q = { start: '21:00', end: '07:30' };
 * isQuiet(Date.UTC(2026, 5, 1, 5, 0), 'America/New_York', q); // true (01:00 EDT)
 * ```
 */
export function isQuiet(instant: number, zone: string, quiet: QuietHoursInput): boolean {
  checkInstant(instant);
  return isQuietIn(getZone(zone), instant, resolve(quiet));
}

function extraDays(rs: Rule | readonly Rule[]): number {
  if (!Array.isArray(rs)) return (rs as Rule).dayNums?.size ?? 0;
  let n = 0;
  for (const r of rs as readonly Rule[]) n += r.dayNums?.size ?? 0;
  return n;
}

function unionMask(rs: Rule | readonly Rule[]): number {
  if (!Array.isArray(rs)) return (rs as Rule).dayMask;
  let m = 0;
  for (const r of rs as readonly Rule[]) m |= r.dayMask;
  return m;
}

/** How far ahead (beyond the holidays' count) applyQuietHours looks before giving up. */
const SEARCH_DAYS = 400;

/**
 * {@link applyQuietHours} on a resolved zone and quiet input, without the instant check.
 *
 * @internal
 */
export function applyQuietHoursIn(z: ZoneState, instant: number, quiet: QuietHoursInput): number {
  const rs = resolve(quiet);
  let t = instant;
  let limit = NaN;
  let iterationsLeft = 0;
  for (let first = true; ; first = false) {
    const off = offsetOf(z, t);
    const local = t + off * MINUTE_MS;
    const day = Math.floor(local / DAY_MS);
    const end = quietEndAll(rs, day, weekdayOfDay(day), local - day * DAY_MS);
    if (!(end > local)) return t;
    if (first) {
      if ((unionMask(rs) & ALL_DAYS) === ALL_DAYS) coverAll(z.name, instant);
      const days = SEARCH_DAYS + extraDays(rs);
      limit = instant + days * DAY_MS;
      iterationsLeft = days * 4 * (Array.isArray(rs) ? rs.length : 1) + 64;
    } else if (t > limit || --iterationsLeft < 0) {
      coverAll(z.name, instant);
    }
    // Every instant from t until the local clock reaches `end` is quiet. With a constant offset
    // that is `u`; if the offset changes first, re-examine at the transition (a gap may jump past
    // `end`, a fall-back may move the clock back into free time).
    const u = t + (end - local);
    t = offsetOf(z, u) === off ? u : findTransition(z, t, u, off);
  }
}

/**
 * The earliest instant at or after `instant` whose local time in `zone` is outside every daily
 * window and whose local date is not a quiet weekday or holiday. With an array, every set of
 * quiet hours applies (e.g. the plan's plus a compliance preset) and the result is free of all
 * of them. A free instant is returned unchanged. When a window ends at a wall time that a DST
 * gap skips, the result is the first instant after the gap; when a fall-back repeats free wall
 * time, that earlier free instant is found.
 *
 * @throws DriplineError `QUIET_HOURS_COVER_ALL` if all weekdays are quiet or no free instant
 *   exists within 400 days (plus one day per holiday); `INVALID_TIMEZONE`; `INVALID_TIME`.
 * @example
 * ```ts
 * const q = { start: '21:00', end: '07:30', days: ['sun'] as Weekday[] };
 * // Saturday 2026-06-06 22:00 in New York → Monday 2026-06-08 07:30 EDT
 * applyQuietHours(Date.UTC(2026, 5, 7, 2, 0), 'America/New_York', q) === Date.UTC(2026, 5, 8, 11, 30); // true
 * ```
 */
export function applyQuietHours(instant: number, zone: string, quiet: QuietHoursInput | undefined): number {
  checkInstant(instant);
  const z = getZone(zone);
  if (quiet === undefined) return instant;
  return applyQuietHoursIn(z, instant, quiet);
}
