/**
 * One benchmark worker process. argv: mode (dripline | graphile) databaseUrl schema tenant
 * campaignId. Prints nothing; tells the parent `ready`, then runs until told to stop.
 */
import pg from 'pg';

const [mode, databaseUrl, schema, tenant] = process.argv.slice(2);
const pool = new pg.Pool({ connectionString: databaseUrl, max: 12 });
// Both systems get the same concurrency: transport calls in flight for dripline, jobs for graphile-worker.
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 10);
pool.on('error', () => undefined);

if (mode === 'dripline') {
  const { createEngine, createWorker } = await import('@dripline/core');
  const { createPostgresStore } = await import('@dripline/adapter-postgres');
  const store = createPostgresStore({ pool, schema });
  // A no-op transport: the benchmark measures the engine and the store.
  let n = 0;
  const transport = { name: 'noop', channels: ['sms', 'email', 'whatsapp'], send: async () => ({ providerMessageId: `noop-${process.pid}-${++n}` }) };
  const engine = createEngine({ store, transports: transport, rateLimits: {} });
  const worker = createWorker(engine, { store, tenants: [tenant], batchSize: Number(process.env.BENCH_BATCH ?? 100), concurrency, pollIntervalMs: 20, ...(process.env.BENCH_CHUNK ? { chunkSize: Number(process.env.BENCH_CHUNK) } : {}) });
  const loop = worker.start();
  process.on('message', async (m) => {
    if (m === 'stop') {
      await worker.stop();
      await loop;
      await pool.end();
      process.exit(0);
    }
  });
  process.send('ready');
} else {
  const { run, Logger } = await import('graphile-worker');
  // Silent, as dripline's workers are: logging every job would measure the terminal.
  const logger = new Logger(() => () => {});
  const runner = await run({ pgPool: pool, schema, concurrency, pollInterval: 20, noHandleSignals: true, taskList: { noop: async () => {} }, logger });
  process.on('message', async (m) => {
    if (m === 'stop') {
      await runner.stop();
      await pool.end();
      process.exit(0);
    }
  });
  process.send('ready');
}
