/**
 * Retries: exponential backoff with jitter, a maximum number of attempts, and the split between
 * retryable, ambiguous and permanent errors.
 *
 * @packageDocumentation
 */
import { z } from 'zod';
import { DriplineError } from '../errors.js';
import { duration, intAtLeast, invalid, numberAtLeast, numberBetween, parseOptions } from './options.js';

/**
 * Retry options as people write them. Every field is optional; durations are milliseconds or
 * ISO-8601 strings (`'PT1S'`, `'PT5M'`).
 */
export interface RetryPolicyInput {
  /** Attempts in total, the first one included (integer >= 1). Default `5`: at most 4 retries. */
  maxAttempts?: number;
  /** Delay before the first retry. Default `1000` ms. */
  initialDelay?: number | string;
  /** Cap on the backoff before jitter. Default 5 minutes, or `initialDelay` if that is longer. */
  maxDelay?: number | string;
  /** Growth factor between retries (>= 1). Default `2`. */
  multiplier?: number;
  /** Relative jitter in [0, 1]: the delay is scaled by a factor in [1 - jitter, 1 + jitter]. Default `0.2`. */
  jitter?: number;
}

/** A compiled, frozen retry policy, as {@link compileRetryPolicy} returns it. */
export interface RetryPolicy {
  /** Attempts in total, the first one included. */
  readonly maxAttempts: number;
  /** Delay before the first retry, in ms (before jitter). */
  readonly initialDelayMs: number;
  /** Cap on the backoff before jitter, in ms. */
  readonly maxDelayMs: number;
  /** Growth factor between retries. */
  readonly multiplier: number;
  /** Relative jitter in [0, 1]. */
  readonly jitter: number;
}

/** How a failed attempt failed, as transports classify it. */
export type RetryErrorKind = 'retryable' | 'ambiguous' | 'permanent';

/** The input of {@link retryDecision}. */
export interface RetryDecisionInput {
  /** Attempts already made, the one that just failed included (integer >= 1). */
  attempt: number;
  /** The classification of the failure. */
  kind: RetryErrorKind;
  /** The provider's Retry-After, in ms, if it sent one. */
  retryAfterMs?: number;
  /** A number in [0, 1) from the caller's (seeded) random source; 0.5 means no jitter. */
  random: number;
}

/** What to do after a failed attempt. */
export type RetryDecision =
  | { retry: true; delayMs: number }
  | { retry: false; reason: 'permanent' | 'ambiguous' | 'exhausted' };

/** Default maximum number of attempts (seed 004: at most 5 attempts per message). */
export const DEFAULT_MAX_ATTEMPTS = 5;

const schema = z.strictObject({
  maxAttempts: intAtLeast(1),
  initialDelay: duration(false),
  maxDelay: duration(false),
  multiplier: numberAtLeast(1),
  jitter: numberBetween(0, 1),
});

/**
 * Validates and normalises retry options once, into a frozen {@link RetryPolicy}.
 *
 * Defaults: 5 attempts, 1 s initial delay doubling each time, capped at 5 minutes, ±20 % jitter.
 *
 * @throws DriplineError `INVALID_INPUT` naming the option and the value, e.g.
 *   `retry.maxAttempts must be an integer >= 1, got 0`.
 * @example
 * ```ts
 * const policy = compileRetryPolicy({ maxAttempts: 5, initialDelay: 'PT1S', maxDelay: 'PT5M' });
 * policy.initialDelayMs; // 1000
 * compileRetryPolicy({ jitter: 2 }); // throws: retry.jitter must be a number between 0 and 1, got 2
 * ```
 */
export function compileRetryPolicy(input?: RetryPolicyInput): RetryPolicy {
  const o = parseOptions(schema, input ?? {}, 'retry');
  const initialDelayMs = o.initialDelay ?? 1000;
  const maxDelayMs = o.maxDelay ?? Math.max(300_000, initialDelayMs);
  if (maxDelayMs < initialDelayMs)
    invalid('retry.maxDelay', `must be >= retry.initialDelay (${initialDelayMs} ms)`, input?.maxDelay);
  return Object.freeze({
    maxAttempts: o.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    initialDelayMs,
    maxDelayMs,
    multiplier: o.multiplier ?? 2,
    jitter: o.jitter ?? 0.2,
  });
}

/**
 * The backoff before the retry that follows attempt number `attempt`, without jitter:
 * `min(maxDelay, initialDelay * multiplier^(attempt - 1))`.
 *
 * @example
 * ```ts
 * backoffDelay(compileRetryPolicy(), 3); // 4000
 * ```
 */
export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  if (policy.initialDelayMs === 0) return 0;
  const raw = policy.initialDelayMs * policy.multiplier ** (attempt - 1);
  return raw < policy.maxDelayMs ? raw : policy.maxDelayMs;
}

/**
 * Decides whether to retry after a failed attempt, and when.
 *
 * - `permanent` errors are never retried (`reason: 'permanent'`).
 * - `ambiguous` errors (the request may have been processed) are never retried here
 *   (`reason: 'ambiguous'`): the engine's send policy decides. At-most-once marks the message
 *   `unknown`; at-least-once callers pass `kind: 'retryable'` instead.
 * - After `maxAttempts` attempts: `reason: 'exhausted'`.
 * - Otherwise the delay is `min(maxDelay, initialDelay * multiplier^(attempt - 1))` scaled by the
 *   jitter factor `1 + jitter * (2 * random - 1)` (so `random = 0.5` gives exactly the backoff),
 *   rounded to the millisecond. Jitter is applied after the cap, so a delay can exceed `maxDelay`
 *   by at most `jitter` of it. A provider's Retry-After wins when it is longer.
 *
 * @throws DriplineError `INVALID_INPUT` when `attempt` is not an integer >= 1, `random` is not in
 *   [0, 1) or `retryAfterMs` is not a number >= 0.
 * @example
 * ```ts
 * const policy = compileRetryPolicy();
 * retryDecision(policy, { attempt: 1, kind: 'retryable', random: 0.5 }); // { retry: true, delayMs: 1000 }
 * retryDecision(policy, { attempt: 2, kind: 'retryable', retryAfterMs: 30_000, random: 0.5 }); // { retry: true, delayMs: 30000 }
 * retryDecision(policy, { attempt: 5, kind: 'retryable', random: 0.5 }); // { retry: false, reason: 'exhausted' }
 * retryDecision(policy, { attempt: 1, kind: 'ambiguous', random: 0.5 }); // { retry: false, reason: 'ambiguous' }
 * ```
 */
export function retryDecision(policy: RetryPolicy, input: RetryDecisionInput): RetryDecision {
  const { attempt, kind, retryAfterMs, random } = input;
  if (!(typeof attempt === 'number' && Number.isInteger(attempt) && attempt >= 1)) invalid('retryDecision.attempt', 'must be an integer >= 1', attempt);
  if (!(typeof random === 'number' && random >= 0 && random < 1)) invalid('retryDecision.random', 'must be a number in [0, 1)', random);
  if (retryAfterMs !== undefined && !(typeof retryAfterMs === 'number' && Number.isFinite(retryAfterMs) && retryAfterMs >= 0))
    invalid('retryDecision.retryAfterMs', 'must be a number >= 0', retryAfterMs);
  if (kind === 'permanent') return { retry: false, reason: 'permanent' };
  if (kind === 'ambiguous') return { retry: false, reason: 'ambiguous' };
  if (kind !== 'retryable')
    throw new DriplineError('INVALID_INPUT', `retryDecision.kind must be "retryable", "ambiguous" or "permanent", got ${JSON.stringify(kind)}`, {
      details: { path: 'retryDecision.kind', value: String(kind) },
    });
  if (attempt >= policy.maxAttempts) return { retry: false, reason: 'exhausted' };
  const factor = 1 + policy.jitter * (2 * random - 1);
  let delayMs = Math.round(backoffDelay(policy, attempt) * factor);
  if (retryAfterMs !== undefined && retryAfterMs > delayMs) delayMs = Math.ceil(retryAfterMs);
  return { retry: true, delayMs };
}
