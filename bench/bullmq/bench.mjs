/**
 * BullMQ benchmark: end-to-end plan steps per second through BullMQ (engine + PostgreSQL
 * store via @dripline/adapter-postgres + BullMQ queue and worker, no-op transport) with 1 and
 * 4 worker processes, and in the same run raw BullMQ no-op jobs per second on the same Redis
 * with the same worker counts and concurrency. Goal: end-to-end ≥ 0.8 of raw.
 *
 * Each end-to-end step is one send action of a one-SMS plan: enrolment (which enqueues the
 * wake-ups) is inside the timed span, as adding the jobs is for raw BullMQ. The store is
 * PostgreSQL because 4 processes must share one; the same store is used for 1 process. A
 * third line runs the engine on the in-memory store inside the one worker process, which
 * shows what BullMQ itself costs when the store is not the bottleneck.
 *
 * Env: REDIS_URL (default local), DATABASE_URL (default the local server), BENCH_N (steps
 * per run, default 3000), BENCH_WORKERS (default "1,4"), BENCH_CONCURRENCY (per process,
 * default 10), BENCH_BATCH=0 (the worker's micro-batching off: one processAction per job),
 * BENCH_BATCH_SIZE / BENCH_BATCH_WINDOW_MS / BENCH_CHUNK_SIZE (the worker's batchSize,
 * batchWindowMs, chunkSize; default the worker's). Prints human lines and `RESULT {json}` lines.
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Queue } from 'bullmq';
import { createEngine, createFakeTransport } from '@dripline/core';
import { createPostgresStore, migrate } from '@dripline/adapter-postgres';
import { createBullmqQueue, toConnectionOptions } from '@dripline/adapter-bullmq';

const here = path.dirname(fileURLToPath(import.meta.url));
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = Number(process.env.BENCH_N ?? 3000);
const WORKERS = (process.env.BENCH_WORKERS ?? '1,4').split(',').map(Number).filter((k) => k > 0);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 10);
const BATCH = process.env.BENCH_BATCH !== '0';
const stamp = Date.now().toString(36);
const prefix = `{dripline-bench-${stamp}}`;
const schema = `dripline_bullmq_bench_${stamp}`;
const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10 });
pool.on('error', () => undefined);

const plan = { version: '1.0', name: 'Bench', timezone: 'UTC', startNodeId: 'sms', nodes: [{ id: 'sms', action: 'send', channel: 'sms', body: 'Hi {{name}}', schedule: { delay: 'PT0S' }, transitions: [] }] };
const contacts = (n) => Array.from({ length: n }, (_, i) => ({ id: `p${i}`, attributes: { name: `P${i}` }, address: { phone: `+1555${String(i).padStart(7, '0')}` } }));

async function spawnWorkers(k, args) {
  const children = Array.from({ length: k }, () => fork(path.join(here, 'worker.mjs'), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  await Promise.all(children.map((c) => new Promise((resolve, reject) => { c.once('message', resolve); c.once('exit', (code) => reject(new Error(`worker exited ${code}`))); })));
  return {
    stop: () => Promise.all(children.map((c) => new Promise((resolve) => { c.removeAllListeners('exit'); c.once('exit', resolve); c.send('stop'); }))),
  };
}

async function waitFor(check, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('benchmark run timed out');
    await sleep(5);
  }
  return Date.now();
}

async function dripline(k) {
  const tenant = `bench-${k}`;
  const queueName = `e2e-${k}`;
  const store = createPostgresStore({ pool, schema });
  const queue = createBullmqQueue({ connection: REDIS_URL, prefix, queueName });
  const engine = createEngine({ store, queue, transports: createFakeTransport(), rateLimits: {} });
  await engine.createCampaign(null, tenant, { id: 'c', plan, batchSize: 1000 });
  const workers = await spawnWorkers(k, ['dripline', REDIS_URL, prefix, queueName, DATABASE_URL, schema, tenant]);
  const audience = contacts(N);
  const t0 = Date.now();
  await engine.startCampaign(null, tenant, 'c', { audience });
  const enrolledMs = Date.now() - t0;
  const t1 = await waitFor(async () => (await pool.query(`select count(*)::int as n from "${schema}".scheduled_actions where tenant_id = $1 and status = 'done'`, [tenant])).rows[0].n >= N);
  await workers.stop();
  await queue.obliterate();
  await queue.close();
  const ms = t1 - t0;
  return { rate: Math.round((N / ms) * 1000), ms, enrolledMs };
}

async function driplineMemory() {
  const child = fork(path.join(here, 'worker.mjs'), ['dripline-memory', REDIS_URL, prefix, 'e2e-memory'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise((resolve, reject) => { child.once('message', resolve); child.once('exit', (code) => reject(new Error(`worker exited ${code}`))); });
  const done = new Promise((resolve) => child.on('message', (m) => m?.type === 'done' && resolve(m)));
  child.send({ type: 'go', n: N });
  const { ms, enrolledMs } = await done;
  await new Promise((resolve) => { child.removeAllListeners('exit'); child.once('exit', resolve); child.send('stop'); });
  return { rate: Math.round((N / ms) * 1000), ms, enrolledMs };
}

async function raw(k) {
  const queueName = `raw-${k}`;
  const queue = new Queue(queueName, { connection: toConnectionOptions(REDIS_URL), prefix });
  const workers = await spawnWorkers(k, ['raw', REDIS_URL, prefix, queueName]);
  const t0 = Date.now();
  for (let i = 0; i < N; i += 1000) await queue.addBulk(Array.from({ length: Math.min(1000, N - i) }, (_, j) => ({ name: 'noop', data: { i: i + j }, opts: { jobId: `j${i + j}` } })));
  const t1 = await waitFor(async () => {
    const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    return c.waiting + c.active + c.delayed + c.prioritized === 0;
  });
  await workers.stop();
  await queue.obliterate({ force: true });
  await queue.close();
  const ms = t1 - t0;
  return { rate: Math.round((N / ms) * 1000), ms };
}

await migrate(pool, { schema });
try {
  for (const k of WORKERS) {
    const r = await raw(k);
    const d = await dripline(k);
    const ratio = +(d.rate / r.rate).toFixed(3);
    console.log(`bullmq, ${k} worker process${k > 1 ? 'es' : ''} × concurrency ${CONCURRENCY}, ${N} items: raw BullMQ no-op ${r.rate} jobs/s; dripline end-to-end (PostgreSQL store) ${d.rate} steps/s (enrolment and enqueue of all ${N}: ${d.enrolledMs} ms of ${d.ms}); ratio ${ratio} (goal ≥ 0.8)`);
    console.log(`RESULT ${JSON.stringify({ bench: 'bullmq', workers: k, concurrency: CONCURRENCY, batch: BATCH, n: N, store: 'postgres', rawJobsPerSec: r.rate, e2eStepsPerSec: d.rate, e2eMs: d.ms, enrolMs: d.enrolledMs, ratio, goal: 0.8 })}`);
    if (k === 1) {
      // The memory store lives in one process, so this variant exists for 1 process only.
      const m = await driplineMemory();
      const mr = +(m.rate / r.rate).toFixed(3);
      console.log(`bullmq, 1 worker process × concurrency ${CONCURRENCY}, ${N} items: dripline end-to-end (memory store, same process) ${m.rate} steps/s (enrolment and enqueue: ${m.enrolledMs} ms of ${m.ms}); ratio to raw ${mr}`);
      console.log(`RESULT ${JSON.stringify({ bench: 'bullmq', workers: 1, concurrency: CONCURRENCY, batch: BATCH, n: N, store: 'memory', rawJobsPerSec: r.rate, e2eStepsPerSec: m.rate, e2eMs: m.ms, enrolMs: m.enrolledMs, ratio: mr, goal: 0.8 })}`);
    }
  }
} finally {
  await pool.query(`drop schema if exists "${schema}" cascade`);
  await pool.end();
}
