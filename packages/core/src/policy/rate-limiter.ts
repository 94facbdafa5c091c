/**
 * A sliding-window rate limiter: in no window of length `window`, wherever it starts, are more
 * than `limit` acquisitions granted.
 *
 * @packageDocumentation
 */
import { z } from 'zod';
import { duration, intAtLeast, invalid, parseOptions } from './options.js';

/** A rate limit as people write it. */
export interface RateLimitInput {
  /** Grants allowed per window (integer >= 1). */
  limit: number;
  /** The window: milliseconds or an ISO-8601 duration (`'PT1S'`). Default `1000` ms. */
  window?: number | string;
}

/** A validated rate limit. */
export interface RateLimit {
  /** Grants allowed per window. */
  readonly limit: number;
  /** Window length in ms (> 0). */
  readonly windowMs: number;
}

/** The outcome of {@link SlidingWindowLimiter.tryAcquire}. */
export type AcquireResult = { ok: true } | { ok: false; retryAt: number };

/** What {@link SlidingWindowLimiter.peek} reports: the limiter's use of the window ending now. */
export interface LimiterPeek {
  /** Grants allowed per window. */
  limit: number;
  /** Window length in ms. */
  windowMs: number;
  /** Grants in the window `(now - windowMs, now]`. */
  used: number;
  /** `limit - used`: how many could be granted now. */
  available: number;
}

const rateLimitSchema = z.strictObject({ limit: intAtLeast(1), window: duration(true) });

/**
 * Validates a {@link RateLimitInput}. `path` names it in error messages.
 *
 * @throws DriplineError `INVALID_INPUT`, e.g. `rateLimit.limit must be an integer >= 1, got 0`.
 * @example
 * ```ts
 * compileRateLimit({ limit: 10, window: 'PT1S' }); // { limit: 10, windowMs: 1000 }
 * ```
 */
export function compileRateLimit(input: RateLimitInput, path = 'rateLimit'): RateLimit {
  const o = parseOptions(rateLimitSchema, input, path);
  if (o.limit === undefined) invalid(`${path}.limit`, 'must be an integer >= 1', undefined);
  const r = Object.freeze({ limit: o.limit, windowMs: o.window ?? 1000 });
  compiled.add(r);
  return r;
}

/** Rate limits made by {@link compileRateLimit}, which need no second check. */
const compiled = new WeakSet<RateLimit>();

/**
 * A sliding-window rate limiter: **in no window of length `windowMs`, starting at any real
 * time (not aligned buckets), are more than `limit` acquisitions granted**, and a caller that
 * comes back at `retryAt` is granted at once, so plentiful work runs at the full rate.
 *
 * Why not a token bucket (which is what seed 004 asks for: "10 msg/s")? A token bucket with
 * capacity `limit` refilling `limit` per window lets a full bucket (`limit`) go at once and
 * then another `limit` trickle in during the next window: almost `2 * limit` inside one
 * sliding window. Fixed windows have the same flaw at their edges (DESIGN.md: BullMQ's limiter
 * `{ max: 100, duration: 1000 }` let 186 jobs start within one sliding second). Providers such
 * as Twilio count sliding windows and refuse such bursts, so this limiter keeps the times of
 * the last `limit` grants (a ring buffer, at most `limit` numbers) and grants at `now` iff fewer
 * than `limit` grants lie in `(now - windowMs, now]`. `retryAt` is exact: the time the oldest
 * grant that is in the way leaves the window.
 *
 * Time is passed in (epoch ms). It never runs backwards for a limiter: an earlier `now` than
 * one already seen is treated as the latest time seen, which keeps the guarantee.
 *
 * @example
 * ```ts
 * const limiter = createRateLimiter({ limit: 10, window: 'PT1S' });
 * for (let i = 0; i < 10; i++) limiter.tryAcquire(1000); // { ok: true } ten times
 * limiter.tryAcquire(1500); // { ok: false, retryAt: 2000 }
 * limiter.tryAcquire(2000); // { ok: true }
 * ```
 */
export class SlidingWindowLimiter {
  /** Grants allowed per window. */
  readonly limit: number;
  /** Window length in ms. */
  readonly windowMs: number;
  /** Grant times, oldest first from `head`; a ring buffer once it holds `limit` entries. */
  private readonly times: number[] = [];
  private head = 0;
  private latest = -Infinity;

  /** Prefer {@link createRateLimiter}, which accepts friendly input. */
  constructor(rate: RateLimit) {
    const r = compiled.has(rate) ? rate : compileRateLimit({ limit: rate.limit, window: rate.windowMs });
    this.limit = r.limit;
    this.windowMs = r.windowMs;
  }

  /** Grants still in the window at `t`, i.e. with `grant + windowMs > t`. */
  private usedAt(t: number): number {
    const size = this.times.length;
    const w = this.windowMs;
    // Binary search for the first (oldest-first) grant still in the window.
    let lo = 0;
    let hi = size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.at(mid) + w > t) hi = mid;
      else lo = mid + 1;
    }
    return size - lo;
  }

  /** The `i`-th oldest stored grant (0-based). */
  private at(i: number): number {
    const size = this.times.length;
    const j = this.head + i;
    return this.times[j < size ? j : j - size]!;
  }

  /**
   * The earliest time `>= t` at which `n` more grants fit while at most `cap` (<= limit) grants
   * are in the window; `Infinity` if `n > cap`.
   *
   * @internal
   */
  availableAt(t: number, n: number, cap: number = this.limit): number {
    if (n > cap) return Infinity;
    const k = cap - n + 1; // the k-th most recent grant must have left the window
    const size = this.times.length;
    if (size < k) return t;
    const ready = this.at(size - k) + this.windowMs;
    return ready > t ? ready : t;
  }

  /**
   * Grants in the window at `t` (read-only).
   *
   * @internal
   */
  used(t: number): number {
    return this.usedAt(this.effective(t));
  }

  /** `now`, or the latest time already seen if `now` is earlier. */
  private effective(now: number): number {
    return now > this.latest ? now : this.latest;
  }

  /**
   * Records `n` grants at `now` without checking. Callers check first (the limiter tree checks
   * every level, then records at every level).
   *
   * @internal
   */
  record(now: number, n = 1): void {
    const t = this.effective(now);
    this.latest = t;
    for (let i = 0; i < n; i++) {
      if (this.times.length < this.limit) this.times.push(t);
      else {
        this.times[this.head] = t;
        this.head = this.head + 1 === this.limit ? 0 : this.head + 1;
      }
    }
  }

  /**
   * Grants `n` acquisitions at `now` if they fit in the sliding window, and records them; else
   * grants nothing and says when they would fit.
   *
   * @param now - epoch ms.
   * @param n - acquisitions wanted at once (integer in [1, limit]). Default 1.
   * @returns `{ ok: true }`, or `{ ok: false, retryAt }` with the exact earliest time they fit.
   * @throws DriplineError `INVALID_INPUT` if `now` is not a finite number or `n` not in [1, limit].
   * @example
   * ```ts
   * const r = limiter.tryAcquire(clock.now());
   * if (!r.ok) queue.delayUntil(r.retryAt);
   * ```
   */
  tryAcquire(now: number, n = 1): AcquireResult {
    this.check(now, n);
    const t = this.effective(now);
    const at = this.availableAt(t, n);
    if (at > t) return { ok: false, retryAt: at };
    this.record(t, n);
    return { ok: true };
  }

  /**
   * The earliest time `>= now` at which `n` acquisitions would be granted (read-only).
   *
   * @example
   * ```ts
   * limiter.nextAllowedAt(now); // === now when a grant is possible now
   * ```
   */
  nextAllowedAt(now: number, n = 1): number {
    this.check(now, n);
    return this.availableAt(this.effective(now), n);
  }

  /**
   * The use of the window ending at `now` (read-only).
   *
   * @example
   * ```ts
   * limiter.peek(now); // { limit: 10, windowMs: 1000, used: 3, available: 7 }
   * ```
   */
  peek(now: number): LimiterPeek {
    this.check(now, 1);
    const used = this.usedAt(this.effective(now));
    return { limit: this.limit, windowMs: this.windowMs, used, available: this.limit - used };
  }

  private check(now: number, n: number): void {
    if (typeof now !== 'number' || !Number.isFinite(now)) invalid('now', 'must be a finite number of epoch ms', now);
    if (!(typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= this.limit))
      invalid('n', `must be an integer between 1 and the limit (${this.limit})`, n);
  }
}

/**
 * Creates a {@link SlidingWindowLimiter}: at most `limit` grants in any sliding window of
 * length `window` (ms or ISO-8601, default `1000` ms).
 *
 * @throws DriplineError `INVALID_INPUT`, e.g. `rateLimit.window must be a number of milliseconds > 0 or an ISO-8601 duration such as "PT1S", got 0`.
 * @example
 * ```ts
 * // Twilio: 10 messages per second, counted over any sliding second.
 * const limiter = createRateLimiter({ limit: 10, window: 'PT1S' });
 * const r = limiter.tryAcquire(now);
 * if (r.ok) await send(); else retryLater(r.retryAt);
 * ```
 */
export function createRateLimiter(input: RateLimitInput): SlidingWindowLimiter {
  return new SlidingWindowLimiter(compileRateLimit(input));
}
