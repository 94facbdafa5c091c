/**
 * Example-based tests of policy/: retry, the sliding-window limiter, the limiter tree (all or
 * nothing, fair share), the circuit breaker, batching, compliance presets and frequency caps.
 */
import { describe, expect, it } from 'vitest';
import { isDriplineError } from '../src/errors.js';
import { applyQuietHours } from '../src/schedule/index.js';
import {
  COMPLIANCE_PRESETS,
  batches,
  chunk,
  compileRetryPolicy,
  createCircuitBreaker,
  createLimiterTree,
  createRateLimiter,
  frequencyCapDecision,
  resolveCompliance,
  retryDecision,
  type LimiterKeys,
  type LimiterTree,
} from '../src/policy/index.js';

/** The error `fn` throws (fails the test if it throws nothing). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

/** Asserts `fn` throws INVALID_INPUT with exactly `message`. */
function expectInvalid(fn: () => unknown, message: string): void {
  const e = thrown(fn);
  expect(isDriplineError(e, 'INVALID_INPUT')).toBe(true);
  expect((e as Error).message).toBe(message);
}

// ---------------------------------------------------------------------------------------------
describe('retry policy', () => {
  const policy = compileRetryPolicy();

  it('has the documented defaults and is frozen', () => {
    expect(policy).toEqual({ maxAttempts: 5, initialDelayMs: 1000, maxDelayMs: 300_000, multiplier: 2, jitter: 0.2 });
    expect(Object.isFrozen(policy)).toBe(true);
  });

  it('doubles the delay from 1 s with random 0.5 (jitter factor exactly 1)', () => {
    const delays = [1, 2, 3, 4].map((attempt) => retryDecision(policy, { attempt, kind: 'retryable', random: 0.5 }));
    expect(delays).toEqual([
      { retry: true, delayMs: 1000 },
      { retry: true, delayMs: 2000 },
      { retry: true, delayMs: 4000 },
      { retry: true, delayMs: 8000 },
    ]);
  });

  it('scales by a jitter factor in [1 - jitter, 1 + jitter]', () => {
    expect(retryDecision(policy, { attempt: 3, kind: 'retryable', random: 0 })).toEqual({ retry: true, delayMs: 3200 });
    expect(retryDecision(policy, { attempt: 3, kind: 'retryable', random: 0.75 })).toEqual({ retry: true, delayMs: 4400 });
    const noJitter = compileRetryPolicy({ jitter: 0 });
    expect(retryDecision(noJitter, { attempt: 3, kind: 'retryable', random: 0.99 })).toEqual({ retry: true, delayMs: 4000 });
  });

  it('caps the backoff at maxDelay (ISO durations accepted)', () => {
    const p = compileRetryPolicy({ maxAttempts: 20, initialDelay: 'PT1S', maxDelay: 'PT5S', multiplier: 3, jitter: 0 });
    expect(p.initialDelayMs).toBe(1000);
    expect(p.maxDelayMs).toBe(5000);
    const d = [1, 2, 3, 10, 19].map((attempt) => retryDecision(p, { attempt, kind: 'retryable', random: 0.5 }));
    expect(d.map((x) => (x.retry ? x.delayMs : -1))).toEqual([1000, 3000, 5000, 5000, 5000]);
    // Enormous exponents stay capped (no Infinity / NaN).
    const big = compileRetryPolicy({ maxAttempts: 100_000, jitter: 0 });
    expect(retryDecision(big, { attempt: 99_999, kind: 'retryable', random: 0.5 })).toEqual({ retry: true, delayMs: 300_000 });
  });

  it('is exhausted after maxAttempts attempts (5 by default: attempt 5 is the last)', () => {
    expect(retryDecision(policy, { attempt: 4, kind: 'retryable', random: 0.5 }).retry).toBe(true);
    expect(retryDecision(policy, { attempt: 5, kind: 'retryable', random: 0.5 })).toEqual({ retry: false, reason: 'exhausted' });
    expect(retryDecision(policy, { attempt: 6, kind: 'retryable', random: 0.5 })).toEqual({ retry: false, reason: 'exhausted' });
    const once = compileRetryPolicy({ maxAttempts: 1 });
    expect(retryDecision(once, { attempt: 1, kind: 'retryable', random: 0.5 })).toEqual({ retry: false, reason: 'exhausted' });
  });

  it('never retries permanent or ambiguous errors, whatever the attempt', () => {
    for (const attempt of [1, 2, 5]) {
      expect(retryDecision(policy, { attempt, kind: 'permanent', random: 0.5 })).toEqual({ retry: false, reason: 'permanent' });
      expect(retryDecision(policy, { attempt, kind: 'ambiguous', random: 0.5 })).toEqual({ retry: false, reason: 'ambiguous' });
    }
  });

  it('honours Retry-After when it is longer than the backoff, and only then', () => {
    expect(retryDecision(policy, { attempt: 1, kind: 'retryable', retryAfterMs: 30_000, random: 0.5 })).toEqual({ retry: true, delayMs: 30_000 });
    expect(retryDecision(policy, { attempt: 2, kind: 'retryable', retryAfterMs: 500, random: 0.5 })).toEqual({ retry: true, delayMs: 2000 });
    // Retry-After beyond maxDelay still wins: the provider said so.
    expect(retryDecision(policy, { attempt: 1, kind: 'retryable', retryAfterMs: 600_000, random: 0.5 })).toEqual({ retry: true, delayMs: 600_000 });
    // ...but does not resurrect an exhausted message.
    expect(retryDecision(policy, { attempt: 5, kind: 'retryable', retryAfterMs: 10, random: 0.5 })).toEqual({ retry: false, reason: 'exhausted' });
  });

  it('refuses bad options with exact messages', () => {
    expectInvalid(() => compileRetryPolicy({ maxAttempts: 0 }), 'retry.maxAttempts must be an integer >= 1, got 0');
    expectInvalid(() => compileRetryPolicy({ maxAttempts: 2.5 }), 'retry.maxAttempts must be an integer >= 1, got 2.5');
    expectInvalid(() => compileRetryPolicy({ multiplier: 0.5 }), 'retry.multiplier must be a number >= 1, got 0.5');
    expectInvalid(() => compileRetryPolicy({ jitter: 2 }), 'retry.jitter must be a number between 0 and 1, got 2');
    expectInvalid(
      () => compileRetryPolicy({ initialDelay: 'P1X' }),
      'retry.initialDelay must be a number of milliseconds >= 0 or an ISO-8601 duration such as "PT1S", got "P1X"',
    );
    expectInvalid(
      () => compileRetryPolicy({ maxDelay: 'P1M' }),
      'retry.maxDelay must be a number of milliseconds >= 0 or an ISO-8601 duration such as "PT1S", got "P1M"',
    );
    expectInvalid(() => compileRetryPolicy({ initialDelay: 5000, maxDelay: 1000 }), 'retry.maxDelay must be >= retry.initialDelay (5000 ms), got 1000');
    expectInvalid(() => compileRetryPolicy({ maxAttempt: 3 } as never), 'retry has unknown option "maxAttempt"');
    expectInvalid(() => compileRetryPolicy(7 as never), 'retry must be an object, got 7');
    const e = thrown(() => compileRetryPolicy({ maxAttempts: 0 })) as { details: Record<string, unknown> };
    expect(e.details).toMatchObject({ path: 'retry.maxAttempts', value: 0 });
  });

  it('stretches the default maxDelay to a long initialDelay instead of refusing it', () => {
    expect(compileRetryPolicy({ initialDelay: 'PT10M' }).maxDelayMs).toBe(600_000);
  });

  it('refuses bad decision inputs', () => {
    expectInvalid(() => retryDecision(policy, { attempt: 0, kind: 'retryable', random: 0.5 }), 'retryDecision.attempt must be an integer >= 1, got 0');
    expectInvalid(() => retryDecision(policy, { attempt: 1, kind: 'retryable', random: 1 }), 'retryDecision.random must be a number in [0, 1), got 1');
  });
});

// ---------------------------------------------------------------------------------------------
describe('sliding-window rate limiter', () => {
  it('grants limit per window and gives the exact retryAt', () => {
    const l = createRateLimiter({ limit: 2, window: 'PT1S' });
    expect(l.tryAcquire(0)).toEqual({ ok: true });
    expect(l.tryAcquire(300)).toEqual({ ok: true });
    expect(l.tryAcquire(500)).toEqual({ ok: false, retryAt: 1000 });
    expect(l.nextAllowedAt(999)).toBe(1000);
    expect(l.tryAcquire(999)).toEqual({ ok: false, retryAt: 1000 });
    expect(l.tryAcquire(1000)).toEqual({ ok: true });
    expect(l.tryAcquire(1000)).toEqual({ ok: false, retryAt: 1300 });
    expect(l.peek(1000)).toEqual({ limit: 2, windowMs: 1000, used: 2, available: 0 });
    expect(l.peek(1300)).toEqual({ limit: 2, windowMs: 1000, used: 1, available: 1 });
    expect(l.nextAllowedAt(5000)).toBe(5000);
  });

  it('never lets a burst straddle a window edge (what a token bucket or fixed window allows)', () => {
    const l = createRateLimiter({ limit: 10, window: 1000 });
    let granted = 0;
    for (let t = 900; t < 1100; t++) if (l.tryAcquire(t).ok) granted++;
    expect(granted).toBe(10);
  });

  it('acquires several at once, all or nothing', () => {
    const l = createRateLimiter({ limit: 5, window: 1000 });
    expect(l.tryAcquire(0, 3)).toEqual({ ok: true });
    expect(l.tryAcquire(100, 3)).toEqual({ ok: false, retryAt: 1000 });
    expect(l.peek(100).used).toBe(3);
    expect(l.tryAcquire(100, 2)).toEqual({ ok: true });
    expectInvalid(() => l.tryAcquire(100, 6), 'n must be an integer between 1 and the limit (5), got 6');
  });

  it('treats a clock that goes backwards as the latest time seen', () => {
    const l = createRateLimiter({ limit: 1, window: 1000 });
    expect(l.tryAcquire(5000).ok).toBe(true);
    expect(l.tryAcquire(3000)).toEqual({ ok: false, retryAt: 6000 });
  });

  it('10/s with a worker that is always ready: exactly 10 in every 1 s window, 600 ± 1 in 60 s', () => {
    const l = createRateLimiter({ limit: 10, window: 'PT1S' });
    const grants: number[] = [];
    let t = 1_700_000_000_000;
    const end = t + 60_000;
    while (t < end && grants.length < 10_000) {
      const r = l.tryAcquire(t);
      if (r.ok) grants.push(t);
      else t = r.retryAt;
    }
    expect(Math.abs(grants.length - 600)).toBeLessThanOrEqual(1);
    // Every window [t, t + 1 s) starting at a grant time t (these include the worst window).
    for (const t of new Set(grants)) {
      const n = grants.filter((g) => g >= t && g < t + 1000).length;
      if (t + 1000 <= end) expect(n).toBe(10);
      else expect(n).toBeLessThanOrEqual(10);
    }
  });

  it('refuses bad options with exact messages', () => {
    expectInvalid(() => createRateLimiter({ limit: 0 }), 'rateLimit.limit must be an integer >= 1, got 0');
    expectInvalid(
      () => createRateLimiter({ limit: 10, window: 0 }),
      'rateLimit.window must be a number of milliseconds > 0 or an ISO-8601 duration such as "PT1S", got 0',
    );
    expectInvalid(() => createRateLimiter({} as never), 'rateLimit.limit must be an integer >= 1, got undefined');
    expect(createRateLimiter({ limit: 3, window: 'PT2M' }).windowMs).toBe(120_000);
  });
});

// ---------------------------------------------------------------------------------------------
describe('limiter tree', () => {
  it('grants all or nothing: a refusal at the campaign level takes nothing from the account or sender', () => {
    const tree = createLimiterTree({
      account: { limit: 100 },
      sender: { '*': { limit: 50 } },
      tenant: { limit: 20 },
      campaign: { limit: 2 },
    });
    const keys: LimiterKeys = { sender: 's1', tenant: 't1', campaign: 'c1' };
    expect(tree.tryAcquire(keys, 0)).toEqual({ ok: true });
    expect(tree.tryAcquire(keys, 10)).toEqual({ ok: true });
    for (let i = 0; i < 5; i++) expect(tree.tryAcquire(keys, 20 + i)).toEqual({ ok: false, retryAt: 1000, level: 'campaign', key: 'c1', spacingMs: 500 });
    const p = tree.peek(keys, 30);
    expect(p.account?.used).toBe(2);
    expect(p.sender?.used).toBe(2);
    expect(p.tenant?.used).toBe(2);
    expect(p.campaign?.used).toBe(2);
    expect(p.fairShare).toEqual({ share: 20, activeCampaigns: 1, used: 2, available: 18 });
  });

  it('grants all or nothing: a refusal at the account level takes nothing from the campaign', () => {
    const tree = createLimiterTree({ account: { limit: 1 }, campaign: { limit: 5 } });
    expect(tree.tryAcquire({ campaign: 'a' }, 0).ok).toBe(true);
    expect(tree.tryAcquire({ campaign: 'b' }, 1)).toEqual({ ok: false, retryAt: 1000, level: 'account', key: '', spacingMs: 1000 });
    expect(tree.peek({ campaign: 'b' }, 1).campaign?.used).toBe(0);
  });

  it('reports the level that holds the request back longest', () => {
    const tree = createLimiterTree({ account: { limit: 1, window: 1000 }, sender: { limit: 1, window: 5000 } });
    expect(tree.tryAcquire({ sender: 'x' }, 0).ok).toBe(true);
    expect(tree.tryAcquire({ sender: 'x' }, 10)).toEqual({ ok: false, retryAt: 5000, level: 'sender', key: 'x', spacingMs: 5000 });
    expect(tree.tryAcquire({ sender: 'y' }, 10)).toEqual({ ok: false, retryAt: 1000, level: 'account', key: '', spacingMs: 1000 });
    expect(tree.tryAcquire({ sender: 'y' }, 1000)).toEqual({ ok: true });
  });

  it('limits each sender separately, with per-id limits and a "*" default', () => {
    const tree = createLimiterTree({ sender: { '*': { limit: 1 }, vip: { limit: 3 } } });
    expect([0, 1, 2, 3].map((t) => tree.tryAcquire({ sender: 'vip' }, t).ok)).toEqual([true, true, true, false]);
    expect([0, 1].map((t) => tree.tryAcquire({ sender: 'a' }, 10 + t).ok)).toEqual([true, false]);
    expect(tree.tryAcquire({ sender: 'b' }, 20).ok).toBe(true);
    const noDefault = createLimiterTree({ sender: { vip: { limit: 1 } } });
    expect([0, 1, 2].every((t) => noDefault.tryAcquire({ sender: 'other' }, t).ok)).toBe(true);
  });

  it('fair share: lets a share grow as soon as another campaign goes quiet (exact retryAt)', () => {
    const tree = createLimiterTree({ tenant: { limit: 10 } });
    expect(tree.tryAcquire({ tenant: 't', campaign: 'B' }, 0).ok).toBe(true);
    for (let i = 0; i < 5; i++) expect(tree.tryAcquire({ tenant: 't', campaign: 'A' }, 500).ok).toBe(true);
    // A has its share (ceil(10 / 2) = 5); B asked at 0, so it counts until 1000 included. A's own
    // grants would leave the window only at 1500, but its share doubles at 1001 (from then on
    // the whole 10 a second: spacing 100 ms).
    expect(tree.tryAcquire({ tenant: 't', campaign: 'A' }, 500)).toEqual({ ok: false, retryAt: 1001, level: 'fair-share', key: 't\u0000A', spacingMs: 100 });
    expect(tree.peek({ tenant: 't', campaign: 'A' }, 1000).fairShare).toEqual({ share: 5, activeCampaigns: 2, used: 5, available: 0 });
    expect(tree.tryAcquire({ tenant: 't', campaign: 'A' }, 1000)).toEqual({ ok: false, retryAt: 1001, level: 'fair-share', key: 't\u0000A', spacingMs: 100 });
    expect(tree.peek({ tenant: 't', campaign: 'A' }, 1001).fairShare).toEqual({ share: 10, activeCampaigns: 1, used: 5, available: 5 });
    expect(tree.tryAcquire({ tenant: 't', campaign: 'A' }, 1001)).toEqual({ ok: true });
  });

  it('fair share: three campaigns each get ceil(10 / 3) = 4', () => {
    const tree = createLimiterTree({ tenant: { limit: 10 } });
    const got = { a: 0, b: 0, c: 0 };
    for (const c of ['a', 'b', 'c'] as const) tree.peek({ tenant: 't', campaign: c }, 0); // peeking registers nothing
    for (let round = 0; round < 5; round++)
      for (const c of ['a', 'b', 'c'] as const) if (tree.tryAcquire({ tenant: 't', campaign: c }, 0).ok) got[c]++;
    // Round-robin at share ceil(10 / 3) = 4 each until the tenant's 10 are gone: a gets its 4th,
    // b and c are left with 3.
    expect(got).toEqual({ a: 4, b: 3, c: 3 });
    expect(tree.tryAcquire({ tenant: 't', campaign: 'c' }, 0)).toEqual({ ok: false, retryAt: 1000, level: 'tenant', key: 't', spacingMs: 100 });
  });

  /**
   * A discrete-event simulation: each campaign's worker asks again at once after a grant and
   * exactly at retryAt after a refusal. At equal times A asks first (the worst case for B).
   */
  function simulate(tree: LimiterTree, until: number) {
    const workers = [
      { name: 'A', next: 0, left: Infinity, grants: [] as number[] },
      { name: 'B', next: 5000, left: 20, grants: [] as number[] },
    ];
    for (let steps = 0; steps < 100_000; steps++) {
      const w = workers.filter((x) => x.left > 0).sort((x, y) => x.next - y.next)[0];
      if (!w || w.next >= until) break;
      const r = tree.tryAcquire({ sender: 'twilio', tenant: 't', campaign: w.name }, w.next);
      if (r.ok) {
        w.grants.push(w.next);
        w.left -= 1;
      } else {
        expect(r.retryAt).toBeGreaterThan(w.next);
        w.next = r.retryAt;
      }
    }
    return { A: workers[0]!.grants, B: workers[1]!.grants };
  }
  const inRange = (xs: number[], from: number, to: number) => xs.filter((t) => t >= from && t < to).length;

  it('fair share: a small campaign is not starved by a big one, and the big one gets the rest', () => {
    const { A, B } = simulate(createLimiterTree({ sender: { '*': { limit: 10, window: 'PT1S' } }, tenant: { limit: 10 } }), 20_000);
    // A alone: the full 10/s.
    expect(inRange(A, 0, 5000)).toBe(50);
    // B's 20 items, arriving at 5 s, are done within 5 s, at >= 4 per second while both run.
    expect(B).toHaveLength(20);
    const bDone = B[B.length - 1]!;
    expect(bDone).toBeLessThan(10_000);
    // (A took the window that was free when B arrived; B's first grant comes within a window.)
    expect(B[0]! - 5000).toBeLessThanOrEqual(1000);
    expect(bDone - 5000).toBeLessThanOrEqual(5000);
    for (let s = B[0]!; s + 1000 <= bDone; s += 1000) expect(inRange(B, s, s + 1000)).toBeGreaterThanOrEqual(4);
    // The tenant stays saturated: A takes every slot B does not.
    expect(inRange(A, 5000, 10_000) + inRange(B, 5000, 10_000)).toBe(50);
    // Once B has gone quiet for a window, A is back to the full rate.
    expect(inRange(A, bDone + 1000, bDone + 6000)).toBe(50);
    const all = [...A, ...B].sort((x, y) => x - y);
    for (let i = 0; i < all.length; i++) expect(inRange(all, all[i]!, all[i]! + 1000)).toBeLessThanOrEqual(10);
  });

  it('without fair share the same big campaign starves the small one (the test above can fail)', () => {
    const { B } = simulate(createLimiterTree({ tenant: { limit: 10 }, fairShare: false }), 10_000);
    expect(inRange(B, 5000, 10_000)).toBe(0);
  });

  it('creates limiters lazily and drops idle ones after two windows', () => {
    const tree = createLimiterTree({ sender: { limit: 5 }, tenant: { limit: 10 }, campaign: { limit: 3 } });
    for (let i = 0; i < 1000; i++) tree.tryAcquire({ sender: `s${i % 10}`, tenant: `t${i % 100}`, campaign: `c${i}` }, i);
    expect(tree.stats()).toEqual({ account: 0, sender: 10, tenant: 100, campaign: 1000, fairShare: 1000 });
    tree.tryAcquire({ sender: 's0', tenant: 't0', campaign: 'c0' }, 1000 + 2000);
    expect(tree.stats()).toEqual({ account: 0, sender: 1, tenant: 1, campaign: 1, fairShare: 1 });
  });

  it('refuses bad configuration with exact messages', () => {
    expectInvalid(() => createLimiterTree({ sender: { '*': { limit: 0 } } }), 'rateLimits.sender["*"].limit must be an integer >= 1, got 0');
    expectInvalid(() => createLimiterTree({ tenant: { limit: 5, window: 'soon' } }),
      'rateLimits.tenant.window must be a number of milliseconds > 0 or an ISO-8601 duration such as "PT1S", got "soon"');
    expectInvalid(() => createLimiterTree({ fairShare: 'yes' as never }), 'rateLimits.fairShare must be a boolean, got "yes"');
    expectInvalid(() => createLimiterTree({ campaigns: {} } as never), 'rateLimits has unknown option "campaigns"');
  });
});

// ---------------------------------------------------------------------------------------------
describe('circuit breaker', () => {
  it('has the seed-004 defaults', () => {
    const b = createCircuitBreaker();
    expect([b.failureThreshold, b.cooldownMs, b.halfOpenMaxCalls]).toEqual([10, 60_000, 1]);
    expect(createCircuitBreaker({ cooldown: 'PT2M' }).cooldownMs).toBe(120_000);
  });

  it('opens on the 10th consecutive failure, not before, and refuses while open', () => {
    const b = createCircuitBreaker();
    for (let i = 1; i <= 9; i++) {
      expect(b.onFailure(i)).toBeNull();
      expect(b.state(i)).toBe('closed');
      expect(b.canRequest(i)).toBe(true);
    }
    expect(b.onFailure(10)).toBe('opened');
    expect(b.state(10)).toBe('open');
    expect(b.canRequest(11)).toBe(false);
    expect(b.canRequest(60_009)).toBe(false);
    expect(b.snapshot()).toEqual({ state: 'open', consecutiveFailures: 10, openedAt: 10 });
    expect(JSON.parse(JSON.stringify(b.snapshot()))).toEqual(b.snapshot());
  });

  it('a success resets the count of consecutive failures', () => {
    const b = createCircuitBreaker();
    for (let i = 0; i < 9; i++) b.onFailure(i);
    expect(b.onSuccess(9)).toBeNull();
    for (let i = 10; i < 19; i++) expect(b.onFailure(i)).toBeNull();
    expect(b.state(19)).toBe('closed');
    expect(b.onFailure(19)).toBe('opened');
  });

  it('half-opens after the cool-down with exactly one trial, and closes on its success', () => {
    const b = createCircuitBreaker();
    for (let i = 0; i < 10; i++) b.onFailure(0);
    expect(b.state(59_999)).toBe('open');
    expect(b.state(60_000)).toBe('half-open');
    expect(b.canRequest(60_000)).toBe(true);
    expect(b.canRequest(60_001)).toBe(false);
    expect(b.canRequest(60_002)).toBe(false);
    expect(b.onSuccess(60_100)).toBe('closed');
    expect(b.state(60_100)).toBe('closed');
    expect(b.snapshot()).toEqual({ state: 'closed', consecutiveFailures: 0, openedAt: null });
    expect(b.onSuccess(60_200)).toBeNull();
  });

  it('reopens for another cool-down when the trial fails', () => {
    const b = createCircuitBreaker();
    for (let i = 0; i < 10; i++) b.onFailure(0);
    expect(b.canRequest(60_000)).toBe(true);
    expect(b.onFailure(60_500)).toBe('opened');
    expect(b.state(60_500)).toBe('open');
    expect(b.canRequest(120_499)).toBe(false);
    expect(b.canRequest(120_500)).toBe(true);
  });

  it('ignores the outcome of calls that started before it opened', () => {
    const b = createCircuitBreaker({ failureThreshold: 2, cooldown: 1000 });
    b.onFailure(0);
    expect(b.onFailure(1)).toBe('opened');
    expect(b.onSuccess(2)).toBeNull();
    expect(b.onFailure(3)).toBeNull();
    expect(b.state(500)).toBe('open');
    expect(b.snapshot().openedAt).toBe(1);
  });

  it('allows halfOpenMaxCalls trials, and frees a trial that never reports after a cool-down', () => {
    const b = createCircuitBreaker({ failureThreshold: 1, cooldown: 1000, halfOpenMaxCalls: 2 });
    b.onFailure(0);
    expect([b.canRequest(1000), b.canRequest(1001), b.canRequest(1002)]).toEqual([true, true, false]);
    expect(b.canRequest(1999)).toBe(false);
    expect(b.canRequest(2000)).toBe(true); // the first trial is presumed lost
  });

  it('refuses bad options with exact messages', () => {
    expectInvalid(() => createCircuitBreaker({ failureThreshold: 0 }), 'circuitBreaker.failureThreshold must be an integer >= 1, got 0');
    expectInvalid(
      () => createCircuitBreaker({ cooldown: -5 }),
      'circuitBreaker.cooldown must be a number of milliseconds > 0 or an ISO-8601 duration such as "PT1S", got -5',
    );
  });
});

// ---------------------------------------------------------------------------------------------
describe('batching', () => {
  it('chunks an array, the last batch shorter', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunk([1, 2, 3, 4], 2)).toEqual([[1, 2], [3, 4]]);
    expect(chunk([], 3)).toEqual([]);
    expectInvalid(() => chunk([1], 0), 'chunk.size must be an integer >= 1, got 0');
  });

  it('batches an async stream as it arrives', async () => {
    async function* source() {
      for (let i = 1; i <= 7; i++) yield i;
    }
    const out: number[][] = [];
    for await (const b of batches(source(), 3)) out.push(b);
    expect(out).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    const none: number[][] = [];
    for await (const b of batches((async function* () {})(), 3)) none.push(b);
    expect(none).toEqual([]);
    await expect(batches(source(), 1.5).next()).rejects.toThrow('batches.size must be an integer >= 1, got 1.5');
  });
});

// ---------------------------------------------------------------------------------------------
describe('compliance presets', () => {
  it('are data: quiet hours, caps and the rule in words', () => {
    expect(COMPLIANCE_PRESETS['us-tcpa']).toEqual({ name: 'us-tcpa', quietHours: { start: '21:00', end: '08:00' }, rule: 'TCPA: 08:00–21:00 recipient local time' });
    expect(COMPLIANCE_PRESETS['us-fl-ok'].quietHours).toEqual({ start: '20:00', end: '08:00' });
    expect(COMPLIANCE_PRESETS['us-fl-ok'].frequencyCap).toEqual({ max: 3, windowMs: 86_400_000 });
    expect(Object.isFrozen(COMPLIANCE_PRESETS['us-tcpa'].quietHours)).toBe(true);
  });

  it('us-fl-ok wins over us-tcpa for frequency caps, in any order; every quiet window applies', () => {
    for (const names of [['us-tcpa', 'us-fl-ok'], ['us-fl-ok', 'us-tcpa']]) {
      const c = resolveCompliance(names);
      expect(c.frequencyCap).toEqual({ max: 3, windowMs: 86_400_000, preset: 'us-fl-ok' });
      expect(c.quietHours).toHaveLength(2);
      expect(c.presets.map((p) => p.name)).toEqual(names);
    }
    expect(resolveCompliance(['us-tcpa']).frequencyCap).toBeUndefined();
    expect(resolveCompliance(['us-tcpa', 'us-tcpa']).presets).toHaveLength(1);
  });

  it('quiet hours work with the scheduler: 20:30 in New York is fine for TCPA, not for Florida', () => {
    const zone = 'America/New_York';
    const at2030 = Date.parse('2026-03-02T20:30:00-05:00');
    const next0800 = Date.parse('2026-03-03T08:00:00-05:00');
    expect(applyQuietHours(at2030, zone, resolveCompliance(['us-tcpa']).quietHours)).toBe(at2030);
    expect(applyQuietHours(at2030, zone, resolveCompliance(['us-tcpa', 'us-fl-ok']).quietHours)).toBe(next0800);
  });

  it('refuses unknown names, listing the known ones', () => {
    expectInvalid(() => resolveCompliance(['us-tcpa', 'us-ca']), 'unknown compliance preset "us-ca"; known presets: us-tcpa, us-fl-ok');
    expectInvalid(() => resolveCompliance(['toString']), 'unknown compliance preset "toString"; known presets: us-tcpa, us-fl-ok');
  });
});

// ---------------------------------------------------------------------------------------------
describe('frequency cap', () => {
  const H = 3_600_000;
  it('allows while under the cap', () => {
    expect(frequencyCapDecision({ recentSendTimes: [], max: 3, windowMs: 24 * H, now: 0 })).toEqual({ ok: true });
    expect(frequencyCapDecision({ recentSendTimes: [H, 2 * H], max: 3, windowMs: 24 * H, now: 3 * H })).toEqual({ ok: true });
  });

  it('gives the exact time the oldest send in the way leaves the window', () => {
    const times = [1 * H, 2 * H, 3 * H];
    expect(frequencyCapDecision({ recentSendTimes: times, max: 3, windowMs: 24 * H, now: 5 * H })).toEqual({ ok: false, retryAt: 25 * H });
    expect(frequencyCapDecision({ recentSendTimes: times, max: 2, windowMs: 24 * H, now: 5 * H })).toEqual({ ok: false, retryAt: 26 * H });
    expect(frequencyCapDecision({ recentSendTimes: times, max: 3, windowMs: 24 * H, now: 25 * H - 1 })).toEqual({ ok: false, retryAt: 25 * H });
    expect(frequencyCapDecision({ recentSendTimes: times, max: 3, windowMs: 24 * H, now: 25 * H })).toEqual({ ok: true });
  });

  it('ignores sends that already left the window and sorts an unsorted list', () => {
    expect(frequencyCapDecision({ recentSendTimes: [0, 1000, 2000, 3000], max: 3, windowMs: 2500, now: 3000 })).toEqual({ ok: false, retryAt: 3500 });
    expect(frequencyCapDecision({ recentSendTimes: [0, 1000, 2000], max: 3, windowMs: 2500, now: 3000 })).toEqual({ ok: true });
    expect(frequencyCapDecision({ recentSendTimes: [3000, 1000, 2000], max: 3, windowMs: 2500, now: 3000 })).toEqual({ ok: false, retryAt: 3500 });
    expectInvalid(() => frequencyCapDecision({ recentSendTimes: [], max: 0, windowMs: 1, now: 0 }), 'frequencyCap.max must be an integer >= 1, got 0');
  });
});
