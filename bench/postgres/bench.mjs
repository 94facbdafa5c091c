/**
 * bench/postgres: end-to-end plan steps per second of dripline on PostgreSQL (claim, send
 * through a no-op transport, step, outbox and audit writes) with 1, 2 and 4 worker
 * processes, beside graphile-worker's no-op jobs per second on the same database with the
 * same process counts; then timer lateness (due at T → claimed at T + x) under light load
 * with LISTEN/NOTIFY wake-ups.
 *
 * Each dripline worker process runs core's createWorker (batch 100, concurrency 10); each
 * graphile-worker process runs `run({ concurrency: 10 })`. Both start idle; the clock starts
 * when the work becomes claimable in one statement (the campaign is activated / the jobs are
 * added in one batch) and stops when the database shows all of it done.
 *
 * Prints a human line and a `RESULT {json}` line per measurement.
 * Env: DATABASE_URL (default the local server), BENCH_N (items per run, default 4000),
 * BENCH_WORKERS (default 1,2,4; `0` runs the lateness measurement only), BENCH_CONCURRENCY (each
 * worker process's concurrency, for both systems; default 10).
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Logger, makeWorkerUtils, runMigrations } from 'graphile-worker';
import { createEngine, createFakeTransport } from '@dripline/core';
import { createPostgresQueue, createPostgresStore, createPostgresWorker, migrate } from '@dripline/adapter-postgres';

const here = path.dirname(fileURLToPath(import.meta.url));
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = Number(process.env.BENCH_N ?? 4000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 10);
const WORKERS = (process.env.BENCH_WORKERS ?? '1,2,4').split(',').map(Number).filter((k) => k > 0);
const stamp = `${Date.now().toString(36)}`;
const schema = `dripline_bench_${stamp}`;
const gwSchema = `graphile_bench_${stamp}`;
const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10 });
pool.on('error', () => undefined);
pool.on('connect', (c) => c.on('error', () => undefined));

const plan = (delay = 'PT0S') => ({
  version: '1.0',
  name: 'Bench',
  timezone: 'UTC',
  startNodeId: 'sms',
  nodes: [{ id: 'sms', action: 'send', channel: 'sms', body: 'Hi {{name}}', schedule: { delay }, transitions: [] }],
});
const contacts = (n, prefix) => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, attributes: { name: `P${i}` }, address: { phone: `+1555${String(i).padStart(7, '0')}` } }));

async function spawnWorkers(k, args) {
  const children = Array.from({ length: k }, () => fork(path.join(here, 'worker.mjs'), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  await Promise.all(children.map((c) => new Promise((resolve, reject) => { c.once('message', resolve); c.once('exit', (code) => reject(new Error(`worker exited ${code}`))); })));
  return {
    async stop() {
      await Promise.all(children.map((c) => new Promise((resolve) => { c.removeAllListeners('exit'); c.once('exit', resolve); c.send('stop'); })));
    },
  };
}

async function waitFor(check, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('benchmark run timed out');
    await sleep(10);
  }
  return Date.now();
}

/**
 * The machine's CPU time used so far (ms, every process: workers, PostgreSQL, this script),
 * from /proc/stat; null where there is none. The difference over a run, divided by its items,
 * is what each item cost the whole machine, a figure less noisy than the rate on a shared
 * 2-core machine.
 */
function machineCpuMs() {
  if (!fs.existsSync('/proc/stat')) return null;
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system (idle iowait) irq softirq steal; USER_HZ is 100 on Linux.
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) * 10;
}
const cpuPerItem = (c0, c1) => (c0 === null || c1 === null ? null : +((c1 - c0) / N).toFixed(3));

function report(name, human, result) {
  console.log(human);
  console.log(`RESULT ${JSON.stringify({ bench: name, ...result })}`);
}

async function dripline(k) {
  const tenant = `bench-${k}`;
  const store = createPostgresStore({ pool, schema });
  const engine = createEngine({ store, transports: createFakeTransport(), rateLimits: {} });
  await engine.createCampaign(null, tenant, { id: 'c', plan: plan(), batchSize: 2000 });
  // Enrolled while still a draft: nothing is claimable until the campaign is started.
  await engine.enroll(null, tenant, 'c', contacts(N, 'p'));
  const workers = await spawnWorkers(k, ['dripline', DATABASE_URL, schema, tenant]);
  const c0 = machineCpuMs();
  const t0 = Date.now();
  await engine.startCampaign(null, tenant, 'c');
  // Polls what is left (pending or running: the partial indexes hold only those), so the poll
  // costs less as the work gets done, like graphile-worker's poll of its shrinking jobs table;
  // counting the done rows instead scanned a growing table every 10 ms.
  const t1 = await waitFor(
    async () => (await pool.query(`select count(*)::int as n from "${schema}".scheduled_actions where tenant_id = $1 and status in ('pending', 'running')`, [tenant])).rows[0].n === 0,
  );
  const c1 = machineCpuMs();
  await workers.stop();
  const done = (await pool.query(`select count(*)::int as n from "${schema}".scheduled_actions where tenant_id = $1 and status = 'done'`, [tenant])).rows[0].n;
  if (done !== N) throw new Error(`dripline run ended with ${done} of ${N} actions done`);
  const ms = t1 - t0;
  return { rate: Math.round((N / ms) * 1000), ms, cpuMsPerItem: cpuPerItem(c0, c1) };
}

async function graphile(k, utils) {
  const workers = await spawnWorkers(k, ['graphile', DATABASE_URL, gwSchema, '']);
  const c0 = machineCpuMs();
  const t0 = Date.now();
  await utils.addJobs(Array.from({ length: N }, () => ({ identifier: 'noop', payload: {} })));
  const t1 = await waitFor(async () => (await pool.query(`select count(*)::int as n from "${gwSchema}"._private_jobs`)).rows[0].n === 0);
  const c1 = machineCpuMs();
  await workers.stop();
  const ms = t1 - t0;
  return { rate: Math.round((N / ms) * 1000), ms, cpuMsPerItem: cpuPerItem(c0, c1) };
}

async function lateness() {
  const tenant = 'lateness';
  const base = createPostgresStore({ pool, schema });
  // Records when each claim statement returned a row (the action is claimed; its commit follows).
  const claimedLate = [];
  const store = {
    transaction: (tenantId, fn) =>
      base.transaction(tenantId, (tx) =>
        fn(
          new Proxy(tx, {
            get(target, prop) {
              if (prop === 'claimAction')
                return async (key, o) => {
                  const a = await target.claimAction(key, o);
                  if (a) claimedLate.push(Date.now() - a.runAt);
                  return a;
                };
              if (prop === 'claimDueActions')
                return async (o) => {
                  const rows = await target.claimDueActions(o);
                  for (const a of rows) claimedLate.push(Date.now() - a.runAt);
                  return rows;
                };
              const v = target[prop];
              return typeof v === 'function' ? v.bind(target) : v;
            },
          }),
        ),
      ),
  };
  const queue = createPostgresQueue({ pool, schema });
  const transport = createFakeTransport();
  const engine = createEngine({ store, queue, transports: transport, rateLimits: {} });
  const w = createPostgresWorker(engine, { store, queue, tenants: [tenant], pollIntervalMs: 5_000 });
  await w.consumer.ready;
  const loop = w.start();
  await engine.createCampaign(null, tenant, { id: 'c', plan: plan('PT1S') });
  await engine.startCampaign(null, tenant, 'c');
  const count = 200;
  // Light load: one contact every 15 ms, each send due 1 s after its enrolment.
  for (const c of contacts(count, 'l')) {
    await engine.enroll(null, tenant, 'c', [c], { complete: false });
    await sleep(15);
  }
  await waitFor(async () => transport.sent.length >= count, 60_000);
  await w.stop();
  await loop;
  // created_at of the outbox row is the engine's `now` right after the claim committed.
  const r = await pool.query(
    `select o.created_at - a.run_at as late from "${schema}".outbound_messages o join "${schema}".scheduled_actions a on a.tenant_id = o.tenant_id and a.key = o.key where o.tenant_id = $1 order by 1`,
    [tenant],
  );
  const committed = r.rows.map((x) => Number(x.late));
  const claimed = [...claimedLate].sort((a, b) => a - b);
  const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];
  return {
    count: claimed.length,
    p50: pct(claimed, 50),
    p99: pct(claimed, 99),
    max: claimed[claimed.length - 1],
    // Up to the first statement after the claim committed (the outbox row's created_at).
    committedP50: pct(committed, 50),
    committedP99: pct(committed, 99),
    committedMax: committed[committed.length - 1],
  };
}

try {
  await migrate(pool, { schema });
  const logger = new Logger(() => () => {});
  await runMigrations({ pgPool: pool, schema: gwSchema, logger });
  const utils = await makeWorkerUtils({ pgPool: pool, schema: gwSchema, logger });
  const started = Date.now();
  for (const k of WORKERS) {
    const d = await dripline(k);
    const g = await graphile(k, utils);
    report(
      'postgres-throughput',
      `workers=${k}${CONCURRENCY === 10 ? '' : ` (concurrency ${CONCURRENCY} each)`}: dripline ${d.rate} plan steps/s (${N} one-SMS enrollments in ${d.ms} ms: claim, no-op send, step, outbox, audit; machine CPU ${d.cpuMsPerItem} ms/step) | graphile-worker 0.17.3 ${g.rate} no-op jobs/s (${N} in ${g.ms} ms; ${g.cpuMsPerItem} ms/job) | ratio ${(d.rate / g.rate).toFixed(2)} (goal ≥ 1)`,
      { workers: k, items: N, driplineStepsPerSec: d.rate, driplineMs: d.ms, driplineCpuMsPerStep: d.cpuMsPerItem, graphileJobsPerSec: g.rate, graphileMs: g.ms, graphileCpuMsPerJob: g.cpuMsPerItem, ratio: +(d.rate / g.rate).toFixed(3), workerKind: 'processes', perWorkerConcurrency: CONCURRENCY },
    );
  }
  await utils.release();
  const l = await lateness();
  report('postgres-timer-lateness', `timer lateness (LISTEN/NOTIFY wake-ups, ${l.count} actions due 1 s after enrolment, light load): claimed p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms; claim committed p50 ${l.committedP50} ms, p99 ${l.committedP99} ms, max ${l.committedMax} ms`, { ...l, targetP99Ms: 50 });
  console.log(`total ${Math.round((Date.now() - started) / 1000)} s`);
} finally {
  await pool.query(`drop schema if exists "${schema}" cascade`);
  await pool.query(`drop schema if exists "${gwSchema}" cascade`);
  await pool.end();
}
