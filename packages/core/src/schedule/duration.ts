/**
 * ISO-8601 durations (`PT72H`, `P2D`, `P1DT2H30M`, `P1W`, `P1M`) as plans write them.
 *
 * @packageDocumentation
 */
import { Duration as LuxonDuration } from 'luxon';
import { DriplineError } from '../errors.js';

/**
 * A parsed, non-negative ISO-8601 duration. Calendar parts (years, months, weeks, days) are
 * applied in local wall-clock time by `addDuration`; the time part (hours, minutes, seconds) is
 * an exact number of milliseconds. Objects returned by {@link parseDuration} are frozen and
 * shared: do not mutate them.
 */
export interface Duration {
  /** The ISO-8601 text it was parsed from. */
  iso: string;
  /** Whole years (`Y`). */
  years: number;
  /** Whole months (`M` before `T`). */
  months: number;
  /** Whole weeks (`W`). */
  weeks: number;
  /** Whole days (`D`). */
  days: number;
  /** Hours (`H`), possibly fractional. */
  hours: number;
  /** Minutes (`M` after `T`), possibly fractional. */
  minutes: number;
  /** Seconds (`S`), possibly fractional. */
  seconds: number;
  /** Exact milliseconds of the time part (h/m/s), rounded to the millisecond. */
  timeMs: number;
  /** `true` if it has any Y/M/W/D part (even a zero one such as `P0D`). */
  calendar: boolean;
}

const MAX_CACHED = 10_000;
const cache = new Map<string, Duration>();
/** Duration objects known to be well-formed (parsed here or checked once). */
const trusted = new WeakSet<object>();

/**
 * Luxon parses the ISO-8601 text; dripline then refuses what a plan must not say: signs
 * (`-P1D`, `PT-1H`), fractional calendar parts (`P1.5D`), an empty `P` / `PT` or a trailing
 * `T` (which luxon tolerates), and numbers that are not safe integers of milliseconds.
 */
function parse(iso: string): Duration | undefined {
  if (typeof iso !== 'string' || /^P(T)?$|T$/.test(iso)) return undefined;
  const lx = LuxonDuration.fromISO(iso);
  if (!lx.isValid) return undefined;
  const o = lx.toObject();
  const years = o.years ?? 0;
  const months = o.months ?? 0;
  const weeks = o.weeks ?? 0;
  const days = o.days ?? 0;
  const hours = o.hours ?? 0;
  const minutes = o.minutes ?? 0;
  const seconds = (o.seconds ?? 0) + (o.milliseconds ?? 0) / 1000;
  const parts = [years, months, weeks, days, hours, minutes, seconds];
  if (parts.some((n) => !Number.isFinite(n) || n < 0 || n > 999_999_999)) return undefined;
  if (![years, months, weeks, days].every(Number.isInteger)) return undefined;
  const d: Duration = {
    iso,
    years,
    months,
    weeks,
    days,
    hours,
    minutes,
    seconds,
    timeMs: Math.round(hours * 3_600_000 + minutes * 60_000 + seconds * 1000),
    calendar: o.years !== undefined || o.months !== undefined || o.weeks !== undefined || o.days !== undefined,
  };
  return Object.freeze(d);
}

/**
 * Parses a non-negative ISO-8601 duration such as `PT72H`, `P2D`, `P1DT2H30M`, `P1W` or `P1M`.
 * Years, months, weeks and days must be whole numbers; hours, minutes and seconds may have a
 * fraction (`PT1.5H`, `PT0,25S`). Signs, lowercase letters, an empty `P`/`PT` and a trailing `T`
 * are refused. Results are cached per string (plans reuse the same few strings) and frozen.
 *
 * @throws DriplineError `INVALID_DURATION` naming the value.
 * @example
 * ```ts
 * parseDuration('P1DT2H30M'); // { days: 1, hours: 2, minutes: 30, timeMs: 9_000_000, calendar: true, ... }
 * parseDuration('P1X');       // throws DriplineError INVALID_DURATION: invalid ISO-8601 duration "P1X"
 * ```
 */
export function parseDuration(iso: string): Duration {
  const hit = cache.get(iso);
  if (hit !== undefined) return hit;
  const d = parse(iso);
  if (d === undefined) {
    throw new DriplineError(
      'INVALID_DURATION',
      `invalid ISO-8601 duration ${typeof iso === 'string' ? JSON.stringify(iso) : String(iso)}`,
      { details: { value: typeof iso === 'string' ? iso : String(iso) } },
    );
  }
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(iso, d);
  trusted.add(d);
  return d;
}

/**
 * Whether {@link parseDuration} accepts `iso`.
 *
 * @example
 * ```ts
 * isValidDuration('PT72H'); // true
 * isValidDuration('-P1D');  // false
 * ```
 */
export function isValidDuration(iso: string): boolean {
  return cache.has(iso) || parse(iso) !== undefined;
}

function isCount(n: unknown): boolean {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 999_999_999;
}

/**
 * A {@link Duration} from a string (parsed, cached) or a `Duration` object (checked once: whole
 * non-negative calendar parts and a finite non-negative `timeMs`).
 *
 * @internal
 */
export function resolveDuration(duration: string | Duration): Duration {
  if (typeof duration === 'string') return parseDuration(duration);
  if (typeof duration === 'object' && duration !== null) {
    if (trusted.has(duration)) return duration;
    if (
      isCount(duration.years) && isCount(duration.months) && isCount(duration.weeks) && isCount(duration.days) &&
      typeof duration.timeMs === 'number' && Number.isFinite(duration.timeMs) && duration.timeMs >= 0
    ) {
      trusted.add(duration);
      return duration;
    }
  }
  let shown: string;
  try {
    shown = JSON.stringify(duration) ?? String(duration);
  } catch {
    shown = String(duration);
  }
  throw new DriplineError('INVALID_DURATION', `invalid duration ${shown}`, { details: { value: shown } });
}
