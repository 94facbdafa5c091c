/**
 * @dripline/adapter-bullmq — the `ActionQueue` port on BullMQ (Redis) and a push-driven worker
 * for scaling dripline out: many worker processes on many machines, one Redis, the store as
 * the source of truth, fleet-wide rate limits on BullMQ's own limiter.
 * @packageDocumentation
 */
export { createBullmqQueue, type BullmqActionQueue, type BullmqQueueOptions, type ConsumeOptions, type Consumer, type QueueMetrics, type RetentionOptions } from './bullmq-queue.js';
export { createBullmqWorker, type BullmqWorker, type BullmqWorkerOptions } from './bullmq-worker.js';
export { pacedTransport, limiterFor, type PacedTransportOptions } from './pacing.js';
export { runWorkerProcess, type WorkerProcess, type WorkerProcessOptions } from './worker-process.js';
export { toConnectionOptions, DEFAULT_PREFIX, DEFAULT_QUEUE_NAME, type RedisConnection } from './connection.js';
export { jobIdOf, keyOfJobId } from './job-id.js';
