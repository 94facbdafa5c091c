// The same service on a real PostgreSQL server (DATABASE_URL, default
// postgres://postgres@127.0.0.1:5432/test), in a schema of its own that is dropped
// afterwards. Writes are checked by reading the database directly, not only through the API.
// Unreachable database: skipped with a warning locally, a failure under CI=true.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { postSignedTwilioWebhook } from '@dripline/adapter-twilio/testing';
import { ADMIN, admin, call, contacts, createAndStart, settled, smsPlan, start, statusOf, until, waitForStatus, type Server } from './helpers.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SCHEMA = `api_server_test_${process.pid}_${Date.now().toString(36)}`;

async function reachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch (e) {
    if (process.env.CI) throw new Error(`PostgreSQL at ${DATABASE_URL} is unreachable and CI is set: refusing to skip the api-server Postgres tests`, { cause: e });
    console.warn(`[api-server] PostgreSQL at ${DATABASE_URL} is unreachable (${(e as Error).message}); skipping postgres.test.ts. Set DATABASE_URL to run it.`);
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}
const hasDatabase = await reachable();

describe.skipIf(!hasDatabase)('api-server on PostgreSQL', () => {
  let server: Server;
  let db: pg.Pool;
  const q = async (text: string, values: unknown[] = []) => (await db.query(text, values)).rows;

  beforeAll(async () => {
    db = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
    server = await start({ database: { url: DATABASE_URL, schema: SCHEMA }, ratePerSecond: 5, twilio: { fake: { sendStatusCallbacks: false } } });
  });
  afterAll(async () => {
    await server?.close();
    await db?.query(`drop schema if exists "${SCHEMA}" cascade`);
    await db?.end();
  });

  it('refuses to start on a database URL with the demo tokens', async () => {
    const { startServer } = await import('../src/server.mjs');
    await expect(startServer({ port: 0, database: { url: DATABASE_URL, schema: SCHEMA } })).rejects.toThrow(/API tokens are required with a database URL/);
  });

  it('migrated its schema: dripline\'s tables and the audience table', async () => {
    const tables = (await q(`select table_name from information_schema.tables where table_schema = $1 order by 1`, [SCHEMA])).map((r) => r.table_name);
    expect(tables).toEqual(expect.arrayContaining(['api_audiences', 'campaigns', 'contact_campaigns', 'scheduled_actions', 'outbound_messages', 'message_events', 'campaign_analytics']));
  });

  let runId: string;
  it('runs a campaign to completion; the rows are in PostgreSQL', async () => {
    const audience = contacts(12, 'pg-run');
    runId = await createAndStart(server, { plan: smsPlan('PG run'), contacts: audience, batchSize: 5 });
    await waitForStatus(server, runId, 'completed');
    expect((await statusOf(server, runId)).progress).toEqual({ processed: 12, total: 12, success: 12, failed: 0, percentage: 100 });

    const [campaign] = await q(`select status, tenant_id from "${SCHEMA}".campaigns where id = $1`, [runId]);
    expect(campaign).toEqual({ status: 'completed', tenant_id: 'acme' });
    const outbox = await q(`select recipient, status from "${SCHEMA}".outbound_messages where tenant_id = 'acme' and campaign_id = $1 order by recipient`, [runId]);
    expect(outbox.map((r) => r.recipient)).toEqual(audience.map((c) => c.address.phone).sort());
    expect(new Set(outbox.map((r) => r.status))).toEqual(new Set(['sent']));
    const [saved] = await q(`select jsonb_array_length(contacts) as n, generated from "${SCHEMA}".api_audiences where campaign_id = $1`, [runId]);
    expect(saved).toEqual({ n: 12, generated: 0 });
    const sent = server.twilioFake!.messages().filter((m) => audience.some((c) => c.address.phone === m.to));
    expect(sent).toHaveLength(12);
  });

  it('pause holds the sends, resume finishes them, each contact once', async () => {
    const audience = contacts(30, 'pg-pause');
    const phones = new Set(audience.map((c) => c.address.phone));
    const count = () => server.twilioFake!.messages().filter((m) => phones.has(m.to)).length;
    const id = await createAndStart(server, { plan: smsPlan('PG pause'), contacts: audience });
    await until(() => count() >= 5, 'five messages out');
    expect((await admin(server, 'POST', `/api/campaigns/${id}/queue-pause`)).status).toBe(200);
    const atPause = await settled(count);
    expect(atPause).toBeLessThan(30);
    await new Promise((r) => setTimeout(r, 2500));
    expect(count()).toBe(atPause);
    const [{ n }] = await q(`select count(*)::int as n from "${SCHEMA}".scheduled_actions where campaign_id = $1 and status = 'pending'`, [id]);
    expect(n).toBe(30 - atPause);

    expect((await admin(server, 'POST', `/api/campaigns/${id}/queue-resume`)).status).toBe(200);
    await waitForStatus(server, id, 'completed');
    expect(count()).toBe(30);
    const [{ d }] = await q(`select count(distinct recipient)::int as d from "${SCHEMA}".outbound_messages where campaign_id = $1`, [id]);
    expect(d).toBe(30);
  });

  it('stop ends the run: nothing more is sent', async () => {
    const audience = contacts(30, 'pg-stop');
    const phones = new Set(audience.map((c) => c.address.phone));
    const count = () => server.twilioFake!.messages().filter((m) => phones.has(m.to)).length;
    const id = await createAndStart(server, { plan: smsPlan('PG stop'), contacts: audience });
    await until(() => count() >= 5, 'five messages out');
    const r = await admin(server, 'POST', `/api/campaigns/${id}/queue-stop`);
    expect(r.status).toBe(200);
    const atStop = await settled(count);
    await new Promise((res) => setTimeout(res, 2500));
    expect(count()).toBe(atStop);
    expect(atStop).toBeLessThan(30);
    const rows = await q(`select status, count(*)::int as n from "${SCHEMA}".contact_campaigns where campaign_id = $1 group by status`, [id]);
    const by = Object.fromEntries(rows.map((x) => [x.status, x.n]));
    expect(by.active ?? 0).toBe(0);
    expect((by.stopped ?? 0) + (by.completed ?? 0)).toBe(30);
    expect((await statusOf(server, id)).status).toBe('stopped');
  });

  it('a signed Twilio callback updates the row; a forged one is refused', async () => {
    const sent = server.twilioFake!.messages().filter((m) => m.statusCallback?.includes(encodeURIComponent(`${runId}:`)));
    expect(sent.length).toBeGreaterThanOrEqual(2);
    const [good, other] = sent;
    expect((await server.twilioFake!.sendStatus(good!.sid, 'delivered')).responseStatus).toBe(200);
    const forged = await postSignedTwilioWebhook({ authToken: 'wrong', url: other!.statusCallback!, params: { MessageSid: other!.sid, MessageStatus: 'delivered', To: other!.to } });
    expect(forged.status).toBe(403);
    const rows = await q(`select provider_message_id, status from "${SCHEMA}".outbound_messages where provider_message_id = any($1)`, [[good!.sid, other!.sid]]);
    expect(Object.fromEntries(rows.map((x) => [x.provider_message_id, x.status]))).toEqual({ [good!.sid]: 'delivered', [other!.sid]: 'sent' });
    const [{ n }] = await q(`select count(*)::int as n from "${SCHEMA}".message_events where provider_message_id = $1`, [good!.sid]);
    expect(n).toBe(1);
  });

  it('/metrics and the dashboard metrics read PostgreSQL', async () => {
    const m = await call(server, 'GET', '/metrics');
    expect(m.text).toMatch(/^dripline_campaigns\{tenant="acme",status="completed"\} 2$/m);
    expect(m.text).toMatch(/^dripline_campaigns\{tenant="acme",status="stopped"\} 1$/m);
    const d = await admin(server, 'GET', '/api/dashboard/campaign-queue-metrics');
    expect(d.json.metrics.campaignQueue).toMatchObject({ completed: 2, active: 0 });
  });

  it('a restarted server finds everything where it was (the database is the truth)', async () => {
    await server.close();
    server = await start({ database: { url: DATABASE_URL, schema: SCHEMA }, twilio: { fake: { sendStatusCallbacks: false } } });
    const list = await call(server, 'GET', '/api/campaigns?limit=200', { token: ADMIN });
    expect(list.json.campaigns.map((c: { name: string; status: string }) => `${c.name}: ${c.status}`).sort()).toEqual(['PG pause: completed', 'PG run: completed', 'PG stop: stopped']);
    expect((await statusOf(server, runId)).progress.success).toBe(12);
  });
});
