/**
 * bench/postgres/profile.mjs: one dripline worker on PostgreSQL, in this process, with every
 * statement it sends timed (from the client: the time until its result arrived) and counted.
 * What `bench.mjs` measures end to end, taken apart: which statements a step costs, how long
 * each takes from the worker's side, and the worker's own CPU per action. Run it with
 * `node --cpu-prof postgres/profile.mjs` for a CPU profile of the worker as well.
 *
 * Env: DATABASE_URL (default the local server), N (one-SMS enrollments, default 4000),
 * CAMPAIGNS (spread over this many active campaigns, default 1), IDLE (that many more active
 * campaigns with nothing due, default 0), CONC (worker concurrency, default 10), CHUNK
 * (chunkSize, default the worker's), BATCH (worker batchSize, default 100), ANALYZE=1 (analyze
 * the tables after enrolling). Creates and drops its own schema (`prof_*`).
 *
 * Besides the rate it prints, per action: the worker process's CPU, its main thread's busy time
 * (event-loop utilization), and the CPU of every PostgreSQL process (from /proc, where there is
 * one; the server must run on this machine).
 */
import fs from 'node:fs';
import pg from 'pg';
import { createEngine, createWorker } from '@dripline/core';
import { createPostgresStore, migrate } from '@dripline/adapter-postgres';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = Number(process.env.N ?? 4000);
const schema = `prof_${Date.now().toString(36)}`;
const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 12 });
pool.on('error', () => undefined);
const stats = new Map();

/** CPU time (ms) used so far by every process named postgres, from /proc; null without /proc. */
function postgresCpuMs() {
  if (!fs.existsSync('/proc/self/stat')) return null;
  let ms = 0;
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // the process ended
    }
    const end = stat.lastIndexOf(')');
    if (!stat.slice(0, end).includes('(postgres')) continue;
    const fields = stat.slice(end + 2).split(' ');
    // utime and stime, in clock ticks (USER_HZ is 100 on Linux).
    ms += (Number(fields[11]) + Number(fields[12])) * 10;
  }
  return ms;
}
let on = false;
// Times every statement the store sends (promise-returning calls; the progress poll below uses
// pool.query, whose callback form is left out).
pool.on('connect', (client) => {
  const query = client.query.bind(client);
  client.query = (a, b, cb) => {
    if (typeof b === 'function' || typeof cb === 'function' || (a && typeof a.submit === 'function')) return query(a, b, cb);
    const text = (typeof a === 'string' ? a : a.text).replace(/\s+/g, ' ').trim().slice(0, 70);
    const t = performance.now();
    return query(a, b).finally(() => {
      if (!on) return;
      const s = stats.get(text) ?? { n: 0, ms: 0 };
      s.n++;
      s.ms += performance.now() - t;
      stats.set(text, s);
    });
  };
});

const plan = { version: '1.0', name: 'Profile', timezone: 'UTC', startNodeId: 'sms', nodes: [{ id: 'sms', action: 'send', channel: 'sms', body: 'Hi {{name}}', schedule: { delay: 'PT0S' }, transitions: [] }] };
try {
  await migrate(pool, { schema });
  const store = createPostgresStore({ pool, schema });
  let sent = 0;
  const transport = { name: 'noop', channels: ['sms', 'email', 'whatsapp'], send: async () => ({ providerMessageId: `noop-${++sent}` }) };
  const engine = createEngine({ store, transports: transport, rateLimits: {} });
  const tenant = 't';
  const campaigns = Math.max(1, Number(process.env.CAMPAIGNS ?? 1));
  for (let c = 0; c < campaigns; c++) {
    const n = Math.floor(N / campaigns) + (c < N % campaigns ? 1 : 0);
    await engine.createCampaign(null, tenant, { id: `c${c}`, plan, batchSize: 2000 });
    await engine.enroll(null, tenant, `c${c}`, Array.from({ length: n }, (_, i) => ({ id: `p${c}-${i}`, attributes: { name: `P${i}` }, address: { phone: `+1${String(c).padStart(4, '0')}${String(i).padStart(7, '0')}` } })));
  }
  // Active campaigns whose one action is due tomorrow: claims visit them and find nothing.
  const idlePlan = { ...plan, nodes: [{ ...plan.nodes[0], schedule: { delay: 'P1D' } }] };
  for (let c = 0; c < Number(process.env.IDLE ?? 0); c++) {
    await engine.createCampaign(null, tenant, { id: `idle${c}`, plan: idlePlan, batchSize: 2000 });
    await engine.enroll(null, tenant, `idle${c}`, [{ id: `q${c}`, attributes: { name: 'Q' }, address: { phone: `+2${String(c).padStart(10, '0')}` } }]);
    await engine.startCampaign(null, tenant, `idle${c}`);
  }
  if (process.env.ANALYZE) await pool.query(`analyze "${schema}".scheduled_actions; analyze "${schema}".contact_campaigns; analyze "${schema}".outbound_messages`);
  const worker = createWorker(engine, {
    store,
    tenants: [tenant],
    batchSize: Number(process.env.BATCH ?? 100),
    concurrency: Number(process.env.CONC ?? 10),
    pollIntervalMs: 20,
    ...(process.env.CHUNK ? { chunkSize: Number(process.env.CHUNK) } : {}),
  });
  for (let c = 0; c < campaigns; c++) await engine.startCampaign(null, tenant, `c${c}`);
  on = true;
  const cpu0 = process.cpuUsage();
  const pg0 = postgresCpuMs();
  const elu0 = performance.eventLoopUtilization();
  const t0 = Date.now();
  const loop = worker.start();
  const done = async () => (await pool.query(`select count(*)::int as n from "${schema}".scheduled_actions where status = 'done'`)).rows[0].n;
  while ((await done()) < N) await new Promise((r) => setTimeout(r, 20));
  const ms = Date.now() - t0;
  on = false;
  await worker.stop();
  await loop;
  const cpu = process.cpuUsage(cpu0);
  const pg1 = postgresCpuMs();
  const busy = performance.eventLoopUtilization(elu0).active;
  console.log(
    `${N} one-SMS actions in ${ms} ms: ${Math.round((N / ms) * 1000)}/s; per action: worker CPU ${((cpu.user + cpu.system) / 1000 / N).toFixed(3)} ms ` +
      `(main thread busy ${(busy / N).toFixed(3)} ms)` +
      (pg0 === null || pg1 === null ? '' : `, PostgreSQL CPU ${((pg1 - pg0) / N).toFixed(3)} ms`),
  );
  const rows = [...stats.entries()].sort((a, b) => b[1].ms - a[1].ms);
  let count = 0;
  for (const [, s] of rows) count += s.n;
  for (const [text, s] of rows.slice(0, 12)) console.log(`${String(s.n).padStart(7)} × ${(s.ms / s.n).toFixed(2).padStart(6)} ms  ${text}`);
  console.log(`${(count / N).toFixed(2)} statements per action`);
} finally {
  await pool.query(`drop schema if exists "${schema}" cascade`);
  await pool.end();
}
