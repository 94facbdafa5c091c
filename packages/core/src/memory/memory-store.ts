/**
 * An in-memory {@link CampaignStore}: the reference implementation of the port, used by
 * tests, the simulator and the quickstart. Transactions run one at a time and roll back
 * through an undo log when they throw; records are copied in and out, as a database would.
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
import { MinHeap, type HeapEntry } from './min-heap.js';

interface TenantData {
  campaigns: Map<string, CampaignRecord>;
  planVersions: Map<string, PlanVersionRecord>;
  enrollments: Map<string, EnrollmentRecord>;
  /** `${campaignId}\u0000${contactId}` → enrollment id (the unique constraint). */
  enrollmentByContact: Map<string, string>;
  actions: Map<string, ActionRecord>;
  outbox: Map<string, OutboundRecord>;
  outboxByProviderId: Map<string, string>;
  events: Map<string, MessageEventRecord>;
  transitions: TransitionAuditRecord[];
  analytics: Map<string, Record<string, number>>;
  suppressions: Map<string, SuppressionRecord>;
  /** Due times of pending actions (runAt) and running ones (lease expiry); validated lazily. */
  due: MinHeap<HeapEntry>;
}

const copy = <T>(v: T): T => structuredClone(v);
const isDue = (a: ActionRecord, now: number) =>
  (a.status === 'pending' && a.runAt <= now) || (a.status === 'running' && (a.leaseExpiresAt ?? 0) <= now);
/** When an action next becomes claimable, or null if never. */
const dueAt = (a: ActionRecord): number | null => (a.status === 'pending' ? a.runAt : a.status === 'running' ? (a.leaseExpiresAt ?? 0) : null);
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
  let lock: Promise<unknown> = Promise.resolve();

  const data = (tenantId: string): TenantData => {
    let d = tenants.get(tenantId);
    if (!d) {
      d = {
        campaigns: new Map(),
        planVersions: new Map(),
        enrollments: new Map(),
        enrollmentByContact: new Map(),
        actions: new Map(),
        outbox: new Map(),
        outboxByProviderId: new Map(),
        events: new Map(),
        transitions: [],
        analytics: new Map(),
        suppressions: new Map(),
        due: new MinHeap(),
      };
      tenants.set(tenantId, d);
    }
    return d;
  };

  function makeTx(tenantId: string, undo: Array<() => void>): StoreTransaction {
    const d = data(tenantId);
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
    /** Writes an action and indexes its next due time (a rolled-back write leaves a stale entry, skipped later). */
    const putAction = (a: ActionRecord) => {
      setIn(d.actions, a.key, a);
      const at = dueAt(a);
      if (at !== null) d.due.push({ at, key: a.key });
    };
    /** Pops every valid due entry up to `now`; the caller pushes back the ones it does not use. */
    const popDue = (now: number): HeapEntry[] => {
      const out: HeapEntry[] = [];
      for (let top = d.due.peek(); top && top.at <= now; top = d.due.peek()) {
        d.due.pop();
        const a = d.actions.get(top.key);
        if (a && dueAt(a) === top.at) out.push(top);
      }
      undo.push(() => out.forEach((e) => d.due.push(e)));
      return out;
    };
    const campaignActive = (campaignId: string) => d.campaigns.get(campaignId)?.status === 'active';
    const claim = (a: ActionRecord, now: number, owner: string, leaseMs: number): ActionRecord => {
      const claimed: ActionRecord = { ...a, status: 'running', leaseOwner: owner, leaseExpiresAt: now + leaseMs, attempts: a.attempts + 1 };
      putAction(claimed);
      return copy(claimed);
    };
    const page = <T>(rows: Iterable<T>, key: (r: T) => string, after: string | undefined, limit: number, keep: (r: T) => boolean): T[] => {
      const out = [...rows].filter((r) => (after === undefined || key(r) > after) && keep(r));
      out.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
      return out.slice(0, limit).map(copy);
    };
    const countBy = <T>(rows: Iterable<T>, keep: (r: T) => boolean, by: (r: T) => string) => {
      const out: Record<string, number> = {};
      for (const r of rows) if (keep(r)) out[by(r)] = (out[by(r)] ?? 0) + 1;
      return out;
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
        for (const r of records) {
          const unique = `${r.campaignId}\u0000${r.contactId}`;
          if (d.enrollmentByContact.has(unique) || d.enrollments.has(r.enrollment.id)) continue;
          setIn(d.enrollmentByContact, unique, r.enrollment.id);
          setIn(d.enrollments, r.enrollment.id, copy({ ...r, tenantId }));
          inserted.push(r.enrollment.id);
        }
        return inserted;
      },
      async getEnrollment(id) {
        const r = d.enrollments.get(id);
        return r ? copy(r) : null;
      },
      async updateEnrollment(record, expected) {
        const r = d.enrollments.get(record.enrollment.id);
        if (!r || r.rowVersion !== expected) return false;
        setIn(d.enrollments, record.enrollment.id, copy({ ...record, tenantId, rowVersion: expected + 1 }));
        return true;
      },
      async listEnrollments(campaignId, { after, limit, status }) {
        return page(d.enrollments.values(), (r) => r.enrollment.id, after, limit, (r) => r.campaignId === campaignId && (!status || status.includes(r.enrollment.status)));
      },
      async countEnrollments(campaignId) {
        return countBy(d.enrollments.values(), (r) => r.campaignId === campaignId, (r) => r.enrollment.status);
      },
      async insertActions(actions) {
        for (const a of actions) if (!d.actions.has(a.key)) putAction(copy({ ...a, tenantId }));
      },
      async cancelActions(keys) {
        for (const k of keys) {
          const a = d.actions.get(k);
          if (a && (a.status === 'pending' || a.status === 'running')) setIn(d.actions, k, { ...a, status: 'canceled', leaseOwner: null, leaseExpiresAt: null });
        }
      },
      async getAction(key) {
        const a = d.actions.get(key);
        return a ? copy(a) : null;
      },
      async listActions(campaignId, { after, limit, status, enrollmentId }) {
        return page(
          d.actions.values(),
          (a) => a.key,
          after,
          limit,
          (a) => a.campaignId === campaignId && (!status || status.includes(a.status)) && (!enrollmentId || a.enrollmentId === enrollmentId),
        );
      },
      async countActions(campaignId) {
        return countBy(d.actions.values(), (a) => a.campaignId === campaignId, (a) => a.status);
      },
      async claimDueActions({ now, limit, owner, leaseMs, perCampaignLimit }: ClaimOptions) {
        const perCampaign = new Map<string, number>();
        const out: ActionRecord[] = [];
        const keep: HeapEntry[] = [];
        const seen = new Set<string>();
        for (const entry of popDue(now)) {
          // The heap may hold two valid entries for one key (e.g. claimed by key, then finished
          // as pending at the same runAt): claim each action at most once per call.
          if (seen.has(entry.key)) continue;
          seen.add(entry.key);
          const a = d.actions.get(entry.key)!;
          const n = perCampaign.get(a.campaignId) ?? 0;
          if (out.length >= limit || !campaignActive(a.campaignId) || (perCampaignLimit !== undefined && n >= perCampaignLimit)) {
            keep.push(entry);
            continue;
          }
          perCampaign.set(a.campaignId, n + 1);
          out.push(claim(a, now, owner, leaseMs));
        }
        for (const e of keep) d.due.push(e);
        return out;
      },
      async claimAction(key, { now, owner, leaseMs }) {
        const a = d.actions.get(key);
        if (!a || !isDue(a, now) || !campaignActive(a.campaignId)) return null;
        return claim(a, now, owner, leaseMs);
      },
      async finishAction(key, owner, now, status, patch = {}) {
        const a = d.actions.get(key);
        if (!a || a.status !== 'running' || a.leaseOwner !== owner || (a.leaseExpiresAt ?? 0) <= now) return false;
        putAction({
          ...a,
          status,
          leaseOwner: null,
          leaseExpiresAt: null,
          ...(patch.runAt === undefined ? {} : { runAt: patch.runAt }),
          ...(patch.lastError === undefined ? {} : { lastError: patch.lastError }),
        });
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
        const n = d.transitions.length;
        for (const r of records) d.transitions.push(copy({ ...r, tenantId }));
        undo.push(() => void (d.transitions.length = n));
      },
      async listTransitions(enrollmentId) {
        return d.transitions.filter((t) => t.enrollmentId === enrollmentId).map(copy);
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
        const undo: Array<() => void> = [];
        try {
          return await fn(makeTx(tenantId, undo));
        } catch (e) {
          for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
          throw e;
        }
      };
      const result = lock.then(run, run);
      lock = result.catch(() => undefined);
      return result;
    },
    dump(tenantId) {
      const d = data(tenantId);
      return copy({
        campaigns: [...d.campaigns.values()],
        enrollments: [...d.enrollments.values()],
        actions: [...d.actions.values()],
        outbox: [...d.outbox.values()],
        events: [...d.events.values()],
        transitions: d.transitions,
        suppressions: [...d.suppressions.values()],
      });
    },
    nextDueAt(tenantId) {
      const d = data(tenantId);
      for (let top = d.due.peek(); top; top = d.due.peek()) {
        const a = d.actions.get(top.key);
        if (a && dueAt(a) === top.at) return top.at;
        d.due.pop();
      }
      return null;
    },
  };
}
