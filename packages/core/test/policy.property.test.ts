/**
 * Property tests of policy/ against brute-force oracles written here (never with the code under
 * test): the sliding-window guarantee and throughput of the rate limiter, the limiter tree's
 * all-or-nothing grants and fair shares, retry delays, and frequency caps. Deterministic: fixed
 * seeds.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  compileRetryPolicy,
  createLimiterTree,
  createRateLimiter,
  frequencyCapDecision,
  retryDecision,
  type LimiterTreeConfig,
} from '../src/policy/index.js';

const SEED = 20_240_501;

/** Index of the first element of ascending `xs` (its first `len` elements) that is >= `v`. */
function lowerBound(xs: readonly number[], v: number, len = xs.length): number {
  let lo = 0;
  let hi = len;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Grants (ascending; the first `len` of them) in the half-open interval [from, to). */
const countIn = (grants: readonly number[], from: number, to: number, len = grants.length) =>
  lowerBound(grants, to, len) - lowerBound(grants, from, len);

/**
 * The largest number of grants in any window [t, t + window). It is enough to look at windows
 * starting at grant times: any window can slide right to its first grant without losing one.
 */
function worstWindow(grants: readonly number[], window: number): number {
  let worst = 0;
  for (const t of grants) worst = Math.max(worst, countIn(grants, t, t + window));
  return worst;
}

// ---------------------------------------------------------------------------------------------
describe('sliding-window limiter (property)', () => {
  /**
   * A virtual clock: one worker that always has work (asks again at once after a grant, exactly
   * at retryAt after a refusal), plus random extra arrivals that ask once each.
   */
  function run(window: number, t0: number, extra: readonly number[], ask: (t: number) => { ok: true } | { ok: false; retryAt: number }) {
    const end = t0 + 60 * window;
    const arrivals = extra.map((x) => t0 + x).sort((a, b) => a - b);
    const grants: number[] = [];
    const refusals: Array<{ at: number; retryAt: number; grantsSoFar: number }> = [];
    let worker = t0;
    let i = 0;
    for (;;) {
      const fromArrival = i < arrivals.length && arrivals[i]! <= worker;
      const t = fromArrival ? arrivals[i]! : worker;
      if (t >= end) break;
      const r = ask(t);
      // A limiter that never refuses would keep this loop going forever: fail instead.
      if (grants.length > 1_000_000) throw new Error('runaway: more than a million grants');
      if (r.ok) grants.push(t);
      else refusals.push({ at: t, retryAt: r.retryAt, grantsSoFar: grants.length });
      if (fromArrival) i++;
      else if (!r.ok) worker = r.retryAt;
    }
    return { grants, refusals, end };
  }

  const params = fc.record({
    limit: fc.integer({ min: 1, max: 200 }),
    window: fc.integer({ min: 100, max: 5000 }),
    t0: fc.integer({ min: 0, max: 2_000_000_000_000 }),
    extraPerWindow: fc.integer({ min: 0, max: 400 }),
    extraSeed: fc.integer({ min: 1, max: 2 ** 31 - 2 }),
  });

  /** Deterministic extra arrival offsets in [0, 60 windows) from a small LCG. */
  function extras(n: number, span: number, seed: number): number[] {
    let s = seed;
    const out: number[] = [];
    for (let k = 0; k < n; k++) {
      s = (s * 48_271) % 2_147_483_647;
      out.push(s % span);
    }
    return out;
  }

  it('never grants more than limit in any sliding window, gives exact retryAt, and keeps >= 98% throughput', () => {
    fc.assert(
      fc.property(params, ({ limit, window, t0, extraPerWindow, extraSeed }) => {
        const limiter = createRateLimiter({ limit, window });
        const extra = extras(extraPerWindow * 60, 60 * window, extraSeed);
        const { grants, refusals } = run(window, t0, extra, (t) => limiter.tryAcquire(t));
        // (a) the guarantee, over every window that starts at a grant time.
        expect(worstWindow(grants, window)).toBeLessThanOrEqual(limit);
        // (b) plentiful work runs at full rate: >= 98% of limit per window over 60 windows.
        expect(grants.length).toBeGreaterThanOrEqual(Math.floor(0.98 * limit * 60));
        // retryAt is exact (against the grants made so far): a grant fits at retryAt, and not 1 ms before.
        for (const { at, retryAt, grantsSoFar } of refusals) {
          if (!(retryAt > at)) expect(retryAt).toBeGreaterThan(at);
          // Windows (retryAt - window, retryAt] and (retryAt - 1 - window, retryAt - 1], in integer ms.
          const atRetry = countIn(grants, retryAt - window + 1, retryAt + 1, grantsSoFar);
          const before = countIn(grants, retryAt - window, retryAt, grantsSoFar);
          if (!(atRetry < limit && before === limit)) expect({ at, retryAt, atRetry, before }).toEqual({ at, retryAt, atRetry: '< limit', before: limit });
        }
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('the window check catches a fixed-window limiter (so the property above can fail)', () => {
    // A fixed-window limiter, `limit` per aligned bucket as BullMQ counts, against this one, on
    // requests every 10 ms from 0.9 s to 1.1 s: a burst that straddles the bucket edge.
    const limit = 10;
    const window = 1000;
    const asks = Array.from({ length: 20 }, (_, k) => 900 + 10 * k);
    const perBucket = new Map<number, number>();
    const fixedGrants = asks.filter((t) => {
      const b = Math.floor(t / window);
      const used = perBucket.get(b) ?? 0;
      if (used >= limit) return false;
      perBucket.set(b, used + 1);
      return true;
    });
    expect(worstWindow(fixedGrants, window)).toBe(20);
    const limiter = createRateLimiter({ limit, window });
    const slidingGrants = asks.filter((t) => limiter.tryAcquire(t).ok);
    expect(worstWindow(slidingGrants, window)).toBe(10);
  });
});

// ---------------------------------------------------------------------------------------------
describe('limiter tree (property)', () => {
  const limitArb = fc.record({ limit: fc.integer({ min: 1, max: 8 }), window: fc.integer({ min: 50, max: 400 }) });
  const configArb = fc.record(
    {
      account: limitArb,
      sender: limitArb,
      tenant: limitArb,
      campaign: limitArb,
      fairShare: fc.boolean(),
    },
    { requiredKeys: ['fairShare'] },
  );
  const requestArb = fc.record({
    dt: fc.integer({ min: 0, max: 60 }),
    sender: fc.constantFrom('s1', 's2'),
    tenant: fc.constantFrom('t1', 't2'),
    campaign: fc.constantFrom('c1', 'c2', 'c3', 'c4'),
  });

  it('grants only when every level (and the fair share) has room, refuses only when one is full, and records all or nothing', () => {
    fc.assert(
      fc.property(configArb, fc.array(requestArb, { minLength: 1, maxLength: 300 }), (config, requests) => {
        const tree = createLimiterTree(config as LimiterTreeConfig);
        // The oracle's own records.
        const grants: Array<{ t: number; sender: string; tenant: string; campaign: string }> = [];
        const lastSeen = new Map<string, number>(); // tenant \u0000 campaign -> last request
        const fairOn = config.fairShare && config.tenant !== undefined;
        let t = 1_000_000;
        for (const rq of requests) {
          t += rq.dt;
          const campaign = `${rq.tenant}/${rq.campaign}`;
          const keys = { sender: rq.sender, tenant: rq.tenant, campaign };
          if (fairOn) lastSeen.set(`${rq.tenant}\u0000${campaign}`, t);
          const used = (window: number, match: (g: (typeof grants)[number]) => boolean) =>
            grants.filter((g) => g.t > t - window && match(g)).length;
          const full: string[] = [];
          if (config.account && used(config.account.window, () => true) >= config.account.limit) full.push('account');
          if (config.sender && used(config.sender.window, (g) => g.sender === rq.sender) >= config.sender.limit) full.push('sender');
          if (config.tenant && used(config.tenant.window, (g) => g.tenant === rq.tenant) >= config.tenant.limit) full.push('tenant');
          if (config.campaign && used(config.campaign.window, (g) => g.campaign === campaign) >= config.campaign.limit) full.push('campaign');
          if (fairOn) {
            const W = config.tenant!.window;
            let n = 0;
            for (const [k, seen] of lastSeen) if (k.startsWith(`${rq.tenant}\u0000`) && seen >= t - W) n++;
            const share = Math.ceil(config.tenant!.limit / n);
            if (used(W, (g) => g.campaign === campaign) >= share) full.push('fair-share');
          }
          const r = tree.tryAcquire(keys, t);
          if (r.ok) {
            expect(full).toEqual([]);
            grants.push({ t, ...keys });
          } else {
            expect(full).toContain(r.level);
            expect(r.retryAt).toBeGreaterThan(t);
          }
          // All or nothing: every level's count is the oracle's count of grants.
          const p = tree.peek(keys, t);
          if (config.account) expect(p.account?.used).toBe(used(config.account.window, () => true));
          if (config.sender) expect(p.sender?.used).toBe(used(config.sender.window, (g) => g.sender === rq.sender));
          if (config.tenant) expect(p.tenant?.used).toBe(used(config.tenant.window, (g) => g.tenant === rq.tenant));
          if (config.campaign) expect(p.campaign?.used).toBe(used(config.campaign.window, (g) => g.campaign === campaign));
        }
        // And the sliding-window guarantee holds per key at every level.
        const check = (limit: { limit: number; window: number } | undefined, keyOf: (g: (typeof grants)[number]) => string) => {
          if (!limit) return;
          const byKey = new Map<string, number[]>();
          for (const g of grants) byKey.set(keyOf(g), [...(byKey.get(keyOf(g)) ?? []), g.t]);
          for (const ts of byKey.values()) expect(worstWindow(ts, limit.window)).toBeLessThanOrEqual(limit.limit);
        };
        check(config.account, () => '');
        check(config.sender, (g) => g.sender);
        check(config.tenant, (g) => g.tenant);
        check(config.campaign, (g) => g.campaign);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('a refused request granted at its retryAt when nothing else happens meanwhile', () => {
    fc.assert(
      fc.property(configArb, fc.array(requestArb, { minLength: 1, maxLength: 100 }), (config, requests) => {
        const tree = createLimiterTree(config as LimiterTreeConfig);
        let t = 0;
        for (const rq of requests) {
          t += rq.dt;
          const keys = { sender: rq.sender, tenant: rq.tenant, campaign: `${rq.tenant}/${rq.campaign}` };
          const r = tree.tryAcquire(keys, t);
          if (!r.ok) {
            // Ask again at retryAt; no one else asked, so it must be granted.
            expect(tree.tryAcquire(keys, r.retryAt)).toEqual({ ok: true });
            t = r.retryAt;
          }
        }
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
describe('retry delays (property)', () => {
  it('stay within the jitter band of the capped backoff, never shrink with the attempt, and respect Retry-After', () => {
    fc.assert(
      fc.property(
        fc.record({
          maxAttempts: fc.integer({ min: 2, max: 40 }),
          initialDelay: fc.integer({ min: 0, max: 10_000 }),
          extra: fc.integer({ min: 0, max: 600_000 }),
          multiplier: fc.double({ min: 1, max: 5, noNaN: true }),
          jitter: fc.double({ min: 0, max: 1, noNaN: true }),
        }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.option(fc.integer({ min: 0, max: 1_000_000 }), { nil: undefined }),
        ({ maxAttempts, initialDelay, extra, multiplier, jitter }, random, retryAfterMs) => {
          const p = compileRetryPolicy({ maxAttempts, initialDelay, maxDelay: initialDelay + extra, multiplier, jitter });
          let previous = -1;
          for (let attempt = 1; attempt < maxAttempts; attempt++) {
            const d = retryDecision(p, { attempt, kind: 'retryable', random });
            if (!d.retry) throw new Error('expected a retry');
            const base = Math.min(initialDelay + extra, initialDelay * multiplier ** (attempt - 1));
            expect(d.delayMs).toBeGreaterThanOrEqual(Math.floor(base * (1 - jitter)) - 1);
            expect(d.delayMs).toBeLessThanOrEqual(Math.ceil(base * (1 + jitter)) + 1);
            expect(d.delayMs).toBeGreaterThanOrEqual(previous);
            previous = d.delayMs;
            const withAfter = retryDecision(p, { attempt, kind: 'retryable', random, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
            expect(withAfter).toEqual({ retry: true, delayMs: Math.max(d.delayMs, retryAfterMs ?? 0) });
          }
          expect(retryDecision(p, { attempt: maxAttempts, kind: 'retryable', random })).toEqual({ retry: false, reason: 'exhausted' });
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
describe('frequency cap (property)', () => {
  it('agrees with a brute-force search for the earliest allowed time', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 10_000 }), { maxLength: 20 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 0, max: 5000 }),
        (raw, max, windowMs, after) => {
          const times = [...raw].sort((a, b) => a - b);
          const now = (times[times.length - 1] ?? 0) + after;
          const inWindow = (t: number) => times.filter((s) => s > t - windowMs && s <= t).length;
          const d = frequencyCapDecision({ recentSendTimes: times, max, windowMs, now });
          if (inWindow(now) < max) {
            expect(d).toEqual({ ok: true });
            return;
          }
          // Brute force over every integer ms after now.
          let t = now + 1;
          while (inWindow(t) >= max) t++;
          expect(d).toEqual({ ok: false, retryAt: t });
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
  });
});
