/**
 * Nested rate limits — provider account → sender → tenant → campaign — granted all or nothing,
 * with a fair share of each tenant's limit between its active campaigns.
 *
 * @packageDocumentation
 */
import { z } from 'zod';
import { DriplineError } from '../errors.js';
import { bool, formatPath, invalid, parseOptions, show } from './options.js';
import { SlidingWindowLimiter, compileRateLimit, type LimiterPeek, type RateLimit, type RateLimitInput } from './rate-limiter.js';

/**
 * The limits of a {@link LimiterTree}. Every level is optional; a level applies to a request
 * when it is configured and (for keyed levels) the request names its key.
 */
export interface LimiterTreeConfig {
  /** One limit for everything that goes through the tree (the provider account). */
  account?: RateLimitInput;
  /**
   * A limit per sender id (each sender has its own window), or limits by sender id with `'*'`
   * as the default for ids not listed. A sender with no entry and no `'*'` is not limited at
   * this level.
   */
  sender?: RateLimitInput | Record<string, RateLimitInput>;
  /** A limit per tenant (each tenant has its own window). */
  tenant?: RateLimitInput;
  /** A limit per campaign (each campaign has its own window). */
  campaign?: RateLimitInput;
  /**
   * Share each tenant's limit fairly between its campaigns (default `true`): a campaign may use
   * at most `ceil(L / n)` of the tenant limit `L` per tenant window, where `n` is the number of
   * the tenant's campaigns that asked (granted or refused) within the last tenant window, its
   * start included (`[now - window, now]`: a campaign refused at `t` and told to come back at
   * `t + window` still counts when it does). A campaign alone gets all of `L`; a big campaign
   * cannot starve a small one. Needs a `tenant` limit, and requests that name both `tenant`
   * and `campaign`.
   */
  fairShare?: boolean;
}

/** The keys of one request to a {@link LimiterTree}. */
export interface LimiterKeys {
  /** The sender id (e.g. a phone number or `twilio:sms`). */
  sender?: string;
  /** The tenant id. */
  tenant?: string;
  /** The campaign id; unique across tenants or scoped by the tenant (`tenant\u0000campaign`). */
  campaign?: string;
}

/** A level of a {@link LimiterTree}; `fair-share` is the tenant's fair share of a campaign. */
export type LimiterLevel = 'account' | 'sender' | 'tenant' | 'campaign' | 'fair-share';

/** The outcome of {@link LimiterTree.tryAcquire}. */
export type TreeAcquireResult =
  | { ok: true }
  | {
      ok: false;
      /** The exact earliest time the request fits. */
      retryAt: number;
      /** The level that refused (the one whose `retryAt` is latest). */
      level: LimiterLevel;
      /** That level's key (empty for the account; the sender, tenant or campaign key; tenant and campaign for `fair-share`). */
      key: string;
      /**
       * The refusing level's steady spacing, `windowMs / limit` (for `fair-share`, of the
       * current share): callers deferring several requests can give them successive slots
       * `retryAt`, `retryAt + spacingMs`, ... instead of all the same one.
       */
      spacingMs: number;
    };

/** A campaign's fair share of its tenant's limit, as {@link LimiterTree.peek} reports it. */
export interface FairSharePeek {
  /** `ceil(tenant limit / activeCampaigns)`. */
  share: number;
  /** The tenant's campaigns that asked within the last tenant window (start included), this one included. */
  activeCampaigns: number;
  /** This campaign's grants within the last tenant window. */
  used: number;
  /** `max(0, share - used)`. */
  available: number;
}

/** What {@link LimiterTree.peek} reports for a request's keys: each applicable level's use. */
export interface LimiterTreePeek {
  account?: LimiterPeek;
  sender?: LimiterPeek;
  tenant?: LimiterPeek;
  campaign?: LimiterPeek;
  fairShare?: FairSharePeek;
}

/** How many limiters a {@link LimiterTree} holds per level (they are created lazily and dropped when idle). */
export interface LimiterTreeStats {
  account: number;
  sender: number;
  tenant: number;
  campaign: number;
  /** Campaigns tracked for fair shares (active within the last tenant window). */
  fairShare: number;
}

/** A limiter and when it was last asked. */
interface Slot {
  readonly limiter: SlidingWindowLimiter;
  last: number;
}

/** One keyed level: limiters per key, in least-recently-used order. */
class Level {
  readonly slots = new Map<string, Slot>();
  readonly idleMs: number;

  constructor(
    readonly name: 'account' | 'sender' | 'tenant' | 'campaign',
    private readonly rateOf: (key: string) => RateLimit | undefined,
    maxWindowMs: number,
  ) {
    this.idleMs = 2 * maxWindowMs;
  }

  /** Drops limiters idle for two windows (their grants have all left the window). */
  sweep(t: number): void {
    for (const [key, slot] of this.slots) {
      if (slot.last + this.idleMs > t) break;
      this.slots.delete(key);
    }
  }

  /** The limiter of `key`, created if needed and marked as used at `t`; undefined if unlimited. */
  touch(key: string, t: number): SlidingWindowLimiter | undefined {
    let slot = this.slots.get(key);
    if (slot) this.slots.delete(key);
    else {
      const rate = this.rateOf(key);
      if (!rate) return undefined;
      slot = { limiter: new SlidingWindowLimiter(rate), last: t };
    }
    slot.last = t;
    this.slots.set(key, slot);
    return slot.limiter;
  }

  peek(key: string, t: number): LimiterPeek | undefined {
    const slot = this.slots.get(key);
    if (slot) return slot.limiter.peek(t);
    const rate = this.rateOf(key);
    return rate && { limit: rate.limit, windowMs: rate.windowMs, used: 0, available: rate.limit };
  }
}

/** A campaign's record in its tenant's fair-share group. */
interface Member {
  lastSeen: number;
  /** The campaign's grants within the tenant window (capacity = tenant limit). */
  readonly log: SlidingWindowLimiter;
}

/** A tenant's campaigns that asked within the last tenant window, oldest request first. */
interface Group {
  readonly members: Map<string, Member>;
  last: number;
}

const configSchema = z.strictObject({
  account: z.unknown().optional(),
  sender: z.unknown().optional(),
  tenant: z.unknown().optional(),
  campaign: z.unknown().optional(),
  fairShare: bool(),
});

function isSingleRate(v: unknown): v is RateLimitInput {
  return typeof v === 'object' && v !== null && ('limit' in v || 'window' in v) &&
    typeof (v as { limit?: unknown }).limit !== 'object' && typeof (v as { window?: unknown }).window !== 'object';
}

/**
 * Nested rate limits, provider account → sender → tenant → campaign, each optional, granted
 * all or nothing; see {@link createLimiterTree}.
 */
export class LimiterTree {
  private readonly levels: readonly Level[];
  private readonly tenantRate: RateLimit | undefined;
  private readonly fairShare: boolean;
  private readonly groups = new Map<string, Group>();
  private latest = -Infinity;

  /** Prefer {@link createLimiterTree}. */
  constructor(config: LimiterTreeConfig = {}) {
    const o = parseOptions(configSchema, config, 'rateLimits');
    const single = (v: unknown, name: string): RateLimit | undefined => (v === undefined ? undefined : compileRateLimit(v as RateLimitInput, `rateLimits.${name}`));
    const account = single(o.account, 'account');
    const tenant = single(o.tenant, 'tenant');
    const campaign = single(o.campaign, 'campaign');
    let senderOf: (key: string) => RateLimit | undefined = () => undefined;
    let senderMax = 0;
    if (o.sender !== undefined) {
      if (isSingleRate(o.sender)) {
        const r = compileRateLimit(o.sender, 'rateLimits.sender');
        senderOf = () => r;
        senderMax = r.windowMs;
      } else if (typeof o.sender === 'object' && o.sender !== null && !Array.isArray(o.sender)) {
        const byId = new Map<string, RateLimit>();
        for (const [id, v] of Object.entries(o.sender)) {
          const r = compileRateLimit(v as RateLimitInput, formatPath('rateLimits.sender', [id]));
          byId.set(id, r);
          senderMax = Math.max(senderMax, r.windowMs);
        }
        const fallback = byId.get('*');
        senderOf = (key) => byId.get(key) ?? fallback;
      } else {
        invalid('rateLimits.sender', 'must be a rate limit { limit, window } or an object of rate limits by sender id', o.sender);
      }
    }
    const levels: Level[] = [];
    if (account) levels.push(new Level('account', () => account, account.windowMs));
    if (o.sender !== undefined) levels.push(new Level('sender', senderOf, senderMax));
    if (tenant) levels.push(new Level('tenant', () => tenant, tenant.windowMs));
    if (campaign) levels.push(new Level('campaign', () => campaign, campaign.windowMs));
    this.levels = levels;
    this.tenantRate = tenant;
    this.fairShare = o.fairShare ?? true;
  }

  private keyOf(level: Level, keys: LimiterKeys): string | undefined {
    return level.name === 'account' ? '' : keys[level.name];
  }

  /**
   * Grants `n` sends for `keys` at `now` only if every applicable level allows them, and then
   * records them at every level. Nothing is taken from any level when one refuses.
   *
   * @param keys - the request's sender, tenant and campaign.
   * @param now - epoch ms. Time never runs backwards here: an earlier `now` counts as the latest seen.
   * @param n - sends wanted at once (integer >= 1, at most every applicable limit). Default 1.
   * @returns `{ ok: true }`, or `{ ok: false, retryAt, level }`: the earliest time every level
   *   would allow it if nothing else happened meanwhile, and the level that holds it back longest.
   * @throws DriplineError `INVALID_INPUT` for bad keys, `now` or `n`.
   * @example
   * ```ts
   * const r = tree.tryAcquire({ sender: 'twilio:+15550001', tenant: 'acme', campaign: 'acme/spring' }, now);
   * if (!r.ok) defer(r.retryAt, r.level);
   * ```
   */
  tryAcquire(keys: LimiterKeys, now: number, n = 1): TreeAcquireResult {
    this.checkKeys(keys);
    if (typeof now !== 'number' || !Number.isFinite(now)) invalid('now', 'must be a finite number of epoch ms', now);
    if (!(typeof n === 'number' && Number.isInteger(n) && n >= 1)) invalid('n', 'must be an integer >= 1', n);
    const t = now > this.latest ? now : this.latest;
    this.latest = t;

    const taken: SlidingWindowLimiter[] = [];
    let retryAt = t;
    let level: LimiterLevel = 'account';
    let refusedKey = '*';
    let spacingMs = 0;
    const consider = (at: number, name: LimiterLevel, key: string, spacing: number) => {
      if (at > retryAt) {
        retryAt = at;
        level = name;
        refusedKey = key;
        spacingMs = spacing;
      }
    };
    for (const lv of this.levels) {
      lv.sweep(t);
      const key = this.keyOf(lv, keys);
      if (key === undefined) continue;
      const limiter = lv.touch(key, t);
      if (!limiter) continue;
      if (n > limiter.limit) invalid('n', `must not exceed the ${lv.name} limit (${limiter.limit})`, n);
      taken.push(limiter);
      consider(limiter.availableAt(t, n), lv.name, key, limiter.windowMs / limiter.limit);
      if (lv.name === 'tenant') {
        const fs = this.fairShareAt(keys, t, n);
        if (fs) {
          taken.push(fs.log);
          consider(fs.at, 'fair-share', `${keys.tenant}\u0000${keys.campaign}`, fs.spacingMs);
        }
      }
    }
    if (retryAt > t) return { ok: false, retryAt, level, key: refusedKey, spacingMs };
    for (const limiter of taken) limiter.record(t, n);
    return { ok: true };
  }

  /**
   * Notes that the campaign asked at `t` and returns its fair-share log and the earliest time its
   * fair share allows `n` more grants (if no one else asks meanwhile: shares grow as other
   * campaigns go quiet).
   */
  private fairShareAt(keys: LimiterKeys, t: number, n: number): { log: SlidingWindowLimiter; at: number; spacingMs: number } | undefined {
    const rate = this.tenantRate;
    if (!this.fairShare || !rate || keys.tenant === undefined || keys.campaign === undefined) return undefined;
    const W = rate.windowMs;
    // Drop groups, then members, that asked nothing within the last window (start included).
    for (const [key, g] of this.groups) {
      if (g.last + W >= t) break;
      this.groups.delete(key);
    }
    let group = this.groups.get(keys.tenant);
    if (group) this.groups.delete(keys.tenant);
    else group = { members: new Map(), last: t };
    group.last = t;
    this.groups.set(keys.tenant, group);
    const members = group.members;
    for (const [key, m] of members) {
      if (m.lastSeen + W >= t) break;
      members.delete(key);
    }
    let self = members.get(keys.campaign);
    if (self) members.delete(keys.campaign);
    else self = { lastSeen: t, log: new SlidingWindowLimiter(rate) };
    self.lastSeen = t;
    members.set(keys.campaign, self);

    // While others stay active the share is ceil(L / active); each one that goes quiet raises
    // it. Another campaign counts up to and including `lastSeen + W`, and no longer 1 ms later
    // (the resolution of retryAt when a share grows).
    let active = members.size;
    let from = t;
    for (const m of members.values()) {
      if (m === self) break;
      const until = m.lastSeen + W;
      const at = self.log.availableAt(from, n, Math.ceil(rate.limit / active));
      if (at <= until) return { log: self.log, at, spacingMs: W / Math.ceil(rate.limit / active) };
      if (until + 1 > from) from = until + 1;
      active -= 1;
    }
    return { log: self.log, at: self.log.availableAt(from, n, Math.ceil(rate.limit / active)), spacingMs: W / Math.ceil(rate.limit / active) };
  }

  /**
   * The use of every level that applies to `keys` at `now`, without asking or recording
   * anything (a limiter not created yet reports `used: 0`).
   *
   * @example
   * ```ts
   * tree.peek({ sender: 's1', tenant: 'acme', campaign: 'c1' }, now).sender; // { limit: 10, windowMs: 1000, used: 4, available: 6 }
   * ```
   */
  peek(keys: LimiterKeys, now: number): LimiterTreePeek {
    this.checkKeys(keys);
    if (typeof now !== 'number' || !Number.isFinite(now)) invalid('now', 'must be a finite number of epoch ms', now);
    const t = now > this.latest ? now : this.latest;
    const out: LimiterTreePeek = {};
    for (const lv of this.levels) {
      const key = this.keyOf(lv, keys);
      if (key === undefined) continue;
      const p = lv.peek(key, t);
      if (p) out[lv.name] = p;
    }
    const rate = this.tenantRate;
    if (this.fairShare && rate && keys.tenant !== undefined && keys.campaign !== undefined) {
      let active = 1;
      let used = 0;
      const group = this.groups.get(keys.tenant);
      if (group) {
        for (const [key, m] of group.members) {
          if (m.lastSeen + rate.windowMs < t) continue;
          if (key === keys.campaign) used = m.log.used(t);
          else active += 1;
        }
      }
      const share = Math.ceil(rate.limit / active);
      out.fairShare = { share, activeCampaigns: active, used, available: Math.max(0, share - used) };
    }
    return out;
  }

  /**
   * How many limiters the tree holds per level. Limiters are created on first use and dropped,
   * lazily on later calls, once idle for two windows; fair-share records once idle for one
   * tenant window.
   */
  stats(): LimiterTreeStats {
    const count = (name: string) => this.levels.find((l) => l.name === name)?.slots.size ?? 0;
    let fairShare = 0;
    for (const g of this.groups.values()) fairShare += g.members.size;
    return { account: count('account'), sender: count('sender'), tenant: count('tenant'), campaign: count('campaign'), fairShare };
  }

  private checkKeys(keys: LimiterKeys): void {
    if (typeof keys !== 'object' || keys === null)
      throw new DriplineError('INVALID_INPUT', `limiter keys must be an object { sender?, tenant?, campaign? }, got ${show(keys)}`, { details: { path: 'keys' } });
    for (const k of ['sender', 'tenant', 'campaign'] as const) {
      const v = keys[k];
      if (v !== undefined && typeof v !== 'string') invalid(`keys.${k}`, 'must be a string', v);
    }
  }
}

/**
 * Creates a {@link LimiterTree}: nested sliding-window limits, provider account → sender →
 * tenant → campaign, each optional, plus a fair share of each tenant's limit between its
 * campaigns (on by default).
 *
 * A request is granted only if every applicable level allows it, and then it is recorded at
 * every level at once: a refusal at one level never consumes capacity at another. Limiters are
 * created lazily per key and dropped lazily (on later calls, no timers) after two windows idle,
 * so memory stays bounded by the keys active recently.
 *
 * @throws DriplineError `INVALID_INPUT` naming the bad option, e.g.
 *   `rateLimits.sender["*"].limit must be an integer >= 1, got 0`.
 * @example
 * ```ts
 * const tree = createLimiterTree({
 *   account: { limit: 100, window: 'PT1S' },
 *   sender: { '*': { limit: 10, window: 'PT1S' } }, // Twilio: 10 msg/s per number
 *   tenant: { limit: 10 },
 * });
 * const r = tree.tryAcquire({ sender: '+15550001', tenant: 'acme', campaign: 'spring' }, now);
 * // { ok: true } or { ok: false, retryAt: 1_700_000_000_250, level: 'fair-share' }
 * ```
 */
export function createLimiterTree(config: LimiterTreeConfig = {}): LimiterTree {
  return new LimiterTree(config);
}
