/**
 * Friendly option input → normalised form, once. Every policy factory describes its options
 * with the zod schemas built here, so that every bad value is refused with one exact message
 * that names the option path and the value (`retry.maxAttempts must be an integer >= 1, got 0`).
 *
 * @packageDocumentation
 */
import { z } from 'zod';
import { DriplineError } from '../errors.js';
import { parseDuration } from '../schedule/index.js';

const DAY_MS = 86_400_000;

/**
 * Shows a bad value in an error message: strings quoted, numbers as written, objects as JSON.
 *
 * @internal
 */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value === undefined || value === null)
    return String(value);
  if (typeof value === 'function') return 'a function';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * Throws the `INVALID_INPUT` error for one bad option.
 *
 * @internal
 */
export function invalid(path: string, requirement: string, value: unknown): never {
  throw new DriplineError('INVALID_INPUT', `${path} ${requirement}, got ${show(value)}`, {
    details: { path, value: jsonSafe(value) },
  });
}

function jsonSafe(value: unknown): unknown {
  if (value === undefined || typeof value === 'function' || typeof value === 'bigint' || typeof value === 'symbol') return String(value);
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return value;
}

/** A leaf schema: checks one value and normalises it, with `requirement` as the message. */
function leaf<T>(requirement: string, normalise: (v: unknown) => T | undefined) {
  return z
    .unknown()
    .transform((v, ctx) => {
      const out = normalise(v);
      if (out === undefined) {
        ctx.addIssue({ code: 'custom', message: requirement, input: v, params: { value: v } });
        return z.NEVER;
      }
      return out;
    })
    .optional();
}

/** An integer `>= min`. */
export const intAtLeast = (min: number) =>
  leaf(`must be an integer >= ${min}`, (v) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= Number.MAX_SAFE_INTEGER ? v : undefined));

/** A finite number `>= min`. */
export const numberAtLeast = (min: number) =>
  leaf(`must be a number >= ${min}`, (v) => (typeof v === 'number' && Number.isFinite(v) && v >= min ? v : undefined));

/** A finite number in `[lo, hi]`. */
export const numberBetween = (lo: number, hi: number) =>
  leaf(`must be a number between ${lo} and ${hi}`, (v) => (typeof v === 'number' && Number.isFinite(v) && v >= lo && v <= hi ? v : undefined));

/** A boolean. */
export const bool = () => leaf('must be a boolean', (v) => (typeof v === 'boolean' ? v : undefined));

/**
 * Milliseconds from a number of ms or an ISO-8601 duration. Weeks and days count as exact
 * 24-hour days; months and years (which have no fixed length) are refused.
 *
 * @internal
 */
export function durationToMs(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  let d;
  try {
    d = parseDuration(v);
  } catch {
    return undefined;
  }
  if (d.years !== 0 || d.months !== 0) return undefined;
  const ms = (d.weeks * 7 + d.days) * DAY_MS + d.timeMs;
  return Number.isFinite(ms) ? ms : undefined;
}

/** A duration (ms number or ISO-8601 string such as `PT1S`), `>= 0` or `> 0`. */
export const duration = (positive: boolean) =>
  leaf(
    positive
      ? 'must be a number of milliseconds > 0 or an ISO-8601 duration such as "PT1S"'
      : 'must be a number of milliseconds >= 0 or an ISO-8601 duration such as "PT1S"',
    (v) => {
      const ms = durationToMs(v);
      return ms === undefined || (positive && ms <= 0) ? undefined : ms;
    },
  );

/**
 * Formats an option path: `retry.maxAttempts`, `rateLimits.sender["sms:1"].limit`.
 *
 * @internal
 */
export function formatPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const p of path) {
    const s = String(p);
    out += /^[A-Za-z_$][\w$]*$/.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`;
  }
  return out;
}

/**
 * Parses `input` with `schema`; on failure throws one `INVALID_INPUT` error whose message names
 * each bad option (joined with `; ` when there are several) and its value.
 *
 * @internal
 */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, prefix: string): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const messages: string[] = [];
  const details: Array<{ path: string; value?: unknown }> = [];
  for (const issue of r.error.issues) {
    const path = formatPath(prefix, issue.path);
    let value: unknown = issue.path.reduce<unknown>(
      (o, k) => (typeof o === 'object' && o !== null ? (o as Record<PropertyKey, unknown>)[k as PropertyKey] : undefined),
      input,
    );
    if (issue.code === 'unrecognized_keys') {
      messages.push(`${path} has unknown option${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`);
      value = issue.keys;
    } else if (issue.code === 'invalid_type') {
      messages.push(`${path} must be ${issue.expected === 'object' || issue.expected === 'record' ? 'an object' : `of type ${issue.expected}`}, got ${show(value)}`);
    } else {
      messages.push(`${path} ${issue.message}, got ${show(value)}`);
    }
    details.push({ path, value: jsonSafe(value) });
  }
  const first = details[0];
  throw new DriplineError('INVALID_INPUT', messages.join('; '), {
    details: { path: first?.path, value: first?.value, issues: details },
  });
}
