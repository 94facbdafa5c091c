// Everything the processes of the fleet share, read from the environment, so that a worker
// started by hand on another machine is configured exactly like the ones fleet.mjs starts:
//
//   REDIS_URL            the one Redis every process uses (default redis://127.0.0.1:6379)
//   DATABASE_URL         the PostgreSQL that holds the store (default postgres://postgres@127.0.0.1:5432/test)
//   DRIPLINE_SCHEMA      the store's schema (default dripline)
//   DRIPLINE_PREFIX      the BullMQ key prefix (default {dripline}; the braces are a Redis Cluster hash tag)
//   DRIPLINE_TENANT      the tenant the workers look after (default acme)
//   SMS_PER_SECOND       the sender's limit, fleet-wide (default 10, Twilio's default for a long code)
//   SMS_HEADROOM         extra spacing between requests, as a fraction (default 0.05: 105 ms at 10/s)
//   WORKER_CONCURRENCY   jobs in flight per worker process (default 2)
//   SWEEP_INTERVAL_MS    how often one process of the fleet re-enqueues overdue actions (default 5000)
//   TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM, TWILIO_STATUS_CALLBACK, TWILIO_BASE_URL
//                        the Twilio account (fleet.mjs points them at its local fake Twilio)
import { createEngine } from '@dripline/core';
import { createPostgresStore, migrate } from '@dripline/adapter-postgres';
import { createTwilioTransport } from '@dripline/adapter-twilio';
import { createBullmqQueue } from '@dripline/adapter-bullmq';
import pg from 'pg';

const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** The fleet's settings from `env`. */
export function readSettings(env = process.env) {
  const number = (name, fallback) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
    return n;
  };
  const fraction = (raw) => {
    const n = Number(raw);
    if (!(n >= 0 && n < 1)) throw new Error(`SMS_HEADROOM must be a fraction in [0, 1), got "${raw}"`);
    return n;
  };
  return {
    redisUrl: env.REDIS_URL || DEFAULT_REDIS_URL,
    databaseUrl: env.DATABASE_URL || DEFAULT_DATABASE_URL,
    schema: env.DRIPLINE_SCHEMA || 'dripline',
    prefix: env.DRIPLINE_PREFIX || '{dripline}',
    tenant: env.DRIPLINE_TENANT || 'acme',
    perSecond: number('SMS_PER_SECOND', 10),
    headroom: env.SMS_HEADROOM === undefined || env.SMS_HEADROOM === '' ? 0.05 : fraction(env.SMS_HEADROOM),
    concurrency: number('WORKER_CONCURRENCY', 2),
    sweepIntervalMs: number('SWEEP_INTERVAL_MS', 5_000),
    twilio: {
      accountSid: env.TWILIO_ACCOUNT_SID,
      authToken: env.TWILIO_AUTH_TOKEN,
      from: env.TWILIO_FROM || '+15005550006',
      // Twilio posts delivery receipts here; your API process serves it with
      // createTwilioWebhooks (see @dripline/adapter-twilio). Nothing listens in this demo.
      statusCallback: env.TWILIO_STATUS_CALLBACK || 'http://127.0.0.1:9/twilio/status',
      ...(env.TWILIO_BASE_URL ? { baseUrl: env.TWILIO_BASE_URL } : {}),
    },
  };
}

/**
 * The engine every process of the fleet builds the same way: the PostgreSQL store (the
 * source of truth), the BullMQ queue (wake-ups), and the SMS transport. `wrapSms` lets the
 * worker pace the transport; the producer never sends, so it uses it as is.
 */
export async function openFleet(settings, { poolSize = 4, wrapSms = (t) => t } = {}) {
  const pool = new pg.Pool({ connectionString: settings.databaseUrl, max: poolSize });
  pool.on('error', (e) => console.error(`postgres pool: ${e.message}`)); // an idle client died; the pool replaces it
  // Idempotent and safe from many processes at once (an advisory lock serialises them).
  await migrate(pool, { schema: settings.schema });
  const store = createPostgresStore({ pool, schema: settings.schema });
  const queue = createBullmqQueue({ connection: settings.redisUrl, prefix: settings.prefix });
  if (!settings.twilio.accountSid || !settings.twilio.authToken) throw new Error('TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set');
  const sms = wrapSms(createTwilioTransport(settings.twilio), queue);
  // rateLimits: {} — core's limiter counts per process (4 processes × 10/s would be 40/s);
  // the fleet-wide limit is kept in Redis by the worker (limiterFor + pacedTransport).
  const engine = createEngine({ store, queue, transports: { sms }, rateLimits: {} });
  return {
    pool,
    store,
    queue,
    engine,
    async close() {
      await queue.close();
      await pool.end();
    },
  };
}

/** The campaign the demo runs: one SMS per contact, sent as soon as possible. */
export const FLASH_SALE_PLAN = {
  version: '1.0',
  name: 'Flash sale',
  timezone: 'UTC',
  startNodeId: 'announce',
  variables: ['name'],
  nodes: [{ id: 'announce', action: 'send', channel: 'sms', body: '{{name}}, 20% off everything until midnight.', transitions: [] }],
};

/** `n` contacts with distinct phone numbers (+1 555 0000000, +1 555 0000001, ...). */
export function demoContacts(n) {
  return Array.from({ length: n }, (_, i) => ({
    id: `contact-${String(i + 1).padStart(6, '0')}`,
    timezone: 'UTC',
    attributes: { name: `Customer ${i + 1}` },
    address: { phone: `+1555${String(i).padStart(7, '0')}` },
  }));
}
