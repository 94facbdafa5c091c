import { describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import { DriplineError } from '../src/errors.js';
import {
  addDuration,
  applyQuietHours,
  compileQuietHours,
  computeSendTime,
  explainSendTime,
  isQuiet,
  isValidDuration,
  isValidTimeZone,
  localParts,
  nextLocalTime,
  parseDuration,
  parseLocalTime,
  quietHoursCoverWholeDay,
  type QuietHours,
} from '../src/schedule/index.js';

/** An instant from an ISO string with an explicit offset (or Z). */
function at(iso: string): number {
  const dt = DateTime.fromISO(iso, { setZone: true });
  if (!dt.isValid) throw new Error(`bad test instant ${iso}`);
  return dt.toMillis();
}

/** How an instant reads in a zone, with its offset: the form every assertion compares. */
function show(ms: number, zone: string): string {
  return DateTime.fromMillis(ms, { zone }).toISO() ?? 'invalid';
}

function expectError(fn: () => unknown, code: string, mentions: string): DriplineError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(DriplineError);
  const err = caught as DriplineError;
  expect(err.code).toBe(code);
  expect(err.message).toContain(mentions);
  return err;
}

const LA = 'America/Los_Angeles';
const NY = 'America/New_York';
const BERLIN = 'Europe/Berlin';
const LORD_HOWE = 'Australia/Lord_Howe';
const KATHMANDU = 'Asia/Kathmandu';
const NIGHT: QuietHours = { start: '21:00', end: '07:30' };

describe('parseDuration', () => {
  it('parses PT0S', () => {
    const d = parseDuration('PT0S');
    expect(d).toMatchObject({ iso: 'PT0S', seconds: 0, timeMs: 0, calendar: false });
  });
  it('parses PT72H as exact milliseconds', () => {
    expect(parseDuration('PT72H')).toMatchObject({ hours: 72, timeMs: 259_200_000, calendar: false, days: 0 });
  });
  it('parses P2D as a calendar duration', () => {
    expect(parseDuration('P2D')).toMatchObject({ days: 2, timeMs: 0, calendar: true });
  });
  it('parses P1DT2H30M', () => {
    expect(parseDuration('P1DT2H30M')).toMatchObject({ days: 1, hours: 2, minutes: 30, timeMs: 9_000_000, calendar: true });
  });
  it('parses P1W and P1M and P1Y', () => {
    expect(parseDuration('P1W')).toMatchObject({ weeks: 1, days: 0, calendar: true });
    expect(parseDuration('P1M')).toMatchObject({ months: 1, minutes: 0, calendar: true });
    expect(parseDuration('P1Y2M3W4DT5H6M7S')).toMatchObject({
      years: 1, months: 2, weeks: 3, days: 4, hours: 5, minutes: 6, seconds: 7,
      timeMs: (5 * 3600 + 6 * 60 + 7) * 1000,
    });
  });
  it('tells PT1M (a minute) from P1M (a month)', () => {
    expect(parseDuration('PT1M')).toMatchObject({ minutes: 1, months: 0, timeMs: 60_000, calendar: false });
  });
  it('accepts fractions in the time part only', () => {
    expect(parseDuration('PT1.5H').timeMs).toBe(5_400_000);
    expect(parseDuration('PT0,25S').timeMs).toBe(250);
    expect(isValidDuration('P1.5D')).toBe(false);
  });
  it('returns the same frozen object for the same string', () => {
    const a = parseDuration('PT3H');
    expect(parseDuration('PT3H')).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
  });
  for (const bad of ['', 'P', 'PT', '1D', 'P1X', '-P1D', 'PT-1H', 'P1DT', 'pt1h', 'P1H', 'PT1D', ' PT1H', 'PT1H ']) {
    it(`refuses ${JSON.stringify(bad)} with INVALID_DURATION naming it`, () => {
      const err = expectError(() => parseDuration(bad), 'INVALID_DURATION', JSON.stringify(bad));
      expect(err.message).toBe(`invalid ISO-8601 duration ${JSON.stringify(bad)}`);
      expect(isValidDuration(bad)).toBe(false);
    });
  }
  it('isValidDuration accepts what parseDuration accepts', () => {
    for (const ok of ['PT0S', 'PT72H', 'P2D', 'P1DT2H30M', 'P1W', 'P1M', 'P0D']) expect(isValidDuration(ok)).toBe(true);
  });
});

describe('addDuration', () => {
  it('America/Los_Angeles spring-forward: P1D keeps 09:00, PT24H lands on 10:00', () => {
    const from = at('2026-03-07T09:00:00-08:00');
    expect(show(addDuration(from, 'P1D', LA), LA)).toBe('2026-03-08T09:00:00.000-07:00');
    const exact = addDuration(from, 'PT24H', LA);
    expect(exact - from).toBe(86_400_000);
    expect(show(exact, LA)).toBe('2026-03-08T10:00:00.000-07:00');
  });
  it('America/Los_Angeles fall-back: P1D keeps 09:00, PT24H lands on 08:00', () => {
    const from = at('2026-10-31T09:00:00-07:00');
    expect(show(addDuration(from, 'P1D', LA), LA)).toBe('2026-11-01T09:00:00.000-08:00');
    const exact = addDuration(from, 'PT24H', LA);
    expect(exact - from).toBe(86_400_000);
    expect(show(exact, LA)).toBe('2026-11-01T08:00:00.000-08:00');
  });
  it('Europe/Berlin spring-forward (2026-03-29)', () => {
    const from = at('2026-03-28T09:00:00+01:00');
    expect(show(addDuration(from, 'P1D', BERLIN), BERLIN)).toBe('2026-03-29T09:00:00.000+02:00');
    expect(show(addDuration(from, 'PT24H', BERLIN), BERLIN)).toBe('2026-03-29T10:00:00.000+02:00');
  });
  it('Europe/Berlin fall-back (2026-10-25)', () => {
    const from = at('2026-10-24T09:00:00+02:00');
    expect(show(addDuration(from, 'P1D', BERLIN), BERLIN)).toBe('2026-10-25T09:00:00.000+01:00');
    expect(show(addDuration(from, 'PT24H', BERLIN), BERLIN)).toBe('2026-10-25T08:00:00.000+01:00');
  });
  it('Australia/Lord_Howe 30-minute spring-forward (2026-10-04)', () => {
    const from = at('2026-10-03T09:00:00+10:30');
    expect(show(addDuration(from, 'P1D', LORD_HOWE), LORD_HOWE)).toBe('2026-10-04T09:00:00.000+11:00');
    expect(show(addDuration(from, 'PT24H', LORD_HOWE), LORD_HOWE)).toBe('2026-10-04T09:30:00.000+11:00');
  });
  it('Australia/Lord_Howe 30-minute fall-back (2026-04-05)', () => {
    const from = at('2026-04-04T09:00:00+11:00');
    expect(show(addDuration(from, 'P1D', LORD_HOWE), LORD_HOWE)).toBe('2026-04-05T09:00:00.000+10:30');
    expect(show(addDuration(from, 'PT24H', LORD_HOWE), LORD_HOWE)).toBe('2026-04-05T08:30:00.000+10:30');
  });
  it('Asia/Kathmandu (+05:45) keeps the wall time', () => {
    const from = at('2026-01-10T09:00:00+05:45');
    expect(show(addDuration(from, 'P1D', KATHMANDU), KATHMANDU)).toBe('2026-01-11T09:00:00.000+05:45');
    expect(addDuration(from, 'P1D', KATHMANDU)).toBe(at('2026-01-11T03:15:00Z'));
    expect(show(addDuration(from, 'P1DT2H30M', KATHMANDU), KATHMANDU)).toBe('2026-01-11T11:30:00.000+05:45');
  });
  it('P1D landing in a gap moves forward by the gap (America/Los_Angeles 02:30 → 03:30 PDT)', () => {
    const from = at('2026-03-07T02:30:00-08:00');
    expect(show(addDuration(from, 'P1D', LA), LA)).toBe('2026-03-08T03:30:00.000-07:00');
  });
  it('P1D landing in the 30-minute Lord_Howe gap moves forward by 30 minutes', () => {
    const from = at('2026-10-03T02:15:00+10:30');
    expect(show(addDuration(from, 'P1D', LORD_HOWE), LORD_HOWE)).toBe('2026-10-04T02:45:00.000+11:00');
  });
  it('P1D landing on an ambiguous wall time takes the earlier instant', () => {
    const from = at('2026-10-31T01:30:00-07:00');
    expect(show(addDuration(from, 'P1D', LA), LA)).toBe('2026-11-01T01:30:00.000-07:00');
    // From the second 01:30 (PST) the next day is unambiguous.
    expect(show(addDuration(at('2026-11-01T01:30:00-08:00'), 'P1D', LA), LA)).toBe('2026-11-02T01:30:00.000-08:00');
  });
  it('adds calendar parts before the exact time part', () => {
    // 2026-03-07 09:00 PST + P1D = 2026-03-08 09:00 PDT, then + 1 h exactly.
    expect(show(addDuration(at('2026-03-07T09:00:00-08:00'), 'P1DT1H', LA), LA)).toBe('2026-03-08T10:00:00.000-07:00');
    // 2026-03-08 01:30 PST + PT1H is 03:30 PDT (exact), not 02:30.
    expect(show(addDuration(at('2026-03-08T01:30:00-08:00'), 'PT1H', LA), LA)).toBe('2026-03-08T03:30:00.000-07:00');
  });
  it('P1W is seven local days', () => {
    expect(show(addDuration(at('2026-03-04T09:00:00-08:00'), 'P1W', LA), LA)).toBe('2026-03-11T09:00:00.000-07:00');
  });
  it('P1M and P1Y clamp the day to the end of the month', () => {
    expect(show(addDuration(at('2026-01-31T09:00:00-08:00'), 'P1M', LA), LA)).toBe('2026-02-28T09:00:00.000-08:00');
    expect(show(addDuration(at('2028-01-31T09:00:00-08:00'), 'P1M', LA), LA)).toBe('2028-02-29T09:00:00.000-08:00');
    expect(show(addDuration(at('2028-02-29T09:00:00-08:00'), 'P1Y', LA), LA)).toBe('2029-02-28T09:00:00.000-08:00');
    expect(show(addDuration(at('2026-02-15T09:00:00-08:00'), 'P1M', LA), LA)).toBe('2026-03-15T09:00:00.000-07:00');
    expect(show(addDuration(at('2026-10-31T12:00:00-07:00'), 'P1Y2M', LA), LA)).toBe('2027-12-31T12:00:00.000-08:00');
  });
  it('accepts a parsed Duration', () => {
    const from = at('2026-03-07T09:00:00-08:00');
    expect(addDuration(from, parseDuration('P1D'), LA)).toBe(addDuration(from, 'P1D', LA));
  });
  it('PT0S returns the same instant', () => {
    const from = at('2026-03-08T02:00:00-07:00') + 123;
    expect(addDuration(from, 'PT0S', LA)).toBe(from);
  });
});

describe('localParts', () => {
  it('reads the local date, weekday and minute of day', () => {
    expect(localParts(at('2026-03-08T17:00:00Z'), LA)).toEqual({
      year: 2026, month: 3, day: 8, weekday: 7, minuteOfDay: 600, date: '2026-03-08',
    });
    expect(localParts(at('2026-12-31T23:59:59Z'), 'Asia/Kathmandu')).toEqual({
      year: 2027, month: 1, day: 1, weekday: 5, minuteOfDay: 5 * 60 + 44, date: '2027-01-01',
    });
    expect(localParts(at('1969-12-31T23:00:00Z'), 'UTC')).toMatchObject({ year: 1969, month: 12, day: 31, weekday: 3 });
  });
});

describe('parseLocalTime', () => {
  it('parses HH:mm to minutes of day', () => {
    expect(parseLocalTime('00:00')).toBe(0);
    expect(parseLocalTime('07:30')).toBe(450);
    expect(parseLocalTime('23:59')).toBe(1439);
  });
  for (const bad of ['25:00', '24:00', '7:30', '07:60', '07:30:00', '', 'noon']) {
    it(`refuses ${JSON.stringify(bad)} with INVALID_TIME naming it`, () => {
      expectError(() => parseLocalTime(bad), 'INVALID_TIME', JSON.stringify(bad));
    });
  }
});

describe('nextLocalTime', () => {
  it('finds the next 10:00 today or tomorrow', () => {
    expect(show(nextLocalTime(at('2026-06-03T08:00:00-04:00'), NY, 600), NY)).toBe('2026-06-03T10:00:00.000-04:00');
    expect(show(nextLocalTime(at('2026-06-03T11:00:00-04:00'), NY, 600), NY)).toBe('2026-06-04T10:00:00.000-04:00');
  });
  it('an instant exactly at the time is kept; one millisecond later waits a day', () => {
    const ten = at('2026-06-03T10:00:00-04:00');
    expect(nextLocalTime(ten, NY, 600)).toBe(ten);
    expect(show(nextLocalTime(ten + 1, NY, 600), NY)).toBe('2026-06-04T10:00:00.000-04:00');
  });
  it('a wall time skipped by a gap gives the first instant after the gap', () => {
    expect(show(nextLocalTime(at('2026-03-08T00:00:00-08:00'), LA, 150), LA)).toBe('2026-03-08T03:00:00.000-07:00');
    expect(show(nextLocalTime(at('2026-10-04T00:00:00+10:30'), LORD_HOWE, 135), LORD_HOWE)).toBe('2026-10-04T02:30:00.000+11:00');
  });
  it('a wall time repeated by a fall-back: the first occurrence at or after the instant', () => {
    expect(show(nextLocalTime(at('2026-11-01T00:00:00-07:00'), LA, 90), LA)).toBe('2026-11-01T01:30:00.000-07:00');
    expect(show(nextLocalTime(at('2026-11-01T01:40:00-07:00'), LA, 80), LA)).toBe('2026-11-01T01:20:00.000-08:00');
  });
  it('refuses a minute outside 0..1439', () => {
    expectError(() => nextLocalTime(0, NY, 1440), 'INVALID_TIME', '1440');
  });
});

describe('applyQuietHours', () => {
  it('inside the window before midnight → 07:30 the next day', () => {
    expect(show(applyQuietHours(at('2026-06-03T22:15:00-04:00'), NY, NIGHT), NY)).toBe('2026-06-04T07:30:00.000-04:00');
  });
  it('inside the window after midnight → 07:30 the same day', () => {
    expect(show(applyQuietHours(at('2026-06-04T03:00:00-04:00'), NY, NIGHT), NY)).toBe('2026-06-04T07:30:00.000-04:00');
  });
  it('outside the window → the same instant', () => {
    const noon = at('2026-06-04T12:00:00-04:00') + 7;
    expect(applyQuietHours(noon, NY, NIGHT)).toBe(noon);
    expect(applyQuietHours(noon, NY, undefined)).toBe(noon);
    expect(applyQuietHours(noon, NY, [])).toBe(noon);
  });
  it('exactly 21:00 is quiet; exactly 07:30 is free; 20:59:59.999 is free', () => {
    expect(show(applyQuietHours(at('2026-06-03T21:00:00-04:00'), NY, NIGHT), NY)).toBe('2026-06-04T07:30:00.000-04:00');
    const end = at('2026-06-04T07:30:00-04:00');
    expect(applyQuietHours(end, NY, NIGHT)).toBe(end);
    expect(applyQuietHours(end - 1, NY, NIGHT)).toBe(end);
    const justBefore = at('2026-06-03T21:00:00-04:00') - 1;
    expect(applyQuietHours(justBefore, NY, NIGHT)).toBe(justBefore);
  });
  it('window 00:00–08:00', () => {
    const q = { start: '00:00', end: '08:00' };
    expect(show(applyQuietHours(at('2026-06-04T00:00:00-04:00'), NY, q), NY)).toBe('2026-06-04T08:00:00.000-04:00');
    expect(show(applyQuietHours(at('2026-06-04T05:59:00-04:00'), NY, q), NY)).toBe('2026-06-04T08:00:00.000-04:00');
    const late = at('2026-06-03T23:59:59-04:00');
    expect(applyQuietHours(late, NY, q)).toBe(late);
  });
  it('quiet Sunday: Saturday 22:00 → Monday 07:30', () => {
    const q: QuietHours = { ...NIGHT, days: ['sun'] };
    expect(show(applyQuietHours(at('2026-06-06T22:00:00-04:00'), NY, q), NY)).toBe('2026-06-08T07:30:00.000-04:00');
    expect(show(applyQuietHours(at('2026-06-07T12:00:00-04:00'), NY, q), NY)).toBe('2026-06-08T07:30:00.000-04:00');
  });
  it('a quiet day with an empty window (start === end) frees at midnight', () => {
    const q: QuietHours = { start: '09:00', end: '09:00', days: ['sun'] };
    expect(show(applyQuietHours(at('2026-06-07T12:00:00-04:00'), NY, q), NY)).toBe('2026-06-08T00:00:00.000-04:00');
    const mon = at('2026-06-08T09:00:00-04:00');
    expect(applyQuietHours(mon, NY, q)).toBe(mon);
  });
  it('holiday 2026-12-25 is skipped', () => {
    const q: QuietHours = { ...NIGHT, days: ['sun'], dates: ['2026-12-25'] };
    expect(show(applyQuietHours(at('2026-12-24T22:00:00-05:00'), NY, q), NY)).toBe('2026-12-26T07:30:00.000-05:00');
    expect(show(applyQuietHours(at('2026-12-25T12:00:00-05:00'), NY, q), NY)).toBe('2026-12-26T07:30:00.000-05:00');
    // Holiday on Saturday 2027-12-25 followed by a quiet Sunday → Monday.
    const q2: QuietHours = { ...NIGHT, days: ['sun'], dates: ['2027-12-25'] };
    expect(show(applyQuietHours(at('2027-12-24T21:30:00-05:00'), NY, q2), NY)).toBe('2027-12-27T07:30:00.000-05:00');
  });
  it('holidays are local dates of the zone', () => {
    const q: QuietHours = { start: '00:00', end: '00:00', dates: ['2026-12-25'] };
    const instant = at('2026-12-25T03:00:00Z'); // still 2026-12-24 in Los Angeles, already the 25th in Tokyo
    expect(applyQuietHours(instant, LA, q)).toBe(instant);
    expect(show(applyQuietHours(instant, 'Asia/Tokyo', q), 'Asia/Tokyo')).toBe('2026-12-26T00:00:00.000+09:00');
  });
  it('a window ending inside a DST gap ends at the first instant after the gap (America/Los_Angeles)', () => {
    const q = { start: '22:00', end: '02:30' };
    const r = applyQuietHours(at('2026-03-07T23:00:00-08:00'), LA, q);
    expect(show(r, LA)).toBe('2026-03-08T03:00:00.000-07:00');
    expect(r).toBe(at('2026-03-08T10:00:00Z'));
  });
  it('a window ending inside a DST gap (Europe/Berlin, Australia/Lord_Howe)', () => {
    expect(show(applyQuietHours(at('2026-03-29T01:00:00+01:00'), BERLIN, { start: '22:00', end: '02:30' }), BERLIN))
      .toBe('2026-03-29T03:00:00.000+02:00');
    expect(show(applyQuietHours(at('2026-10-04T01:00:00+10:30'), LORD_HOWE, { start: '22:00', end: '02:15' }), LORD_HOWE))
      .toBe('2026-10-04T02:30:00.000+11:00');
  });
  it('a window ending at 07:30 on a spring-forward day is unaffected by the 02:00 gap', () => {
    expect(show(applyQuietHours(at('2026-03-07T23:00:00-08:00'), LA, NIGHT), LA)).toBe('2026-03-08T07:30:00.000-07:00');
  });
  it('a fall-back that repeats free wall time frees the send during the repeated hour', () => {
    // Quiet 01:30–01:20 (wraps): at 01:40 PDT the clock goes back at 02:00 PDT to 01:00 PST,
    // and 01:20 PST is free; the next-day 01:20 would not be the earliest.
    const q = { start: '01:30', end: '01:20' };
    expect(show(applyQuietHours(at('2026-11-01T01:40:00-07:00'), LA, q), LA)).toBe('2026-11-01T01:20:00.000-08:00');
    // A window ending at 01:30 ends at the first 01:30 (PDT).
    expect(show(applyQuietHours(at('2026-11-01T00:30:00-07:00'), LA, { start: '00:00', end: '01:30' }), LA))
      .toBe('2026-11-01T01:30:00.000-07:00');
  });
  it('several windows apply together: plan 21:00–07:30 plus a preset quiet 21:00–08:00 → 08:00', () => {
    const preset = { start: '21:00', end: '08:00' };
    expect(show(applyQuietHours(at('2026-06-03T23:00:00-04:00'), NY, [NIGHT, preset]), NY)).toBe('2026-06-04T08:00:00.000-04:00');
    expect(show(applyQuietHours(at('2026-06-04T07:45:00-04:00'), NY, [NIGHT, preset]), NY)).toBe('2026-06-04T08:00:00.000-04:00');
  });
  it('several windows chain to a fixed point', () => {
    const morning = { start: '07:00', end: '09:00' };
    const lunch = { start: '08:55', end: '10:00', dates: ['2026-06-05'] };
    expect(show(applyQuietHours(at('2026-06-03T22:00:00-04:00'), NY, [NIGHT, morning]), NY)).toBe('2026-06-04T09:00:00.000-04:00');
    expect(show(applyQuietHours(at('2026-06-03T22:00:00-04:00'), NY, [NIGHT, morning, lunch]), NY)).toBe('2026-06-04T10:00:00.000-04:00');
    // 2026-06-05 is a quiet date of `lunch`: the whole day, then 07:30 → 09:00 → 10:00 on the 6th.
    expect(show(applyQuietHours(at('2026-06-04T22:00:00-04:00'), NY, [NIGHT, morning, lunch]), NY)).toBe('2026-06-06T10:00:00.000-04:00');
  });
  it('accepts compiled quiet hours and gives the same answers', () => {
    const raw: QuietHours = { ...NIGHT, days: ['sun'], dates: ['2026-12-25'] };
    const compiled = compileQuietHours(raw);
    for (const iso of ['2026-06-06T22:00:00-04:00', '2026-12-24T22:00:00-05:00', '2026-06-04T12:00:00-04:00']) {
      expect(applyQuietHours(at(iso), NY, compiled)).toBe(applyQuietHours(at(iso), NY, raw));
    }
    const handMade = { startMinute: 1260, endMinute: 450, days: new Set([7]), dates: new Set(['2026-12-25']) };
    expect(applyQuietHours(at('2026-06-06T22:00:00-04:00'), NY, handMade)).toBe(at('2026-06-08T07:30:00-04:00'));
  });
  it('throws QUIET_HOURS_COVER_ALL when no instant is free', () => {
    const weekdays = { start: '00:00', end: '00:00', days: ['mon', 'tue', 'wed', 'thu'] } as QuietHours;
    const weekend = { start: '00:00', end: '00:00', days: ['fri', 'sat', 'sun'] } as QuietHours;
    expectError(() => applyQuietHours(at('2026-06-04T12:00:00-04:00'), NY, [weekdays, weekend]), 'QUIET_HOURS_COVER_ALL', 'quiet hours');
    const day = { start: '08:00', end: '21:00' };
    const night = { start: '21:00', end: '08:00' };
    expectError(() => applyQuietHours(at('2026-06-04T12:00:00-04:00'), NY, [day, night]), 'QUIET_HOURS_COVER_ALL', 'quiet hours');
  });
});

describe('compileQuietHours and quietHoursCoverWholeDay', () => {
  it('compiles times, weekdays and dates', () => {
    const c = compileQuietHours({ start: '21:00', end: '07:30', days: ['mon', 'sun'], dates: ['2026-12-25'] });
    expect(c.startMinute).toBe(1260);
    expect(c.endMinute).toBe(450);
    expect([...c.days].sort()).toEqual([1, 7]);
    expect([...c.dates]).toEqual(['2026-12-25']);
  });
  it('refuses bad times, weekdays and dates with INVALID_TIME naming the value', () => {
    expectError(() => compileQuietHours({ start: '25:00', end: '07:30' }), 'INVALID_TIME', '"25:00"');
    expectError(() => compileQuietHours({ start: '21:00', end: '7:30' }), 'INVALID_TIME', '"7:30"');
    expectError(() => compileQuietHours({ start: '21:00', end: '07:30', days: ['funday' as 'mon'] }), 'INVALID_TIME', '"funday"');
    expectError(() => compileQuietHours({ start: '21:00', end: '07:30', dates: ['2026-02-30'] }), 'INVALID_TIME', '"2026-02-30"');
  });
  it('all seven quiet weekdays cover everything', () => {
    const all: QuietHours = { start: '21:00', end: '07:30', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] };
    expect(quietHoursCoverWholeDay(all)).toBe(true);
    expectError(() => compileQuietHours(all), 'QUIET_HOURS_COVER_ALL', 'quiet hours');
    expectError(() => applyQuietHours(0, NY, all), 'QUIET_HOURS_COVER_ALL', 'quiet hours');
  });
  it('no daily window covers a whole day', () => {
    expect(quietHoursCoverWholeDay({ start: '00:00', end: '23:59' })).toBe(false);
    expect(quietHoursCoverWholeDay({ start: '00:01', end: '00:00' })).toBe(false);
    expect(quietHoursCoverWholeDay({ start: '12:00', end: '12:00' })).toBe(false);
    expect(quietHoursCoverWholeDay({ start: '21:00', end: '07:30', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat'] })).toBe(false);
    // 23:59 is the one free minute of 00:00–23:59.
    const q = { start: '00:00', end: '23:59' };
    expect(show(applyQuietHours(at('2026-06-04T00:00:00-04:00'), NY, q), NY)).toBe('2026-06-04T23:59:00.000-04:00');
  });
});

describe('isQuiet', () => {
  it('matches the window, weekdays and dates', () => {
    const q: QuietHours = { ...NIGHT, days: ['sun'], dates: ['2026-12-25'] };
    expect(isQuiet(at('2026-06-04T01:00:00-04:00'), NY, q)).toBe(true);
    expect(isQuiet(at('2026-06-04T07:30:00-04:00'), NY, q)).toBe(false);
    expect(isQuiet(at('2026-06-04T21:00:00-04:00'), NY, q)).toBe(true);
    expect(isQuiet(at('2026-06-07T12:00:00-04:00'), NY, q)).toBe(true);
    expect(isQuiet(at('2026-12-25T12:00:00-05:00'), NY, q)).toBe(true);
    expect(isQuiet(at('2026-12-25T12:00:00-05:00'), NY, [])).toBe(false);
  });
});

describe('computeSendTime', () => {
  it('delay then the next local 10:00', () => {
    expect(show(computeSendTime({ from: at('2026-06-03T18:00:00-04:00'), delay: 'PT1H', at: '10:00', zone: NY }), NY))
      .toBe('2026-06-04T10:00:00.000-04:00');
    expect(show(computeSendTime({ from: at('2026-06-03T09:00:00-04:00'), delay: 'P1D', at: '10:00', zone: NY }), NY))
      .toBe('2026-06-04T10:00:00.000-04:00');
    expect(show(computeSendTime({ from: at('2026-06-03T11:00:00-04:00'), delay: 'P1D', at: '10:00', zone: NY }), NY))
      .toBe('2026-06-05T10:00:00.000-04:00');
  });
  it('then quiet hours', () => {
    const input = { from: at('2026-06-03T12:00:00-04:00'), delay: 'PT1H', at: '22:00', zone: NY, quietHours: NIGHT };
    expect(show(computeSendTime(input), NY)).toBe('2026-06-04T07:30:00.000-04:00');
    const explained = explainSendTime(input);
    expect(show(explained.requested, NY)).toBe('2026-06-03T22:00:00.000-04:00');
    expect(show(explained.at, NY)).toBe('2026-06-04T07:30:00.000-04:00');
    expect(explained.movedByQuietHours).toBe(true);
  });
  it('quiet Sunday after a delay', () => {
    const q: QuietHours = { ...NIGHT, days: ['sun'] };
    expect(show(computeSendTime({ from: at('2026-06-06T20:00:00-04:00'), delay: 'PT2H', zone: NY, quietHours: q }), NY))
      .toBe('2026-06-08T07:30:00.000-04:00');
  });
  it('without delay, at or quiet hours the send is immediate', () => {
    const from = at('2026-06-03T23:00:00-04:00') + 5;
    expect(computeSendTime({ from, zone: NY })).toBe(from);
    expect(explainSendTime({ from, zone: NY, delay: 'PT0S' })).toEqual({ at: from, requested: from, movedByQuietHours: false });
  });
  it('the zone passed in decides (a contact zone different from the plan zone)', () => {
    const from = at('2026-06-03T16:00:00Z');
    const input = { from, delay: 'PT1H', at: '10:00', quietHours: NIGHT };
    expect(show(computeSendTime({ ...input, zone: LA }), LA)).toBe('2026-06-03T10:00:00.000-07:00');
    expect(show(computeSendTime({ ...input, zone: 'Asia/Tokyo' }), 'Asia/Tokyo')).toBe('2026-06-04T10:00:00.000+09:00');
    expect(show(computeSendTime({ ...input, zone: BERLIN }), BERLIN)).toBe('2026-06-04T10:00:00.000+02:00');
    expect(show(computeSendTime({ ...input, zone: KATHMANDU }), KATHMANDU)).toBe('2026-06-04T10:00:00.000+05:45');
  });
  it('at inside a DST gap, then quiet hours, across a spring-forward night', () => {
    const input = { from: at('2026-03-07T20:00:00-08:00'), delay: 'PT1H', at: '02:30', zone: LA };
    expect(show(computeSendTime(input), LA)).toBe('2026-03-08T03:00:00.000-07:00');
    expect(show(computeSendTime({ ...input, quietHours: NIGHT }), LA)).toBe('2026-03-08T07:30:00.000-07:00');
  });
  it('several quiet-hour sets in an array', () => {
    const input = { from: at('2026-06-03T23:00:00-04:00'), zone: NY, quietHours: [NIGHT, { start: '21:00', end: '08:00' }] };
    expect(show(computeSendTime(input), NY)).toBe('2026-06-04T08:00:00.000-04:00');
  });
});

describe('errors', () => {
  it('a bad zone throws INVALID_TIMEZONE naming it', () => {
    expectError(() => computeSendTime({ from: 0, zone: 'Mars/Olympus' }), 'INVALID_TIMEZONE', '"Mars/Olympus"');
    expectError(() => addDuration(0, 'P1D', 'Not/AZone'), 'INVALID_TIMEZONE', '"Not/AZone"');
    expectError(() => applyQuietHours(0, 'EST+5', NIGHT), 'INVALID_TIMEZONE', '"EST+5"');
    expectError(() => localParts(0, '+05:00'), 'INVALID_TIMEZONE', '"+05:00"');
  });
  it('isValidTimeZone accepts IANA names only', () => {
    for (const ok of [LA, 'UTC', 'Etc/GMT+12', 'Asia/Kathmandu', 'America/Argentina/Buenos_Aires', 'America/Port-au-Prince']) {
      expect(isValidTimeZone(ok)).toBe(true);
    }
    for (const bad of ['', 'Mars/Olympus', '+05:00', 'UTC+5', 'America/', '../etc']) expect(isValidTimeZone(bad)).toBe(false);
  });
  it("'25:00' throws INVALID_TIME", () => {
    expectError(() => parseLocalTime('25:00'), 'INVALID_TIME', '"25:00"');
    expectError(() => computeSendTime({ from: 0, at: '25:00', zone: NY }), 'INVALID_TIME', '"25:00"');
  });
  it('a bad delay throws INVALID_DURATION naming it', () => {
    expectError(() => computeSendTime({ from: 0, delay: 'P1X', zone: NY }), 'INVALID_DURATION', '"P1X"');
  });
  it('a non-finite instant throws INVALID_TIME', () => {
    expectError(() => computeSendTime({ from: Number.NaN, zone: NY }), 'INVALID_TIME', 'NaN');
    expectError(() => addDuration(Number.POSITIVE_INFINITY, 'P1D', NY), 'INVALID_TIME', 'Infinity');
  });
});
