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
  EnrollmentRecord,
  MessageEventRecord,
  OutboundRecord,
  StoreTransaction,
  SuppressionRecord,
  TransitionAuditRecord,
} from '@dripline/core';
import { appendTransitionsSql, incrementAnalyticsSql, insertActionsSql, insertEnrollmentsSql } from './sql/batch-inserts.js';
import {
  claimActionsSql,
  finishActionsSql,
  getActionsSql,
  getEnrollmentsSql,
  getOutboundsSql,
  insertOutboundsSql,
  listOrphanEventsSql,
  listSuppressionsSql,
  updateEnrollmentsSql,
  updateOutboundsSql,
} from './sql/bulk.js';
import { claimActionSql, claimDueActionsSql, finishActionSql } from './sql/claim-due-actions.js';
import { guardClient, num, numOrNull, quoteSchema, toPool, type PgClientLike, type PgDatabase } from './postgres-pool.js';

/** Options of {@link createPostgresStore}. */
export interface PostgresStoreOptions {
  /** The user's `pg.Pool` (or anything with `connect()`), or a PGlite instance. */
  pool: PgDatabase;
  /** The schema `migrate` created. Default `dripline`. */
  schema?: string;
  /**
   * Run `set_config('dripline.tenant_id', tenant, true)` at the start of every transaction,
   * which the row-level-security policies read. Default true; set false to save that round
   * trip when the policies are not installed.
   */
  setTenant?: boolean;
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
  const setTenant = options.setTenant ?? true;
  const isPglite = typeof (options.pool as { connect?: unknown }).connect !== 'function';
  const prepare = options.prepare ?? !isPglite;
  const sql = {
    claimDue: claimDueActionsSql(s),
    claimOne: claimActionSql(s),
    finish: finishActionSql(s),
    insertEnrollments: insertEnrollmentsSql(s),
    insertActions: insertActionsSql(s),
    appendTransitions: appendTransitionsSql(s),
    incrementAnalytics: incrementAnalyticsSql(s),
    getActions: getActionsSql(s),
    getEnrollments: getEnrollmentsSql(s),
    getOutbounds: getOutboundsSql(s),
    listSuppressions: listSuppressionsSql(s),
    listOrphanEvents: listOrphanEventsSql(s),
    claimActions: claimActionsSql(s),
    updateEnrollments: updateEnrollmentsSql(s),
    finishActions: finishActionsSql(s),
    insertOutbounds: insertOutboundsSql(s),
    updateOutbounds: updateOutboundsSql(s),
  };

  /**
   * Write-behind within one transaction: the engine applies a page's effects contact by
   * contact (insertActions, appendTransitions, incrementAnalytics, updateOutbound per
   * enrollment), which would be one round trip each. These blind writes are buffered and
   * flushed as one set-based statement per kind before the next statement on the same table,
   * or COMMIT, so a transaction still reads its own writes and a failing write still fails
   * the transaction.
   *
   * The bulk `OrFail` writes (enrollment updates, action finishes, outbox inserts) are
   * buffered the same way; their flush checks that every row applied and otherwise throws a
   * CONFLICT, which rolls the transaction back (core's BulkStoreOperations contract).
   */
  interface Pending {
    actions: ActionRecord[];
    transitions: TransitionAuditRecord[];
    analytics: Map<string, Record<string, number>>;
    outboundUpdates: Map<string, Record<string, unknown>>;
    outboundInserts: Map<string, OutboundRecord>;
    enrollmentUpdates: Map<string, { record: EnrollmentRecord; expected: number; next: number }>;
    finishes: Map<string, { owner: string; now: number; status: string; runAt: number | null; lastError: string | null }>;
  }
  const newPending = (): Pending => ({
    actions: [],
    transitions: [],
    analytics: new Map(),
    outboundUpdates: new Map(),
    outboundInserts: new Map(),
    enrollmentUpdates: new Map(),
    finishes: new Map(),
  });
  const conflict = (message: string, details: Record<string, unknown>) => new DriplineError('CONFLICT', message, { retryable: true, details });
  /** The items of a checked batch write whose key the statement did not return. */
  const notApplied = <T>(items: readonly T[], keyOf: (item: T) => string, returned: readonly Row[], column: string): T[] => {
    if (returned.length === items.length) return [];
    const applied = new Set(returned.map((x) => x[column] as string));
    return items.filter((item) => !applied.has(keyOf(item)));
  };
  const sorted = <T>(m: Map<string, T>) => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

  function makeTx(client: PgClientLike, tenantId: string, pending: Pending): StoreTransaction & { flush(): Promise<void> } {
    /** Runs a parameterised statement, as a named prepared statement on pg (see `prepare`). */
    const exec = (text: string, values: unknown[]) => (prepare ? client.query({ name: statementName(text), text, values }) : client.query(text, values));
    /**
     * Writes what is buffered: everything (before COMMIT), or only the kinds a statement
     * reads or writes (its text names the table). No table has a trigger or a foreign key,
     * so a buffered row can only matter to statements on its own table.
     */
    const flush = async (text?: string) => {
      if (pending.actions.length && (text === undefined || text.includes('.scheduled_actions'))) {
        const actions = pending.actions;
        pending.actions = [];
        const batch = actions.map((a) => ({
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
        await exec(sql.insertActions, [tenantId, json(batch)]);
      }
      if (pending.transitions.length && (text === undefined || text.includes('.campaign_transitions'))) {
        const records = pending.transitions;
        pending.transitions = [];
        await exec(sql.appendTransitions, [tenantId, json(records.map((r) => ({ ...r, tenantId })))]);
      }
      if ((pending.enrollmentUpdates.size) && (text === undefined || text.includes('.contact_campaigns'))) {
        const updates = sorted(pending.enrollmentUpdates);
        pending.enrollmentUpdates = new Map();
        const batch = updates.map(([id, { record, expected, next }]) => {
          const e = record.enrollment;
          return { id, status: e.status, node_id: e.nodeId, visit: e.visit, plan_version: e.planVersion, enrollment: e, contact: record.contact, expected, next };
        });
        const r = await exec(sql.updateEnrollments, [tenantId, json(batch), batch.map((b) => b.id)]);
        const stale = notApplied(updates, ([id]) => id, r.rows, 'id');
        if (stale.length) {
          throw conflict(`enrollment "${stale[0]![0]}" changed concurrently (row version ${stale[0]![1].expected})${stale.length > 1 ? ` and ${stale.length - 1} more` : ''}`, {
            enrollmentIds: stale.map(([id]) => id),
          });
        }
      }
      if (pending.finishes.size && (text === undefined || text.includes('.scheduled_actions'))) {
        const finishes = sorted(pending.finishes);
        pending.finishes = new Map();
        const batch = finishes.map(([key, f]) => ({ key, owner: f.owner, now: f.now, status: f.status, run_at: f.runAt, last_error: f.lastError }));
        const r = await exec(sql.finishActions, [tenantId, json(batch), batch.map((b) => b.key)]);
        const lost = notApplied(batch, (b) => b.key, r.rows, 'key').map((b) => b.key);
        if (lost.length) {
          throw conflict(`lease on action "${lost[0]}" was lost${lost.length > 1 ? ` (and ${lost.length - 1} more)` : ''}; nothing was written`, { keys: lost });
        }
      }
      if ((pending.outboundInserts.size || pending.outboundUpdates.size) && (text === undefined || text.includes('.outbound_messages'))) {
        // Inserts first: an update buffered after an insert of the same key must see the row.
        if (pending.outboundInserts.size) {
          const inserts = sorted(pending.outboundInserts);
          pending.outboundInserts = new Map();
          const batch = inserts.map(([, m]) => ({
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
          const r = await exec(sql.insertOutbounds, [tenantId, json(batch)]);
          const dup = notApplied(batch, (b) => b.key, r.rows, 'key').map((b) => b.key);
          if (dup.length) {
            throw conflict(`message "${dup[0]}" is already in the outbox${dup.length > 1 ? ` (and ${dup.length - 1} more)` : ''}`, { keys: dup });
          }
        }
        if (pending.outboundUpdates.size) {
          const updates = Object.fromEntries(sorted(pending.outboundUpdates));
          pending.outboundUpdates = new Map();
          await exec(sql.updateOutbounds, [tenantId, json(updates), Object.keys(updates)]);
        }
      }
      if (pending.analytics.size && (text === undefined || text.includes('.campaign_analytics'))) {
        const entries = [...pending.analytics];
        pending.analytics = new Map();
        for (const [campaignId, deltas] of entries) await exec(sql.incrementAnalytics, [tenantId, campaignId, json(deltas)]);
      }
    };
    const q = async (text: string, values: unknown[] = []) => {
      await flush(text);
      return exec(text, [tenantId, ...values]);
    };
    const one = async <T>(text: string, values: unknown[], map: (r: Row) => T): Promise<T | null> => {
      const r = await q(text, values);
      return r.rows[0] ? map(r.rows[0]) : null;
    };
    const changed = (r: { rowCount?: number | null; rows: unknown[] }) => (r.rowCount ?? r.rows.length) > 0;

    return {
      tenantId,
      flush,
      async insertCampaign(c) {
        const r = await q(
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
        return changed(await q(`update ${s}.campaigns set ${set} where tenant_id = $1 and id = $2 and ${inJson('status', '$3')}`, values));
      },
      async listCampaigns(status) {
        const r = await q(`select * from ${s}.campaigns where tenant_id = $1 and ${inJson('status', '$2')} order by id`, [statusParam(status)]);
        return r.rows.map(toCampaign);
      },
      async insertPlanVersion(p) {
        const r = await q(
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
        const r = await q(sql.insertEnrollments, [json(batch)]);
        return r.rows.map((x) => x.id as string);
      },
      getEnrollment: (id) => one(`select * from ${s}.contact_campaigns where tenant_id = $1 and id = $2`, [id], toEnrollment),
      async updateEnrollment(record, expected) {
        const e = record.enrollment;
        return changed(
          await q(
            `update ${s}.contact_campaigns set status = $3, node_id = $4, visit = $5, plan_version = $6, enrollment = $7::jsonb, contact = $8::jsonb, row_version = $9
             where tenant_id = $1 and id = $2 and row_version = $10`,
            [e.id, e.status, e.nodeId, e.visit, e.planVersion, json(e), json(record.contact), expected + 1, expected],
          ),
        );
      },
      async listEnrollments(campaignId, { after, limit, status }) {
        const r = await q(
          `select * from ${s}.contact_campaigns where tenant_id = $1 and campaign_id = $2 and ($3::text is null or id > $3) and ${inJson('status', '$4')} order by id limit $5`,
          [campaignId, after ?? null, statusParam(status), limit],
        );
        return r.rows.map(toEnrollment);
      },
      async countEnrollments(campaignId) {
        const r = await q(`select status, count(*) as n from ${s}.contact_campaigns where tenant_id = $1 and campaign_id = $2 group by status`, [campaignId]);
        return Object.fromEntries(r.rows.map((x) => [x.status as string, num(x.n)]));
      },
      async insertActions(actions) {
        // Copied now: the caller may change its objects before the flush.
        for (const a of actions) pending.actions.push({ ...a });
      },
      async cancelActions(keys) {
        if (!keys.length) return;
        await q(
          `update ${s}.scheduled_actions set status = 'canceled', lease_owner = null, lease_expires_at = null
           where tenant_id = $1 and key = any($2::text[]) and status in ('pending', 'running')`,
          [[...keys]],
        );
      },
      getAction: (key) => one(`select * from ${s}.scheduled_actions where tenant_id = $1 and key = $2`, [key], toAction),
      async listActions(campaignId, { after, limit, status, enrollmentId }) {
        const r = await q(
          `select * from ${s}.scheduled_actions where tenant_id = $1 and campaign_id = $2 and ($3::text is null or key > $3) and ${inJson('status', '$4')}
           and ($5::text is null or enrollment_id = $5) order by key limit $6`,
          [campaignId, after ?? null, statusParam(status), enrollmentId ?? null, limit],
        );
        return r.rows.map(toAction);
      },
      async countActions(campaignId) {
        const r = await q(`select status, count(*) as n from ${s}.scheduled_actions where tenant_id = $1 and campaign_id = $2 group by status`, [campaignId]);
        return Object.fromEntries(r.rows.map((x) => [x.status as string, num(x.n)]));
      },
      async claimDueActions({ now, limit, owner, leaseMs, perCampaignLimit }) {
        if (limit <= 0) return [];
        const r = await q(sql.claimDue, [now, owner, leaseMs, limit, perCampaignLimit ?? limit]);
        return r.rows
          .map((x) => ({ order: num(x.claim_order), a: toAction(x) }))
          .sort((x, y) => x.order - y.order || (x.a.key < y.a.key ? -1 : x.a.key > y.a.key ? 1 : 0))
          .map((x) => x.a);
      },
      claimAction: (key, { now, owner, leaseMs }) => one(sql.claimOne, [now, owner, leaseMs, key], toAction),
      async finishAction(key, owner, now, status, patch = {}) {
        await flush(sql.finish);
        const r = await exec(sql.finish, [tenantId, key, owner, now, status, patch.runAt ?? null, patch.lastError ?? null]);
        return changed(r);
      },
      async insertOutbound(m) {
        const r = await q(
          `insert into ${s}.outbound_messages (tenant_id, key, campaign_id, contact_id, enrollment_id, node_id, channel, recipient, subject, body, status, provider_message_id, failure_reason, attempts, created_at, updated_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) on conflict do nothing returning 1`,
          [m.key, m.campaignId, m.contactId, m.enrollmentId, m.nodeId, m.channel, m.to, m.subject ?? null, m.body, m.status, m.providerMessageId, m.failureReason, m.attempts, m.createdAt, m.updatedAt],
        );
        return r.rows.length > 0;
      },
      async updateOutbound(key, patch) {
        // A blind write: buffered, merged per key (later fields win), flushed in one statement.
        const fields: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(patch)) if (OUTBOUND_COLUMNS[k] && v !== undefined) fields[k] = v;
        if (!Object.keys(fields).length) return;
        pending.outboundUpdates.set(key, { ...pending.outboundUpdates.get(key), ...fields });
      },
      getOutbound: (key) => one(`select * from ${s}.outbound_messages where tenant_id = $1 and key = $2`, [key], toOutbound),
      findOutboundByProviderId: (id) =>
        one(`select * from ${s}.outbound_messages where tenant_id = $1 and provider_message_id = $2 order by updated_at desc, key limit 1`, [id], toOutbound),
      async listOutbound(campaignId, { after, limit }) {
        const r = await q(`select * from ${s}.outbound_messages where tenant_id = $1 and campaign_id = $2 and ($3::text is null or key > $3) order by key limit $4`, [
          campaignId,
          after ?? null,
          limit,
        ]);
        return r.rows.map(toOutbound);
      },
      async listRecentOutboundTimes(to, since) {
        const r = await q(
          `select created_at from ${s}.outbound_messages where tenant_id = $1 and recipient = $2 and created_at >= $3 and status not in ('failed', 'undelivered') order by created_at`,
          [to, since],
        );
        return r.rows.map((x) => num(x.created_at));
      },
      async appendTransitions(records) {
        for (const r of records) pending.transitions.push(structuredClone(r));
      },
      async listTransitions(enrollmentId) {
        const r = await q(`select record from ${s}.campaign_transitions where tenant_id = $1 and enrollment_id = $2 order by seq`, [enrollmentId]);
        return r.rows.map((x) => ({ ...(x.record as TransitionAuditRecord), tenantId }));
      },
      async insertEvent(ev) {
        const r = await q(
          `insert into ${s}.message_events (tenant_id, provider_event_id, type, at, provider_message_id, message_key, received_at)
           values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing returning 1`,
          [ev.providerEventId, ev.type, ev.at, ev.providerMessageId, ev.messageKey, ev.receivedAt],
        );
        return r.rows.length > 0;
      },
      async listOrphanEvents(providerMessageId) {
        const r = await q(`select * from ${s}.message_events where tenant_id = $1 and provider_message_id = $2 and message_key is null order by at, seq`, [providerMessageId]);
        return r.rows.map(toEvent);
      },
      async attachEvent(providerEventId, messageKey) {
        await q(`update ${s}.message_events set message_key = $3 where tenant_id = $1 and provider_event_id = $2`, [providerEventId, messageKey]);
      },
      async incrementAnalytics(campaignId, deltas) {
        const acc = pending.analytics.get(campaignId) ?? {};
        for (const [k, v] of Object.entries(deltas)) acc[k] = (acc[k] ?? 0) + v;
        if (Object.keys(acc).length) pending.analytics.set(campaignId, acc);
      },
      async getAnalytics(campaignId) {
        const r = await q(`select counter, sum(value) as v from ${s}.campaign_analytics where tenant_id = $1 and campaign_id = $2 group by counter`, [campaignId]);
        return Object.fromEntries(r.rows.map((x) => [x.counter as string, num(x.v)]));
      },
      async suppress(rec) {
        await q(
          `insert into ${s}.suppressions (tenant_id, address, channel, reason, at) values ($1, $2, $3, $4, $5)
           on conflict (tenant_id, address, channel) do update set reason = excluded.reason, at = excluded.at`,
          [rec.address, rec.channel ?? '*', rec.reason, rec.at],
        );
      },
      async unsuppress(address, channel) {
        return changed(await q(`delete from ${s}.suppressions where tenant_id = $1 and address = $2 and channel = $3`, [address, channel ?? '*']));
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
          return (await q(sql.getActions, [[...keys]])).rows.map(toAction);
        },
        async getEnrollments(ids) {
          if (!ids.length) return [];
          return (await q(sql.getEnrollments, [[...ids]])).rows.map(toEnrollment);
        },
        async getOutbounds(keys) {
          if (!keys.length) return [];
          return (await q(sql.getOutbounds, [[...keys]])).rows.map(toOutbound);
        },
        async listSuppressions(addresses) {
          if (!addresses.length) return [];
          return (await q(sql.listSuppressions, [[...addresses]])).rows.map(toSuppression);
        },
        async listOrphanEvents(ids) {
          if (!ids.length) return [];
          return (await q(sql.listOrphanEvents, [[...ids]])).rows.map(toEvent);
        },
        async claimActions(keys, { now, owner, leaseMs }) {
          if (!keys.length) return [];
          return (await q(sql.claimActions, [now, owner, leaseMs, [...keys]])).rows.map(toAction);
        },
        async updateEnrollmentOrFail(record, expected) {
          const id = record.enrollment.id;
          const held = pending.enrollmentUpdates.get(id);
          // A second update of a row whose first is still buffered: one write, from the first's
          // expected version to the second's next (the second must follow on from the first).
          if (held && held.next !== expected) throw conflict(`enrollment "${id}" changed concurrently (row version ${expected})`, { enrollmentIds: [id] });
          pending.enrollmentUpdates.set(id, { record: { ...record, enrollment: structuredClone(record.enrollment), contact: structuredClone(record.contact) }, expected: held ? held.expected : expected, next: expected + 1 });
        },
        async finishActionOrFail(key, owner, now, status, patch = {}) {
          // A second finish of the same action cannot apply: it is no longer running.
          if (pending.finishes.has(key)) throw conflict(`lease on action "${key}" was lost; nothing was written`, { keys: [key] });
          pending.finishes.set(key, { owner, now, status, runAt: patch.runAt ?? null, lastError: patch.lastError ?? null });
        },
        async insertOutboundOrFail(message) {
          if (pending.outboundInserts.has(message.key)) throw conflict(`message "${message.key}" is already in the outbox`, { keys: [message.key] });
          // An update of this key buffered before the insert must not be applied after it.
          if (pending.outboundUpdates.has(message.key)) await flush('.outbound_messages');
          pending.outboundInserts.set(message.key, { ...message });
        },
      },
    };
  }

  return {
    schema: schemaName,
    async transaction<T>(tenantId: string, fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      guardClient(client);
      let broken: Error | undefined;
      try {
        // Transaction-local (true): the setting ends with the transaction, so a pooled
        // connection never carries a tenant into the next borrower's work. BEGIN and the
        // setting go in one simple-protocol round trip (a script cannot take parameters, so
        // the tenant is an escaped literal; measured: one round trip less per transaction).
        await client.query(setTenant ? `begin; select set_config('dripline.tenant_id', ${escapeLiteral(tenantId)}, true)` : 'begin');
        try {
          const tx = makeTx(client, tenantId, newPending());
          const result = await fn(tx);
          await tx.flush();
          await client.query('commit');
          return result;
        } catch (e) {
          try {
            await client.query('rollback');
          } catch (e2) {
            // The connection is gone: destroy it rather than return it to the pool.
            broken = e2 instanceof Error ? e2 : new Error(String(e2));
          }
          throw e;
        }
      } finally {
        client.release(broken);
      }
    },
  };
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
