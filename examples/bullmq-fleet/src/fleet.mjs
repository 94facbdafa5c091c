// dripline fleet demo: one producer and N worker processes on one Redis and one PostgreSQL,
// sending an SMS campaign through a fake Twilio that refuses (429) anything over its limit.
//
//   node src/fleet.mjs [--contacts 300] [--workers 4] [--rate 10] [--concurrency 2] [--keep] [--json]
//
// This file is the demo harness (what your process manager and Twilio would be in
// production): it prepares a fresh PostgreSQL schema and Redis prefix, starts the fake
// Twilio, starts the workers (src/worker.mjs) and the producer (src/producer.mjs) as child
// processes, prints progress once a second, and checks the result: every contact got exactly
// one message, nothing was refused with 429. Exit code 0 only if all of that holds.
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createPostgresStore, migrate } from '@dripline/adapter-postgres';
import { createBullmqQueue } from '@dripline/adapter-bullmq';
import { readSettings } from './settings.mjs';

const USAGE = `usage: node src/fleet.mjs [options]
  --contacts N      contacts in the campaign (default 300)
  --workers N       worker processes (default 4)
  --rate N          the fleet's limit, messages per second, and the fake Twilio's (default 10)
  --twilio-rate N   the fake Twilio's limit, if it should differ from --rate (try 5: watch the 429s)
  --headroom F      extra spacing between requests, as a fraction of 1000/rate ms (default 0.05)
  --concurrency N   jobs in flight per worker (default 2)
  --timeout S       give up after S seconds (default: 3 × the time the campaign needs at the rate, + 60)
  --keep            keep the PostgreSQL schema and the Redis keys for inspection
  --json            end with one line of JSON: the summary and the fake Twilio's own counts
environment: REDIS_URL (default redis://127.0.0.1:6379), DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test)`;

// ------------------------------------------------------------------ options
let args;
try {
  args = parseArgs({
    options: {
      contacts: { type: 'string', default: '300' },
      workers: { type: 'string', default: '4' },
      rate: { type: 'string', default: '10' },
      'twilio-rate': { type: 'string' },
      headroom: { type: 'string' },
      concurrency: { type: 'string', default: '2' },
      timeout: { type: 'string' },
      keep: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }).values;
} catch (e) {
  console.error(`${e.message}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const positive = (name, integer = true) => {
  const n = Number(args[name]);
  if (!(n > 0) || (integer && !Number.isInteger(n))) {
    console.error(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got "${args[name]}"\n${USAGE}`);
    process.exit(2);
  }
  return n;
};
const CONTACTS = positive('contacts');
const WORKERS = positive('workers');
const RATE = positive('rate', false);
const TWILIO_RATE = args['twilio-rate'] === undefined ? RATE : positive('twilio-rate', false);
const CONCURRENCY = positive('concurrency');
const TIMEOUT_S = args.timeout === undefined ? Math.ceil((CONTACTS / RATE) * 3 + 60) : positive('timeout', false);

const base = readSettings();
const run = randomUUID().slice(0, 8);
// A fresh schema and Redis prefix per run, so runs never see each other's data.
const settings = { ...base, schema: `dripline_fleet_${run}`, prefix: `{dripline-fleet-${run}}`, perSecond: RATE, concurrency: CONCURRENCY };
if (args.headroom !== undefined) {
  const h = Number(args.headroom);
  if (!(h >= 0 && h < 1)) {
    console.error(`--headroom must be a fraction in [0, 1), got "${args.headroom}"`);
    process.exit(2);
  }
  settings.headroom = h;
}
const t0 = Date.now();
const since = () => `${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s`;
const say = (line) => console.log(`[fleet ${since()}] ${line}`);

// ------------------------------------------------------------------ services
/** PING over a raw socket: is Redis there? */
function pingRedis(url, timeoutMs = 2_000) {
  const u = new URL(url);
  if (u.protocol === 'rediss:') return Promise.resolve(true); // TLS: let the client find out
  return new Promise((resolve) => {
    const socket = connect({ host: u.hostname || '127.0.0.1', port: Number(u.port || 6379) });
    const done = (ok) => (clearTimeout(timer), socket.destroy(), resolve(ok));
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write(u.password ? `AUTH ${u.username ? `${decodeURIComponent(u.username)} ` : ''}${decodeURIComponent(u.password)}\r\nPING\r\n` : 'PING\r\n'));
    socket.on('data', (d) => d.toString().includes('PONG') && done(true));
  });
}
if (!(await pingRedis(settings.redisUrl))) {
  console.error(`Redis is not reachable at ${settings.redisUrl}: start redis-server, or set REDIS_URL`);
  process.exit(2);
}
const pool = new pg.Pool({ connectionString: settings.databaseUrl, max: 2, connectionTimeoutMillis: 5_000 });
pool.on('error', () => undefined);
try {
  await pool.query('select 1');
} catch (e) {
  console.error(`PostgreSQL is not reachable at ${settings.databaseUrl} (${e.message}): start it, or set DATABASE_URL`);
  await pool.end();
  process.exit(2);
}
await migrate(pool, { schema: settings.schema });
const store = createPostgresStore({ pool, schema: settings.schema });

// ------------------------------------------------------------------ processes
const here = (file) => fileURLToPath(new URL(file, import.meta.url));

/** Forks a script; resolves with the first IPC message of `type`, rejects if it exits first. */
function start(file, argv, env, type) {
  // detached: a Ctrl-C in the terminal reaches this process only, which then stops the
  // workers once, gracefully. A child whose parent dies sees its IPC channel close and exits.
  const child = fork(here(file), argv, { env, detached: true, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const first = new Promise((resolve, reject) => {
    const onExit = (code, signal) => reject(new Error(`${file} exited (${signal ?? code}) before it was ${type}`));
    child.once('exit', onExit);
    child.on('message', (m) => {
      if (m?.type === type) {
        child.off('exit', onExit);
        resolve(m);
      }
    });
  });
  return { child, first };
}
const exited = (c) => c.exitCode !== null || c.signalCode !== null;
const exitOf = (c) =>
  new Promise((resolve) => {
    if (exited(c)) return resolve(c.exitCode ?? c.signalCode);
    c.once('exit', (code, signal) => resolve(code ?? signal));
  });

// Stands in for Twilio, in its own process: a sliding one-second window of TWILIO_RATE requests, 429 above.
const fake = start('./fake-twilio.mjs', [], { ...process.env, FAKE_TWILIO_RATE: String(TWILIO_RATE) }, 'listening');
const twilio = await fake.first;
let asks = 0;
/** Asks the fake Twilio for `{ type, ...payload }` and resolves with its answer. */
function askTwilio(type, payload = {}) {
  const id = ++asks;
  return new Promise((resolve, reject) => {
    if (exited(fake.child)) return reject(new Error('the fake Twilio process has exited'));
    const gone = () => reject(new Error('the fake Twilio process has exited'));
    const on = (m) => {
      if (m?.type === type && m.id === id) {
        fake.child.off('message', on);
        fake.child.off('exit', gone);
        resolve(m);
      }
    };
    fake.child.on('message', on);
    fake.child.once('exit', gone);
    fake.child.send({ type, id, ...payload });
  });
}
say(`fake Twilio at ${twilio.url} (${TWILIO_RATE} msg/s, 429 above); PostgreSQL schema ${settings.schema}; Redis prefix ${settings.prefix}`);

const childEnv = {
  ...process.env,
  REDIS_URL: settings.redisUrl,
  DATABASE_URL: settings.databaseUrl,
  DRIPLINE_SCHEMA: settings.schema,
  DRIPLINE_PREFIX: settings.prefix,
  DRIPLINE_TENANT: settings.tenant,
  SMS_PER_SECOND: String(RATE),
  SMS_HEADROOM: String(settings.headroom),
  WORKER_CONCURRENCY: String(CONCURRENCY),
  TWILIO_ACCOUNT_SID: twilio.accountSid,
  TWILIO_AUTH_TOKEN: twilio.authToken,
  TWILIO_BASE_URL: twilio.url,
};
const workers = [];
const sentByWorker = {};
let stopping = null; // set once the workers are being stopped
for (let i = 1; i <= WORKERS; i++) {
  const id = `worker-${i}`;
  const w = start('./worker.mjs', [], { ...childEnv, WORKER_ID: id }, 'ready');
  w.child.on('message', (m) => m?.type === 'stopped' && (sentByWorker[m.id] = m.sent));
  w.child.on('exit', (code, signal) => stopping || say(`${id} exited unexpectedly (${signal ?? code}); the others take over its work once its leases expire`));
  workers.push({ id, ...w });
}

/** SIGTERMs the workers once (graceful: running sends finish) and returns their exit codes. */
function stopWorkers(graceMs = 30_000) {
  stopping ??= (async () => {
    const codes = Promise.all(workers.map((w) => exitOf(w.child)));
    for (const w of workers) if (!exited(w.child)) w.child.kill('SIGTERM');
    const timer = setTimeout(() => workers.forEach((w) => exited(w.child) || w.child.kill('SIGKILL')), graceMs);
    const result = await codes;
    clearTimeout(timer);
    return result;
  })();
  return stopping;
}

/**
 * Deletes every key under this run's prefix. `obliterate()` removes BullMQ's own keys, but
 * not the adapter's "wake again" marks (`<prefix>:actions:rewake:*`, kept for a day), so a
 * SCAN over the prefix finishes the job.
 */
async function deleteKeys(queue) {
  await queue.obliterate();
  const client = await queue.queue.client;
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${settings.prefix}:*`, 'COUNT', 1_000);
    if (keys.length) await client.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

async function cleanUp() {
  if (!exited(fake.child)) {
    const gone = exitOf(fake.child);
    fake.child.send({ type: 'close' });
    await gone;
  }
  if (args.keep) {
    say(`kept PostgreSQL schema ${settings.schema} and Redis keys ${settings.prefix}:*`);
  } else {
    const queue = createBullmqQueue({ connection: settings.redisUrl, prefix: settings.prefix });
    await deleteKeys(queue).catch((e) => say(`could not delete the Redis keys: ${e.message}`));
    await queue.close().catch(() => undefined);
    await pool.query(`drop schema if exists "${settings.schema}" cascade`).catch((e) => say(`could not drop the schema: ${e.message}`));
  }
  await pool.end().catch(() => undefined);
}

// Whatever goes wrong from here on, stop the workers and clean up before exiting.
const crash = async (e) => {
  console.error(`[fleet] ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  await stopWorkers(5_000);
  await cleanUp().catch(() => undefined);
  process.exit(1);
};
process.once('uncaughtException', crash);
process.once('unhandledRejection', crash);

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    interrupted = true;
    say(`${signal}: stopping the workers`);
    await stopWorkers();
    await cleanUp();
    process.exit(130);
  });
}

try {
  await Promise.race([Promise.all(workers.map((w) => w.first)), new Promise((_, reject) => setTimeout(() => reject(new Error('workers not ready within 60 s')), 60_000).unref())]);
} catch (e) {
  console.error(`[fleet] ${e.message}`);
  await stopWorkers(5_000);
  await cleanUp();
  process.exit(1);
}
say(`${WORKERS} workers ready; starting the producer`);
// Scaling out is starting more of the same process. To add one to this run from another terminal:
say(`add a worker (same REDIS_URL and DATABASE_URL): ${['DRIPLINE_SCHEMA', 'DRIPLINE_PREFIX', 'SMS_PER_SECOND', 'SMS_HEADROOM', 'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_BASE_URL'].map((k) => `${k}='${childEnv[k]}'`).join(' ')} node ${here('./worker.mjs')}`);

// ------------------------------------------------------------------ the campaign
const startedAt = Date.now();
const producer = start('./producer.mjs', ['--contacts', String(CONTACTS)], childEnv, 'started');
let campaignId;
try {
  ({ campaignId } = await producer.first);
} catch (e) {
  console.error(`[fleet] ${e.message}`);
  await stopWorkers(5_000);
  await cleanUp();
  process.exit(1);
}

const campaignStatus = async () => (await store.transaction(settings.tenant, (tx) => tx.getCampaign(campaignId)))?.status;
const RATE_WINDOW_MS = 3_000;
let status = await campaignStatus();
const deadline = startedAt + TIMEOUT_S * 1_000;
let printedAt = Date.now();
async function printProgress() {
  printedAt = Date.now();
  const { accepted, recent, refused429 } = await askTwilio('stats', { windowMs: RATE_WINDOW_MS });
  say(`sent ${String(accepted).padStart(String(CONTACTS).length)}/${CONTACTS} · ${(recent / (RATE_WINDOW_MS / 1000)).toFixed(1)} msg/s over the last ${RATE_WINDOW_MS / 1000} s · 429s ${refused429}`);
}
while (status === 'active' && Date.now() < deadline && !interrupted) {
  await new Promise((r) => setTimeout(r, 200));
  if (Date.now() - printedAt >= 1_000) await printProgress();
  status = await campaignStatus();
}
const elapsed = (Date.now() - startedAt) / 1000;
if (!interrupted) await printProgress();
if (interrupted) await new Promise(() => {}); // the signal handler exits
if (status !== 'completed') say(`campaign is "${status}" after ${elapsed.toFixed(1)} s: giving up`);

// ------------------------------------------------------------------ the result
const exitCodes = await stopWorkers();
const { messages, requests } = await askTwilio('dump');
const outbox = [];
for (;;) {
  const after = outbox.at(-1)?.key;
  const page = await store.transaction(settings.tenant, (tx) => tx.listOutbound(campaignId, { limit: 1_000, ...(after ? { after } : {}) }));
  outbox.push(...page);
  if (page.length < 1_000) break;
}
await cleanUp();

/** The most requests that arrived in any sliding window of `windowMs`. */
function worstWindow(times, windowMs = 1_000) {
  const t = [...times].sort((a, b) => a - b);
  let worst = 0;
  for (let lo = 0, hi = 0; hi < t.length; hi++) {
    while (t[hi] - t[lo] >= windowMs) lo++;
    worst = Math.max(worst, hi - lo + 1);
  }
  return worst;
}
const perPhone = new Map();
for (const m of messages) perPhone.set(m.to, (perPhone.get(m.to) ?? 0) + 1);
const delivered = perPhone.size;
const duplicates = messages.length - delivered;
const lost = CONTACTS - delivered;
const refused429 = requests.filter((r) => r.status === 429).length;
const times = messages.map((m) => m.receivedAt).sort((a, b) => a - b);
const sendingSeconds = times.length > 1 ? (times.at(-1) - times[0]) / 1000 : 0;
const achievedRate = sendingSeconds > 0 ? (times.length - 1) / sendingSeconds : 0;
const worstSecond = worstWindow(requests.map((r) => r.at));
const outboxNotSent = outbox.filter((m) => m.status !== 'sent').length;
const workersClean = exitCodes.every((c) => c === 0);

const problems = [];
if (status !== 'completed') problems.push(`campaign ended "${status}", not "completed"`);
if (lost !== 0) problems.push(`${lost} contact(s) got no message`);
if (duplicates !== 0) problems.push(`${duplicates} duplicate message(s)`);
if (refused429 !== 0) problems.push(`${refused429} request(s) refused with 429: the fleet went over the provider's ${TWILIO_RATE}/s`);
if (outbox.length !== CONTACTS || outboxNotSent !== 0) problems.push(`outbox has ${outbox.length} row(s), ${outboxNotSent} not "sent" (expected ${CONTACTS} sent)`);
if (!workersClean) problems.push(`worker exit codes ${exitCodes.join(' ')} (expected 0: graceful shutdown)`);

const pad = (s) => s.padEnd(13);
console.log('');
console.log('summary');
console.log(`  ${pad('delivered')}${delivered} / ${CONTACTS} contacts (fake Twilio accepted ${messages.length} messages)`);
console.log(`  ${pad('duplicates')}${duplicates}`);
console.log(`  ${pad('lost')}${lost}`);
console.log(`  ${pad('429s')}${refused429} of ${requests.length} requests`);
console.log(`  ${pad('rate')}${achievedRate.toFixed(2)} msg/s from first to last message vs a limit of ${TWILIO_RATE}/s (${((achievedRate / TWILIO_RATE) * 100).toFixed(0)}%); busiest sliding second: ${worstSecond} requests`);
console.log(`  ${pad('elapsed')}${elapsed.toFixed(1)} s from the producer's start to the campaign's completion`);
console.log(`  ${pad('workers')}${workers.map((w) => `${w.id} ${sentByWorker[w.id] ?? '?'}`).join(', ')} (sends per process); exit codes ${exitCodes.join(' ')}`);
console.log(`  ${pad('outbox')}${outbox.length} rows in PostgreSQL, ${outbox.length - outboxNotSent} sent`);
console.log(problems.length ? `FAILED: ${problems.join('; ')}` : 'OK: every contact got exactly one message, and the provider never had to refuse one');
if (args.json) {
  console.log(
    JSON.stringify({
      ok: problems.length === 0,
      contacts: CONTACTS,
      workers: WORKERS,
      limit: TWILIO_RATE,
      pace: RATE,
      headroom: settings.headroom,
      campaignStatus: status,
      delivered,
      duplicates,
      lost,
      refused429,
      achievedRate: +achievedRate.toFixed(3),
      worstSlidingSecond: worstSecond,
      elapsedSeconds: +elapsed.toFixed(1),
      workerExitCodes: exitCodes,
      sentByWorker,
      outbox: { rows: outbox.length, sent: outbox.length - outboxNotSent, distinctKeys: new Set(outbox.map((m) => m.key)).size },
      // The fake Twilio's own records, for checks that do not trust the numbers above.
      fakeTwilio: { accepted: messages.length, distinctRecipients: delivered, requests: requests.length, refused429, recipients: messages.map((m) => m.to) },
      problems,
    }),
  );
}
process.exit(problems.length ? 1 : 0);
