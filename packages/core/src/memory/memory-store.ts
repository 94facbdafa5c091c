/**
 * An in-memory {@link CampaignStore}: the reference implementation of the port, used by
 * tests, the simulator and the quickstart. Transactions run one at a time and roll back
 * through an undo log when they throw; records are copied in and out, as a database would.
 *
 * The rows that grow with the audience (enrollments, scheduled actions, audit rows) are kept
 * compact, in typed-array columns and encoded bytes (see `enrollment-table.ts`,
 * `action-table.ts`, `transition-log.ts`): about 230 bytes a contact instead of 2.1 KB, so a
 * million enrolled contacts fit in a few hundred MB (BENCHMARKS.md). Everything read out is decoded afresh.
 */
import { DriplineError } from '../errors.js';
import type { Channel } from '../plan/schema.js';
import type {
  ActionRecord,
  CampaignRecord,
  CampaignStatus,
  CampaignStore,
  ClaimOptions,
  EnrollmentRecord,
  MessageEventRecord,
  OutboundRecord,
  PlanVersionRecord,
  StoreTransaction,
  SuppressionRecord,
  TransitionAuditRecord,
} from '../ports/campaign-store.js';
import type { DueHeap } from './due-heap.js';
import { ActionTable } from './action-table.js';
import { ByteArena } from './byte-arena.js';
import { EnrollmentTable } from './enrollment-table.js';
import { RecordCodec } from './record-codec.js';
import { RowStorage } from './row-storage.js';
import { TransitionLog } from './transition-log.js';

interface TenantData {
  campaigns: Map<string, CampaignRecord>;
  planVersions: Map<string, PlanVersionRecord>;
  /** The arena and campaign numbers the three compact tables share. */
  rows: RowStorage;
  enrollments: EnrollmentTable;
  /** Scheduled actions and their due heap (runAt of pending ones, lease expiry of running ones). */
  actions: ActionTable;
  transitions: TransitionLog;
  outbox: Map<string, OutboundRecord>;
  outboxByProviderId: Map<string, string>;
  events: Map<string, MessageEventRecord>;
  analytics: Map<string, Record<string, number>>;
  suppressions: Map<string, SuppressionRecord>;
}

const copy = <T>(v: T): T => structuredClone(v);
const suppressionKey = (address: string, channel: Channel | null) => `${channel ?? '*'}\u0000${address}`;

/** The in-memory store, with read helpers for tests and the simulator. */
export interface MemoryStore extends CampaignStore {
  /** Every row of a tenant (copies), for assertions and reports. */
  dump(tenantId: string): {
    campaigns: CampaignRecord[];
    enrollments: EnrollmentRecord[];
    actions: ActionRecord[];
    outbox: OutboundRecord[];
    events: MessageEventRecord[];
    transitions: TransitionAuditRecord[];
    suppressions: SuppressionRecord[];
  };
  /** The earliest `runAt` of a pending action (or lease expiry of a running one), if any. */
  nextDueAt(tenantId: string): number | null;
}

/**
 * Creates an empty in-memory store.
 *
 * @example
 * ```ts
 * const store = createMemoryStore();
 * await store.transaction('t1', (tx) => tx.getCampaign('c1'));
 * ```
 */
export function createMemoryStore(): MemoryStore {
  const tenants = new Map<string, TenantData>();
  const codec = new RecordCodec();
  let lock: Promise<unknown> = Promise.resolve();

  const data = (tenantId: string): TenantData => {
    let d = tenants.get(tenantId);
    if (!d) {
      const rows = new RowStorage(tenantId, codec);
      const enrollments = new EnrollmentTable(rows);
      d = {
        campaigns: new Map(),
        planVersions: new Map(),
        rows,
        enrollments,
        actions: new ActionTable(rows, enrollments),
        transitions: new TransitionLog(rows, enrollments),
        outbox: new Map(),
        outboxByProviderId: new Map(),
        events: new Map(),
        analytics: new Map(),
        suppressions: new Map(),
      };
      tenants.set(tenantId, d);
    }
    return d;
  };

  /** Copies the live rows into a fresh arena when updates left more garbage than rows. */
  const compact = (d: TenantData) => {
    if (!d.rows.wantsCompaction()) return;
    const next = new ByteArena();
    d.enrollments.compactInto(next);
    d.actions.compactInto(next);
    d.transitions.compactInto(next);
    d.rows.arena = next;
  };

  function makeTx(d: TenantData, undo: Array<() => void>): StoreTransaction {
    const tenantId = d.rows.tenantId;
    const E = d.enrollments;
    const A = d.actions;
    const setIn = <K, V>(m: Map<K, V>, k: K, v: V) => {
      const had = m.has(k);
      const old = m.get(k);
      m.set(k, v);
      undo.push(() => (had ? m.set(k, old as V) : m.delete(k)));
    };
    const deleteIn = <K, V>(m: Map<K, V>, k: K) => {
      if (!m.has(k)) return;
      const old = m.get(k) as V;
      m.delete(k);
      undo.push(() => m.set(k, old));
    };
    const campaignActive = (campaignId: string) => d.campaigns.get(campaignId)?.status === 'active';
    const claim = (row: number, now: number, owner: string, leaseMs: number): ActionRecord => {
      const a = A.get(row);
      const claimed: ActionRecord = { ...a, status: 'running', leaseOwner: owner, leaseExpiresAt: now + leaseMs, attempts: a.attempts + 1 };
      undo.push(A.replace(row, claimed));
      return claimed;
    };
    /** Rows of a table in key order after `after`, at most `limit`, as fresh records. */
    const pageRows = <T>(count: number, keep: (row: number) => boolean, key: (row: number) => string, get: (row: number) => T, after: string | undefined, limit: number): T[] => {
      const hits: Array<{ k: string; row: number }> = [];
      for (let row = 0; row < count; row++) {
        if (!keep(row)) continue;
        const k = key(row);
        if (after === undefined || k > after) hits.push({ k, row });
      }
      hits.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
      return hits.slice(0, limit).map((h) => get(h.row));
    };
    const countRows = (count: number, keep: (row: number) => boolean, by: (row: number) => string) => {
      const out: Record<string, number> = {};
      for (let row = 0; row < count; row++) if (keep(row)) out[by(row)] = (out[by(row)] ?? 0) + 1;
      return out;
    };
    const page = <T>(rows: Iterable<T>, key: (r: T) => string, after: string | undefined, limit: number, keep: (r: T) => boolean): T[] => {
      const out = [...rows].filter((r) => (after === undefined || key(r) > after) && keep(r));
      out.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
      return out.slice(0, limit).map(copy);
    };

    return {
      tenantId,
      async insertCampaign(c) {
        if (d.campaigns.has(c.id)) throw new DriplineError('CONFLICT', `campaign "${c.id}" already exists`, { details: { campaignId: c.id } });
        setIn(d.campaigns, c.id, copy({ ...c, tenantId }));
      },
      async getCampaign(id) {
        const c = d.campaigns.get(id);
        return c ? copy(c) : null;
      },
      async updateCampaign(id, patch, expectStatus?: readonly CampaignStatus[]) {
        const c = d.campaigns.get(id);
        if (!c || (expectStatus && !expectStatus.includes(c.status))) return false;
        setIn(d.campaigns, id, copy({ ...c, ...patch, tenantId, id }));
        return true;
      },
      async listCampaigns(status) {
        return [...d.campaigns.values()].filter((c) => !status || status.includes(c.status)).map(copy);
      },
      async insertPlanVersion(r) {
        const k = `${r.campaignId}\u0000${r.version}`;
        if (d.planVersions.has(k)) throw new DriplineError('CONFLICT', `plan version ${r.version} of campaign "${r.campaignId}" already exists`);
        setIn(d.planVersions, k, copy({ ...r, tenantId }));
      },
      async getPlanVersion(campaignId, version) {
        const r = d.planVersions.get(`${campaignId}\u0000${version}`);
        return r ? copy(r) : null;
      },
      async insertEnrollments(records) {
        const inserted: string[] = [];
        const before = E.count;
        undo.push(() => {
          while (E.count > before) E.removeLast();
        });
        for (const r of records) {
          if (E.findByContact(String(r.campaignId), String(r.contactId)) >= 0 || E.findById(String(r.enrollment.id)) >= 0) continue;
          E.insert(r);
          inserted.push(r.enrollment.id);
        }
        return inserted;
      },
      async getEnrollment(id) {
        const row = E.findById(id);
        return row < 0 ? null : E.get(row);
      },
      async updateEnrollment(record, expected) {
        const row = E.findById(String(record.enrollment.id));
        if (row < 0 || E.rowVersionOf(row) !== expected) return false;
        undo.push(E.replace(row, { ...record, rowVersion: expected + 1 }));
        return true;
      },
      async listEnrollments(campaignId, { after, limit, status }) {
        const c = d.rows.campaignIds.find(campaignId);
        return pageRows(
          E.count,
          (row) => E.inCampaign(row, c, campaignId) && (!status || status.includes(E.statusOf(row))),
          (row) => E.idOf(row),
          (row) => E.get(row),
          after,
          limit,
        );
      },
      async countEnrollments(campaignId) {
        const c = d.rows.campaignIds.find(campaignId);
        return countRows(E.count, (row) => E.inCampaign(row, c, campaignId), (row) => E.statusOf(row));
      },
      async insertActions(actions) {
        const before = A.count;
        undo.push(() => A.removeLast(A.count - before));
        for (const a of actions) if (A.find(String(a.key)) < 0) A.insert(a);
      },
      async cancelActions(keys) {
        for (const k of keys) {
          const row = A.find(k);
          if (row < 0) continue;
          const status = A.statusOf(row);
          if (status === 'pending' || status === 'running') undo.push(A.replace(row, { ...A.get(row), status: 'canceled', leaseOwner: null, leaseExpiresAt: null }));
        }
      },
      async getAction(key) {
        const row = A.find(key);
        return row < 0 ? null : A.get(row);
      },
      async listActions(campaignId, { after, limit, status, enrollmentId }) {
        const c = d.rows.campaignIds.find(campaignId);
        const e = enrollmentId ? E.findById(enrollmentId) : -1;
        return pageRows(
          A.count,
          (row) => A.inCampaign(row, c, campaignId) && (!status || status.includes(A.statusOf(row))) && (!enrollmentId || A.ofEnrollment(row, e, enrollmentId)),
          (row) => A.keyOf(row),
          (row) => A.get(row),
          after,
          limit,
        );
      },
      async countActions(campaignId) {
        const c = d.rows.campaignIds.find(campaignId);
        return countRows(A.count, (row) => A.inCampaign(row, c, campaignId), (row) => A.statusOf(row));
      },
      async claimDueActions({ now, limit, owner, leaseMs, perCampaignLimit }: ClaimOptions) {
        const out: Array<{ at: number; key: string; action: ActionRecord }> = [];
        const keep: Array<[DueHeap, number, number]> = [];
        // Claim each action at most once per call: a heap may hold two valid entries for one
        // row (claimed by key, then finished as pending at the same runAt), and a claim with a
        // zero lease is due again at once. Such entries go back, as a duplicate is harmless.
        const seen = new Set<number>();
        /** Earliest due first, ties by key (code-point order). */
        const byDue = (x: { at: number; key: string }, y: { at: number; key: string }) => x.at - y.at || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0);
        /** The row of the heap's earliest current entry if it is due, else -1 (stale entries are dropped). */
        const dueTop = (heap: DueHeap): number => {
          for (let at = heap.peekAt(); at !== undefined && at <= now; at = heap.peekAt()) {
            const row = heap.peekRow();
            if (row >= A.count || A.dueOf(row) !== at) {
              heap.pop();
              continue;
            }
            // Seen already, or (an odd record) of a campaign other than its heap's that is not active.
            if (seen.has(row) || !campaignActive(A.recordCampaignIdOf(row))) {
              heap.pop();
              keep.push([heap, at, row]);
              continue;
            }
            return row;
          }
          return -1;
        };
        // Campaigns in turn: every active campaign's earliest due action, then every one's
        // second, and so on (each rank earliest first, ties by key); a campaign with nothing
        // more due, or with its share (perCampaignLimit), drops out and is not walked further.
        let open: DueHeap[] = [];
        for (const [campaignId, heap] of A.heapsByCampaign()) if (campaignActive(campaignId)) open.push(heap);
        const share = perCampaignLimit ?? Number.POSITIVE_INFINITY;
        for (let rank = 0; out.length < limit && open.length && rank < share; rank++) {
          const tops: Array<{ heap: DueHeap; at: number; row: number; key: string }> = [];
          for (const heap of open) {
            const row = dueTop(heap);
            if (row >= 0) tops.push({ heap, at: heap.peekAt()!, row, key: A.keyOf(row) });
          }
          tops.sort(byDue);
          for (const t of tops.slice(0, limit - out.length)) {
            t.heap.pop();
            seen.add(t.row);
            out.push({ at: t.at, key: t.key, action: claim(t.row, now, owner, leaseMs) });
          }
          open = tops.map((t) => t.heap);
        }
        for (const [heap, at, row] of keep) heap.push(at, row);
        // Returned earliest first (by the time each was due), as PostgreSQL's claim returns them.
        return out.sort(byDue).map((c) => c.action);
      },
      async claimAction(key, { now, owner, leaseMs }) {
        const row = A.find(key);
        if (row < 0 || !(A.dueOf(row) <= now) || !campaignActive(A.recordCampaignIdOf(row))) return null;
        return claim(row, now, owner, leaseMs);
      },
      async finishAction(key, owner, now, status, patch = {}) {
        const row = A.find(key);
        if (row < 0 || A.statusOf(row) !== 'running') return false;
        const a = A.get(row);
        if (a.leaseOwner !== owner || (a.leaseExpiresAt ?? 0) <= now) return false;
        undo.push(
          A.replace(row, {
            ...a,
            status,
            leaseOwner: null,
            leaseExpiresAt: null,
            ...(patch.runAt === undefined ? {} : { runAt: patch.runAt }),
            ...(patch.lastError === undefined ? {} : { lastError: patch.lastError }),
          }),
        );
        return true;
      },
      async insertOutbound(m) {
        if (d.outbox.has(m.key)) return false;
        setIn(d.outbox, m.key, copy({ ...m, tenantId }));
        if (m.providerMessageId) setIn(d.outboxByProviderId, m.providerMessageId, m.key);
        return true;
      },
      async updateOutbound(key, patch) {
        const m = d.outbox.get(key);
        if (!m) return;
        setIn(d.outbox, key, { ...m, ...patch });
        // A new provider id (a resend) replaces the old one in the index.
        if (patch.providerMessageId !== undefined && m.providerMessageId && m.providerMessageId !== patch.providerMessageId && d.outboxByProviderId.get(m.providerMessageId) === key)
          deleteIn(d.outboxByProviderId, m.providerMessageId);
        if (patch.providerMessageId) setIn(d.outboxByProviderId, patch.providerMessageId, key);
      },
      async getOutbound(key) {
        const m = d.outbox.get(key);
        return m ? copy(m) : null;
      },
      async findOutboundByProviderId(id) {
        const key = d.outboxByProviderId.get(id);
        const m = key === undefined ? undefined : d.outbox.get(key);
        return m ? copy(m) : null;
      },
      async listOutbound(campaignId, { after, limit }) {
        return page(d.outbox.values(), (m) => m.key, after, limit, (m) => m.campaignId === campaignId);
      },
      async listRecentOutboundTimes(to, since) {
        const out: number[] = [];
        for (const m of d.outbox.values()) if (m.to === to && m.createdAt >= since && m.status !== 'failed' && m.status !== 'undelivered') out.push(m.createdAt);
        return out.sort((a, b) => a - b);
      },
      async appendTransitions(records) {
        const n = d.transitions.count;
        undo.push(() => d.transitions.truncate(n));
        for (const r of records) d.transitions.append(r);
      },
      async listTransitions(enrollmentId) {
        return d.transitions.list(enrollmentId);
      },
      async insertEvent(ev) {
        if (d.events.has(ev.providerEventId)) return false;
        setIn(d.events, ev.providerEventId, copy({ ...ev, tenantId }));
        return true;
      },
      async listOrphanEvents(providerMessageId) {
        return [...d.events.values()].filter((e) => e.messageKey === null && e.providerMessageId === providerMessageId).sort((a, b) => a.at - b.at).map(copy);
      },
      async attachEvent(providerEventId, messageKey) {
        const e = d.events.get(providerEventId);
        if (e) setIn(d.events, providerEventId, { ...e, messageKey });
      },
      async incrementAnalytics(campaignId, deltas) {
        const next = { ...(d.analytics.get(campaignId) ?? {}) };
        for (const [k, v] of Object.entries(deltas)) next[k] = (next[k] ?? 0) + v;
        setIn(d.analytics, campaignId, next);
      },
      async getAnalytics(campaignId) {
        return { ...(d.analytics.get(campaignId) ?? {}) };
      },
      async suppress(r) {
        setIn(d.suppressions, suppressionKey(r.address, r.channel), copy({ ...r, tenantId }));
      },
      async unsuppress(address, channel) {
        const k = suppressionKey(address, channel);
        const had = d.suppressions.has(k);
        deleteIn(d.suppressions, k);
        return had;
      },
      async getSuppression(address, channel) {
        const r = d.suppressions.get(suppressionKey(address, channel)) ?? d.suppressions.get(suppressionKey(address, null));
        return r ? copy(r) : null;
      },
    };
  }

  return {
    transaction<T>(tenantId: string, fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
      const run = async (): Promise<T> => {
        const d = data(tenantId);
        compact(d);
        const mark = d.rows.arena.mark();
        const undo: Array<() => void> = [];
        try {
          return await fn(makeTx(d, undo));
        } catch (e) {
          for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
          // Rows now point where they did before: what the transaction encoded can go.
          d.rows.arena.rollback(mark);
          throw e;
        }
      };
      const result = lock.then(run, run);
      lock = result.catch(() => undefined);
      return result;
    },
    dump(tenantId) {
      const d = data(tenantId);
      const rows = <T>(count: number, get: (row: number) => T) => Array.from({ length: count }, (_, row) => get(row));
      return {
        campaigns: copy([...d.campaigns.values()]),
        enrollments: rows(d.enrollments.count, (row) => d.enrollments.get(row)),
        actions: rows(d.actions.count, (row) => d.actions.get(row)),
        outbox: copy([...d.outbox.values()]),
        events: copy([...d.events.values()]),
        transitions: rows(d.transitions.count, (row) => d.transitions.get(row)),
        suppressions: copy([...d.suppressions.values()]),
      };
    },
    nextDueAt(tenantId) {
      const { actions } = data(tenantId);
      let earliest: number | null = null;
      for (const [, heap] of actions.heapsByCampaign()) {
        for (let at = heap.peekAt(); at !== undefined; at = heap.peekAt()) {
          const row = heap.peekRow();
          if (row < actions.count && actions.dueOf(row) === at) {
            if (earliest === null || at < earliest) earliest = at;
            break;
          }
          heap.pop();
        }
      }
      return earliest;
    },
  };
}
