/**
 * A worker process: starts {@link createBullmqWorker} and shuts it down gracefully on
 * SIGTERM / SIGINT (stop taking jobs, finish the running ones, close Redis, exit 0).
 */
import { createBullmqWorker, type BullmqWorker, type BullmqWorkerOptions } from './bullmq-worker.js';

/** Options of {@link runWorkerProcess}. */
export interface WorkerProcessOptions extends BullmqWorkerOptions {
  /** Signals that shut down gracefully. Default `['SIGTERM', 'SIGINT']`. */
  signals?: readonly NodeJS.Signals[];
  /** Exit the process once shut down. Default `true`. */
  exit?: boolean;
  /** Called once the worker has stopped (before exiting). */
  onShutdown?: (signal: NodeJS.Signals | 'close') => void | Promise<void>;
}

/** A running worker process. */
export interface WorkerProcess {
  readonly worker: BullmqWorker;
  /** Shuts down as a signal would (without exiting unless `exit`). */
  shutdown(): Promise<void>;
  /** Resolves when the worker has stopped. */
  readonly stopped: Promise<void>;
}

/**
 * Runs a BullMQ worker as the body of a process.
 *
 * @example
 * ```ts
 * // worker.ts — run one per machine / container; SIGTERM lets in-flight sends finish.
 * const queue = createBullmqQueue({ connection: process.env.REDIS_URL! });
 * const engine = createEngine({ store, queue, transports, rateLimits: {} });
 * runWorkerProcess({ engine, queue, store, tenants: ['acme'], limiter: { max: 1, duration: 100 } });
 * ```
 */
export function runWorkerProcess(options: WorkerProcessOptions): WorkerProcess {
  const { signals = ['SIGTERM', 'SIGINT'], exit = true, onShutdown, ...workerOptions } = options;
  const worker = createBullmqWorker(workerOptions);
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let closing: Promise<void> | null = null;
  const shutdown = (signal: NodeJS.Signals | 'close', doExit: boolean) => {
    if (!closing) {
      closing = (async () => {
        for (const s of signals) process.off(s, handlers[s]!);
        let code = 0;
        try {
          await worker.close();
          await onShutdown?.(signal);
        } catch (e) {
          code = 1;
          options.logger?.error('worker shutdown failed', { error: e instanceof Error ? e.message : String(e) });
        }
        resolveStopped();
        if (doExit) process.exit(code);
      })();
    }
    return closing;
  };
  const handlers: Partial<Record<NodeJS.Signals, () => void>> = {};
  for (const s of signals) {
    handlers[s] = () => void shutdown(s, exit);
    process.on(s, handlers[s]!);
  }
  return { worker, stopped, shutdown: () => shutdown('close', false) };
}
