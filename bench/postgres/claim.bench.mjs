/**
 * bench/postgres/claim.bench.mjs: what one claim of due actions costs on PostgreSQL as a
 * tenant's active campaigns grow, beside the previous claim function in the same run.
 *
 * `dripline_claim` (the current one, migration 000006) and the body of migration 000005
 * (installed beside it as `dripline_claim_000005`) claim 10 due actions (the pipeline's chunk,
 * `perCampaignLimit` 25) in a tenant with 1 to 300 active campaigns, all of them with due
 * actions or only a few. Each claim is committed together with the finish of what it claimed, as
 * a worker's would be (a claim rolled back leaves dead row versions behind that the next claim of
 * the same rows wades through, which skewed an earlier version of this bench). The two functions
 * run in alternating blocks of 50 claims, 200 each per round, after 30 untimed; the figure is the
 * median of the rounds. Every claim must come back with 10 actions (checked; exit 1 if not).
 *
 * Goal: with 300 active campaigns all due, the current claim takes at most half the time of
 * 000005's (which locked up to 10 due actions of every campaign to claim 10). Where only a few
 * campaigns have due actions the current claim goes back for more of those; the bench shows
 * that cost beside the previous one.
 *
 * Env: DATABASE_URL (default the local server), ROUNDS (default 3), CASES (only these, as
 * `campaigns/due` pairs: `300/300,30/2`).
 * Prints a human line and a `RESULT {json}` line per case; creates and drops `claim_bench_*`.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import pg from 'pg';
import { migrate } from '@dripline/adapter-postgres';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const WARMUP = 30;
const BLOCKS = 4;
const BLOCK = 50;
const schema = `claim_bench_${Date.now().toString(36)}`;
const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
pool.on('error', () => undefined);

// The previous claim, from the migration file the package ships.
const pkg = path.dirname(createRequire(import.meta.url).resolve('@dripline/adapter-postgres/package.json'));
const previous = fs
  .readFileSync(path.join(pkg, 'migrations', '000005_claim_in_turns.sql'), 'utf8')
  .replaceAll(':schema.dripline_claim(', ':schema.dripline_claim_000005(')
  .replaceAll(':schema', `"${schema}"`);

const only = process.env.CASES ? process.env.CASES.split(',') : null;
const allCases = [
  { campaigns: 1, due: 1 },
  { campaigns: 10, due: 10 },
  { campaigns: 50, due: 50 },
  { campaigns: 300, due: 300, judged: true },
  { campaigns: 30, due: 2 },
  { campaigns: 300, due: 3 },
];
const cases = only ? allCases.filter((c) => only.includes(`${c.campaigns}/${c.due}`)) : allCases;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  await migrate(pool, { schema });
  await pool.query(previous);
  const client = await pool.connect();
  let failed = false;
  try {
    for (const [i, c] of cases.entries()) {
      const tenant = `t${i}`;
      await client.query(
        `insert into "${schema}".campaigns (tenant_id, id, name, status, plan, plan_version, batch_size, failure_threshold, created_at, updated_at)
         select $1, 'c' || n, 'Bench', 'active', '{}', 1, 100, 0.5, 0, 0 from generate_series(1, $2::int) n`,
        [tenant, c.campaigns],
      );
      // Campaigns 1..due have enough due actions for every claim of the case; the others 20
      // due tomorrow.
      const perDue = Math.ceil(((WARMUP + ROUNDS * 2 * BLOCKS * BLOCK) * 10) / c.due) + 10;
      await client.query(
        `insert into "${schema}".scheduled_actions (tenant_id, key, campaign_id, enrollment_id, kind, node_id, visit, run_at, status, attempts)
         select $1, 'c' || n || ':p' || j, 'c' || n, 'c' || n || ':p' || j, 'send', 'sms', 1, case when n <= $3 then 1000 + j else 86400000 end, 'pending', 0
         from generate_series(1, $2::int) n, generate_series(1, case when n <= $3 then $4::int else 20 end) j`,
        [tenant, c.campaigns, c.due, perDue],
      );
      await client.query(`analyze "${schema}".scheduled_actions`);
      const times = { dripline_claim_000005: [], dripline_claim: [] };
      /** One claim of 10 and the finish of what it claimed, committed; returns the claim's time (ms). */
      const claimOnce = async (fn) => {
        await client.query('begin');
        const t = performance.now();
        const res = await client.query({ name: fn, text: `select "${schema}".${fn}($1, $2, $3, $4, $5, $6, null, false) as j`, values: [tenant, 100_000, 'bench', 60_000, 10, 25] });
        const ms = performance.now() - t;
        const keys = res.rows[0].j.actions.map((a) => a.key);
        if (keys.length !== 10) short.add(`${fn} claimed ${keys.length}`);
        await client.query({ name: 'finish', text: `update "${schema}".scheduled_actions set status = 'done', lease_owner = null, lease_expires_at = null where tenant_id = $1 and key = any($2::text[])`, values: [tenant, keys] });
        await client.query('commit');
        return ms;
      };
      const short = new Set();
      for (let k = 0; k < WARMUP; k++) await claimOnce(k % 2 ? 'dripline_claim' : 'dripline_claim_000005');
      for (let r = 0; r < ROUNDS; r++) {
        const total = { dripline_claim_000005: 0, dripline_claim: 0 };
        // Alternating blocks, so both see the table as it changes.
        for (let b = 0; b < BLOCKS; b++) for (const fn of Object.keys(times)) for (let k = 0; k < BLOCK; k++) total[fn] += await claimOnce(fn);
        for (const fn of Object.keys(times)) times[fn].push(total[fn] / (BLOCKS * BLOCK));
      }
      if (short.size) {
        failed = true;
        console.error(`case ${c.campaigns}/${c.due}: a claim came back short: ${[...short].join(', ')}`);
      }
      const before = median(times.dripline_claim_000005);
      const now = median(times.dripline_claim);
      const ratio = +(now / before).toFixed(2);
      const pass = c.judged ? ratio <= 0.5 : undefined;
      console.log(
        `claim of 10, ${c.campaigns} active campaigns, ${c.due} with due actions: ${now.toFixed(3)} ms (000005: ${before.toFixed(3)} ms), ratio ${ratio}` +
          (c.judged ? ` (goal ≤ 0.5: ${pass ? 'met' : 'missed'})` : ''),
      );
      console.log(`RESULT ${JSON.stringify({ bench: 'postgres.claim', campaigns: c.campaigns, due: c.due, ms: +now.toFixed(3), ms000005: +before.toFixed(3), ratio, ...(c.judged ? { target: 0.5, pass } : {}) })}`);
    }
  } finally {
    client.release();
  }
  if (failed) process.exitCode = 1;
} finally {
  await pool.query(`drop schema if exists "${schema}" cascade`);
  await pool.end();
}
