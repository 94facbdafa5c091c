/**
 * The fleet harness: worker processes (`fixtures/fleet-worker.mjs`) on one shared store (the
 * parent's memory store served over IPC), one Redis, and a fake Twilio that answers 429 to
 * any request over its per-second limit. Used by the fleet, pause and chaos tests.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createEngine, createMemoryStore, type AudienceContact, type CampaignStore, type Engine, type OutboundRecord } from '@dripline/core';
import { createPostgresStore, migrate } from '@dripline/adapter-postgres';
import { createBullmqQueue, type BullmqActionQueue } from '../src/index.js';
// @ts-expect-error: plain ES module fixture without types
import { serveStore } from './fixtures/ipc-store.mjs';
// @ts-expect-error: plain ES module fixture without types
import { makeTransport, usingAdapterTwilio } from './fixtures/twilio-support.mjs';
import { REDIS_URL, waitFor } from './redis.js';

const WORKER = fileURLToPath(new URL('./fixtures/fleet-worker.mjs', import.meta.url));

/** The fake Twilio (in its own process) as the tests see it. */
export interface FakeServer {
  url: string;
  accountSid: string;
  authToken: string;
  /** Accepted messages, in arrival order. */
  messages(): Promise<Array<{ to: string; body: string }>>;
  /** Every request with its arrival time (the fake's clock) and status. */
  requests(): Promise<Array<{ at: number; status: number }>>;
  /** How late the fake's event loop ran so far (ms): its arrival times are at most that late. */
  loopDelay(): Promise<{ p99: number; max: number }>;
  close(): Promise<void>;
}

/**
 * Timing tests share a small machine with the rest of the suite: the fake provider and the
 * workers get a higher CPU priority where the OS allows it (root), so a busy neighbour does
 * not delay their clocks. Without the permission it is a no-op.
 */
function raisePriority(child: ChildProcess) {
  try {
    if (child.pid) setPriority(child.pid, -10);
  } catch {
    // not permitted: the test still runs, with more jitter
  }
}

const FAKE = fileURLToPath(new URL('./fixtures/fake-twilio-process.mjs', import.meta.url));

/** Starts the fake Twilio in a child process and waits until it listens. */
async function startFakeProcess(rate: number): Promise<FakeServer> {
  const child = fork(FAKE, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, FAKE_RATE: String(rate) } });
  const info = await new Promise<{ url: string; accountSid: string; authToken: string }>((resolve, reject) => {
    child.on('message', (m: { type?: string; url: string; accountSid: string; authToken: string }) => m?.type === 'listening' && resolve(m));
    child.once('exit', (code) => reject(new Error(`fake Twilio exited with ${code}`)));
  });
  let ids = 0;
  const dump = () =>
    new Promise<{ messages: Array<{ to: string; body: string }>; requests: Array<{ at: number; status: number }>; loopDelay: { p99: number; max: number } }>((resolve) => {
      const id = ++ids;
      const on = (m: { type?: string; id?: number; messages: Array<{ to: string; body: string }>; requests: Array<{ at: number; status: number }>; loopDelay: { p99: number; max: number } }) => {
        if (m?.type === 'log' && m.id === id) {
          child.off('message', on);
          resolve(m);
        }
      };
      child.on('message', on);
      child.send({ type: 'dump', id });
    });
  raisePriority(child);
  return {
    ...info,
    messages: async () => (await dump()).messages,
    requests: async () => (await dump()).requests,
    loopDelay: async () => (await dump()).loopDelay,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.send({ type: 'close' });
      }),
  };
}

/** The PostgreSQL the fleet tests share their store in. */
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Whether PostgreSQL answers within 2 s. */
async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 2_000 });
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

/**
 * Which shared store the fleet uses: `FLEET_STORE=postgres|ipc`, default PostgreSQL through
 * @dripline/adapter-postgres when it is reachable, else the parent's memory store over IPC.
 */
export async function fleetStoreMode(): Promise<'postgres' | 'ipc'> {
  const asked = process.env.FLEET_STORE;
  if (asked === 'postgres' || asked === 'ipc') return asked;
  if (await postgresReachable()) return 'postgres';
  console.warn(`fleet tests: PostgreSQL is not reachable at ${DATABASE_URL}; the workers share the test process's memory store over IPC instead`);
  return 'ipc';
}

/** Options of {@link startFleet}. */
export interface FleetOptions {
  prefix: string;
  queueName: string;
  workers: number;
  /** Messages per second: the fake's limit and the BullMQ limiter's. */
  rate: number;
  /** Jobs in flight per process. Default 2 (8 for 4 processes: at most 8 sends wait on the schedule, 0.8 s at 10/s). */
  concurrency?: number;
  sweepMs?: number;
  leaseMs?: number;
  /** The shared store. */
  storeMode: 'postgres' | 'ipc';
}

/** A running fleet. */
export interface Fleet {
  tenant: string;
  store: CampaignStore;
  /** Every outbox row of a campaign, read through the store port. */
  outbox(campaignId: string): Promise<OutboundRecord[]>;
  engine: Engine;
  queue: BullmqActionQueue;
  fake: FakeServer;
  children: ChildProcess[];
  /** Every transport call: when it left, and its job's BullMQ slot. */
  calls: Array<{ at: number; slotAt: number | null; worker: number }>;
  /** Each worker's stats, reported as it shut down. */
  stats: Array<Record<string, number>>;
  /** Creates and starts a one-SMS campaign for `n` contacts; returns its id. */
  startCampaign(n: number): Promise<string>;
  /** Waits until the campaign is `completed`. */
  waitCompleted(campaignId: string, timeoutMs: number): Promise<void>;
  /** SIGTERMs every worker and waits for them to exit; returns their exit codes. */
  stop(): Promise<Array<number | null>>;
  /** Stops everything and deletes the queue's keys. */
  close(): Promise<void>;
}


/** A plan with one SMS and no transitions: each enrollment completes once its message is sent. */
export const ONE_SMS = {
  version: '1.0',
  name: 'fleet',
  timezone: 'UTC',
  startNodeId: 'sms',
  nodes: [{ id: 'sms', action: 'send', channel: 'sms', body: 'Hi {{name}}', schedule: { delay: 'PT0S' }, transitions: [] }],
};

/** `n` contacts with distinct phone numbers. */
export function contacts(n: number): AudienceContact[] {
  return Array.from({ length: n }, (_, i) => ({ id: `c${i}`, timezone: 'UTC', attributes: { name: `P${i}` }, address: { phone: `+1555${String(i).padStart(7, '0')}` } }));
}

/** Starts the fake server and `workers` processes, and waits until every worker is ready. */
export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const tenant = 'fleet';
  const fake = await startFakeProcess(o.rate);
  let pool: pg.Pool | null = null;
  const schema = `dripline_bullmq_${randomUUID().slice(0, 8)}`;
  let store: CampaignStore;
  if (o.storeMode === 'postgres') {
    pool = new pg.Pool({ connectionString: DATABASE_URL, max: 6 });
    pool.on('error', () => undefined);
    await migrate(pool, { schema });
    store = createPostgresStore({ pool, schema });
  } else {
    store = createMemoryStore();
  }
  const queue = createBullmqQueue({ connection: REDIS_URL, prefix: o.prefix, queueName: o.queueName });
  // The parent's engine creates, starts, pauses and resumes; it never sends.
  const engine = createEngine({ store, queue, transports: { sms: makeTransport(fake) }, rateLimits: {} });
  const children: ChildProcess[] = [];
  const stats: Array<Record<string, number>> = [];
  const calls: Array<{ at: number; slotAt: number | null; worker: number }> = [];
  const ready: Array<Promise<void>> = [];
  for (let i = 0; i < o.workers; i++) {
    const child = fork(WORKER, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: {
        ...process.env,
        REDIS_URL,
        PREFIX: o.prefix,
        QUEUE_NAME: o.queueName,
        TWILIO_URL: fake.url,
        TWILIO_SID: fake.accountSid,
        TWILIO_TOKEN: fake.authToken,
        TENANT: tenant,
        WORKER_ID: `w${i}`,
        CONCURRENCY: String(o.concurrency ?? 2),
        RATE: String(o.rate),
        STORE: o.storeMode,
        DATABASE_URL,
        SCHEMA: schema,
        SWEEP_MS: String(o.sweepMs ?? 2_000),
        LEASE_MS: String(o.leaseMs ?? 60_000),
        PACING: process.env.FLEET_PACING ?? 'on',
      },
    });
    if (o.storeMode === 'ipc') serveStore(store, child);
    raisePriority(child);
    ready.push(
      new Promise<void>((resolve, reject) => {
        child.on('message', (m: { type?: string; stats?: Record<string, number>; at?: number; slotAt?: number | null }) => {
          if (m?.type === 'transport-call') calls.push({ at: m.at!, slotAt: m.slotAt ?? null, worker: i });
          if (m?.type === 'ready') resolve();
          if (m?.type === 'stopped' && m.stats) stats.push(m.stats);
        });
        child.once('exit', (code) => reject(new Error(`worker w${i} exited with ${code} before it was ready`)));
      }),
    );
    children.push(child);
  }
  const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;
  await Promise.race([Promise.all(ready), new Promise((_, reject) => setTimeout(() => reject(new Error('workers not ready within 30 s')), 30_000).unref())]);
  console.log(`fleet: ${o.workers} worker processes ready (store: ${o.storeMode === 'postgres' ? `PostgreSQL schema ${schema}` : 'memory over IPC'}; fake Twilio from ${usingAdapterTwilio ? '@dripline/adapter-twilio/testing' : 'the local stand-in'})`);

  const fleet: Fleet = {
    tenant,
    store,
    engine,
    queue,
    fake,
    children,
    stats,
    calls,
    async outbox(campaignId) {
      const rows: OutboundRecord[] = [];
      for (;;) {
        const after = rows.length ? rows[rows.length - 1]!.key : undefined;
        const page = await store.transaction(tenant, (tx) => tx.listOutbound(campaignId, { limit: 1000, ...(after ? { after } : {}) }));
        rows.push(...page);
        if (page.length < 1000) return rows;
      }
    },
    async startCampaign(n) {
      const c = await engine.createCampaign(null, tenant, { plan: ONE_SMS, batchSize: 1000 });
      await engine.startCampaign(null, tenant, c.id, { audience: contacts(n) });
      return c.id;
    },
    async waitCompleted(campaignId, timeoutMs) {
      await waitFor(`campaign ${campaignId} to complete`, async () => (await engine.getCampaign(null, tenant, campaignId)).status === 'completed', timeoutMs, 250);
    },
    async stop() {
      const codes = children.map(
        (c) =>
          new Promise<number | null>((resolve) => {
            if (exited(c)) return resolve(c.exitCode);
            c.once('exit', (code) => resolve(code));
          }),
      );
      for (const c of children) if (!exited(c)) c.kill('SIGTERM');
      return Promise.all(codes);
    },
    async close() {
      await fleet.stop();
      await fake.close();
      await queue.obliterate().catch(() => undefined);
      await queue.close();
      if (pool) {
        await pool.query(`drop schema if exists "${schema}" cascade`);
        await pool.end();
      }
    },
  };
  return fleet;
}

/** The most request starts in any sliding window of `windowMs` (two pointers over sorted times). */
export function worstWindow(times: readonly number[], windowMs = 1_000): number {
  const t = [...times].sort((a, b) => a - b);
  let worst = 0;
  let lo = 0;
  for (let hi = 0; hi < t.length; hi++) {
    while (t[hi]! - t[lo]! >= windowMs) lo++;
    worst = Math.max(worst, hi - lo + 1);
  }
  return worst;
}

/** Messages per second over the accepted requests after `warmupMs` from the first one. */
export function steadyRate(times: readonly number[], warmupMs = 2_000): { rate: number; count: number; seconds: number } {
  const t = [...times].sort((a, b) => a - b);
  if (t.length < 2) return { rate: 0, count: t.length, seconds: 0 };
  const from = t.findIndex((x) => x >= t[0]! + warmupMs);
  const part = from < 0 ? t : t.slice(from);
  const seconds = (part[part.length - 1]! - part[0]!) / 1000;
  return { rate: seconds > 0 ? (part.length - 1) / seconds : 0, count: part.length, seconds };
}
