/**
 * One benchmark worker process. argv: mode (dripline | raw) redisUrl prefix queueName
 * [databaseUrl schema tenant]. Tells the parent `ready`, runs until told to `stop`.
 */
const [mode, redisUrl, prefix, queueName, databaseUrl, schema, tenant] = process.argv.slice(2);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 10);
// Micro-batching knobs of createBullmqWorker (unset: the worker's defaults, batching on).
// BENCH_BATCH=0 runs one job at a time (processAction), as before batching.
const BATCHING = {
  ...(process.env.BENCH_BATCH === '0' ? { batch: false } : {}),
  ...(process.env.BENCH_BATCH_SIZE ? { batchSize: Number(process.env.BENCH_BATCH_SIZE) } : {}),
  ...(process.env.BENCH_BATCH_WINDOW_MS ? { batchWindowMs: Number(process.env.BENCH_BATCH_WINDOW_MS) } : {}),
  ...(process.env.BENCH_CHUNK_SIZE ? { chunkSize: Number(process.env.BENCH_CHUNK_SIZE) } : {}),
};

if (mode === 'dripline-memory') {
  // Engine, memory store and BullMQ worker in this one process: what BullMQ costs on top of
  // the engine when the store is not the bottleneck. Runs the campaign itself on `go`.
  const { createEngine, createMemoryStore } = await import('@dripline/core');
  const { createBullmqQueue, createBullmqWorker } = await import('@dripline/adapter-bullmq');
  const store = createMemoryStore();
  const queue = createBullmqQueue({ connection: redisUrl, prefix, queueName });
  let n = 0;
  const transport = { name: 'noop', channels: ['sms', 'email', 'whatsapp'], send: async () => ({ providerMessageId: `noop-${++n}` }) };
  const engine = createEngine({ store, queue, transports: transport, rateLimits: {} });
  const worker = createBullmqWorker({ engine, queue, store, tenants: ['t'], concurrency: CONCURRENCY, sweepIntervalMs: 0, ...BATCHING });
  await worker.consumer.worker.waitUntilReady();
  process.on('message', async (m) => {
    if (m?.type === 'go') {
      const plan = { version: '1.0', name: 'Bench', timezone: 'UTC', startNodeId: 'sms', nodes: [{ id: 'sms', action: 'send', channel: 'sms', body: 'Hi {{name}}', schedule: { delay: 'PT0S' }, transitions: [] }] };
      const audience = Array.from({ length: m.n }, (_, i) => ({ id: `p${i}`, attributes: { name: `P${i}` }, address: { phone: `+1555${String(i).padStart(7, '0')}` } }));
      await engine.createCampaign(null, 't', { id: 'c', plan, batchSize: 1000 });
      const t0 = Date.now();
      await engine.startCampaign(null, 't', 'c', { audience });
      const enrolledMs = Date.now() - t0;
      while ((await engine.getCampaign(null, 't', 'c')).status !== 'completed') await new Promise((r) => setTimeout(r, 5));
      process.send({ type: 'done', ms: Date.now() - t0, enrolledMs });
    }
    if (m === 'stop') {
      await worker.close();
      await queue.obliterate();
      await queue.close();
      process.exit(0);
    }
  });
  process.send('ready');
} else if (mode === 'dripline') {
  const pg = (await import('pg')).default;
  const { createEngine } = await import('@dripline/core');
  const { createPostgresStore } = await import('@dripline/adapter-postgres');
  const { createBullmqQueue, createBullmqWorker } = await import('@dripline/adapter-bullmq');
  const pool = new pg.Pool({ connectionString: databaseUrl, max: CONCURRENCY + 2 });
  pool.on('error', () => undefined);
  const store = createPostgresStore({ pool, schema });
  const queue = createBullmqQueue({ connection: redisUrl, prefix, queueName });
  let n = 0;
  // A no-op transport: the benchmark measures the engine, the store and BullMQ.
  const transport = { name: 'noop', channels: ['sms', 'email', 'whatsapp'], send: async () => ({ providerMessageId: `noop-${process.pid}-${++n}` }) };
  const engine = createEngine({ store, queue, transports: transport, rateLimits: {} });
  const worker = createBullmqWorker({ engine, queue, store, tenants: [tenant], concurrency: CONCURRENCY, sweepIntervalMs: 0, ...BATCHING });
  await worker.consumer.worker.waitUntilReady();
  process.on('message', async (m) => {
    if (m === 'stop') {
      await worker.close();
      await queue.close();
      await pool.end();
      process.exit(0);
    }
  });
  process.send('ready');
} else {
  const { Worker } = await import('bullmq');
  const { toConnectionOptions } = await import('@dripline/adapter-bullmq');
  const worker = new Worker(queueName, async () => undefined, { connection: toConnectionOptions(redisUrl), prefix, concurrency: CONCURRENCY, removeOnComplete: { count: 100 } });
  worker.on('error', () => undefined);
  await worker.waitUntilReady();
  process.on('message', async (m) => {
    if (m === 'stop') {
      await worker.close();
      process.exit(0);
    }
  });
  process.send('ready');
}
