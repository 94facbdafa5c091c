/**
 * `createPostgresStore`: the CampaignStore port on PostgreSQL (a `pg` Pool or PGlite).
 * One transaction per `transaction()` call on one connection; the tenant is set per
 * transaction for row-level security; every statement filters by tenant_id.
 */
import { DriplineError } from '@dripline/core';
import type {
  ActionRecord,
  CampaignRecord,
  CampaignStatus,
  CampaignStore,
  ChunkClaimRequest,
  ClaimedChunk,
  EnrollmentRecord,
  MessageEventRecord,
  OutboundRecord,
  StoreTransaction,
  SuppressionRecord,
  TransitionAuditRecord,
} from '@dripline/core';
import { insertEnrollmentsSql } from './sql/batch-inserts.js';
import { getActionsSql, getEnrollmentsSql, getOutboundsSql, listOrphanEventsSql, listSuppressionsSql } from './sql/bulk.js';
import { claimActionSql, claimSql, finishActionSql } from './sql/claim.js';
import { commitWritesSql } from './sql/commit-writes.js';
import { guardClient, num, numOrNull, quoteSchema, toPool, type PgClientLike, type PgDatabase } from './postgres-pool.js';

/** Options of {@link createPostgresStore}. */
export interface PostgresStoreOptions {
  /** The user's `pg.Pool` (or anything with `connect()`), or a PGlite instance. */
  pool: PgDatabase;
  /** The schema `migrate` created. Default `dripline`. */
  schema?: string;
  /**
   * Set the tenant for the row-level-security policies (`set_config('dripline.tenant_id',
   * tenant, true)`) at the start of every transaction. `'auto'` (the default) asks the
   * database once, at the store's first transaction, whether the schema's tables have
   * row-level security enabled (`migrate(db, { rowLevelSecurity: true })`) and sets the
   * tenant only if they do. A store that sets the tenant opens every transaction with BEGIN;
   * one that does not runs reads on their own and commits a transaction whose writes it
   * buffered with a single statement, which saves two round trips per transaction. Enabling
   * row-level security on a schema that running stores already use needs them restarted (or
   * created with `true`).
   */
  setTenant?: boolean | 'auto';
  /**
   * Send statements as named prepared statements (`{ name, text, values }`), so PostgreSQL
   * parses and plans each of the store's ~30 statements once per connection instead of on
   * every call. Default true for a pool, false for PGlite (whose `query` takes no name).
   * Turn it off for a pool that does not accept a query config object, or behind a
   * transaction-mode pgBouncer older than 1.21.
   */
  prepare?: boolean;
}

type Row = Record<string, unknown>;

const CAMPAIGN_COLUMNS: Record<string, string> = {
  name: 'name',
  status: 'status',
  plan: 'plan',
  planVersion: 'plan_version',
  startAt: 'start_at',
  batchSize: 'batch_size',
  failureThreshold: 'failure_threshold',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
};
const JSON_COLUMNS = new Set(['plan']);
const CAMPAIGN_KNOWN = new Set(['tenantId', 'id', ...Object.keys(CAMPAIGN_COLUMNS)]);
const ACTION_KNOWN = new Set(['key', 'enrollmentId', 'kind', 'nodeId', 'visit', 'runAt', 'tenantId', 'campaignId', 'status', 'attempts', 'leaseOwner', 'leaseExpiresAt', 'lastError']);
const OUTBOUND_COLUMNS: Record<string, string> = {
  status: 'status',
  providerMessageId: 'provider_message_id',
  failureReason: 'failure_reason',
  attempts: 'attempts',
  updatedAt: 'updated_at',
};

const json = (v: unknown) => JSON.stringify(v);
const emptyChunk = (): ClaimedChunk => ({ actions: [], enrollments: [], outbounds: [], suppressions: [], campaigns: [] });
/**
 * A promise the transaction settles when it ends (a read or claim at commit). It is marked
 * handled here: the caller awaits it only if the transaction committed.
 */
function settledAtCommit<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const value = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  value.catch(() => undefined);
  return { value, resolve, reject };
}
/** A claim request as `dripline_claim` takes it (keys sorted, so claimers lock shared rows in the same order). */
const claimParam = (r: ChunkClaimRequest) => {
  const keys = r.keys ? [...new Set(r.keys)].sort() : null;
  const limit = keys ? keys.length : (r.limit ?? 10);
  return { now: r.now, owner: r.owner, lease_ms: r.leaseMs, limit, per_campaign: keys ? limit : (r.perCampaignLimit ?? limit), ...(keys ? { keys } : {}) };
};
/** `dripline_claim`'s arguments after the tenant, for a claim request; `rows` asks for the rows to run the actions too. */
const claimArgs = (r: ChunkClaimRequest, rows: boolean) => {
  const c = claimParam(r);
  return [c.now, c.owner, c.lease_ms, c.limit, c.per_campaign, c.keys ?? null, rows];
};
const extraOf = (r: object, known: Set<string>) => Object.fromEntries(Object.entries(r).filter(([k, v]) => !known.has(k) && v !== undefined));

function toCampaign(r: Row): CampaignRecord {
  return {
    tenantId: r.tenant_id as string,
    id: r.id as string,
    name: r.name as string,
    status: r.status as CampaignStatus,
    plan: r.plan as CampaignRecord['plan'],
    planVersion: num(r.plan_version),
    startAt: numOrNull(r.start_at),
    batchSize: num(r.batch_size),
    failureThreshold: num(r.failure_threshold),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    ...((r.extra as object | null) ?? {}),
  };
}

function toEnrollment(r: Row): EnrollmentRecord {
  return {
    tenantId: r.tenant_id as string,
    campaignId: r.campaign_id as string,
    contactId: r.contact_id as string,
    enrollment: r.enrollment as EnrollmentRecord['enrollment'],
    contact: r.contact as EnrollmentRecord['contact'],
    rowVersion: num(r.row_version),
  };
}

function toAction(r: Row): ActionRecord {
  return {
    ...((r.payload as object | null) ?? {}),
    key: r.key as string,
    enrollmentId: r.enrollment_id as string,
    kind: r.kind as ActionRecord['kind'],
    nodeId: r.node_id as string,
    visit: num(r.visit),
    runAt: num(r.run_at),
    tenantId: r.tenant_id as string,
    campaignId: r.campaign_id as string,
    status: r.status as ActionRecord['status'],
    attempts: num(r.attempts),
    leaseOwner: (r.lease_owner as string | null) ?? null,
    leaseExpiresAt: numOrNull(r.lease_expires_at),
    lastError: (r.last_error as string | null) ?? null,
  };
}

function toOutbound(r: Row): OutboundRecord {
  return {
    tenantId: r.tenant_id as string,
    key: r.key as string,
    campaignId: r.campaign_id as string,
    contactId: r.contact_id as string,
    enrollmentId: r.enrollment_id as string,
    nodeId: r.node_id as string,
    channel: r.channel as OutboundRecord['channel'],
    to: r.recipient as string,
    ...(r.subject === null || r.subject === undefined ? {} : { subject: r.subject as string }),
    body: r.body as string,
    status: r.status as OutboundRecord['status'],
    providerMessageId: (r.provider_message_id as string | null) ?? null,
    failureReason: (r.failure_reason as string | null) ?? null,
    attempts: num(r.attempts),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

function toEvent(r: Row): MessageEventRecord {
  return {
    tenantId: r.tenant_id as string,
    providerEventId: r.provider_event_id as string,
    type: r.type as string,
    at: num(r.at),
    providerMessageId: (r.provider_message_id as string | null) ?? null,
    messageKey: (r.message_key as string | null) ?? null,
    receivedAt: num(r.received_at),
  };
}

function toSuppression(r: Row): SuppressionRecord {
  return {
    tenantId: r.tenant_id as string,
    address: r.address as string,
    channel: r.channel === '*' ? null : (r.channel as SuppressionRecord['channel']),
    reason: r.reason as string,
    at: num(r.at),
  };
}

/**
 * One name per statement text, shared by every store in the process: pg prepares a name once
 * per connection and refuses the same name for a different text, and stores (of one schema or
 * several) share the user's pool. The text contains the schema, so names never clash.
 */
const statementNames = new Map<string, string>();
function statementName(text: string): string {
  let n = statementNames.get(text);
  if (!n) {
    // A hash of the text (cyrb53), not a counter: two copies of this module in one process
    // (ESM and CJS) must agree on every name.
    let h1 = 0xdeadbeef;
    let h2 = 0x41c6ce57;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 2654435761);
      h2 = Math.imul(h2 ^ c, 1597334677);
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    n = `dripline_${(h2 >>> 0).toString(16).padStart(8, '0')}${(h1 >>> 0).toString(16).padStart(8, '0')}`;
    statementNames.set(text, n);
  }
  return n;
}

/** A status filter as a parameter: absent → null (match all); an empty array matches nothing. */
const statusParam = (s: readonly string[] | undefined) => (s === undefined ? null : json(s));
/** `col = any(...)` for a jsonb array parameter, or everything when it is null. */
const inJson = (col: string, p: string) => `(${p}::jsonb is null or ${col} in (select jsonb_array_elements_text(${p}::jsonb)))`;

/** The store, with the schema it uses. */
export interface PostgresStore extends CampaignStore {
  /** The schema name. */
  readonly schema: string;
}

/**
 * Creates a CampaignStore on PostgreSQL. Run {@link migrate} first.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { createEngine } from '@dripline/core';
 * import { createPostgresStore, migrate } from '@dripline/adapter-postgres';
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * await migrate(pool);
 * const store = createPostgresStore({ pool });
 * const engine = createEngine({ store, transports });
 * ```
 */
export function createPostgresStore(options: PostgresStoreOptions): PostgresStore {
  const schemaName = options.schema ?? 'dripline';
  const s = quoteSchema(schemaName);
  const pool = toPool(options.pool);
  const isPglite = typeof (options.pool as { connect?: unknown }).connect !== 'function';
  const prepare = options.prepare ?? !isPglite;
  const sql = {
    claim: claimSql(s),
    claimOne: claimActionSql(s),
    finish: finishActionSql(s),
    insertEnrollments: insertEnrollmentsSql(s),
    getActions: getActionsSql(s),
    getEnrollments: getEnrollmentsSql(s),
    getOutbounds: getOutboundsSql(s),
    listSuppressions: listSuppressionsSql(s),
    listOrphanEvents: listOrphanEventsSql(s),
    commitWrites: commitWritesSql(s),
  };

  /**
   * Whether transactions set `dripline.tenant_id` for the row-level-security policies (and so
   * must open with BEGIN). `'auto'` asks the database once whether the schema's tables have
   * row-level security enabled.
   */
  let tenantSetting: Promise<boolean> | null = typeof options.setTenant === 'boolean' ? Promise.resolve(options.setTenant) : null;
  const needsTenant = (client: PgClientLike): Promise<boolean> => {
    tenantSetting ??= client
      .query(`select coalesce(bool_or(c.relrowsecurity), false) as rls from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1`, [schemaName])
      .then((r) => r.rows[0]?.rls === true)
      .catch((e: unknown) => {
        tenantSetting = null; // ask again next time
        throw e;
      });
    return tenantSetting;
  };

  /**
   * Write-behind within one transaction: the engine's writes are mostly blind or checked
   * writes whose result it does not read back (insertActions, cancelActions,
   * appendTransitions, incrementAnalytics, updateOutbound, and the bulk `OrFail` writes:
   * enrollment updates, action finishes, outbox inserts, lease checks). They are buffered and
   * written by one call (sql/commit-writes.ts) before the next statement that reads or
   * writes a table they touch, or at commit. A checked write that does not apply makes that
   * statement fail with a CONFLICT, which rolls the transaction back (core's
   * BulkStoreOperations contract), so a transaction still reads its own writes and a failing
   * write still fails the transaction.
   */
  interface Pending {
    actions: Map<string, ActionRecord>;
    cancels: Set<string>;
    finishes: Map<string, { owner: string; now: number; status: string; runAt: number | null; lastError: string | null }>;
    leases: Map<string, { owner: string; now: number }>;
    /** Enrollment updates, the row serialised at the call (a copy the caller cannot change). */
    enrollmentUpdates: Map<string, { json: string; expected: number; next: number }>;
    outboundInserts: Map<string, OutboundRecord>;
    outboundUpdates: Map<string, Record<string, unknown>>;
    /** Audit rows, each serialised when it was buffered. */
    transitions: string[];
    analytics: Map<string, Record<string, number>>;
    noOrphans: Set<string>;
    /** Counters to read at commit (readAnalyticsAtCommit). */
    analyticsReads: Array<{ ids: string[]; resolve: (v: Record<string, Record<string, number>>) => void; reject: (e: unknown) => void }>;
    /** A claim to make with the commit (claimAtCommit). */
    claim: { request: ChunkClaimRequest; resolve: (v: ClaimedChunk) => void; reject: (e: unknown) => void } | null;
  }
  const newPending = (): Pending => ({
    actions: new Map(),
    cancels: new Set(),
    finishes: new Map(),
    leases: new Map(),
    enrollmentUpdates: new Map(),
    outboundInserts: new Map(),
    outboundUpdates: new Map(),
    transitions: [],
    analytics: new Map(),
    noOrphans: new Set(),
    analyticsReads: [],
    claim: null,
  });
  /** Whether anything but reads at commit is buffered. */
  const hasWrites = (p: Pending) =>
    p.actions.size > 0 ||
    p.cancels.size > 0 ||
    p.finishes.size > 0 ||
    p.leases.size > 0 ||
    p.enrollmentUpdates.size > 0 ||
    p.outboundInserts.size > 0 ||
    p.outboundUpdates.size > 0 ||
    p.transitions.length > 0 ||
    p.analytics.size > 0 ||
    p.noOrphans.size > 0;
  /** The tables a buffer writes (or checks), as they appear in statement texts. */
  const tablesOf = (p: Pending): string[] => {
    const t: string[] = [];
    if (p.actions.size || p.cancels.size || p.finishes.size || p.leases.size) t.push('.scheduled_actions');
    if (p.enrollmentUpdates.size) t.push('.contact_campaigns');
    if (p.outboundInserts.size || p.outboundUpdates.size) t.push('.outbound_messages');
    if (p.transitions.length) t.push('.campaign_transitions');
    if (p.analytics.size) t.push('.campaign_analytics');
    return t;
  };
  const conflict = (message: string, details: Record<string, unknown>) => new DriplineError('CONFLICT', message, { retryable: true, details });
  const sorted = <T>(m: Map<string, T>) => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  /** A `dripline_conflict` exception (SQLSTATE DL409) as the CONFLICT error the port promises; other errors as they are. */
  const asConflict = (e: unknown): unknown => {
    const err = e as { code?: string; detail?: string };
    if (err?.code !== 'DL409') return e;
    let what: Record<string, string[] | undefined> = {};
    try {
      what = JSON.parse(err.detail ?? '{}') as typeof what;
    } catch {
      // keep the generic message
    }
    const parts: string[] = [];
    const list = (keys: string[] | undefined, say: (first: string) => string) => {
      if (keys?.length) parts.push(`${say(keys[0]!)}${keys.length > 1 ? ` (and ${keys.length - 1} more)` : ''}`);
    };
    list(what.enrollments, (id) => `enrollment "${id}" changed concurrently`);
    list(what.finishes, (k) => `lease on action "${k}" was lost`);
    list(what.leases, (k) => `lease on action "${k}" was lost`);
    list(what.outbox, (k) => `message "${k}" is already in the outbox`);
    list(what.orphans, (id) => `provider message "${id}" has orphan events to apply`);
    list(what.suppressed, (k) => `message "${k}" would go to a recipient suppressed since its rows were read`);
    return new DriplineError('CONFLICT', `${parts.join('; ') || 'a checked write did not apply'}; nothing was written`, { retryable: true, details: what, cause: e });
  };

  interface TxState {
    /** BEGIN was sent: statements run in the transaction, COMMIT ends it. */
    begun: boolean;
    /** The tenant must be set (row-level security): BEGIN is sent at once. */
    setTenant: boolean;
  }

  /** Runs a parameterised statement on `client`, as a named prepared statement on pg (see `prepare`). */
  const execOn = (client: PgClientLike, text: string, values: unknown[]) => (prepare ? client.query({ name: statementName(text), text, values }) : client.query(text, values));

  function makeTx(client: PgClientLike, tenantId: string, pending: Pending, state: TxState): StoreTransaction & { commit(): Promise<void> } {
    const exec = (text: string, values: unknown[]) => execOn(client, text, values);
    /**
     * BEGIN, once, before the first statement that writes. Until then the transaction's reads
     * run on their own: under READ COMMITTED every statement takes a fresh snapshot anyway,
     * and a read holds no lock, so a read before BEGIN sees what it would have seen after
     * it. A transaction that only reads never opens one; one whose writes are all buffered
     * commits them with a single statement (see `commit`).
     */
    const begin = () => beginOn(client, tenantId, state);

    /**
     * Writes everything buffered with one call of `dripline_write` (sql/commit-writes.ts).
     * With `reads`, also answers the counters read at commit. Outside a transaction the call
     * is the whole transaction.
     */
    const writeBuffered = async (reads: Pending['analyticsReads'], claim: ChunkClaimRequest | null): Promise<{ analytics: Record<string, Record<string, number>>; chunk: ClaimedChunk | null }> => {
      const p = { ...pending };
      // Taken now: what the caller buffers while the statement runs goes in the next one.
      // The reads and the claim at commit stay (a flush before commit does not answer them).
      Object.assign(pending, newPending(), { analyticsReads: p.analyticsReads, claim: p.claim });
      const actions = [...p.actions.values()].map((a) => ({
        key: a.key,
        campaign_id: a.campaignId,
        enrollment_id: a.enrollmentId,
        kind: a.kind,
        node_id: a.nodeId,
        visit: a.visit,
        run_at: a.runAt,
        status: a.status,
        attempts: a.attempts,
        lease_owner: a.leaseOwner,
        lease_expires_at: a.leaseExpiresAt,
        last_error: a.lastError,
        payload: extraOf(a, ACTION_KNOWN),
      }));
      const finishes = sorted(p.finishes).map(([key, f]) => ({ key, owner: f.owner, now: f.now, status: f.status, run_at: f.runAt, last_error: f.lastError }));
      const leases = sorted(p.leases).map(([key, l]) => ({ key, owner: l.owner, now: l.now }));
      const enrollments = sorted(p.enrollmentUpdates);
      const outbox = sorted(p.outboundInserts).map(([, m]) => ({
        key: m.key,
        campaign_id: m.campaignId,
        contact_id: m.contactId,
        enrollment_id: m.enrollmentId,
        node_id: m.nodeId,
        channel: m.channel,
        recipient: m.to,
        subject: m.subject ?? null,
        body: m.body,
        status: m.status,
        provider_message_id: m.providerMessageId,
        failure_reason: m.failureReason,
        attempts: m.attempts,
        created_at: m.createdAt,
        updated_at: m.updatedAt,
      }));
      const patches = sorted(p.outboundUpdates);
      const counters: Array<{ campaign_id: string; counter: string; delta: number }> = [];
      for (const [campaignId, deltas] of sorted(p.analytics)) for (const [counter, delta] of Object.entries(deltas)) counters.push({ campaign_id: campaignId, counter, delta });
      const readIds = [...new Set(reads.flatMap((r) => r.ids))];
      let r;
      try {
        r = await exec(sql.commitWrites, [
          tenantId,
          json(actions),
          [...p.cancels].sort(),
          json(finishes),
          finishes.map((f) => f.key),
          json(leases),
          leases.map((l) => l.key),
          // Each row was serialised when it was buffered.
          `[${enrollments.map(([, u]) => u.json).join(',')}]`,
          enrollments.map(([id]) => id),
          json(outbox),
          json(patches.map(([, patch]) => patch)),
          patches.map(([k]) => k),
          `[${p.transitions.join(',')}]`,
          json(counters),
          [...p.noOrphans],
          readIds,
          claim ? json(claimParam(claim)) : null,
        ]);
      } catch (e) {
        throw asConflict(e);
      }
      const result = (r.rows[0]?.result ?? {}) as { analytics?: Record<string, Record<string, number | string>> | null; chunk?: unknown };
      // Read after this call's increments (dripline_write applies them first).
      const analytics: Record<string, Record<string, number>> = {};
      for (const id of readIds) analytics[id] = Object.fromEntries(Object.entries(result.analytics?.[id] ?? {}).map(([k, v]) => [k, num(v)]));
      return { analytics, chunk: claim ? toChunk(result.chunk) : null };
    };

    /**
     * Writes what is buffered, if a statement about to run touches a table it writes: one whose
     * text names the table, or a call of one of the schema's functions (which read every table).
     */
    const flushFor = async (text: string) => {
      if (text.includes('.dripline_') || tablesOf(pending).some((t) => text.includes(t))) await drain();
    };
    /** A statement that reads only: runs on its own until the transaction has begun. */
    const read = async (text: string, values: unknown[] = []) => {
      await flushFor(text);
      return exec(text, [tenantId, ...values]);
    };
    /** A statement that writes (or locks): opens the transaction first. */
    const write = async (text: string, values: unknown[] = []) => {
      await flushFor(text);
      await begin();
      return exec(text, [tenantId, ...values]);
    };
    /**
     * Writes what is buffered now, before a write that touches a key an earlier buffered
     * write of another kind touched: the commit applies the kinds in a fixed order (inserts,
     * cancels, finishes...), which must not reorder two writes of one row.
     */
    const drain = async () => {
      if (!hasWrites(pending)) return;
      await begin();
      await writeBuffered([], null);
    };
    const one = async <T>(text: string, values: unknown[], map: (r: Row) => T): Promise<T | null> => {
      const r = await read(text, values);
      return r.rows[0] ? map(r.rows[0]) : null;
    };
    const changed = (r: { rowCount?: number | null; rows: unknown[] }) => (r.rowCount ?? r.rows.length) > 0;

    /** Writes what is still buffered and ends the transaction: one call (and COMMIT, if it had begun). */
    const commit = async () => {
      const reads = pending.analyticsReads;
      const claim = pending.claim;
      pending.analyticsReads = [];
      pending.claim = null;
      let done: { analytics: Record<string, Record<string, number>>; chunk: ClaimedChunk | null } | null = null;
      try {
        if (hasWrites(pending) || reads.length || claim) done = await writeBuffered(reads, claim?.request ?? null);
        if (state.begun) await client.query('commit');
      } catch (e) {
        for (const r of reads) r.reject(e);
        claim?.reject(e);
        throw e;
      }
      for (const r of reads) r.resolve(Object.fromEntries(r.ids.map((id) => [id, done?.analytics[id] ?? {}])));
      if (claim) claim.resolve(done?.chunk ?? emptyChunk());
    };

    return {
      tenantId,
      commit,
      async insertCampaign(c) {
        const r = await write(
          `insert into ${s}.campaigns (tenant_id, id, name, status, plan, plan_version, start_at, batch_size, failure_threshold, created_at, updated_at, extra)
           values ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11, $12::jsonb) on conflict do nothing returning 1`,
          [c.id, c.name, c.status, json(c.plan), c.planVersion, c.startAt, c.batchSize, c.failureThreshold, c.createdAt, c.updatedAt, json(extraOf(c, CAMPAIGN_KNOWN))],
        );
        if (!r.rows.length) throw new DriplineError('CONFLICT', `campaign "${c.id}" already exists`, { details: { campaignId: c.id } });
      },
      getCampaign: (id) => one(`select * from ${s}.campaigns where tenant_id = $1 and id = $2`, [id], toCampaign),
      async updateCampaign(id, patch, expectStatus) {
        const sets: string[] = [];
        const values: unknown[] = [id, statusParam(expectStatus)];
        const extra: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(patch)) {
          if (v === undefined || k === 'tenantId' || k === 'id') continue;
          const col = CAMPAIGN_COLUMNS[k];
          if (!col) {
            extra[k] = v;
            continue;
          }
          values.push(JSON_COLUMNS.has(k) ? json(v) : v);
          sets.push(`${col} = $${values.length + 1}${JSON_COLUMNS.has(k) ? '::jsonb' : ''}`);
        }
        if (Object.keys(extra).length) {
          values.push(json(extra));
          sets.push(`extra = extra || $${values.length + 1}::jsonb`);
        }
        const set = sets.length ? sets.join(', ') : 'id = id';
        return changed(await write(`update ${s}.campaigns set ${set} where tenant_id = $1 and id = $2 and ${inJson('status', '$3')}`, values));
      },
      async listCampaigns(status) {
        const r = await read(`select * from ${s}.campaigns where tenant_id = $1 and ${inJson('status', '$2')} order by id`, [statusParam(status)]);
        return r.rows.map(toCampaign);
      },
      async insertPlanVersion(p) {
        const r = await write(
          `insert into ${s}.plan_versions (tenant_id, campaign_id, version, plan, created_at) values ($1, $2, $3, $4::jsonb, $5) on conflict do nothing returning 1`,
          [p.campaignId, p.version, json(p.plan), p.createdAt],
        );
        if (!r.rows.length) throw new DriplineError('CONFLICT', `plan version ${p.version} of campaign "${p.campaignId}" already exists`, { details: { campaignId: p.campaignId, version: p.version } });
      },
      getPlanVersion: (campaignId, version) =>
        one(`select * from ${s}.plan_versions where tenant_id = $1 and campaign_id = $2 and version = $3`, [campaignId, version], (r) => ({
          tenantId: r.tenant_id as string,
          campaignId: r.campaign_id as string,
          version: num(r.version),
          plan: r.plan as CampaignRecord['plan'],
          createdAt: num(r.created_at),
        })),
      async insertEnrollments(records) {
        if (!records.length) return [];
        const batch = records.map((e) => ({ id: e.enrollment.id, campaign_id: e.campaignId, contact_id: e.contactId, enrollment: e.enrollment, contact: e.contact, row_version: e.rowVersion }));
        const r = await write(sql.insertEnrollments, [json(batch)]);
        return r.rows.map((x) => x.id as string);
      },
      getEnrollment: (id) => one(`select * from ${s}.contact_campaigns where tenant_id = $1 and id = $2`, [id], toEnrollment),
      async updateEnrollment(record, expected) {
        const e = record.enrollment;
        return changed(
          await write(
            `update ${s}.contact_campaigns set status = $3, node_id = $4, visit = $5, plan_version = $6, enrollment = $7::jsonb, contact = $8::jsonb, row_version = $9
             where tenant_id = $1 and id = $2 and row_version = $10`,
            [e.id, e.status, e.nodeId, e.visit, e.planVersion, json(e), json(record.contact), expected + 1, expected],
          ),
        );
      },
      async listEnrollments(campaignId, { after, limit, status }) {
        const r = await read(
          `select * from ${s}.contact_campaigns where tenant_id = $1 and campaign_id = $2 and ($3::text is null or id > $3) and ${inJson('status', '$4')} order by id limit $5`,
          [campaignId, after ?? null, statusParam(status), limit],
        );
        return r.rows.map(toEnrollment);
      },
      async countEnrollments(campaignId) {
        const r = await read(`select status, count(*) as n from ${s}.contact_campaigns where tenant_id = $1 and campaign_id = $2 group by status`, [campaignId]);
        return Object.fromEntries(r.rows.map((x) => [x.status as string, num(x.n)]));
      },
      async insertActions(actions) {
        // An action canceled, finished or fenced earlier in this transaction is written first
        // (see `drain`).
        if (actions.some((a) => pending.cancels.has(a.key) || pending.finishes.has(a.key) || pending.leases.has(a.key))) await drain();
        // Copied now: the caller may change its objects before the flush. A key inserted
        // twice keeps its first row (the second insert would do nothing).
        for (const a of actions) if (!pending.actions.has(a.key)) pending.actions.set(a.key, { ...a });
      },
      async cancelActions(keys) {
        if (!keys.length) return;
        if (keys.some((k) => pending.actions.has(k) || pending.finishes.has(k) || pending.leases.has(k))) await drain();
        for (const k of keys) pending.cancels.add(k);
      },
      getAction: (key) => one(`select * from ${s}.scheduled_actions where tenant_id = $1 and key = $2`, [key], toAction),
      async listActions(campaignId, { after, limit, status, enrollmentId }) {
        const r = await read(
          `select * from ${s}.scheduled_actions where tenant_id = $1 and campaign_id = $2 and ($3::text is null or key > $3) and ${inJson('status', '$4')}
           and ($5::text is null or enrollment_id = $5) order by key limit $6`,
          [campaignId, after ?? null, statusParam(status), enrollmentId ?? null, limit],
        );
        return r.rows.map(toAction);
      },
      async countActions(campaignId) {
        const r = await read(`select status, count(*) as n from ${s}.scheduled_actions where tenant_id = $1 and campaign_id = $2 group by status`, [campaignId]);
        return Object.fromEntries(r.rows.map((x) => [x.status as string, num(x.n)]));
      },
      async claimDueActions({ now, limit, owner, leaseMs, perCampaignLimit }) {
        if (limit <= 0) return [];
        // Actions only, in claim order (earliest first).
        const r = await write(sql.claim, claimArgs({ now, owner, leaseMs, limit, ...(perCampaignLimit === undefined ? {} : { perCampaignLimit }) }, false));
        return toChunk(r.rows[0]?.chunk).actions;
      },
      async claimAction(key, { now, owner, leaseMs }) {
        const r = await write(sql.claimOne, [now, owner, leaseMs, key]);
        return r.rows[0] ? toAction(r.rows[0]) : null;
      },
      async finishAction(key, owner, now, status, patch = {}) {
        const r = await write(sql.finish, [key, owner, now, status, patch.runAt ?? null, patch.lastError ?? null]);
        return changed(r);
      },
      async insertOutbound(m) {
        const r = await write(
          // A provider id known already is recorded for webhooks to find the message by (000007).
          `with i as (
             insert into ${s}.outbound_messages (tenant_id, key, campaign_id, contact_id, enrollment_id, node_id, channel, recipient, subject, body, status, provider_message_id, failure_reason, attempts, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) on conflict do nothing returning key, provider_message_id
           ), ids as (
             insert into ${s}.outbound_provider_ids (provider_message_id, tenant_id, message_key)
             select i.provider_message_id, $1, i.key from i where i.provider_message_id is not null on conflict do nothing
           )
           select 1 from i`,
          [m.key, m.campaignId, m.contactId, m.enrollmentId, m.nodeId, m.channel, m.to, m.subject ?? null, m.body, m.status, m.providerMessageId, m.failureReason, m.attempts, m.createdAt, m.updatedAt],
        );
        return r.rows.length > 0;
      },
      async updateOutbound(key, patch) {
        // A blind write: buffered, merged per key (later fields win), written with the rest.
        const fields: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(patch)) if (OUTBOUND_COLUMNS[k] && v !== undefined) fields[k] = v;
        if (!Object.keys(fields).length) return;
        // A row inserted by this transaction and not written yet takes the patch itself.
        const inserting = pending.outboundInserts.get(key);
        if (inserting) {
          Object.assign(inserting, fields);
          return;
        }
        pending.outboundUpdates.set(key, { ...pending.outboundUpdates.get(key), ...fields });
      },
      getOutbound: (key) => one(`select * from ${s}.outbound_messages where tenant_id = $1 and key = $2`, [key], toOutbound),
      // The provider id's rows (000007), each message probed by key and checked: a message whose
      // id changed since keeps its old row there.
      findOutboundByProviderId: (id) =>
        one(
          `select o.* from ${s}.outbound_provider_ids p
           cross join lateral (select y.* from ${s}.outbound_messages y where y.tenant_id = p.tenant_id and y.key = p.message_key offset 0) o
           where p.provider_message_id = $2 and p.tenant_id = $1 and o.provider_message_id = $2
           order by o.updated_at desc, o.key limit 1`,
          [id],
          toOutbound,
        ),
      async listOutbound(campaignId, { after, limit }) {
        const r = await read(`select * from ${s}.outbound_messages where tenant_id = $1 and campaign_id = $2 and ($3::text is null or key > $3) order by key limit $4`, [
          campaignId,
          after ?? null,
          limit,
        ]);
        return r.rows.map(toOutbound);
      },
      async listRecentOutboundTimes(to, since) {
        const r = await read(
          `select created_at from ${s}.outbound_messages where tenant_id = $1 and recipient = $2 and created_at >= $3 and status not in ('failed', 'undelivered') order by created_at`,
          [to, since],
        );
        return r.rows.map((x) => num(x.created_at));
      },
      async appendTransitions(records) {
        // Serialised now: a copy the caller can no longer change, and the statement's JSON.
        for (const r of records) pending.transitions.push(json({ ...r, tenantId }));
      },
      async listTransitions(enrollmentId) {
        const r = await read(`select record from ${s}.campaign_transitions where tenant_id = $1 and enrollment_id = $2 order by seq`, [enrollmentId]);
        return r.rows.map((x) => ({ ...(x.record as TransitionAuditRecord), tenantId }));
      },
      async insertEvent(ev) {
        const r = await write(
          `insert into ${s}.message_events (tenant_id, provider_event_id, type, at, provider_message_id, message_key, received_at)
           values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing returning 1`,
          [ev.providerEventId, ev.type, ev.at, ev.providerMessageId, ev.messageKey, ev.receivedAt],
        );
        return r.rows.length > 0;
      },
      async listOrphanEvents(providerMessageId) {
        const r = await read(`select * from ${s}.message_events where tenant_id = $1 and provider_message_id = $2 and message_key is null order by at, seq`, [providerMessageId]);
        return r.rows.map(toEvent);
      },
      async attachEvent(providerEventId, messageKey) {
        await write(`update ${s}.message_events set message_key = $3 where tenant_id = $1 and provider_event_id = $2`, [providerEventId, messageKey]);
      },
      async incrementAnalytics(campaignId, deltas) {
        const acc = pending.analytics.get(campaignId) ?? {};
        for (const [k, v] of Object.entries(deltas)) acc[k] = (acc[k] ?? 0) + v;
        if (Object.keys(acc).length) pending.analytics.set(campaignId, acc);
      },
      async getAnalytics(campaignId) {
        const r = await read(`select counter, sum(value) as v from ${s}.campaign_analytics where tenant_id = $1 and campaign_id = $2 group by counter`, [campaignId]);
        return Object.fromEntries(r.rows.map((x) => [x.counter as string, num(x.v)]));
      },
      async suppress(rec) {
        await write(
          `insert into ${s}.suppressions (tenant_id, address, channel, reason, at) values ($1, $2, $3, $4, $5)
           on conflict (tenant_id, address, channel) do update set reason = excluded.reason, at = excluded.at`,
          [rec.address, rec.channel ?? '*', rec.reason, rec.at],
        );
      },
      async unsuppress(address, channel) {
        return changed(await write(`delete from ${s}.suppressions where tenant_id = $1 and address = $2 and channel = $3`, [address, channel ?? '*']));
      },
      getSuppression: (address, channel) =>
        one(
          `select * from ${s}.suppressions where tenant_id = $1 and address = $2 and channel in ($3, '*') order by (channel = '*') limit 1`,
          [address, channel],
          toSuppression,
        ),
      bulk: {
        async getActions(keys) {
          if (!keys.length) return [];
          return (await read(sql.getActions, [[...keys]])).rows.map(toAction);
        },
        async getEnrollments(ids) {
          if (!ids.length) return [];
          return (await read(sql.getEnrollments, [[...ids]])).rows.map(toEnrollment);
        },
        async getOutbounds(keys) {
          if (!keys.length) return [];
          return (await read(sql.getOutbounds, [[...keys]])).rows.map(toOutbound);
        },
        async listSuppressions(addresses) {
          if (!addresses.length) return [];
          return (await read(sql.listSuppressions, [[...addresses]])).rows.map(toSuppression);
        },
        async listOrphanEvents(ids) {
          if (!ids.length) return [];
          return (await read(sql.listOrphanEvents, [[...ids]])).rows.map(toEvent);
        },
        async claimActions(keys, { now, owner, leaseMs }) {
          if (!keys.length) return [];
          // Keys sorted (claimArgs): claimers lock the rows they share in the same order.
          const r = await write(sql.claim, claimArgs({ keys, now, owner, leaseMs }, false));
          return toChunk(r.rows[0]?.chunk).actions;
        },
        async updateEnrollmentOrFail(record, expected) {
          const id = record.enrollment.id;
          const held = pending.enrollmentUpdates.get(id);
          // A second update of a row whose first is still buffered: one write, from the first's
          // expected version to the second's next (the second must follow on from the first).
          if (held && held.next !== expected) throw conflict(`enrollment "${id}" changed concurrently (row version ${expected})`, { enrollmentIds: [id] });
          const e = record.enrollment;
          const first = held ? held.expected : expected;
          // Serialised now: a copy the caller can no longer change, and the statement's JSON.
          const row = json({ id, status: e.status, node_id: e.nodeId, visit: e.visit, plan_version: e.planVersion, enrollment: e, contact: record.contact, expected: first, next: expected + 1 });
          pending.enrollmentUpdates.set(id, { json: row, expected: first, next: expected + 1 });
        },
        async finishActionOrFail(key, owner, now, status, patch = {}) {
          // A second finish of the same action cannot apply: it is no longer running.
          if (pending.finishes.has(key)) throw conflict(`lease on action "${key}" was lost; nothing was written`, { keys: [key] });
          if (pending.actions.has(key) || pending.cancels.has(key)) await drain();
          // A finish fences its action itself.
          pending.leases.delete(key);
          pending.finishes.set(key, { owner, now, status, runAt: patch.runAt ?? null, lastError: patch.lastError ?? null });
        },
        async insertOutboundOrFail(message) {
          if (pending.outboundInserts.has(message.key)) throw conflict(`message "${message.key}" is already in the outbox`, { keys: [message.key] });
          // An update of this key buffered before the insert must not be applied after it.
          if (pending.outboundUpdates.has(message.key)) await drain();
          pending.outboundInserts.set(message.key, { ...message });
        },
        async assertLeasesOrFail(keys, owner, now) {
          if (keys.some((k) => pending.actions.has(k) || pending.cancels.has(k))) await drain();
          // An action finished in this transaction is fenced by its finish.
          for (const key of keys) if (!pending.finishes.has(key)) pending.leases.set(key, { owner, now });
        },
        async expectNoOrphanEventsOrFail(ids) {
          for (const id of ids) pending.noOrphans.add(id);
        },
        async readAnalyticsAtCommit(campaignIds) {
          const { value, resolve, reject } = settledAtCommit<Record<string, Record<string, number>>>();
          pending.analyticsReads.push({ ids: [...new Set(campaignIds)], resolve, reject });
          return { value };
        },
        async claimAtCommit(request) {
          if (pending.claim) throw new DriplineError('INVALID_INPUT', 'claimAtCommit was already called in this transaction');
          const { value, resolve, reject } = settledAtCommit<ClaimedChunk>();
          pending.claim = { request, resolve, reject };
          return { value };
        },
      },
    };
  }

  /** Parses a `dripline_claim` result (one json value). */
  const toChunk = (v: unknown): ClaimedChunk => {
    const c = (typeof v === 'string' ? JSON.parse(v) : v) as Record<string, Row[]>;
    return {
      actions: c.actions!.map(toAction),
      enrollments: c.enrollments!.map(toEnrollment),
      outbounds: c.outbounds!.map(toOutbound),
      suppressions: c.suppressions!.map(toSuppression),
      campaigns: c.campaigns!.map(toCampaign),
    };
  };

  /** Runs `fn` on a pooled connection; a connection that broke is destroyed, not returned. */
  async function withClient<T>(fn: (client: PgClientLike, broke: (e: unknown) => void) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    guardClient(client);
    let broken: Error | undefined;
    try {
      return await fn(client, (e) => (broken = e instanceof Error ? e : new Error(String(e))));
    } finally {
      client.release(broken);
    }
  }

  /** Rolls back a transaction that had begun; a connection that cannot is reported broken. */
  const rollback = async (client: PgClientLike, state: TxState, broke: (e: unknown) => void) => {
    if (!state.begun) return;
    try {
      await client.query('rollback');
    } catch (e2) {
      // The connection is gone: destroy it rather than return it to the pool.
      broke(e2);
    }
  };

  return {
    schema: schemaName,
    async transaction<T>(tenantId: string, fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
      return withClient(async (client, broke) => {
        const state: TxState = { begun: false, setTenant: await needsTenant(client) };
        const pending = newPending();
        try {
          // Under row-level security every statement needs the tenant: BEGIN comes first.
          if (state.setTenant) await beginOn(client, tenantId, state);
          const tx = makeTx(client, tenantId, pending, state);
          const result = await fn(tx);
          await tx.commit();
          return result;
        } catch (e) {
          for (const r of pending.analyticsReads) r.reject(e);
          pending.claim?.reject(e);
          await rollback(client, state, broke);
          throw e;
        }
      });
    },
    async claimChunk(tenantId: string, request: ChunkClaimRequest): Promise<ClaimedChunk> {
      if (request.keys && !request.keys.length) return emptyChunk();
      return withClient(async (client, broke) => {
        const state: TxState = { begun: false, setTenant: await needsTenant(client) };
        const values = [tenantId, ...claimArgs(request, true)];
        try {
          // One statement, its own transaction; under row-level security inside BEGIN … COMMIT.
          if (state.setTenant) await beginOn(client, tenantId, state);
          const r = await execOn(client, sql.claim, values);
          if (state.begun) await client.query('commit');
          return toChunk(r.rows[0]?.chunk);
        } catch (e) {
          await rollback(client, state, broke);
          throw e;
        }
      });
    },
  };
}

/**
 * BEGIN, and the tenant for the row-level-security policies when the transaction needs it.
 * Transaction-local (true): the setting ends with the transaction, so a pooled connection
 * never carries a tenant into the next borrower's work. BEGIN and the setting go in one
 * simple-protocol round trip (a script cannot take parameters, so the tenant is an escaped
 * literal).
 */
async function beginOn(client: PgClientLike, tenantId: string, state: { begun: boolean; setTenant: boolean }): Promise<void> {
  if (state.begun) return;
  state.begun = true;
  await client.query(state.setTenant ? `begin; select set_config('dripline.tenant_id', ${escapeLiteral(tenantId)}, true)` : 'begin');
}

/**
 * Quotes a string as a SQL literal, as pg's `escapeLiteral` does: quotes doubled, and with
 * backslashes doubled under an `E''` prefix so the result is right whatever
 * `standard_conforming_strings` says. NUL cannot be stored in a text value and is refused.
 */
export function escapeLiteral(value: string): string {
  if (value.includes('\0')) throw new DriplineError('INVALID_INPUT', 'a tenant id cannot contain NUL characters');
  let backslash = false;
  let out = "'";
  for (const ch of value) {
    if (ch === "'") out += "''";
    else if (ch === '\\') {
      out += '\\\\';
      backslash = true;
    } else out += ch;
  }
  out += "'";
  return backslash ? ` E${out}` : out;
}
