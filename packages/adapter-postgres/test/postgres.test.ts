/**
 * Postgres-specific behaviour: migrations (idempotent, concurrent, schema names), row-level
 * security, hostile strings end to end through the engine, fencing of a stale worker,
 * LISTEN/NOTIFY wake-ups that beat the poll interval, round trips per transaction, key
 * lookups that stay on primary keys without statistics, HOT outbox updates, 000007's upgrade,
 * and suppressions checked at commit.
 */
import { claimChunk, createEngine, createFakeTransport, createVirtualClock, type AudienceContact } from '@dripline/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresQueue, createPostgresStore, createPostgresWorker, migrate, migrations, quoteSchema, renderMigration, ROW_LEVEL_SECURITY_ID } from '../src/index.js';
import { DATABASE_URL, flushStats, freshDatabase, freshSchema, hasDatabase, until } from './helpers.js';

const NASTY_ID = `Robert'); DROP TABLE contact_campaigns;-- "x" $1 \\ 😀`;
const NASTY_ATTR = `'; DELETE FROM outbound_messages; -- % _ $$dollar$$ \`back\` \\n`;
const NASTY_VAR = `1'); UPDATE scheduled_actions SET status='done';--`;

const smsPlan = (name = 'SMS') => ({
  version: '1.0',
  name,
  timezone: 'UTC',
  startNodeId: 'sms',
  nodes: [{ id: 'sms', action: 'send', channel: 'sms', body: 'Hi {{name}}, code {{code}} for {{contact_id}}', schedule: { delay: 'PT0S' }, transitions: [] }],
});

/** `n` contacts with distinct phone numbers and the attributes `smsPlan` renders. */
const smsAudience = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `p${i}`, attributes: { name: 'P', code: '1' }, address: { phone: `+1555${String(i).padStart(7, '0')}` } }));

describe('schema names', () => {
  it('accepts plain identifiers and refuses anything that would need escaping', () => {
    expect(quoteSchema('dripline_1')).toBe('"dripline_1"');
    for (const bad of ['', '1abc', 'a-b', 'a"b', 'public; drop table x', 'a b', 'x'.repeat(64)]) expect(() => quoteSchema(bad)).toThrow(/invalid schema name/);
  });
});

describe.skipIf(!hasDatabase)('postgres', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  beforeAll(async () => {
    db = await freshDatabase('pg');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('migrate is idempotent and safe from several processes at once', async () => {
    const schema = freshSchema('migrate');
    const pools = Array.from({ length: 4 }, () => new pg.Pool({ connectionString: DATABASE_URL, max: 1 }));
    try {
      const results = await Promise.all(pools.map((p) => migrate(p, { schema })));
      // Exactly one caller applied the migrations; the others waited on the lock and found them done.
      expect(results.filter((r) => r.applied.length > 0)).toHaveLength(1);
      expect(results.flatMap((r) => r.applied)).toEqual(['000001_init', '000002_wakeups', '000003_batched_writes', '000004_lookup_indexes', '000005_claim_in_turns', '000006_claim_fewer_locks', '000007_provider_id_lookup']);
      expect((await migrate(pools[0]!, { schema })).applied).toEqual([]);
      const recorded = await pools[0]!.query(`select id, name from "${schema}".migrations order by id`);
      expect(recorded.rows).toEqual([
        { id: 1, name: '000001_init' },
        { id: 2, name: '000002_wakeups' },
        { id: 3, name: '000003_batched_writes' },
        { id: 4, name: '000004_lookup_indexes' },
        { id: 5, name: '000005_claim_in_turns' },
        { id: 6, name: '000006_claim_fewer_locks' },
        { id: 7, name: '000007_provider_id_lookup' },
      ]);
    } finally {
      await pools[0]!.query(`drop schema if exists "${schema}" cascade`);
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('refuses a schema name that is not a plain identifier before touching the database', async () => {
    await expect(migrate(db.pool, { schema: 'x"; drop schema public cascade; --' })).rejects.toThrow(/invalid schema name/);
    expect(() => createPostgresStore({ pool: db.pool, schema: 'bad name' })).toThrow(/invalid schema name/);
  });

  it('hostile strings in contact ids, attributes and template variables are stored and sent verbatim', async () => {
    const clock = createVirtualClock('2026-03-02T18:00:00Z');
    const store = createPostgresStore({ pool: db.pool, schema: db.schema });
    const transport = createFakeTransport();
    const engine = createEngine({ store, transports: transport, clock, rateLimits: {}, templateVariables: () => ({ code: NASTY_VAR }) });
    const tenant = `tenant ' OR '1'='1`;
    const contact: AudienceContact = { id: NASTY_ID, attributes: { name: NASTY_ATTR }, address: { phone: `+1555'--0100` } };
    await engine.createCampaign(null, tenant, { id: `camp'); --`, plan: smsPlan() });
    await engine.startCampaign(null, tenant, `camp'); --`, { audience: [contact] });
    const { rows } = await db.pool.query(`select key from "${db.schema}".scheduled_actions where tenant_id = $1`, [tenant]);
    expect(rows).toHaveLength(1);
    expect(await engine.processAction(tenant, rows[0].key, 'w1')).toBe('sent');

    const expected = `Hi ${NASTY_ATTR}, code ${NASTY_VAR} for ${NASTY_ID}`;
    expect(transport.sent).toHaveLength(1);
    expect(transport.sent[0]).toMatchObject({ contactId: NASTY_ID, to: `+1555'--0100`, body: expected, campaignId: `camp'); --`, tenantId: tenant });
    const out = await store.transaction(tenant, (tx) => tx.getOutbound(rows[0].key));
    expect(out).toMatchObject({ body: expected, contactId: NASTY_ID, status: 'sent' });
    const enr = await store.transaction(tenant, (tx) => tx.listEnrollments(`camp'); --`, { limit: 10 }));
    expect(enr.map((e) => [e.contactId, e.contact.attributes?.name, e.enrollment.status])).toEqual([[NASTY_ID, NASTY_ATTR, 'completed']]);
    // Nothing was executed: every table is still there and holds exactly this tenant's rows.
    const counts = await db.pool.query(
      `select (select count(*) from "${db.schema}".contact_campaigns where tenant_id = $1)::int as e,
              (select count(*) from "${db.schema}".outbound_messages where tenant_id = $1)::int as o,
              (select count(*) from "${db.schema}".scheduled_actions where tenant_id = $1 and status = 'done')::int as a`,
      [tenant],
    );
    expect(counts.rows[0]).toEqual({ e: 1, o: 1, a: 1 });
  });

  it('fencing: a worker paused past its lease while another took the action over writes nothing when it resumes', async () => {
    const clock = createVirtualClock('2026-03-02T18:00:00Z');
    const store = createPostgresStore({ pool: db.pool, schema: db.schema });
    const transport = createFakeTransport();
    const engine = createEngine({ store, transports: transport, clock, rateLimits: {}, leaseMs: 1_000 });
    const t = 'fencing';
    await engine.createCampaign(null, t, { id: 'c', plan: smsPlan() });
    await engine.startCampaign(null, t, 'c', { audience: [{ id: 'p1', attributes: { name: 'P' }, address: { phone: '+15550001' } }] });
    const [stale] = await store.transaction(t, (tx) => tx.claimDueActions({ now: clock.now(), limit: 10, owner: 'A', leaseMs: 1_000 }));
    expect(stale?.leaseOwner).toBe('A');
    clock.advanceBy(5_000); // A is paused past its lease...
    expect(await engine.processAction(t, stale!.key, 'B')).toBe('sent'); // ...B takes over and sends.
    const before = await db.pool.query(
      `select (select row_to_json(a) from "${db.schema}".scheduled_actions a where tenant_id = $1) as action,
              (select json_agg(o) from "${db.schema}".outbound_messages o where tenant_id = $1) as outbox,
              (select json_agg(e) from "${db.schema}".contact_campaigns e where tenant_id = $1) as enrollments,
              (select count(*) from "${db.schema}".campaign_transitions where tenant_id = $1)::int as transitions`,
      [t],
    );
    // A resumes with its stale claim.
    expect(await engine.processClaimed(t, stale!, 'A')).toBe('lost-lease');
    expect(await store.transaction(t, (tx) => tx.finishAction(stale!.key, 'A', clock.now(), 'done'))).toBe(false);
    const after = await db.pool.query(
      `select (select row_to_json(a) from "${db.schema}".scheduled_actions a where tenant_id = $1) as action,
              (select json_agg(o) from "${db.schema}".outbound_messages o where tenant_id = $1) as outbox,
              (select json_agg(e) from "${db.schema}".contact_campaigns e where tenant_id = $1) as enrollments,
              (select count(*) from "${db.schema}".campaign_transitions where tenant_id = $1)::int as transitions`,
      [t],
    );
    expect(after.rows[0]).toEqual(before.rows[0]);
    expect(before.rows[0].action).toMatchObject({ status: 'done', lease_owner: null });
    expect(transport.sent.map((m) => m.key)).toEqual([stale!.key]);
  });

  it('an action due now is picked up through LISTEN/NOTIFY long before the poll interval', async () => {
    const store = createPostgresStore({ pool: db.pool, schema: db.schema });
    const queue = createPostgresQueue({ pool: db.pool, schema: db.schema, channel: `${db.schema}_wake` });
    const transport = createFakeTransport();
    const engine = createEngine({ store, queue, transports: transport, rateLimits: {} });
    const t = 'wake';
    const w = createPostgresWorker(engine, { store, queue, tenants: [t], id: 'w-wake', pollIntervalMs: 60_000 });
    await w.consumer.ready;
    const loop = w.start();
    try {
      await engine.createCampaign(null, t, { id: 'c', plan: smsPlan() });
      const started = Date.now();
      await engine.startCampaign(null, t, 'c', { audience: [{ id: 'p1', attributes: { name: 'P' }, address: { phone: '+15550001' } }] });
      await until('the message to be sent', () => transport.sent.length === 1, 10_000, 5);
      const elapsed = Date.now() - started;
      // The poll interval is 60 s: only a wake-up explains a send within 5 s.
      expect(elapsed).toBeLessThan(5_000);
      expect(transport.sent[0]!.contactId).toBe('p1');
      // It went through the queue consumer (engine.processAction), not the worker's poll round.
      expect(w.worker.stats.sent).toBeUndefined();
    } finally {
      await w.stop();
      await loop;
    }
  });
});

describe.skipIf(!hasDatabase)('connections that fail as they are handed out', () => {
  it('an error a client emits as the pool hands it out is caught, not thrown out of the pool', async () => {
    // pg hands a new connection out while it parses the connection's ReadyForQuery; a backend
    // terminated right then (pg_terminate_backend) has its error message in the same read, and
    // the client emits it before the code awaiting pool.connect() runs. Seen once in the
    // restart test: a worker process died of an unhandled 'error' event. This emits the same
    // error at the same point: once the pool has handed the client out (its own idle listener
    // removed), before the code awaiting pool.connect() runs.
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
    pool.on('error', () => undefined);
    try {
      const store = createPostgresStore({ pool, schema: 'guarded_pool' });
      pool.on('acquire', (client) => queueMicrotask(() => void client.emit('error', new Error('terminating connection due to administrator command'))));
      // The store's own call goes on to fail in its statement (the schema does not exist),
      // as a call on a dropped connection would: as a rejection, not an uncaught event.
      await expect(store.transaction('t', (tx) => tx.getCampaign('c'))).rejects.toThrow();
      const client = await pool.connect();
      client.release(true);
    } finally {
      await pool.end();
    }
  });
});

describe.skipIf(!hasDatabase)('round trips and plans', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  beforeAll(async () => {
    db = await freshDatabase('trips');
  });
  afterAll(async () => {
    await db?.drop();
  });

  /** A one-connection pool on the schema whose every statement is recorded (its text, trimmed). */
  function recordingPool() {
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
    pool.on('error', () => undefined);
    const statements: string[] = [];
    pool.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as unknown as { query: unknown }).query = (...args: unknown[]) => {
        const a = args[0] as string | { text: string };
        statements.push((typeof a === 'string' ? a : a.text).replace(/\s+/g, ' ').trim());
        return query(...args);
      };
    });
    return { pool, statements };
  }

  it('a transaction whose writes were all buffered commits them with one statement and no BEGIN; one that only reads opens no transaction', async () => {
    const { pool, statements } = recordingPool();
    try {
      const store = createPostgresStore({ pool, schema: db.schema });
      const t = 'trips';
      const clock = createVirtualClock('2026-03-02T18:00:00Z');
      const engine = createEngine({ store, transports: createFakeTransport(), clock, rateLimits: {} });
      await engine.createCampaign(null, t, { id: 'c', plan: smsPlan() });
      const rec = (await store.transaction(t, (tx) => tx.getCampaign('c')))!;
      // Read only: no BEGIN, no COMMIT (under READ COMMITTED a lone read sees what it would inside one).
      statements.length = 0;
      expect((await store.transaction(t, (tx) => tx.getCampaign('c')))?.id).toBe('c');
      expect(statements).toHaveLength(1);
      expect(statements[0]).toMatch(/^select \* from .*campaigns/);
      // Buffered writes only: one call of dripline_write, which is the whole transaction.
      statements.length = 0;
      await store.transaction(t, async (tx) => {
        await tx.incrementAnalytics('c', { 'test.counter': 2 });
        await tx.appendTransitions([{ tenantId: t, campaignId: 'c', enrollmentId: 'c:x', at: clock.now(), from: 'a', to: 'b', event: 'test' } as never]);
      });
      expect(statements).toHaveLength(1);
      expect(statements[0]).toMatch(/dripline_write\(/);
      expect(await store.transaction(t, (tx) => tx.getAnalytics('c'))).toMatchObject({ 'test.counter': 2 });
      // A write that needs its answer (insert returning whether it applied): BEGIN first, and
      // the buffered writes go in one call before COMMIT.
      statements.length = 0;
      await store.transaction(t, async (tx) => {
        await tx.incrementAnalytics('c', { 'test.counter': 1 });
        expect(await tx.updateCampaign('c', { name: 'renamed' }, [rec.status])).toBe(true);
      });
      expect(statements[0]).toMatch(/^begin/);
      expect(statements.filter((x) => /dripline_write\(/.test(x))).toHaveLength(1);
      expect(statements[statements.length - 1]).toBe('commit');
      expect(await store.transaction(t, (tx) => tx.getAnalytics('c'))).toMatchObject({ 'test.counter': 3 });
    } finally {
      await pool.end();
    }
  });

  it('a suppression committed after a chunk was claimed stops that send: the decision fails at commit and runs again from fresh reads', async () => {
    const store = createPostgresStore({ pool: db.pool, schema: db.schema });
    const transport = createFakeTransport();
    const engine = createEngine({ store, transports: transport, rateLimits: {} });
    const t = 'late-stop';
    await engine.createCampaign(null, t, { id: 'c', plan: smsPlan() });
    await engine.startCampaign(null, t, 'c', { audience: [0, 1, 2].map((i) => ({ id: `p${i}`, attributes: { name: 'P', code: '1' }, address: { phone: `+1555000000${i}` } })) });
    // The chunk's rows are read with the claim, as the pipeline reads them a turn ahead...
    const chunk = await claimChunk(store, t, { now: Date.now(), owner: 'w', leaseMs: 60_000, limit: 10 });
    expect(chunk.actions).toHaveLength(3);
    expect(chunk.suppressions).toEqual([]);
    // ...and p1 texts STOP before the chunk is decided.
    await engine.suppress(t, '+15550000001', null, 'STOP received');
    const results = await engine.processChunk(t, chunk, 'w');
    const byContact = Object.fromEntries(chunk.actions.map((a, i) => [a.enrollmentId.split(':')[1], results[i]!.status === 'fulfilled' ? results[i]!.value : 'rejected']));
    expect(byContact).toEqual({ p0: 'sent', p1: 'failed', p2: 'sent' });
    expect(transport.sent.map((m) => m.to).sort()).toEqual(['+15550000000', '+15550000002']);
    const outbox = await db.pool.query(`select recipient, status, failure_reason from "${db.schema}".outbound_messages where tenant_id = $1 order by recipient`, [t]);
    expect(outbox.rows.map((r) => [r.recipient, r.status])).toEqual([['+15550000000', 'sent'], ['+15550000001', 'failed'], ['+15550000002', 'sent']]);
    expect(outbox.rows[1].failure_reason).toMatch(/suppressed/);
  });

  it('000007 moves provider ids to their own table on a schema that has messages and row-level security', async () => {
    // A schema as migrate left it before 000007, row-level security included.
    const schema = freshSchema('upgrade7');
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
    const s = quoteSchema(schema);
    try {
      await pool.query(`create schema ${s}`);
      await pool.query(`create table ${s}.migrations (id integer primary key, name text not null, applied_at bigint not null)`);
      for (const m of migrations.filter((x) => x.id <= 6)) {
        await pool.query(renderMigration(m.sql, schema));
        await pool.query(`insert into ${s}.migrations values ($1, $2, 0)`, [m.id, m.name]);
      }
      await pool.query(`alter table ${s}.outbound_messages enable row level security; alter table ${s}.outbound_messages force row level security`);
      await pool.query(`insert into ${s}.migrations values ($1, 'row_level_security', 0)`, [ROW_LEVEL_SECURITY_ID]);
      const message = (tenant: string, key: string, providerId: string | null) =>
        pool.query(
          `insert into ${s}.outbound_messages (tenant_id, key, campaign_id, contact_id, enrollment_id, node_id, channel, recipient, body, status, provider_message_id, attempts, created_at, updated_at)
           values ($1, $2, 'c', 'p', 'e', 'n', 'sms', '+1555', 'hi', 'sent', $3, 1, 0, 0)`,
          [tenant, key, providerId],
        );
      await message('A', 'k1', 'pm-1');
      await message('B', 'k1', 'pm-1');
      await message('A', 'k2', null);

      expect((await migrate(pool, { schema, rowLevelSecurity: true })).applied).toEqual(['000007_provider_id_lookup']);
      const store = createPostgresStore({ pool, schema });
      expect(await store.transaction('A', (tx) => tx.findOutboundByProviderId('pm-1'))).toMatchObject({ tenantId: 'A', key: 'k1' });
      expect(await store.transaction('B', (tx) => tx.findOutboundByProviderId('pm-1'))).toMatchObject({ tenantId: 'B', key: 'k1' });
      expect(await store.transaction('C', (tx) => tx.findOutboundByProviderId('pm-1'))).toBeNull();
      // The new table is under the same policy as the rest; the old index is gone.
      const rls = await pool.query(`select c.relrowsecurity and c.relforcerowsecurity as on, (select count(*)::int from pg_policies p where p.schemaname = $1 and p.tablename = c.relname) as policies from pg_class c where c.oid = $2::regclass`, [schema, `${s}.outbound_provider_ids`]);
      expect(rls.rows).toEqual([{ on: true, policies: 1 }]);
      expect((await pool.query(`select indexname from pg_indexes where schemaname = $1 and tablename = 'outbound_messages' and indexdef like '%provider_message_id%'`, [schema])).rows).toEqual([]);
    } finally {
      await pool.query(`drop schema if exists ${s} cascade`);
      await pool.end();
    }
  });

  it("a send's outcome updates its outbox row in place (HOT): no outbox index holds a column the outcome sets", async () => {
    const fresh = await freshDatabase('hot', { max: 1 });
    try {
      const outcomeColumns = ['status', 'provider_message_id', 'failure_reason', 'attempts', 'updated_at'];
      const indexed = await fresh.pool.query(
        `select i.indexrelid::regclass::text as name, pg_get_indexdef(i.indexrelid) as def from pg_index i where i.indrelid = $1::regclass`,
        [`${quoteSchema(fresh.schema)}.outbound_messages`],
      );
      for (const { name, def } of indexed.rows as Array<{ name: string; def: string }>) for (const col of outcomeColumns) expect(def, name).not.toMatch(new RegExp(`\\b${col}\\b`));
      // And in fact: 300 sends, their outcomes recorded by the pipeline.
      const store = createPostgresStore({ pool: fresh.pool, schema: fresh.schema });
      const engine = createEngine({ store, transports: createFakeTransport(), rateLimits: {} });
      await engine.createCampaign(null, 'h', { id: 'c', plan: smsPlan() });
      await engine.startCampaign(null, 'h', 'c', { audience: smsAudience(300) });
      let claimed = 0;
      do claimed = await engine.processDue('h', 'w', { chunkSize: 10 });
      while (claimed > 0);
      await flushStats(fresh.pool);
      const r = await fresh.pool.query(`select n_tup_upd::int as upd, n_tup_hot_upd::int as hot from pg_stat_user_tables where schemaname = $1 and relname = 'outbound_messages'`, [fresh.schema]);
      const { upd, hot } = r.rows[0] as { upd: number; hot: number };
      console.log(`outbox updates: ${upd}, of them HOT: ${hot}`);
      expect(upd).toBeGreaterThanOrEqual(300);
      expect(hot / upd).toBeGreaterThanOrEqual(0.9);
      // Every message is found by the provider id its outcome set.
      const sample = (await fresh.pool.query(`select key, provider_message_id from "${fresh.schema}".outbound_messages order by key limit 3`)).rows as Array<{ key: string; provider_message_id: string }>;
      for (const m of sample) expect((await store.transaction('h', (tx) => tx.findOutboundByProviderId(m.provider_message_id)))?.key).toBe(m.key);
    } finally {
      await fresh.drop();
    }
  });

  it('looks rows up by primary key even on tables never analyzed: no key lookup goes through a secondary index', async () => {
    // A fresh schema filled in one go is the worst case: without statistics the planner takes
    // any index that starts with tenant_id for "tenant_id = $1 and key = $2" and scans all of
    // the tenant's entries. Since 000004 only the primary keys can serve such a lookup.
    const fresh = await freshDatabase('plans', { max: 1 });
    try {
      const store = createPostgresStore({ pool: fresh.pool, schema: fresh.schema });
      const engine = createEngine({ store, transports: createFakeTransport(), rateLimits: {} });
      const t = 'plans';
      await engine.createCampaign(null, t, { id: 'c', plan: smsPlan() });
      await engine.startCampaign(null, t, 'c', { audience: smsAudience(600) });
      const never = await fresh.pool.query(`select count(*)::int as n from pg_stat_user_tables where schemaname = $1 and coalesce(last_analyze, last_autoanalyze) is not null`, [fresh.schema]);
      expect(never.rows[0].n).toBe(0);
      // Index statistics so far (the enrolment), flushed by this one connection.
      const scans = async () => {
        await flushStats(fresh.pool);
        const r = await fresh.pool.query(`select indexrelname as name, idx_scan::int as n from pg_stat_user_indexes where schemaname = $1`, [fresh.schema]);
        return Object.fromEntries(r.rows.map((x) => [x.name as string, x.n as number]));
      };
      const before = await scans();
      // Half of them as queue wake-ups do (claims by key list), the rest by the worker's pipeline.
      const keys = (await fresh.pool.query(`select key from "${fresh.schema}".scheduled_actions where tenant_id = $1 order by key`, [t])).rows.map((r) => r.key as string);
      for (let i = 0; i < 300; i += 10) expect((await engine.processActions(t, keys.slice(i, i + 10), 'w0')).every((r) => r.status === 'fulfilled' && r.value === 'sent')).toBe(true);
      let claimed = 0;
      do claimed = await engine.processDue(t, 'w1', { chunkSize: 10 });
      while (claimed > 0);
      const after = await scans();
      const used = (name: string) => (after[name] ?? 0) - (before[name] ?? 0);
      expect((await engine.getCampaign(null, t, 'c')).status).toBe('completed');
      for (const pk of ['scheduled_actions_pkey', 'contact_campaigns_pkey', 'outbound_messages_pkey']) expect(used(pk), pk).toBeGreaterThan(0);
      // Every index the processing touched: primary keys, the due claim's (active campaigns, due
      // actions of each, expired leases), the orphan-event check's, and nothing else: a key list
      // claim that walked the partial indexes of due actions would show here.
      const touched = Object.keys(after).filter((name) => used(name) > 0).sort();
      expect(touched.filter((name) => !/_pkey$|^scheduled_actions_due_by_campaign$|^scheduled_actions_running_by_lease$|^campaigns_status$|^message_events_orphans$/.test(name))).toEqual([]);
      expect(touched).toContain('scheduled_actions_due_by_campaign');
    } finally {
      await fresh.drop();
    }
  });
});

describe.skipIf(!hasDatabase)('row-level security', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let role: string;
  let appPool: pg.Pool;
  beforeAll(async () => {
    db = await freshDatabase('rls', { rowLevelSecurity: true });
    role = `${db.schema}_app`;
    // Superusers bypass RLS, so the application connects as an ordinary role.
    await db.pool.query(`create role "${role}" nologin`);
    await db.pool.query(`grant usage on schema "${db.schema}" to "${role}"`);
    await db.pool.query(`grant select, insert, update, delete on all tables in schema "${db.schema}" to "${role}"`);
    await db.pool.query(`grant usage on all sequences in schema "${db.schema}" to "${role}"`);
    appPool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
    appPool.on('connect', (c) => void c.query(`set role "${role}"`));
  });
  afterAll(async () => {
    await appPool?.end();
    await db?.drop();
    await db?.pool.end().catch(() => undefined);
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    await admin.query(`drop role if exists "${role}"`).catch(() => undefined);
    await admin.end();
  });

  it('migrate records the optional migration and applies it only once', async () => {
    expect((await migrate(db.pool, { schema: db.schema, rowLevelSecurity: true })).applied).toEqual([]);
    const r = await db.pool.query(`select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relrowsecurity and c.relforcerowsecurity order by relname`, [db.schema]);
    expect(r.rows.map((x) => x.relname)).toEqual(['campaign_analytics', 'campaign_transitions', 'campaigns', 'contact_campaigns', 'message_events', 'outbound_messages', 'outbound_provider_ids', 'plan_versions', 'scheduled_actions', 'suppressions']);
  });

  it('the store works under RLS, and a raw query without the tenant set sees and changes nothing', async () => {
    const store = createPostgresStore({ pool: appPool, schema: db.schema });
    const clock = createVirtualClock('2026-03-02T18:00:00Z');
    // Both tenants' messages come back with the same provider id.
    const transport = { name: 'same-id', channels: ['sms' as const], send: async () => ({ providerMessageId: 'pm-same' }) };
    const engine = createEngine({ store, transports: transport, clock, rateLimits: {} });
    for (const t of ['A', 'B']) {
      await engine.createCampaign(null, t, { id: 'same-id', plan: smsPlan(`plan of ${t}`) });
      await engine.startCampaign(null, t, 'same-id', { audience: [{ id: 'p1', attributes: { name: t }, address: { phone: '+1555' } }] });
      expect(await engine.processDue(t, 'w')).toBe(1);
    }
    expect((await db.pool.query(`select tenant_id from "${db.schema}".outbound_provider_ids where provider_message_id = 'pm-same' order by tenant_id`)).rows).toEqual([{ tenant_id: 'A' }, { tenant_id: 'B' }]);
    // The rows exist (seen by the superuser, who bypasses RLS)...
    expect((await db.pool.query(`select tenant_id from "${db.schema}".campaigns order by tenant_id`)).rows).toEqual([{ tenant_id: 'A' }, { tenant_id: 'B' }]);
    const c = await appPool.connect();
    try {
      expect((await c.query('select current_user as u')).rows[0].u).toBe(role);
      // ...but the application role without a tenant sees none of them and changes none.
      for (const table of ['campaigns', 'contact_campaigns', 'scheduled_actions', 'plan_versions', 'campaign_analytics', 'campaign_transitions', 'outbound_messages', 'outbound_provider_ids'])
        expect((await c.query(`select count(*)::int as n from "${db.schema}".${table}`)).rows[0].n, table).toBe(0);
      expect((await c.query(`update "${db.schema}".campaigns set name = 'hijacked'`)).rowCount).toBe(0);
      expect((await c.query(`delete from "${db.schema}".scheduled_actions`)).rowCount).toBe(0);
      // With tenant A set, only A's rows; writing a row of B is refused by the policy.
      await c.query('begin');
      await c.query(`select set_config('dripline.tenant_id', 'A', true)`);
      expect((await c.query(`select tenant_id, name from "${db.schema}".campaigns`)).rows).toEqual([{ tenant_id: 'A', name: 'plan of A' }]);
      expect((await c.query(`select tenant_id from "${db.schema}".outbound_provider_ids`)).rows).toEqual([{ tenant_id: 'A' }]);
      await expect(
        c.query(`insert into "${db.schema}".suppressions (tenant_id, address, channel, reason, at) values ('B', 'x', '*', 'r', 0)`),
      ).rejects.toThrow(/row-level security/);
      await c.query('rollback');
      // The setting was transaction-local: after the transaction the session sees nothing again.
      expect((await c.query(`select count(*)::int as n from "${db.schema}".campaigns`)).rows[0].n).toBe(0);
    } finally {
      c.release();
    }
    // Through the store, each tenant sees exactly its own campaign.
    expect((await store.transaction('A', (tx) => tx.listCampaigns())).map((x) => [x.tenantId, x.name])).toEqual([['A', 'plan of A']]);
    expect((await store.transaction('B', (tx) => tx.getCampaign('same-id')))?.name).toBe('plan of B');
    // A webhook's lookup by provider id finds the message of its own tenant only.
    for (const t of ['A', 'B']) expect(await store.transaction(t, (tx) => tx.findOutboundByProviderId('pm-same'))).toMatchObject({ tenantId: t, body: expect.stringContaining(`Hi ${t},`) });
    // A tenant id with quotes and backslashes reaches set_config verbatim (the policy's
    // WITH CHECK refuses the insert otherwise) and is stored verbatim.
    const evil = `O'Brien\\'; select set_config('dripline.tenant_id', 'A', false); --`;
    await engine.createCampaign(null, evil, { id: 'same-id', plan: smsPlan('plan of evil') });
    expect((await db.pool.query(`select tenant_id from "${db.schema}".campaigns where name = 'plan of evil'`)).rows).toEqual([{ tenant_id: evil }]);
    expect((await store.transaction(evil, (tx) => tx.listCampaigns())).map((x) => x.name)).toEqual(['plan of evil']);
    expect((await store.transaction('A', (tx) => tx.listCampaigns())).map((x) => x.name)).toEqual(['plan of A']);
    // A store that does not set the tenant is blind under RLS: the policies, not only the WHERE clauses, isolate.
    const blind = createPostgresStore({ pool: appPool, schema: db.schema, setTenant: false });
    expect(await blind.transaction('A', (tx) => tx.listCampaigns())).toEqual([]);
  });
});
