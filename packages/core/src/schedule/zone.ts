/**
 * Time zone knowledge for `schedule/`: which names are IANA zones, the UTC offset of a zone at
 * an instant (from luxon, cached per zone), and conversions between instants and local
 * wall-clock time done with integer arithmetic.
 *
 * @packageDocumentation
 */
import { IANAZone } from 'luxon';
import { DriplineError } from '../errors.js';
import {
  DAY_MS,
  HOUR_MS,
  MINUTE_MS,
  civilFromDays,
  formatIsoDate,
  weekdayOfDay,
  type CivilDate,
} from './calendar.js';

/** Largest absolute epoch-millisecond value a JavaScript `Date` can represent. */
const MAX_INSTANT = 8.64e15;
/** A zone's hour-bucket cache is dropped when it grows past this many hours (~11 years). */
const MAX_CACHED_HOURS = 100_000;
/** At most this many zone names are kept (valid names only; case variants count separately). */
const MAX_CACHED_ZONES = 10_000;

/** An offset change inside one cached hour: `before` until `at` (exclusive), then `after`. */
interface MixedHour {
  readonly before: number;
  readonly after: number;
  readonly at: number;
}

/**
 * Per-zone cached state. Offsets are in minutes (east of UTC positive), as luxon reports them.
 *
 * @internal
 */
export class ZoneState {
  /** The IANA name as given. */
  readonly name: string;
  /** luxon's zone object (only touched on cache misses). */
  readonly iana: IANAZone;
  /** Offset of a fixed-offset zone (UTC, Etc/GMT+12...), NaN for zones with transitions. */
  readonly fixedOffset: number;
  /** Hour bucket (`Math.floor(ms / 3_600_000)`) → offset, or NaN if the offset changes inside it. */
  readonly hours = new Map<number, number>();
  /** Hour buckets that contain a transition, with its exact instant. */
  readonly mixed = new Map<number, MixedHour>();
  /** One-entry memo of the last non-mixed bucket looked up. */
  lastBucket = NaN;
  lastOffset = NaN;
  /** The last transition found by {@link findTransition} (NaN if none yet). */
  lastTransition = NaN;

  constructor(name: string, iana: IANAZone, fixedOffset: number) {
    this.name = name;
    this.iana = iana;
    this.fixedOffset = fixedOffset;
  }
}

const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/;
const FIXED_ZONE = /^(?:Etc\/)?(?:UTC|UCT|GMT|GMT0|Zulu|Universal|Greenwich|GMT[+-]\d{1,2})$/;

const zones = new Map<string, ZoneState>();

function createZone(name: string): ZoneState | undefined {
  if (typeof name !== 'string' || !ZONE_NAME.test(name) || !IANAZone.isValidZone(name)) return undefined;
  const iana = IANAZone.create(name);
  const fixed = FIXED_ZONE.test(name) ? iana.offset(0) : NaN;
  const state = new ZoneState(name, iana, fixed);
  if (zones.size >= MAX_CACHED_ZONES) zones.clear();
  zones.set(name, state);
  return state;
}

/**
 * The cached state of a zone; throws `INVALID_TIMEZONE` naming the value if it is not an IANA
 * zone name.
 *
 * @internal
 */
export function getZone(name: string): ZoneState {
  const z = zones.get(name);
  if (z !== undefined) return z;
  const created = createZone(name);
  if (created === undefined) {
    throw new DriplineError('INVALID_TIMEZONE', `invalid IANA time zone ${JSON.stringify(name)}`, {
      details: { zone: typeof name === 'string' ? name : String(name) },
    });
  }
  return created;
}

/**
 * Whether `zone` is an IANA time zone name that this runtime knows (`America/Los_Angeles`,
 * `Asia/Kathmandu`, `UTC`, `Etc/GMT+12`). Offsets such as `+05:00` and abbreviations that are
 * not zone names are refused. Results for valid names are cached.
 *
 * @example
 * ```ts
 * isValidTimeZone('Europe/Berlin'); // true
 * isValidTimeZone('Mars/Olympus');  // false
 * ```
 */
export function isValidTimeZone(zone: string): boolean {
  return zones.has(zone) || createZone(zone) !== undefined;
}

function rawOffset(z: ZoneState, ms: number): number {
  if (!(Math.abs(ms) <= MAX_INSTANT)) {
    throw new DriplineError('INVALID_TIME', `instant ${String(ms)} is out of range (expected epoch milliseconds)`, {
      details: { instant: ms },
    });
  }
  return z.iana.offset(ms);
}

function fillBucket(z: ZoneState, bucket: number): number {
  if (z.hours.size >= MAX_CACHED_HOURS) {
    z.hours.clear();
    z.mixed.clear();
  }
  const start = bucket * HOUR_MS;
  const end = start + HOUR_MS - 1;
  const a = rawOffset(z, start);
  const e = rawOffset(z, end);
  if (a === e) {
    z.hours.set(bucket, a);
    return a;
  }
  // One transition inside this hour: find its first millisecond.
  let lo = start;
  let hi = end;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (rawOffset(z, mid) === a) lo = mid;
    else hi = mid;
  }
  z.mixed.set(bucket, { before: a, after: e, at: hi });
  z.hours.set(bucket, NaN);
  return NaN;
}

/**
 * UTC offset of `z` at instant `ms`, in minutes. After warm-up this is one `Map` lookup.
 *
 * @internal
 */
export function offsetOf(z: ZoneState, ms: number): number {
  const fixed = z.fixedOffset;
  if (fixed === fixed) {
    if (!(Math.abs(ms) <= MAX_INSTANT)) rawOffset(z, ms);
    return fixed;
  }
  const bucket = Math.floor(ms / HOUR_MS);
  if (bucket === z.lastBucket) return z.lastOffset;
  let o = z.hours.get(bucket);
  if (o === undefined) o = fillBucket(z, bucket);
  if (o !== o) {
    const m = z.mixed.get(bucket);
    if (m === undefined) return rawOffset(z, ms);
    return ms < m.at ? m.before : m.after;
  }
  z.lastBucket = bucket;
  z.lastOffset = o;
  return o;
}

/**
 * The first instant in `(a, b]` whose offset differs from `offA` (the offset at `a`). The
 * caller knows the offset at `b` differs; the zone is assumed to change offset at most once in
 * between (true of tzdb for any span shorter than a few weeks).
 *
 * @internal
 */
export function findTransition(z: ZoneState, a: number, b: number, offA: number): number {
  const known = z.lastTransition;
  if (known > a && known <= b && offsetOf(z, known - 1) === offA && offsetOf(z, known) !== offA) return known;
  let lo = a;
  let hi = b;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (offsetOf(z, mid) === offA) lo = mid;
    else hi = mid;
  }
  z.lastTransition = hi;
  return hi;
}

/** Local wall-clock milliseconds ("as if UTC") of an instant in a zone. @internal */
export function toLocalMs(z: ZoneState, instant: number): number {
  return instant + offsetOf(z, instant) * MINUTE_MS;
}

/**
 * How {@link advanceToLocal} resolves a wall time that a DST gap skips: `GAP_SHIFT` gives the
 * same wall time shifted forward by the gap's length (02:30 → 03:30), as luxon does;
 * `GAP_TRANSITION` gives the first instant after the gap (02:30 → 03:00).
 *
 * @internal
 */
export type GapMode = 0 | 1;
/** See {@link GapMode}. @internal */
export const GAP_SHIFT: GapMode = 0;
/** See {@link GapMode}. @internal */
export const GAP_TRANSITION: GapMode = 1;

/**
 * The earliest instant `u >= t` whose local wall-clock time is `local` (local ms "as if UTC"),
 * stepping over offset transitions. The caller guarantees `local` is not before the local time
 * of `t`. If `local` is skipped by a gap, `mode` decides the result. In an overlap the earlier
 * of the two instants (at or after `t`) is returned.
 *
 * @internal
 */
export function advanceToLocal(z: ZoneState, t: number, local: number, mode: GapMode): number {
  for (let i = 0; i < 64; i++) {
    const off = offsetOf(z, t);
    const lt = t + off * MINUTE_MS;
    if (lt >= local) return t;
    const u = t + (local - lt);
    if (offsetOf(z, u) === off) return u;
    const tr = findTransition(z, t, u, off);
    const lTr = tr + offsetOf(z, tr) * MINUTE_MS;
    if (lTr === local) return tr;
    if (lTr > local) return mode === GAP_SHIFT ? u : tr;
    t = tr;
  }
  throw new DriplineError('INVALID_TIME', `could not resolve a local time in ${JSON.stringify(z.name)}`, {
    details: { zone: z.name, instant: t },
  });
}

/** Throws `INVALID_TIME` unless `instant` is a finite number. @internal */
export function checkInstant(instant: number, what = 'instant'): void {
  if (typeof instant !== 'number' || !(Math.abs(instant) <= MAX_INSTANT)) {
    throw new DriplineError('INVALID_TIME', `invalid ${what} ${String(instant)} (expected epoch milliseconds)`, {
      details: { instant: typeof instant === 'number' ? instant : String(instant) },
    });
  }
}

/** Local calendar fields of an instant, as returned by {@link localParts}. */
export interface LocalParts {
  /** Local year. */
  year: number;
  /** Local month, 1..12. */
  month: number;
  /** Local day of the month, 1..31. */
  day: number;
  /** ISO weekday as luxon numbers it: 1 = Monday .. 7 = Sunday. */
  weekday: number;
  /** Minutes since local midnight, 0..1439 (seconds are dropped). */
  minuteOfDay: number;
  /** The local date as `YYYY-MM-DD`. */
  date: string;
}

const scratch: CivilDate = { year: 0, month: 0, day: 0 };

/**
 * The local calendar date, weekday and minute of day of `instant` in `zone`, computed with
 * cached offsets and integer arithmetic (no luxon `DateTime`).
 *
 * @example
 * ```ts
 * localParts(Date.UTC(2026, 2, 8, 17, 0), 'America/Los_Angeles');
 * // { year: 2026, month: 3, day: 8, weekday: 7, minuteOfDay: 600, date: '2026-03-08' } (10:00 PDT, a Sunday)
 * ```
 */
export function localParts(instant: number, zone: string): LocalParts {
  checkInstant(instant);
  const z = getZone(zone);
  const local = toLocalMs(z, instant);
  const dayNumber = Math.floor(local / DAY_MS);
  const minuteOfDay = Math.floor((local - dayNumber * DAY_MS) / MINUTE_MS);
  const c = civilFromDays(dayNumber, scratch);
  return {
    year: c.year,
    month: c.month,
    day: c.day,
    weekday: weekdayOfDay(dayNumber),
    minuteOfDay,
    date: formatIsoDate(c.year, c.month, c.day),
  };
}
