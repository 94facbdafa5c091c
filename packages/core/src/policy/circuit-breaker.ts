/**
 * A circuit breaker: opens after N consecutive failures, half-opens after a cool-down to let a
 * few trial calls through, closes on a trial's success and reopens on its failure.
 *
 * @packageDocumentation
 */
import { z } from 'zod';
import { duration, intAtLeast, invalid, parseOptions } from './options.js';

/** Circuit breaker options as people write them. */
export interface CircuitBreakerInput {
  /** Consecutive failures that open the circuit (integer >= 1). Default `10` (seed 004). */
  failureThreshold?: number;
  /** How long the circuit stays open before it half-opens: ms or ISO-8601. Default `60_000` (1 minute). */
  cooldown?: number | string;
  /** Trial calls allowed in flight while half-open (integer >= 1). Default `1`. */
  halfOpenMaxCalls?: number;
}

/**
 * The state of a circuit: `closed` (calls go through), `open` (calls are refused until the
 * cool-down ends), `half-open` (a few trial calls may go through).
 */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** A JSON-safe view of a {@link CircuitBreaker}. */
export interface CircuitBreakerSnapshot {
  /** The state as of the latest time the breaker was told about. */
  state: CircuitState;
  /** Failures since the last success. */
  consecutiveFailures: number;
  /** When the circuit (last) opened, epoch ms; `null` while closed. */
  openedAt: number | null;
}

const schema = z.strictObject({
  failureThreshold: intAtLeast(1),
  cooldown: duration(true),
  halfOpenMaxCalls: intAtLeast(1),
});

/**
 * A circuit breaker; create one with {@link createCircuitBreaker}. Time is passed in (epoch ms).
 *
 * - `closed`: every call may go through. Each failure counts; a success resets the count; the
 *   `failureThreshold`-th consecutive failure opens the circuit.
 * - `open`: {@link CircuitBreaker.canRequest} is `false` until `openedAt + cooldownMs`.
 *   Outcomes of calls that started before it opened change nothing (a late success does not
 *   undo a trip; a late failure only counts).
 * - `half-open`: up to `halfOpenMaxCalls` trial calls may be in flight. A success closes the
 *   circuit; a failure reopens it for another cool-down. A trial that reports nothing within
 *   one cool-down is presumed lost and its slot freed, so a caller that asked and then never
 *   called cannot wedge the circuit half-open.
 */
export class CircuitBreaker {
  /** Consecutive failures that open the circuit. */
  readonly failureThreshold: number;
  /** How long the circuit stays open before it half-opens, in ms. */
  readonly cooldownMs: number;
  /** Trial calls allowed in flight while half-open. */
  readonly halfOpenMaxCalls: number;
  private failures = 0;
  private openedAt: number | null = null;
  /** Start times of half-open trials still in flight. */
  private trials: number[] = [];
  private latest = -Infinity;

  /** Prefer {@link createCircuitBreaker}, which accepts friendly input. */
  constructor(input: CircuitBreakerInput = {}) {
    const o = parseOptions(schema, input ?? {}, 'circuitBreaker');
    this.failureThreshold = o.failureThreshold ?? 10;
    this.cooldownMs = o.cooldown ?? 60_000;
    this.halfOpenMaxCalls = o.halfOpenMaxCalls ?? 1;
  }

  private see(now: number): void {
    if (typeof now !== 'number' || !Number.isFinite(now)) invalid('now', 'must be a finite number of epoch ms', now);
    if (now > this.latest) this.latest = now;
  }

  private stateAt(now: number): CircuitState {
    if (this.openedAt === null) return 'closed';
    return now < this.openedAt + this.cooldownMs ? 'open' : 'half-open';
  }

  /**
   * The state at `now`.
   *
   * @example
   * ```ts
   * breaker.state(now); // 'closed' | 'open' | 'half-open'
   * ```
   */
  state(now: number): CircuitState {
    this.see(now);
    return this.stateAt(now);
  }

  /**
   * Whether a call may go through at `now`. While half-open, each `true` takes one of the
   * `halfOpenMaxCalls` trial slots until the call's outcome is reported with
   * {@link CircuitBreaker.onSuccess} or {@link CircuitBreaker.onFailure}.
   *
   * @example
   * ```ts
   * if (!breaker.canRequest(now)) return defer(breaker.snapshot().openedAt! + breaker.cooldownMs);
   * ```
   */
  canRequest(now: number): boolean {
    this.see(now);
    const s = this.stateAt(now);
    if (s === 'closed') return true;
    if (s === 'open') return false;
    this.trials = this.trials.filter((start) => start + this.cooldownMs > now);
    if (this.trials.length >= this.halfOpenMaxCalls) return false;
    this.trials.push(now);
    return true;
  }

  /**
   * Reports a successful call. Resets the failure count; while half-open, closes the circuit.
   *
   * @returns `'closed'` if this success closed the circuit, else `null`.
   */
  onSuccess(now: number): 'closed' | null {
    this.see(now);
    const s = this.stateAt(now);
    if (s === 'open') return null;
    this.failures = 0;
    if (s === 'closed') return null;
    this.openedAt = null;
    this.trials = [];
    return 'closed';
  }

  /**
   * Reports a failed call (count only failures that say something about the provider: not
   * permanent errors such as an invalid number). The `failureThreshold`-th consecutive failure
   * opens the circuit; a failure while half-open reopens it for another cool-down.
   *
   * @returns `'opened'` if this failure opened the circuit, else `null`.
   */
  onFailure(now: number): 'opened' | null {
    this.see(now);
    this.failures += 1;
    const s = this.stateAt(now);
    if (s === 'open') return null;
    if (s === 'closed' && this.failures < this.failureThreshold) return null;
    this.openedAt = now;
    this.trials = [];
    return 'opened';
  }

  /**
   * A JSON-safe view of the breaker, its state as of the latest time it was told about (or of
   * `now` if given).
   *
   * @example
   * ```ts
   * breaker.snapshot(); // { state: 'open', consecutiveFailures: 10, openedAt: 1700000000000 }
   * ```
   */
  snapshot(now?: number): CircuitBreakerSnapshot {
    if (now !== undefined) this.see(now);
    const at = now ?? this.latest;
    return { state: this.stateAt(at), consecutiveFailures: this.failures, openedAt: this.openedAt };
  }
}

/**
 * Creates a {@link CircuitBreaker}. Defaults follow seed 004: open after 10 consecutive
 * failures, half-open after 1 minute, one trial call at a time.
 *
 * @throws DriplineError `INVALID_INPUT`, e.g. `circuitBreaker.failureThreshold must be an integer >= 1, got 0`.
 * @example
 * ```ts
 * const breaker = createCircuitBreaker({ failureThreshold: 10, cooldown: 'PT1M' });
 * if (breaker.canRequest(now)) {
 *   try { await send(); breaker.onSuccess(clock.now()); }
 *   catch (e) { if (breaker.onFailure(clock.now()) === 'opened') alert('circuit open'); }
 * }
 * ```
 */
export function createCircuitBreaker(input?: CircuitBreakerInput): CircuitBreaker {
  return new CircuitBreaker(input);
}
