#!/usr/bin/env node
/**
 * `dripline-bullmq-worker <config module>`: runs a worker process. The module's default export
 * is the {@link WorkerProcessOptions} or a (possibly async) function returning them, which is
 * where the engine, store, queue and transports are built.
 *
 * @example
 * ```js
 * // worker.config.mjs
 * export default async () => {
 *   const queue = createBullmqQueue({ connection: process.env.REDIS_URL });
 *   const engine = createEngine({ store, queue, transports, rateLimits: {} });
 *   return { engine, queue, store, tenants: ['acme'], limiter: { max: 1, duration: 100 } };
 * };
 * ```
 * @packageDocumentation
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runWorkerProcess, type WorkerProcessOptions } from './worker-process.js';

async function main() {
  const file = process.argv[2];
  if (!file || file === '--help' || file === '-h') {
    process.stderr.write('usage: dripline-bullmq-worker <config module>\n  The module default-exports the worker options, or a function returning them.\n');
    process.exit(file ? 0 : 2);
  }
  const mod = (await import(pathToFileURL(resolve(file)).href)) as { default?: unknown };
  const exported = mod.default;
  const options = (typeof exported === 'function' ? await (exported as () => unknown)() : exported) as WorkerProcessOptions | undefined;
  if (!options || typeof options !== 'object' || !('engine' in options)) {
    process.stderr.write(`dripline-bullmq-worker: ${file} must default-export the worker options (with "engine" and "queue") or a function returning them\n`);
    process.exit(2);
  }
  const { worker } = runWorkerProcess(options);
  process.stderr.write(`dripline-bullmq-worker ${worker.id}: consuming ${worker.queue.prefix}:${worker.queue.queueName}\n`);
}

main().catch((e) => {
  process.stderr.write(`dripline-bullmq-worker: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
