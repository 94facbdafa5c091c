/**
 * Crash and restart tests with real processes: four workers share one database and a
 * one-SMS campaign. One is SIGKILLed mid-batch and restarted (crash test); or every worker
 * connection is terminated with pg_terminate_backend mid-run (restart test). Afterwards no
 * key was sent twice, every contact has exactly one outbox row, nothing is stuck in
 * `running`, and every action is done.
 */
import { fork, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEngine, createFakeTransport, type AudienceContact } from '@dripline/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresStore } from '../src/index.js';
import { DATABASE_URL, freshDatabase, hasDatabase, until } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.resolve(here, '..');
const fixture = path.join(here, 'fixtures', 'crash-worker.mjs');

/** The fixture runs the built package: build it when dist is missing or older than src. */
function ensureBuilt() {
  const dist = path.join(pkg, 'dist', 'index.js');
  const newest = Math.max(...['src', 'src/sql', 'migrations', 'migrations/optional'].flatMap((d) => readdirSync(path.join(pkg, d)).map((f) => statSync(path.join(pkg, d, f)).mtimeMs)));
  if (!existsSync(dist) || statSync(dist).mtimeMs < newest) execFileSync('npx', ['tsup'], { cwd: pkg, stdio: 'ignore' });
}

const plan = {
  version: '1.0',
  name: 'One SMS',
  timezone: 'UTC',
  startNodeId: 'sms',
  nodes: [{ id: 'sms', action: 'send', channel: 'sms', body: 'Hi {{name}}', schedule: { delay: 'PT0S' }, transitions: [] }],
};

describe.skipIf(!hasDatabase)('worker processes', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let dir: string;
  beforeAll(async () => {
    ensureBuilt();
    db = await freshDatabase('crash', { max: 4 });
    dir = mkdtempSync(path.join(tmpdir(), 'dripline-crash-'));
  }, 120_000);
  afterAll(async () => {
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function setUp(tenant: string, n: number) {
    const store = createPostgresStore({ pool: db.pool, schema: db.schema });
    const engine = createEngine({ store, transports: createFakeTransport(), rateLimits: {} });
    const contacts: AudienceContact[] = Array.from({ length: n }, (_, i) => ({ id: `c${i}`, attributes: { name: `P${i}` }, address: { phone: `+1555${String(i).padStart(7, '0')}` } }));
    await engine.createCampaign(null, tenant, { id: 'camp', plan, batchSize: 2_000 });
    await engine.startCampaign(null, tenant, 'camp', { audience: contacts });
    return store;
  }

  function spawnWorker(tenant: string, id: string, logFile: string): { child: ChildProcess; exited: Promise<number | null> } {
    const child = fork(fixture, [DATABASE_URL, db.schema, tenant, 'camp', id, logFile], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, exited };
  }

  const logLines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t')[0]!) : []);

  async function verify(tenant: string, n: number, logFile: string, label: string) {
    const q = (sql: string) => db.pool.query(sql, [tenant]).then((r) => r.rows);
    const s = `"${db.schema}"`;
    const log = logLines(logFile);
    const logSet = new Set(log);
    const outbox = await q(`select key, contact_id, status from ${s}.outbound_messages where tenant_id = $1`);
    const byStatus: Record<string, number> = {};
    for (const o of outbox) byStatus[o.status] = (byStatus[o.status] ?? 0) + 1;
    const actions = await q(`select status, count(*)::int as n from ${s}.scheduled_actions where tenant_id = $1 group by status`);
    const enrollments = await q(`select status, count(*)::int as n from ${s}.contact_campaigns where tenant_id = $1 group by status`);
    const dupKeys = log.length - logSet.size;
    const unknownNotSent = outbox.filter((o) => o.status === 'unknown' && !logSet.has(o.key)).length;
    const summary = {
      contacts: n,
      transportLog: log.length,
      distinctKeysInLog: logSet.size,
      keysSentTwice: dupKeys,
      outboxRows: outbox.length,
      distinctContactsInOutbox: new Set(outbox.map((o) => o.contact_id)).size,
      outboxByStatus: byStatus,
      unknownNeverTransmitted: unknownNotSent,
      actions: Object.fromEntries(actions.map((a) => [a.status, a.n])),
      enrollments: Object.fromEntries(enrollments.map((e) => [e.status, e.n])),
    };
    console.log(`[${label}] ${JSON.stringify(summary)}`);
    expect(dupKeys, 'keys the transport sent twice').toBe(0);
    expect(outbox.length).toBe(n);
    expect(summary.distinctContactsInOutbox).toBe(n);
    // Every message recorded as sent reached the transport exactly once, and the log holds nothing the outbox does not.
    const outboxKeys = new Set(outbox.map((o) => o.key));
    expect(outbox.filter((o) => o.status === 'sent' && !logSet.has(o.key))).toEqual([]);
    expect(log.filter((k) => !outboxKeys.has(k))).toEqual([]);
    expect(Object.keys(byStatus).filter((k) => k !== 'sent' && k !== 'unknown')).toEqual([]);
    // Nothing stuck: every action done, no running row left (leases included).
    expect(summary.actions).toEqual({ done: n });
    expect(summary.enrollments).toEqual({ completed: n });
    return summary;
  }

  it('crash: 4 worker processes, one SIGKILLed mid-batch and restarted; no key twice, 20,000 outbox rows, nothing stuck', async () => {
    const tenant = 'crash';
    const n = 20_000;
    const logFile = path.join(dir, 'crash.log');
    const started = Date.now();
    await setUp(tenant, n);
    const enrolledMs = Date.now() - started;
    const workers = ['w1', 'w2', 'w3', 'w4'].map((id) => spawnWorker(tenant, id, logFile));
    // Kill w1 once a quarter of the sends happened, at a moment it holds leases (mid-batch).
    await until('a quarter of the sends', () => logLines(logFile).length >= n / 4, 60_000, 20);
    const leasesOfW1 = () => db.pool.query(`select count(*)::int as n from "${db.schema}".scheduled_actions where tenant_id = $1 and status = 'running' and lease_owner = 'w1'`, [tenant]).then((r) => r.rows[0].n as number);
    await until('w1 to hold leases', async () => (await leasesOfW1()) > 0, 30_000, 1);
    workers[0]!.child.kill('SIGKILL');
    const w1Sent = logLines(logFile).length;
    expect(await workers[0]!.exited).toBeNull(); // killed by a signal, not exited
    const orphaned = await leasesOfW1();
    console.log(`[crash] SIGKILLed w1 after ${w1Sent} sends in all, holding ${orphaned} leases`);
    const restarted = spawnWorker(tenant, 'w1-restarted', logFile);
    const codes = await Promise.all([...workers.slice(1).map((w) => w.exited), restarted.exited]);
    expect(codes).toEqual([0, 0, 0, 0]);
    const summary = await verify(tenant, n, logFile, 'crash');
    console.log(`[crash] enrolled ${n} in ${enrolledMs} ms; w1 killed holding ${orphaned} leases (taken over after they expired); total ${Date.now() - started} ms`);
    // The in-flight sends of the killed worker are the only ones whose outcome is unknown (at-most-once policy).
    expect(summary.outboxByStatus.unknown ?? 0).toBeLessThanOrEqual(20);
  }, 180_000);

  it('restart: every worker connection is terminated mid-run; workers reconnect and finish, nothing lost or duplicated', async () => {
    const tenant = 'restart';
    const n = 5_000;
    const logFile = path.join(dir, 'restart.log');
    await setUp(tenant, n);
    const workers = ['r1', 'r2', 'r3', 'r4'].map((id) => spawnWorker(tenant, id, logFile));
    await until('a fifth of the sends', () => logLines(logFile).length >= n / 5, 60_000, 10);
    const terminated = await db.pool.query(`select count(*)::int as n from (select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'dripline-crash-worker' and pid <> pg_backend_pid()) t`);
    console.log(`[restart] terminated ${terminated.rows[0].n} worker connections after ${logLines(logFile).length} sends`);
    expect(terminated.rows[0].n).toBeGreaterThan(0);
    const codes = await Promise.all(workers.map((w) => w.exited));
    expect(codes).toEqual([0, 0, 0, 0]);
    const summary = await verify(tenant, n, logFile, 'restart');
    expect(summary.outboxByStatus.unknown ?? 0).toBeLessThanOrEqual(4 * 20);
  }, 180_000);
});
