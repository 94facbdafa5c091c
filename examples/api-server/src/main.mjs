#!/usr/bin/env node
// `npm start`: reads the environment (see README.md), starts the API, the worker and the
// dashboard in this process, and shuts down cleanly on SIGINT / SIGTERM.
import { ConfigError, configFromEnv } from './config.mjs';
import { createLogger } from './logger.mjs';
import { startServer } from './server.mjs';

let config;
try {
  config = configFromEnv(process.env);
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  process.stderr.write(`configuration error: ${e.message}\n`);
  process.exit(1);
}

const logger = createLogger({ level: config.logLevel });
let server;
try {
  server = await startServer({ ...config, logger });
} catch (e) {
  process.stderr.write(`could not start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}

const demo = !config.tokens;
const lines = [
  `dripline api-server listening on ${server.url}`,
  `  database:  ${server.descriptions.database}`,
  `  twilio:    ${server.descriptions.twilio}`,
  `  sendgrid:  ${server.descriptions.sendgrid}`,
  `  webhooks:  ${server.publicUrl}/webhooks/twilio/status, /webhooks/twilio/inbound, /webhooks/sendgrid/events`,
  `  metrics:   ${server.url}/metrics`,
];
if (demo) {
  lines.push(
    `  demo tokens (tenant "demo"): demo-admin (create, send, read), demo-operator (send, read), demo-viewer (read)`,
    `  dashboard: ${server.url}/?token=demo-admin`,
    `  try:       curl -H 'Authorization: Bearer demo-admin' ${server.url}/api/campaigns`,
  );
} else {
  lines.push(`  dashboard: ${server.url}/ (sign in with one of your API_TOKENS)`, `  tokens:    ${Object.keys(config.tokens).length} configured, tenants ${[...new Set(Object.values(config.tokens).map((t) => t.tenant))].join(', ')}`);
}
process.stdout.write(lines.join('\n') + '\n');

let stopping = false;
async function shutdown(signal) {
  if (stopping) {
    process.stderr.write(`${signal} again: exiting now\n`);
    process.exit(1);
  }
  stopping = true;
  logger.info(`${signal}: shutting down (in-flight sends finish first; ${signal} again to force)`);
  const force = setTimeout(() => {
    process.stderr.write('shutdown took over 30 s: exiting\n');
    process.exit(1);
  }, 30_000);
  force.unref();
  try {
    await server.close();
    logger.info('stopped');
    process.exit(0);
  } catch (e) {
    process.stderr.write(`shutdown failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
