/**
 * `createPostgresWorker`: core's worker loop (`createWorker`, which polls `claimDueActions`
 * in batches) plus a consumer of the Postgres queue, so an action due now is picked up at
 * once instead of at the next poll.
 */
import { createWorker, type Engine, type Worker, type WorkerOptions } from '@dripline/core';
import type { ConsumeOptions, PostgresQueue, QueueConsumer } from './postgres-queue.js';

/** Options of {@link createPostgresWorker}: core's worker options plus the queue. */
export interface PostgresWorkerOptions extends WorkerOptions {
  /** The queue the engine enqueues into (`createEngine({ queue })`). */
  queue: PostgresQueue;
  /** Options of the queue consumer (concurrency defaults to the worker's). */
  consume?: ConsumeOptions;
}

/** A worker plus its queue consumer. */
export interface PostgresWorker {
  readonly worker: Worker;
  readonly consumer: QueueConsumer;
  /** Starts the poll loop; resolves when it stopped. */
  start(): Promise<void>;
  /** Stops the consumer and the loop, waiting for work in flight. */
  stop(): Promise<void>;
}

/**
 * Wires a queue consumer to a worker: each due wake-up is claimed by key and processed with
 * `engine.processAction` (as the worker's owner id); core's poll loop keeps claiming due
 * actions in batches every `pollIntervalMs`. A wake-up for a tenant the worker does not serve is
 * dropped (the store still holds the action; that tenant's workers poll it). Wake-ups for
 * actions already done or claimed are no-ops (`processAction` returns `skipped`).
 *
 * @example
 * ```ts
 * const queue = createPostgresQueue({ pool, clock });
 * const engine = createEngine({ store, queue, transports, clock });
 * const w = createPostgresWorker(engine, { store, queue, tenants: ['acme'], pollIntervalMs: 5_000 });
 * void w.start();
 * process.on('SIGTERM', () => void w.stop());
 * ```
 */
export function createPostgresWorker(engine: Engine, options: PostgresWorkerOptions): PostgresWorker {
  const { queue, consume, ...workerOptions } = options;
  const worker = createWorker(engine, workerOptions);
  const serves = async (tenantId: string) => {
    const t = typeof options.tenants === 'function' ? await options.tenants() : options.tenants;
    return t.includes(tenantId);
  };
  const consumer = queue.consume(
    async (item) => {
      if (!(await serves(item.tenantId))) return;
      // Claimed by key: a wake-up is never lost to a poll round in progress. Core's loop is
      // not woken per item (that would add two transactions per action); it keeps polling
      // in batches and is the sweeper for anything the queue missed.
      await engine.processAction(item.tenantId, item.key, worker.id);
    },
    { concurrency: options.concurrency ?? 10, ...(options.onError ? { onError: (e) => options.onError!(e, {}) } : {}), ...consume },
  );
  return {
    worker,
    consumer,
    start: () => worker.start(),
    async stop() {
      await consumer.close();
      await worker.stop();
    },
  };
}
