/**
 * An in-memory {@link CampaignStore}: the reference implementation of the port, used by
 * tests, the simulator and the quickstart. Transactions run one at a time and roll back
 * through an undo log when they throw; records are copied in and out, as a database would.
 */
import type {
  ActionRecord,
  CampaignRecord,
  CampaignStatus,
  CampaignStore,
  ClaimOptions,
  EnrollmentRecord,
  MessageEventRecord,
  OutboundRecord,
  StoreTransaction,
  TransitionAuditRecord,
} from '../ports/campaign-store.js';

interface TenantData {
  campaigns: Map<string, CampaignRecord>;
  enrollments: Map<string, EnrollmentRecord>;
  /** `${campaignId}\u0000${contactId}` → enrollment id (the unique constraint). */
  enrollmentByContact: Map<string, string>;
  actions: Map<string, ActionRecord>;
  outbox: Map<string, OutboundRecord>;
  events: Map<string, MessageEventRecord>;
  transitions: TransitionAuditRecord[];
  analytics: Map<string, Record<string, number>>;
}

const copy = <T>(v: T): T => structuredClone(v);

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
        enrollments: new Map(),
        enrollmentByContact: new Map(),
        actions: new Map(),
        outbox: new Map(),
        events: new Map(),
        transitions: [],
        analytics: new Map(),
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
    return {
      tenantId,
      async insertCampaign(c) {
        if (d.campaigns.has(c.id)) throw new Error(`campaign "${c.id}" already exists`);
        setIn(d.campaigns, c.id, copy({ ...c, tenantId }));
      },
      async getCampaign(id) {
        const c = d.campaigns.get(id);
        return c ? copy(c) : null;
      },
      async updateCampaign(id, patch, expectStatus?: readonly CampaignStatus[]) {
        const c = d.campaigns.get(id);
        if (!c || (expectStatus && !expectStatus.includes(c.status))) return false;
        setIn(d.campaigns, id, copy({ ...c, ...patch }));
        return true;
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
      async insertActions(actions) {
        for (const a of actions) if (!d.actions.has(a.key)) setIn(d.actions, a.key, copy({ ...a, tenantId }));
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
      async claimDueActions({ now, limit, owner, leaseMs }: ClaimOptions) {
        const due: ActionRecord[] = [];
        for (const a of d.actions.values()) {
          if ((a.status === 'pending' && a.runAt <= now) || (a.status === 'running' && (a.leaseExpiresAt ?? 0) <= now)) due.push(a);
        }
        due.sort((a, b) => a.runAt - b.runAt || (a.key < b.key ? -1 : 1));
        return due.slice(0, limit).map((a) => {
          const claimed: ActionRecord = { ...a, status: 'running', leaseOwner: owner, leaseExpiresAt: now + leaseMs, attempts: a.attempts + 1 };
          setIn(d.actions, a.key, claimed);
          return copy(claimed);
        });
      },
      async claimAction(key, { now, owner, leaseMs }) {
        const a = d.actions.get(key);
        if (!a || !((a.status === 'pending' && a.runAt <= now) || (a.status === 'running' && (a.leaseExpiresAt ?? 0) <= now))) return null;
        const claimed: ActionRecord = { ...a, status: 'running', leaseOwner: owner, leaseExpiresAt: now + leaseMs, attempts: a.attempts + 1 };
        setIn(d.actions, key, claimed);
        return copy(claimed);
      },
      async finishAction(key, owner, now, status, patch = {}) {
        const a = d.actions.get(key);
        if (!a || a.status !== 'running' || a.leaseOwner !== owner || (a.leaseExpiresAt ?? 0) < now) return false;
        setIn(d.actions, key, {
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
        return true;
      },
      async updateOutbound(key, patch) {
        const m = d.outbox.get(key);
        if (m) setIn(d.outbox, key, { ...m, ...patch });
      },
      async getOutbound(key) {
        const m = d.outbox.get(key);
        return m ? copy(m) : null;
      },
      async appendTransitions(records) {
        const n = d.transitions.length;
        for (const r of records) d.transitions.push(copy({ ...r, tenantId }));
        undo.push(() => void (d.transitions.length = n));
      },
      async insertEvent(ev) {
        if (d.events.has(ev.providerEventId)) return false;
        setIn(d.events, ev.providerEventId, copy({ ...ev, tenantId }));
        return true;
      },
      async incrementAnalytics(campaignId, deltas) {
        const cur = d.analytics.get(campaignId) ?? {};
        const next = { ...cur };
        for (const [k, v] of Object.entries(deltas)) next[k] = (next[k] ?? 0) + v;
        setIn(d.analytics, campaignId, next);
      },
      async getAnalytics(campaignId) {
        return { ...(d.analytics.get(campaignId) ?? {}) };
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
      });
    },
    nextDueAt(tenantId) {
      let min: number | null = null;
      for (const a of data(tenantId).actions.values()) {
        const t = a.status === 'pending' ? a.runAt : a.status === 'running' ? a.leaseExpiresAt : null;
        if (t !== null && (min === null || t < min)) min = t;
      }
      return min;
    },
  };
}
