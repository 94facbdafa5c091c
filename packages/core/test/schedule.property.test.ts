/**
 * Property tests of schedule/ against an independent oracle written here with luxon's
 * DateTime (never with the code under test). Deterministic: seed 42.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DateTime, IANAZone } from 'luxon';
import { DriplineError } from '../src/errors.js';
import {
  addDuration,
  applyQuietHours,
  computeSendTime,
  isQuiet,
  localParts,
  nextLocalTime,
  parseDuration,
  type QuietHours,
  type Weekday,
} from '../src/schedule/index.js';

const ZONES = [
  'America/Los_Angeles', 'America/New_York', 'America/Sao_Paulo', 'America/St_Johns', 'Europe/Berlin',
  'Europe/London', 'Africa/Casablanca', 'Asia/Kathmandu', 'Asia/Kolkata', 'Asia/Tokyo', 'Australia/Lord_Howe',
  'Australia/Adelaide', 'Pacific/Chatham', 'Pacific/Apia', 'Pacific/Kiritimati', 'America/Santiago', 'Asia/Tehran',
  'UTC', 'Etc/GMT+12', 'Antarctica/Troll', 'America/Havana', 'Asia/Gaza', 'America/Scoresbysund', 'Europe/Dublin',
];
const WD: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const T_MIN = Date.UTC(2020, 0, 1);
const T_MAX = Date.UTC(2031, 0, 1);
const RUNS = { seed: 42, numRuns: 2000 };

// ---------------------------------------------------------------------------------------------
// The oracle: luxon DateTime only.

function dt(ms: number, zone: string): DateTime {
  return DateTime.fromMillis(ms, { zone });
}

/** Local wall-clock milliseconds "as if UTC", read from luxon. */
function wall(ms: number, zone: string): number {
  const d = dt(ms, zone);
  return Date.UTC(d.year, d.month - 1, d.day, d.hour, d.minute, d.second, d.millisecond);
}

function minutesOf(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

function oracleQuiet(ms: number, zone: string, qs: readonly QuietHours[]): boolean {
  const d = dt(ms, zone);
  const m = d.hour * 60 + d.minute;
  const weekday = WD[d.weekday - 1] as Weekday;
  const date = d.toISODate();
  return qs.some((q) => {
    if (q.days?.includes(weekday)) return true;
    if (date !== null && q.dates?.includes(date)) return true;
    const s = minutesOf(q.start);
    const e = minutesOf(q.end);
    if (s < e) return m >= s && m < e;
    if (s > e) return m >= s || m < e;
    return false;
  });
}

/** Whether the daily windows alone (or the weekdays) leave nothing free on any day. */
function oracleCoversAll(qs: readonly QuietHours[]): boolean {
  const days = new Set(qs.flatMap((q) => q.days ?? []));
  if (days.size === 7) return true;
  for (let m = 0; m < 1440; m++) {
    const quiet = qs.some((q) => {
      const s = minutesOf(q.start);
      const e = minutesOf(q.end);
      return s < e ? m >= s && m < e : s > e ? m >= s || m < e : false;
    });
    if (!quiet) return false;
  }
  return true;
}

/** Offset transitions of each zone in 2020–2030 (daily scan, then bisection), from luxon. */
function transitionsOf(zone: string): number[] {
  const z = IANAZone.create(zone);
  const out: number[] = [];
  let prev = z.offset(T_MIN);
  for (let t = T_MIN + DAY; t <= T_MAX; t += DAY) {
    const o = z.offset(t);
    if (o !== prev) {
      let lo = t - DAY;
      let hi = t;
      while (hi - lo > 1) {
        const mid = lo + Math.floor((hi - lo) / 2);
        if (z.offset(mid) === prev) lo = mid;
        else hi = mid;
      }
      out.push(hi);
      prev = o;
    }
  }
  return out;
}
const TRANSITIONS = new Map(ZONES.map((z) => [z, transitionsOf(z)] as const));

// ---------------------------------------------------------------------------------------------
// Arbitraries.

const granularity = fc.constantFrom(1, 1000, MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR);

/** A zone and an instant in 2020–2030, often within two days of one of the zone's transitions. */
const zoned = fc
  .constantFrom(...ZONES)
  .chain((zone) => {
    const trs = TRANSITIONS.get(zone) ?? [];
    const uniform = fc.integer({ min: T_MIN, max: T_MAX });
    const near = trs.length === 0
      ? uniform
      : fc.tuple(fc.constantFrom(...trs), fc.integer({ min: -2 * DAY, max: 2 * DAY })).map(([a, b]) => a + b);
    return fc.record({ zone: fc.constant(zone), raw: fc.oneof(uniform, near), g: granularity });
  })
  .map(({ zone, raw, g }) => ({ zone, t: Math.floor(raw / g) * g }));

const minuteOfDay = fc.oneof(fc.integer({ min: 0, max: 1439 }), fc.integer({ min: 0, max: 47 }).map((x) => x * 30));

function hhmm(m: number): string {
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
}

const windowArb = fc.record({ start: minuteOfDay.map(hhmm), end: minuteOfDay.map(hhmm) });

/** Quiet hours: a window, a few quiet weekdays (never all seven), holidays near the instant. */
function quietArb(t: number, zone: string): fc.Arbitrary<QuietHours[]> {
  const main = fc
    .record({
      w: windowArb,
      days: fc.subarray([...WD], { maxLength: 6 }),
      holidayOffsets: fc.uniqueArray(fc.integer({ min: -1, max: 12 }), { maxLength: 4 }),
    })
    .map(({ w, days, holidayOffsets }): QuietHours => {
      const base = dt(t, zone);
      const dates = holidayOffsets.map((k) => base.plus({ days: k }).toISODate() as string);
      return { ...w, ...(days.length ? { days } : {}), ...(dates.length ? { dates } : {}) };
    });
  return fc.tuple(main, fc.option(windowArb, { nil: undefined })).map(([a, b]) => (b === undefined ? [a] : [a, b]));
}

const scenario = zoned.chain(({ zone, t }) =>
  fc.record({
    zone: fc.constant(zone),
    t: fc.constant(t),
    qs: quietArb(t, zone),
    samples: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 12, maxLength: 12 }),
  }),
);

// ---------------------------------------------------------------------------------------------

describe('applyQuietHours (property, oracle = luxon DateTime)', () => {
  it('returns the earliest free instant at or after the input', () => {
    fc.assert(
      fc.property(scenario, ({ zone, t, qs }) => {
        const quiet = qs.length === 1 ? (qs[0] as QuietHours) : qs;
        let r: number;
        try {
          r = applyQuietHours(t, zone, quiet);
        } catch (e) {
          // Only when nothing is ever free.
          expect(e).toBeInstanceOf(DriplineError);
          expect((e as DriplineError).code).toBe('QUIET_HOURS_COVER_ALL');
          expect(oracleCoversAll(qs)).toBe(true);
          return;
        }
        expect(oracleCoversAll(qs)).toBe(false);
        // (1) not earlier than the input
        expect(r).toBeGreaterThanOrEqual(t);
        // (2) free per the oracle
        expect(oracleQuiet(r, zone, qs)).toBe(false);
        // (3) earliest: a free input is returned unchanged; otherwise the millisecond before is quiet
        if (!oracleQuiet(t, zone, qs)) expect(r).toBe(t);
        else expect(oracleQuiet(r - 1, zone, qs)).toBe(true);
        // (4) bounded: holidays and quiet weekdays can chain, but not beyond this
        const holidays = qs.reduce((n, q) => n + (q.dates?.length ?? 0), 0);
        expect(r - t).toBeLessThanOrEqual((7 * (holidays + 1) + 2) * DAY);
      }),
      RUNS,
    );
  });

  it('every sampled instant between the input and the result is quiet (minimality)', () => {
    fc.assert(
      fc.property(scenario, ({ zone, t, qs, samples }) => {
        if (oracleCoversAll(qs)) return;
        const r = applyQuietHours(t, zone, qs);
        if (r === t) return;
        // Random points plus the instants just before the result and every local hour mark.
        const points = samples.map((f) => t + Math.floor(f * (r - t)));
        for (const back of [1, 1000, MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR]) points.push(r - back);
        for (let h = Math.ceil(t / (15 * MINUTE)) * 15 * MINUTE; h < r && points.length < 400; h += 15 * MINUTE) points.push(h);
        for (const p of points) {
          if (p >= t && p < r) expect(oracleQuiet(p, zone, qs), `instant ${dt(p, zone).toISO()} should be quiet`).toBe(true);
        }
      }),
      { ...RUNS, numRuns: 1000 },
    );
  });

  it('isQuiet agrees with the oracle', () => {
    fc.assert(
      fc.property(scenario, ({ zone, t, qs }) => {
        expect(isQuiet(t, zone, qs)).toBe(oracleQuiet(t, zone, qs));
        expect(isQuiet(t - 1, zone, qs)).toBe(oracleQuiet(t - 1, zone, qs));
      }),
      RUNS,
    );
  });
});

describe('nextLocalTime (property)', () => {
  it('is the first instant at or after the input whose local clock shows HH:mm (or the end of the gap that skips it)', () => {
    fc.assert(
      fc.property(zoned, minuteOfDay, ({ zone, t }, m) => {
        const r = nextLocalTime(t, zone, m);
        expect(r).toBeGreaterThanOrEqual(t);
        expect(r - t).toBeLessThanOrEqual(DAY + 3 * HOUR);
        const w = wall(r, zone);
        const exact = w % DAY === m * MINUTE;
        if (!exact) {
          // Skipped by a gap: the clock jumps over HH:mm at r.
          const before = wall(r - 1, zone) + 1;
          expect(dt(r - 1, zone).offset).not.toBe(dt(r, zone).offset);
          const target = Math.floor(w / DAY) * DAY + m * MINUTE;
          const targetPrev = target - DAY;
          const skipped = (before <= target && target < w) || (before <= targetPrev && targetPrev < w);
          expect(skipped).toBe(true);
        }
        // No earlier occurrence in [t, r): the previous one would be about a day before, or an
        // overlap's length before.
        for (const back of [30 * MINUTE, HOUR, 2 * HOUR, 22 * HOUR, 23 * HOUR, 23.5 * HOUR, DAY, 24.5 * HOUR, 25 * HOUR, 26 * HOUR]) {
          const p = r - back;
          if (p >= t) expect(wall(p, zone) % DAY === m * MINUTE, `earlier occurrence at ${dt(p, zone).toISO()}`).toBe(false);
        }
      }),
      RUNS,
    );
  });
});

/** The earliest instant whose wall clock equals that of `ms` (checks the fall-back overlaps). */
function earliestSameWall(ms: number, zone: string): number {
  const w = wall(ms, zone);
  let best = ms;
  for (const back of [30 * MINUTE, HOUR, 2 * HOUR]) if (wall(ms - back, zone) === w) best = Math.min(best, ms - back);
  return best;
}

describe('addDuration (property)', () => {
  const calendar = fc.constantFrom('P1D', 'P2D', 'P1W', 'P1M', 'P1Y', 'P1M2D', 'P1DT1H', 'P3DT2H30M', 'P0D', 'P13M');

  it('calendar parts follow the local calendar (luxon plus, earliest on overlaps), then exact time', () => {
    fc.assert(
      fc.property(zoned, calendar, ({ zone, t }, iso) => {
        const d = parseDuration(iso);
        const r = addDuration(t, iso, zone);
        const lux = dt(t, zone).plus({ years: d.years, months: d.months, weeks: d.weeks, days: d.days });
        // A zero calendar part leaves the instant alone (even on the second pass of an overlap).
        const moved = d.years + d.months + d.weeks + d.days > 0;
        const expected = (moved ? earliestSameWall(lux.toMillis(), zone) : t) + d.timeMs;
        expect(dt(r, zone).toISO()).toBe(dt(expected, zone).toISO());
        expect(r).toBe(expected);
      }),
      RUNS,
    );
  });

  it('P1D keeps the local wall time unless it falls in a gap, where it moves forward by the gap', () => {
    fc.assert(
      fc.property(zoned, ({ zone, t }) => {
        const r = addDuration(t, 'P1D', zone);
        const w0 = wall(t, zone);
        const w1 = wall(r, zone);
        if (w1 !== w0 + DAY) {
          // In a gap: the wanted wall time does not exist; the result is after it by the gap length.
          const o0 = dt(r - 3 * HOUR, zone).offset;
          const o1 = dt(r, zone).offset;
          expect(o1).toBeGreaterThan(o0);
          expect(w1 - (w0 + DAY)).toBe((o1 - o0) * MINUTE);
        } else {
          expect(earliestSameWall(r, zone)).toBe(r);
        }
        expect(localParts(r, zone).date).toBe(dt(t, zone).plus({ days: 1 }).toISODate());
      }),
      RUNS,
    );
  });

  it('PT24H and other time-only durations are exact milliseconds', () => {
    fc.assert(
      fc.property(zoned, fc.constantFrom('PT24H', 'PT1H', 'PT72H', 'PT90M', 'PT0.5S', 'PT1H30M15S'), ({ zone, t }, iso) => {
        expect(addDuration(t, iso, zone) - t).toBe(parseDuration(iso).timeMs);
      }),
      RUNS,
    );
  });
});

describe('computeSendTime (property)', () => {
  it('is not before from + delay, is free, and shows `at` unless quiet hours moved it', () => {
    fc.assert(
      fc.property(
        scenario,
        fc.constantFrom('PT0S', 'PT1H', 'P1D', 'PT72H', 'P2DT3H'),
        fc.option(minuteOfDay, { nil: undefined }),
        ({ zone, t, qs }, delay, atMinute) => {
          if (oracleCoversAll(qs)) return;
          const r = computeSendTime({ from: t, delay, zone, quietHours: qs, ...(atMinute === undefined ? {} : { at: hhmm(atMinute) }) });
          expect(r).toBeGreaterThanOrEqual(t + parseDuration(delay).timeMs);
          expect(oracleQuiet(r, zone, qs)).toBe(false);
          const requested = computeSendTime({ from: t, delay, zone, ...(atMinute === undefined ? {} : { at: hhmm(atMinute) }) });
          expect(r).toBeGreaterThanOrEqual(requested);
          if (!oracleQuiet(requested, zone, qs)) expect(r).toBe(requested);
        },
      ),
      RUNS,
    );
  });
});
