/**
 * Set-based store access for a batch of actions: {@link bulkOperations} (the store's own, or
 * made of single-row calls) and {@link ChunkCache}, which reads a chunk's rows up front and
 * answers the engine's single-row reads from them.
 */
import { DriplineError } from '../errors.js';
import { CHANNELS } from '../plan/schema.js';
import type {
  ActionRecord,
  BulkStoreOperations,
  CampaignRecord,
  CampaignStore,
  ChunkClaimRequest,
  ClaimedChunk,
  EnrollmentRecord,
  MessageEventRecord,
  OutboundRecord,
  StoreTransaction,
  SuppressionRecord,
} from '../ports/campaign-store.js';

/**
 * The transaction's {@link BulkStoreOperations}, or, for a store without them, the same
 * operations made of single-row calls (the `OrFail` writes then fail at once). Optional
 * operations the store's `bulk` lacks are stood in for the same way.
 */
export function bulkOperations(tx: StoreTransaction): Required<BulkStoreOperations> {
  const own = tx.bulk;
  if (own && own.assertLeasesOrFail && own.expectNoOrphanEventsOrFail && own.readAnalyticsAtCommit && own.claimAtCommit) return own as Required<BulkStoreOperations>;
  const stand = standIns(tx);
  if (!own) return stand;
  // Bound, so a store's methods that rely on `this` keep working.
  const bind = <K extends keyof BulkStoreOperations>(k: K) => (own[k] ? (own[k] as (...a: unknown[]) => unknown).bind(own) : stand[k]) as Required<BulkStoreOperations>[K];
  return {
    getActions: bind('getActions'),
    getEnrollments: bind('getEnrollments'),
    getOutbounds: bind('getOutbounds'),
    listSuppressions: bind('listSuppressions'),
    listOrphanEvents: bind('listOrphanEvents'),
    claimActions: bind('claimActions'),
    updateEnrollmentOrFail: bind('updateEnrollmentOrFail'),
    finishActionOrFail: bind('finishActionOrFail'),
    insertOutboundOrFail: bind('insertOutboundOrFail'),
    assertLeasesOrFail: bind('assertLeasesOrFail'),
    expectNoOrphanEventsOrFail: bind('expectNoOrphanEventsOrFail'),
    readAnalyticsAtCommit: bind('readAnalyticsAtCommit'),
    claimAtCommit: bind('claimAtCommit'),
  };
}

/** {@link BulkStoreOperations} made of single-row calls. */
function standIns(tx: StoreTransaction): Required<BulkStoreOperations> {
  const each = async <T>(items: readonly string[], get: (item: string) => Promise<T | null>): Promise<T[]> => {
    const out: T[] = [];
    for (const item of new Set(items)) {
      const r = await get(item);
      if (r !== null) out.push(r);
    }
    return out;
  };
  const conflict = (message: string, details: Record<string, unknown>) => new DriplineError('CONFLICT', message, { retryable: true, details });
  return {
    getActions: (keys) => each(keys, (k) => tx.getAction(k)),
    getEnrollments: (ids) => each(ids, (id) => tx.getEnrollment(id)),
    getOutbounds: (keys) => each(keys, (k) => tx.getOutbound(k)),
    async listSuppressions(addresses) {
      // What getSuppression answers for each channel (an all-channel row that every channel's
      // own row hides is left out: it can change no answer).
      const out: SuppressionRecord[] = [];
      for (const address of new Set(addresses)) {
        const seen = new Set<string>();
        for (const channel of CHANNELS) {
          const r = await tx.getSuppression(address, channel);
          if (r && !seen.has(String(r.channel))) {
            seen.add(String(r.channel));
            out.push(r);
          }
        }
      }
      return out;
    },
    async listOrphanEvents(ids) {
      const out: MessageEventRecord[] = [];
      for (const id of new Set(ids)) out.push(...(await tx.listOrphanEvents(id)));
      return out;
    },
    claimActions: (keys, options) => each(keys, (k) => tx.claimAction(k, options)),
    async updateEnrollmentOrFail(record, expected) {
      if (!(await tx.updateEnrollment(record, expected)))
        throw conflict(`enrollment "${record.enrollment.id}" changed concurrently (row version ${expected})`, { enrollmentId: record.enrollment.id, rowVersion: expected });
    },
    async finishActionOrFail(key, owner, now, status, patch) {
      if (!(await tx.finishAction(key, owner, now, status, patch))) throw conflict(`lease on action "${key}" was lost; nothing was written`, { key });
    },
    async insertOutboundOrFail(message) {
      if (!(await tx.insertOutbound(message))) throw conflict(`message "${message.key}" is already in the outbox`, { key: message.key });
    },
    async assertLeasesOrFail(keys, owner, now) {
      for (const key of new Set(keys)) {
        const a = await tx.getAction(key);
        if (!a || a.status !== 'running' || a.leaseOwner !== owner || (a.leaseExpiresAt ?? 0) <= now) throw conflict(`lease on action "${key}" was lost; nothing was written`, { key });
      }
    },
    async expectNoOrphanEventsOrFail(ids) {
      for (const id of new Set(ids)) {
        const found = await tx.listOrphanEvents(id);
        if (found.length) throw conflict(`provider message "${id}" has ${found.length} orphan event(s) to apply`, { providerMessageId: id });
      }
    },
    async readAnalyticsAtCommit(campaignIds) {
      const out: Record<string, Record<string, number>> = {};
      for (const id of new Set(campaignIds)) out[id] = await tx.getAnalytics(id);
      return { value: Promise.resolve(out) };
    },
    async claimAtCommit(request) {
      return { value: Promise.resolve(await claimIn(tx, request)) };
    },
  };
}

/** The email, phone and WhatsApp addresses of these enrollments' contacts. */
export function addressesOf(enrollments: Iterable<EnrollmentRecord | null | undefined>): string[] {
  const out: string[] = [];
  for (const e of enrollments) {
    const address = e?.contact.address;
    if (address) for (const v of [address.email, address.phone, address.whatsapp]) if (v) out.push(v);
  }
  return out;
}

/**
 * Claims a chunk of actions with the rows needed to run them: the store's own
 * {@link CampaignStore.claimChunk} (one statement on PostgreSQL), or one transaction that
 * claims (`claimDueActions`, or `claimActions` for `request.keys`) and then reads the rows
 * with the bulk reads.
 *
 * @example
 * ```ts
 * const chunk = await claimChunk(store, 'acme', { now: Date.now(), owner: 'w1', leaseMs: 60_000, limit: 10 });
 * const results = await engine.processChunk('acme', chunk, 'w1');
 * ```
 */
export async function claimChunk(store: CampaignStore, tenantId: string, request: ChunkClaimRequest): Promise<ClaimedChunk> {
  if (request.keys && !request.keys.length) return noChunk();
  if (store.claimChunk) return store.claimChunk(tenantId, request);
  return store.transaction(tenantId, (tx) => claimIn(tx, request));
}

/**
 * {@link claimChunk}'s claim without its rows, in a transaction of its own: what the engine
 * falls back to when a claim with rows fails (a row that cannot be read must cost only its
 * own action, which then fails on its own when it reads it).
 */
export async function claimActionsOnly(store: CampaignStore, tenantId: string, request: ChunkClaimRequest): Promise<ActionRecord[]> {
  if (request.keys && !request.keys.length) return [];
  return store.transaction(tenantId, (tx) => claimActionsIn(tx, request));
}

/** An empty claim. */
export const noChunk = (): ClaimedChunk => ({ actions: [], enrollments: [], outbounds: [], suppressions: [], campaigns: [] });

/** The claim of a {@link ChunkClaimRequest} in a transaction: `claimActions` for its keys, else `claimDueActions`. */
function claimActionsIn(tx: StoreTransaction, request: ChunkClaimRequest): Promise<ActionRecord[]> {
  const { now, owner, leaseMs } = request;
  if (request.keys) return bulkOperations(tx).claimActions([...new Set(request.keys)], { now, owner, leaseMs });
  return tx.claimDueActions({ now, owner, leaseMs, limit: request.limit ?? 10, ...(request.perCampaignLimit === undefined ? {} : { perCampaignLimit: request.perCampaignLimit }) });
}

/** The claim of {@link claimChunk} and its reads, in a transaction: with single-row calls and the bulk reads. */
async function claimIn(tx: StoreTransaction, request: ChunkClaimRequest): Promise<ClaimedChunk> {
  if (request.keys && !request.keys.length) return noChunk();
  const bulk = bulkOperations(tx);
  const actions = await claimActionsIn(tx, request);
  if (!actions.length) return noChunk();
  const enrollments = await bulk.getEnrollments([...new Set(actions.map((a) => a.enrollmentId))]);
  const sends = actions.filter((a) => a.kind === 'send').map((a) => a.key);
  const outbounds = sends.length ? await bulk.getOutbounds(sends) : [];
  const addresses = [...new Set(addressesOf(enrollments))];
  const suppressions = addresses.length ? await bulk.listSuppressions(addresses) : [];
  const campaigns: CampaignRecord[] = [];
  for (const id of new Set(actions.map((a) => a.campaignId))) {
    const c = await tx.getCampaign(id);
    if (c) campaigns.push(c);
  }
  return { actions, enrollments, outbounds, suppressions, campaigns };
}

/**
 * The rows a {@link ChunkCache} holds: for each key or id, the row, or `null` when it is known
 * not to exist. Hand them from one chunk transaction to the next ({@link ChunkCache.rows}).
 */
export interface ChunkRows {
  actions: Map<string, ActionRecord | null>;
  enrollments: Map<string, EnrollmentRecord | null>;
  outbounds: Map<string, OutboundRecord | null>;
  suppressions: Map<string, SuppressionRecord[]>;
  orphans: Map<string, MessageEventRecord[]>;
  campaigns: Map<string, CampaignRecord | null>;
}

/**
 * A transaction seen through a chunk's worth of rows, read up front ({@link ChunkCache.prefetch}),
 * taken from a claimed chunk, or carried over from the chunk's previous transaction: the
 * engine's per-action reads of actions, campaigns, enrollments, outbox rows, suppressions and
 * orphan events are answered from them, and its writes keep them current, so the transaction
 * still reads its own writes.
 *
 * Its `updateEnrollment`, `finishAction` and `insertOutbound` are the bulk `OrFail` writes:
 * they always return `true`, and a write that does not apply fails the transaction (at once,
 * or at the store's next statement or commit). Only code that treats `false` from those as
 * fatal to the transaction may use it, as the engine's batch path does.
 */
export interface ChunkCache {
  /** The transaction to hand to the engine's per-action code. */
  readonly tx: StoreTransaction;
  /** Reads these rows in one statement per kind (what is cached already is not read again). */
  prefetch(want: { actions?: readonly string[]; enrollments?: readonly string[]; outbounds?: readonly string[]; suppressions?: readonly string[]; orphansOf?: readonly string[] }): Promise<void>;
  /**
   * Orphan events of these provider message ids are asserted absent
   * (`expectNoOrphanEventsOrFail`) instead of read: they are cached as none.
   */
  expectNoOrphans(providerMessageIds: readonly string[]): Promise<void>;
  /**
   * The rows as this transaction leaves them (its writes applied), to seed the next. The
   * cache's own maps: call it last, once the transaction is done with the cache.
   */
  rows(): ChunkRows;
}

/** The rows of a claimed chunk, with what is absent known to be absent. */
export function chunkRows(chunk: ClaimedChunk): ChunkRows {
  const rows = emptyRows();
  for (const a of chunk.actions) {
    rows.actions.set(a.key, a);
    rows.enrollments.set(a.enrollmentId, null);
    rows.campaigns.set(a.campaignId, null);
    if (a.kind === 'send') rows.outbounds.set(a.key, null);
  }
  for (const e of chunk.enrollments) rows.enrollments.set(e.enrollment.id, e);
  for (const o of chunk.outbounds) rows.outbounds.set(o.key, o);
  for (const c of chunk.campaigns) rows.campaigns.set(c.id, c);
  for (const address of addressesOf(chunk.enrollments)) rows.suppressions.set(address, []);
  for (const r of chunk.suppressions) rows.suppressions.get(r.address)?.push(r);
  return rows;
}

/**
 * Rows of two chunks in one: `over`'s rows replace `base`'s where both have one (a claim made
 * at the previous transaction's commit read them after its writes, so they are at least as
 * new).
 */
export function mergeRows(base: ChunkRows | undefined, over: ChunkRows | undefined): ChunkRows | undefined {
  if (!base || !over) return base ?? over;
  return {
    actions: new Map([...base.actions, ...over.actions]),
    enrollments: new Map([...base.enrollments, ...over.enrollments]),
    outbounds: new Map([...base.outbounds, ...over.outbounds]),
    suppressions: new Map([...base.suppressions, ...over.suppressions]),
    orphans: new Map([...base.orphans, ...over.orphans]),
    campaigns: new Map([...base.campaigns, ...over.campaigns]),
  };
}

/**
 * The rows of `rows` that belong to `actions`: the actions', their enrollments', their outbox
 * rows' and their campaigns'. What recording the actions' outcomes reads, and all a pipeline
 * carries from one turn to the next (carrying every row a turn saw, each turn would copy all
 * the rows of the turns before it).
 */
export function rowsOf(rows: ChunkRows, actions: readonly ActionRecord[]): ChunkRows {
  const out = emptyRows();
  const copy = <V>(from: Map<string, V>, to: Map<string, V>, id: string) => {
    if (from.has(id)) to.set(id, from.get(id)!);
  };
  for (const a of actions) {
    copy(rows.actions, out.actions, a.key);
    copy(rows.enrollments, out.enrollments, a.enrollmentId);
    copy(rows.outbounds, out.outbounds, a.key);
    copy(rows.campaigns, out.campaigns, a.campaignId);
  }
  return out;
}

const emptyRows = (): ChunkRows => ({ actions: new Map(), enrollments: new Map(), outbounds: new Map(), suppressions: new Map(), orphans: new Map(), campaigns: new Map() });

/** Wraps `tx` for a batch, optionally starting from `seed`'s rows: see {@link ChunkCache}. */
export function chunkCache(inner: StoreTransaction, seed?: ChunkRows): ChunkCache {
  const bulk = bulkOperations(inner);
  const { actions, enrollments, outbounds, suppressions, orphans, campaigns } = seed
    ? {
        actions: new Map(seed.actions),
        enrollments: new Map(seed.enrollments),
        outbounds: new Map(seed.outbounds),
        suppressions: new Map(seed.suppressions),
        orphans: new Map(seed.orphans),
        campaigns: new Map(seed.campaigns),
      }
    : emptyRows();
  /** Reads the ids not cached yet in one call: each starts empty (absent rows stay so), then `put` files what came back. */
  const load = async <T, V>(ids: readonly string[] | undefined, cache: Map<string, V>, empty: () => V, read: (ids: readonly string[]) => Promise<T[]>, put: (row: T) => unknown) => {
    const wanted = [...new Set(ids ?? [])].filter((id) => !cache.has(id));
    if (!wanted.length) return;
    for (const id of wanted) cache.set(id, empty());
    for (const row of await read(wanted)) put(row);
  };

  const overrides: Partial<StoreTransaction> = {
    async getCampaign(id) {
      if (campaigns.has(id)) return campaigns.get(id)!;
      return inner.getCampaign(id);
    },
    async updateCampaign(id, patch, expectStatus) {
      campaigns.delete(id);
      return inner.updateCampaign(id, patch, expectStatus);
    },
    async getAction(key) {
      if (actions.has(key)) return actions.get(key)!;
      return inner.getAction(key);
    },
    async insertActions(list) {
      for (const a of list) actions.delete(a.key);
      return inner.insertActions(list);
    },
    async cancelActions(keys) {
      for (const k of keys) actions.delete(k);
      return inner.cancelActions(keys);
    },
    async claimAction(key, options) {
      actions.delete(key);
      return inner.claimAction(key, options);
    },
    async claimDueActions(options) {
      actions.clear();
      return inner.claimDueActions(options);
    },
    async finishAction(key, owner, now, status, patch) {
      actions.delete(key);
      await bulk.finishActionOrFail(key, owner, now, status, patch);
      return true;
    },
    async getEnrollment(id) {
      if (enrollments.has(id)) return enrollments.get(id)!;
      return inner.getEnrollment(id);
    },
    async updateEnrollment(record, expected) {
      enrollments.delete(record.enrollment.id);
      await bulk.updateEnrollmentOrFail(record, expected);
      enrollments.set(record.enrollment.id, { ...record, rowVersion: expected + 1 });
      return true;
    },
    async insertEnrollments(records) {
      for (const r of records) enrollments.delete(r.enrollment.id);
      return inner.insertEnrollments(records);
    },
    async getOutbound(key) {
      if (outbounds.has(key)) return outbounds.get(key)!;
      return inner.getOutbound(key);
    },
    async insertOutbound(message) {
      outbounds.delete(message.key);
      await bulk.insertOutboundOrFail(message);
      outbounds.set(message.key, { ...message, tenantId: inner.tenantId });
      return true;
    },
    async updateOutbound(key, patch) {
      const cached = outbounds.get(key);
      if (cached) {
        const next: OutboundRecord = { ...cached };
        for (const [k, v] of Object.entries(patch)) if (v !== undefined) (next as unknown as Record<string, unknown>)[k] = v;
        outbounds.set(key, next);
      } else outbounds.delete(key);
      return inner.updateOutbound(key, patch);
    },
    async getSuppression(address, channel) {
      const rows = suppressions.get(address);
      if (!rows) return inner.getSuppression(address, channel);
      return rows.find((r) => r.channel === channel) ?? rows.find((r) => r.channel === null) ?? null;
    },
    async suppress(record) {
      suppressions.delete(record.address);
      return inner.suppress(record);
    },
    async unsuppress(address, channel) {
      suppressions.delete(address);
      return inner.unsuppress(address, channel);
    },
    async listOrphanEvents(providerMessageId) {
      const rows = orphans.get(providerMessageId);
      return rows ? [...rows] : inner.listOrphanEvents(providerMessageId);
    },
    async insertEvent(event) {
      if (event.providerMessageId !== null) orphans.delete(event.providerMessageId);
      return inner.insertEvent(event);
    },
    async attachEvent(providerEventId, messageKey) {
      for (const [id, rows] of orphans) {
        const i = rows.findIndex((r) => r.providerEventId === providerEventId);
        if (i >= 0) orphans.set(id, rows.filter((_, j) => j !== i));
      }
      return inner.attachEvent(providerEventId, messageKey);
    },
  };
  // Methods it does not override pass through, bound to the transaction (each bound once).
  const bound = new Map<PropertyKey, unknown>();
  const tx = new Proxy(inner, {
    get(target, prop) {
      if (typeof prop === 'string' && Object.hasOwn(overrides, prop)) return (overrides as Record<string, unknown>)[prop];
      const v = Reflect.get(target, prop);
      if (typeof v !== 'function') return v;
      let b = bound.get(prop);
      if (!b) bound.set(prop, (b = v.bind(target)));
      return b;
    },
  });

  return {
    tx,
    async prefetch(want) {
      await load(want.actions, actions, () => null, (ids) => bulk.getActions(ids), (r) => actions.set(r.key, r));
      await load(want.enrollments, enrollments, () => null, (ids) => bulk.getEnrollments(ids), (r) => enrollments.set(r.enrollment.id, r));
      await load(want.outbounds, outbounds, () => null, (ids) => bulk.getOutbounds(ids), (r) => outbounds.set(r.key, r));
      await load(want.suppressions, suppressions, () => [], (ids) => bulk.listSuppressions(ids), (r) => suppressions.get(r.address)?.push(r));
      await load(want.orphansOf, orphans, () => [], (ids) => bulk.listOrphanEvents(ids), (r) => r.providerMessageId !== null && orphans.get(r.providerMessageId)?.push(r));
    },
    async expectNoOrphans(ids) {
      const fresh = [...new Set(ids)].filter((id) => !orphans.has(id));
      if (!fresh.length) return;
      await bulk.expectNoOrphanEventsOrFail(fresh);
      for (const id of fresh) orphans.set(id, []);
    },
    rows: () => ({ actions, enrollments, outbounds, suppressions, orphans, campaigns }),
  };
}
