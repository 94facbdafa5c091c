// Environment variables → `startServer` options. Every variable is listed in the README.
import { readFileSync } from 'node:fs';
import { parseTokens } from './auth.mjs';

/** Raised for a configuration mistake: main.mjs prints the message alone and exits 1. */
export class ConfigError extends Error {}

function int(env, name, fallback, min, max) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * @param {Record<string, string | undefined>} env
 * @returns {import('./server.mjs').ServerOptions & { logLevel: string }}
 */
export function configFromEnv(env = process.env) {
  const databaseUrl = env.DATABASE_URL || undefined;

  let tokens;
  try {
    if (env.API_TOKENS) tokens = parseTokens(env.API_TOKENS, 'API_TOKENS');
    else if (env.API_TOKENS_FILE) tokens = parseTokens(readFileSync(env.API_TOKENS_FILE, 'utf8'), `API_TOKENS_FILE (${env.API_TOKENS_FILE})`);
  } catch (e) {
    throw new ConfigError(e instanceof Error ? e.message : String(e));
  }
  if (!tokens && databaseUrl)
    throw new ConfigError('DATABASE_URL is set but no API tokens are: set API_TOKENS or API_TOKENS_FILE (the demo tokens only work with the embedded database)');

  let twilio;
  if (env.TWILIO_ACCOUNT_SID) {
    if (!env.TWILIO_AUTH_TOKEN) throw new ConfigError('TWILIO_ACCOUNT_SID is set: set TWILIO_AUTH_TOKEN too');
    if (!env.TWILIO_FROM && !env.TWILIO_MESSAGING_SERVICE_SID) throw new ConfigError('TWILIO_ACCOUNT_SID is set: set TWILIO_FROM (a number) or TWILIO_MESSAGING_SERVICE_SID');
    twilio = {
      accountSid: env.TWILIO_ACCOUNT_SID,
      authToken: env.TWILIO_AUTH_TOKEN,
      ...(env.TWILIO_MESSAGING_SERVICE_SID ? { messagingServiceSid: env.TWILIO_MESSAGING_SERVICE_SID } : { from: env.TWILIO_FROM }),
    };
  } else if (databaseUrl && env.USE_FAKE_PROVIDERS !== '1') {
    twilio = null; // a real database without Twilio credentials: no SMS, rather than a fake that drops them
  } else {
    twilio = { fake: { ...(env.FAKE_TWILIO_RATE ? { messagesPerSecond: int(env, 'FAKE_TWILIO_RATE', 0, 1, 10_000) } : {}) } };
  }

  let sendgrid;
  if (env.SENDGRID_API_KEY) {
    if (!env.SENDGRID_FROM) throw new ConfigError('SENDGRID_API_KEY is set: set SENDGRID_FROM (the sender address) too');
    sendgrid = {
      apiKey: env.SENDGRID_API_KEY,
      from: env.SENDGRID_FROM,
      ...(env.SENDGRID_WEBHOOK_PUBLIC_KEY ? { webhookPublicKey: env.SENDGRID_WEBHOOK_PUBLIC_KEY } : {}),
      ...(env.UNSUBSCRIBE_URL ? { unsubscribeUrl: env.UNSUBSCRIBE_URL } : {}),
    };
  } else if (databaseUrl && env.USE_FAKE_PROVIDERS !== '1') {
    sendgrid = null;
  } else {
    sendgrid = { fake: {} };
  }

  if ((twilio && !('fake' in twilio)) || (sendgrid && !('fake' in sendgrid))) {
    if (!env.PUBLIC_URL) process.emitWarning('PUBLIC_URL is not set: the providers will be told to call back a local address they cannot reach');
  }

  return {
    port: int(env, 'PORT', 3000, 0, 65_535),
    host: env.HOST || '127.0.0.1',
    ...(env.PUBLIC_URL ? { publicUrl: env.PUBLIC_URL } : {}),
    database: {
      ...(databaseUrl ? { url: databaseUrl } : {}),
      schema: env.DATABASE_SCHEMA || 'dripline',
      ...(env.PGLITE_DATA_DIR ? { pgliteDataDir: env.PGLITE_DATA_DIR } : {}),
    },
    ...(tokens ? { tokens } : {}),
    twilio,
    sendgrid,
    ratePerSecond: int(env, 'RATE_LIMIT_PER_SECOND', 10, 1, 10_000),
    concurrency: int(env, 'WORKER_CONCURRENCY', 10, 1, 1000),
    pollIntervalMs: int(env, 'POLL_INTERVAL_MS', 500, 10, 600_000),
    ...(env.METRICS_TOKEN ? { metricsToken: env.METRICS_TOKEN } : {}),
    logLevel: env.LOG_LEVEL || 'info',
  };
}
