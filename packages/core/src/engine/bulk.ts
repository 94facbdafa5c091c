/**
 * Set-based store access for a batch of actions: {@link bulkOperations} (the store's own, or
 * made of single-row calls) and {@link ChunkCache}, which reads a chunk's rows up front and
 * answers the engine's single-row reads from them.
 */
import { DriplineError } from '../errors.js';
import { CHANNELS } from '../plan/schema.js';
import type { ActionRecord, BulkStoreOperations, EnrollmentRecord, MessageEventRecord, OutboundRecord, StoreTransaction, SuppressionRecord } from '../ports/campaign-store.js';

/**
 * The transaction's {@link BulkStoreOperations}, or, for a store without them, the same
 * operations made of single-row calls (the `OrFail` writes then fail at once).
 */
export function bulkOperations(tx: StoreTransaction): BulkStoreOperations {
  if (tx.bulk) return tx.bulk;
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
  };
}

/**
 * A transaction seen through a chunk's worth of rows read up front ({@link ChunkCache.prefetch}):
 * the engine's per-action reads of actions, enrollments, outbox rows, suppressions and
 * orphan events are answered from them, and its writes keep them current, so the
 * transaction still reads its own writes.
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
}

/** Wraps `tx` for a batch: see {@link ChunkCache}. */
export function chunkCache(inner: StoreTransaction): ChunkCache {
  const bulk = bulkOperations(inner);
  const actions = new Map<string, ActionRecord | null>();
  const enrollments = new Map<string, EnrollmentRecord | null>();
  const outbounds = new Map<string, OutboundRecord | null>();
  const suppressions = new Map<string, SuppressionRecord[]>();
  const orphans = new Map<string, MessageEventRecord[]>();
  /** Reads the ids not cached yet in one call: each starts empty (absent rows stay so), then `put` files what came back. */
  const load = async <T, V>(ids: readonly string[] | undefined, cache: Map<string, V>, empty: () => V, read: (ids: readonly string[]) => Promise<T[]>, put: (row: T) => unknown) => {
    const wanted = [...new Set(ids ?? [])].filter((id) => !cache.has(id));
    if (!wanted.length) return;
    for (const id of wanted) cache.set(id, empty());
    for (const row of await read(wanted)) put(row);
  };

  const overrides: Partial<StoreTransaction> = {
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
  const tx = new Proxy(inner, {
    get(target, prop) {
      if (typeof prop === 'string' && Object.hasOwn(overrides, prop)) return (overrides as Record<string, unknown>)[prop];
      const v = Reflect.get(target, prop);
      return typeof v === 'function' ? v.bind(target) : v;
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
  };
}
