// Runs the fleet demo as a user would (`node src/fleet.mjs`, i.e. `npm start`) with small
// numbers, against the real Redis (REDIS_URL) and PostgreSQL (DATABASE_URL), and checks what
// it prints, what the fake Twilio recorded, and its exit code. Needs the packages built (the
// root `pnpm test` builds first). Without Redis or PostgreSQL the tests are skipped locally and
// fail when CI is set.
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { describe, expect, it } from 'vitest';

const cwd = fileURLToPath(new URL('..', import.meta.url));
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

function redisAnswers(): Promise<boolean> {
  const u = new URL(REDIS_URL);
  return new Promise((resolve) => {
    const socket = connect({ host: u.hostname || '127.0.0.1', port: Number(u.port || 6379) });
    const done = (ok: boolean) => (clearTimeout(timer), socket.destroy(), resolve(ok));
    const timer = setTimeout(() => done(false), 2_000);
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write(u.password ? `AUTH ${decodeURIComponent(u.password)}\r\nPING\r\n` : 'PING\r\n'));
    socket.on('data', (d) => d.toString().includes('PONG') && done(true));
  });
}
/** `KEYS pattern` over a raw socket (RESP), so that checking creates no keys of its own. */
function redisKeys(pattern: string): Promise<string[]> {
  const u = new URL(REDIS_URL);
  const command = (args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: u.hostname || '127.0.0.1', port: Number(u.port || 6379) });
    let data = '';
    socket.on('error', reject);
    socket.on('connect', () => socket.write((u.password ? command(['AUTH', decodeURIComponent(u.password)]) : '') + command(['KEYS', pattern])));
    socket.on('data', (d) => {
      data += d.toString('utf8');
      if (!data.includes('*')) return;
      const reply = data.slice(data.indexOf('*')); // after +OK from AUTH, if any
      const lines = reply.split('\r\n');
      const n = Number(lines[0]!.slice(1));
      if (lines.length < 2 + 2 * n) return; // not all of it yet
      socket.destroy();
      resolve(Array.from({ length: n }, (_, i) => lines[2 + 2 * i]!));
    });
  });
}
async function postgresAnswers(): Promise<boolean> {
  const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const missing = [...((await redisAnswers()) ? [] : [`Redis at ${REDIS_URL}`]), ...((await postgresAnswers()) ? [] : [`PostgreSQL at ${DATABASE_URL}`])];
if (missing.length && process.env.CI) throw new Error(`examples/bullmq-fleet: ${missing.join(' and ')} not reachable (CI is set: failing instead of skipping)`);
if (missing.length) console.warn(`examples/bullmq-fleet: ${missing.join(' and ')} not reachable; skipping (start them, or set REDIS_URL / DATABASE_URL)`);

interface Run { code: number | null; signal: string | null; stdout: string; stderr: string }
/** Runs `node src/fleet.mjs ...args` and resolves when it exits (SIGTERM after `timeoutMs`). */
function fleet(args: string[], env: Record<string, string> = {}, timeoutMs = 150_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['src/fleet.mjs', ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

interface Summary {
  ok: boolean; contacts: number; workers: number; limit: number; campaignStatus: string;
  delivered: number; duplicates: number; lost: number; refused429: number; achievedRate: number; worstSlidingSecond: number;
  workerExitCodes: number[]; sentByWorker: Record<string, number>;
  outbox: { rows: number; sent: number; distinctKeys: number };
  fakeTwilio: { accepted: number; distinctRecipients: number; requests: number; refused429: number; recipients: string[] };
  problems: string[];
}
const summaryOf = (run: Run): Summary => JSON.parse(run.stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1) ?? 'null');
const phone = (i: number) => `+1555${String(i).padStart(7, '0')}`;

describe.skipIf(missing.length > 0)('examples/bullmq-fleet: node src/fleet.mjs', () => {
  it('2 workers deliver 120 SMS exactly once at the fake Twilio’s 10/s, never refused, and clean up', async () => {
    const run = await fleet(['--contacts', '120', '--workers', '2', '--json']);
    if (run.code !== 0) console.log(run.stdout, run.stderr);
    expect(run.signal).toBeNull();
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');

    // Progress about once a second: sent / total, a rate, the 429 count.
    const progress = [...run.stdout.matchAll(/^\[fleet +[\d.]+s\] sent +(\d+)\/120 · ([\d.]+) msg\/s over the last 3 s · 429s (\d+)$/gm)].map((m) => ({ sent: Number(m[1]), rate: Number(m[2]), refused: Number(m[3]) }));
    expect(progress.length).toBeGreaterThanOrEqual(5); // 120 messages at 10/s take at least 11 s
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.sent).toBeGreaterThanOrEqual(progress[i - 1]!.sent);
    expect(progress.every((p) => p.refused === 0 && p.sent <= 120)).toBe(true);
    expect(Math.max(...progress.map((p) => p.rate))).toBeGreaterThan(0);

    // The human summary.
    expect(run.stdout).toMatch(/^ {2}delivered +120 \/ 120 contacts \(fake Twilio accepted 120 messages\)$/m);
    expect(run.stdout).toMatch(/^ {2}duplicates +0$/m);
    expect(run.stdout).toMatch(/^ {2}429s +0 of 120 requests$/m);
    expect(run.stdout).toMatch(/^ {2}rate +[\d.]+ msg\/s from first to last message vs a limit of 10\/s/m);
    expect(run.stdout).toMatch(/^ {2}elapsed +[\d.]+ s/m);
    expect(run.stdout).toMatch(/^OK: /m);
    // Both workers stopped gracefully on SIGTERM.
    expect(run.stdout).toMatch(/^\[worker-1\] stopped \(SIGTERM\) after \d+ sends$/m);
    expect(run.stdout).toMatch(/^\[worker-2\] stopped \(SIGTERM\) after \d+ sends$/m);

    // The machine-readable summary, and the fake Twilio's own records.
    const s = summaryOf(run);
    expect(s).toMatchObject({ ok: true, contacts: 120, workers: 2, limit: 10, campaignStatus: 'completed', delivered: 120, duplicates: 0, lost: 0, refused429: 0, problems: [] });
    expect(s.fakeTwilio).toMatchObject({ accepted: 120, distinctRecipients: 120, requests: 120, refused429: 0 });
    expect([...s.fakeTwilio.recipients].sort()).toEqual(Array.from({ length: 120 }, (_, i) => phone(i)));
    expect(s.outbox).toEqual({ rows: 120, sent: 120, distinctKeys: 120 });
    expect(s.worstSlidingSecond).toBeLessThanOrEqual(10);
    expect(s.achievedRate).toBeGreaterThan(0);
    expect(s.workerExitCodes).toEqual([0, 0]);
    // The work was shared: each process sent some, and together exactly one per contact.
    expect(Object.keys(s.sentByWorker).sort()).toEqual(['worker-1', 'worker-2']);
    expect(Object.values(s.sentByWorker).every((n) => n > 0)).toBe(true);
    expect(Object.values(s.sentByWorker).reduce((a, b) => a + b, 0)).toBe(120);

    // Nothing left behind: the run's schema is dropped, its Redis keys deleted.
    const schema = /PostgreSQL schema (dripline_fleet_[0-9a-f]+)/.exec(run.stdout)![1]!;
    const prefix = /Redis prefix (\{dripline-fleet-[0-9a-f]+\})/.exec(run.stdout)![1]!;
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    const { rows } = await client.query('select count(*)::int as n from pg_namespace where nspname = $1', [schema]);
    await client.end();
    expect(rows[0].n).toBe(0);
    expect(await redisKeys(`${prefix}:*`)).toEqual([]);
  }, 180_000);

  it('exits 1 and reports the 429s when the fleet is paced faster than the provider allows', async () => {
    const run = await fleet(['--contacts', '12', '--workers', '1', '--twilio-rate', '3', '--json']);
    expect(run.code).toBe(1);
    const s = summaryOf(run);
    expect(s.ok).toBe(false);
    expect(s.refused429).toBeGreaterThan(0);
    expect(s.fakeTwilio.refused429).toBe(s.refused429);
    expect(s.duplicates).toBe(0); // refused requests were retried, never sent twice
    expect(s.problems.join('\n')).toMatch(/refused with 429/);
    expect(run.stdout).toMatch(/^FAILED: .*refused with 429/m);
  }, 120_000);

  it('exits 2 with a clear message when Redis is not reachable', async () => {
    const run = await fleet(['--contacts', '5'], { REDIS_URL: 'redis://127.0.0.1:1' }, 30_000);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/Redis is not reachable at redis:\/\/127\.0\.0\.1:1/);
  }, 60_000);
});
