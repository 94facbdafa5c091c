/**
 * The `ActionQueue` port on BullMQ: one delayed job per wake-up, whose job id is the action
 * key (escaped, see {@link jobIdOf}), so enqueuing a key twice is harmless.
 *
 * The store stays the source of truth (DESIGN.md, "Reliability rules"): a job only says
 * "look at action K now"; the worker claims K in the store and does nothing if it is done.
 */
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import type { ActionQueue, QueueItem } from '@dripline/core';
import { DEFAULT_PREFIX, DEFAULT_QUEUE_NAME, toConnectionOptions, type RedisConnection } from './connection.js';
import { jobIdOf } from './job-id.js';
import { JobProbe, PROBE, TAKE_MARK, TRY_LOCK, withScripts } from './scripts.js';

/** How many finished jobs BullMQ keeps (seed 004: completed up to 100, failed up to 50). */
export interface RetentionOptions {
  /** Completed jobs kept, newest first. Default 100. */
  completed?: number;
  /** Failed jobs kept, newest first. Default 50. */
  failed?: number;
}

/** Options of {@link createBullmqQueue}. */
export interface BullmqQueueOptions {
  /** Redis: a `redis://` URL, ioredis options, or your own ioredis `Redis` / `Cluster`. */
  connection: RedisConnection;
  /**
   * Key prefix. Default `{dripline}`: the braces are a Redis Cluster hash tag, so every key of
   * the queue (jobs, sets, limiter, wake-again marks) hashes to one slot, as BullMQ needs.
   */
  prefix?: string;
  /** BullMQ queue name. Default `actions`. Give each rate-limited sender its own (see README). */
  queueName?: string;
  /** Finished-job retention. Default 100 completed, 50 failed. */
  retention?: RetentionOptions;
  /**
   * How long a "wake again" mark left for a job that was running when its key was enqueued
   * lives, in ms. Default one day; the sweeper covers anything that outlives it.
   */
  rewakeTtlMs?: number;
  /** Called with the queue connection's errors (ioredis reconnects by itself). Default: ignored. */
  onError?: (error: Error) => void;
}

/** The job counts of seed 004's `processingQueue` block. */
export interface QueueMetrics {
  /** Due wake-ups not yet started (held back by the limiter or busy workers). */
  waiting: number;
  /** Wake-ups being processed now. */
  active: number;
  /** Finished jobs kept by retention (at most `retention.completed`). */
  completed: number;
  /** Failed jobs kept by retention (at most `retention.failed`): the engine threw for the action. */
  failed: number;
  /** Wake-ups waiting for their `runAt`. */
  delayed: number;
}

/** Options of {@link BullmqActionQueue.consume}. */
export interface ConsumeOptions {
  /** Jobs run at once by this consumer. Default 10. */
  concurrency?: number;
  /**
   * BullMQ's limiter: at most `max` job starts per `duration` ms, counted in Redis for every
   * consumer of this queue in the fleet. Use a fine window (`{ max: 1, duration: 100 }` for
   * 10/s): BullMQ's windows are fixed, so `{ max: 10, duration: 1000 }` can let 20 starts
   * into one sliding second.
   */
  limiter?: { max: number; duration: number };
  /** BullMQ worker name (shown in job records). */
  name?: string;
  /** Lock on a running job, ms (BullMQ renews it while the job runs). Default BullMQ's 30 s. */
  lockDuration?: number;
  /**
   * Whether a finished run should look for a "wake again" mark (one Redis round trip).
   * Default: always. The engine's worker skips it when the action is done (sent, stepped,
   * failed), since a wake-up for a done action would only be skipped.
   */
  checkMark?: (result: unknown) => boolean;
  /**
   * Called with the worker's errors (e.g. Redis unreachable: ioredis keeps reconnecting).
   * Default: ignored, since a lost wake-up is recovered by the sweeper.
   */
  onError?: (error: Error) => void;
}

/** A running consumer; close it to stop taking jobs (in-flight ones finish first). */
export interface Consumer {
  /** The BullMQ worker. */
  readonly worker: Worker<QueueItem>;
  /** Stops taking jobs and waits for the running ones to finish. */
  close(): Promise<void>;
}

/** The queue: the `ActionQueue` port plus metrics, a consumer and housekeeping. */
export interface BullmqActionQueue extends ActionQueue {
  /** The underlying BullMQ queue. */
  readonly queue: Queue<QueueItem>;
  /** The key prefix (a Redis Cluster hash tag by default). */
  readonly prefix: string;
  /** The BullMQ queue name. */
  readonly queueName: string;
  /** Job counts: waiting, active, completed, failed, delayed. */
  getMetrics(): Promise<QueueMetrics>;
  /**
   * Starts a BullMQ worker that calls `handler` with each due wake-up. If the same key was
   * enqueued again while its job ran, the job is put back, delayed to the new `runAt`.
   */
  consume(handler: (item: QueueItem, job: Job<QueueItem>) => Promise<unknown>, options?: ConsumeOptions): Consumer;
  /** Deletes every key of this queue (tests and teardown). */
  obliterate(): Promise<void>;
  /** Takes a lock shared by the fleet for `ttlMs` (e.g. "who sweeps now"); true if this caller got it. */
  tryLock(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Closes the queue's connection (consumers are closed separately). */
  close(): Promise<void>;
}

/** What deleting by pattern needs of an ioredis `Redis` or `Cluster` (each master is scanned). */
interface ScanClient {
  scan(cursor: string, ...args: Array<string | number>): Promise<[string, string[]]>;
  del(...keys: string[]): Promise<number>;
  nodes?: (role: 'master') => ScanClient[];
}

/** Deletes every key matching `pattern` (SCAN, so Redis is never blocked). */
async function deleteMatching(client: ScanClient, pattern: string): Promise<void> {
  for (const node of typeof client.nodes === 'function' ? client.nodes('master') : [client]) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await node.del(...keys);
    } while (cursor !== '0');
  }
}

const DAY = 86_400_000;

/**
 * Creates the BullMQ action queue.
 *
 * Enqueuing looks at each key's job first (one pipelined round trip per call):
 * - no job: it is added, delayed until `runAt`;
 * - a job waiting or delayed: nothing to do (the key is already due to wake);
 * - a finished job that retention still keeps: it is removed and added again, so a key
 *   re-enqueued after it ran (a retry, a resumed campaign) wakes again;
 * - a job running right now: a "wake again" mark is left; when the run ends, the job is put
 *   back delayed until the new `runAt` (a deferral or retry decided during that very run).
 *
 * @example
 * ```ts
 * const queue = createBullmqQueue({ connection: 'redis://127.0.0.1:6379' });
 * const engine = createEngine({ store, queue, transports, rateLimits: {} });
 * ```
 */
export function createBullmqQueue(options: BullmqQueueOptions): BullmqActionQueue {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const queueName = options.queueName ?? DEFAULT_QUEUE_NAME;
  const connection = toConnectionOptions(options.connection);
  const keepCompleted = options.retention?.completed ?? 100;
  const keepFailed = options.retention?.failed ?? 50;
  const rewakeTtlMs = options.rewakeTtlMs ?? DAY;
  const queue = new Queue<QueueItem>(queueName, {
    connection,
    prefix,
    defaultJobOptions: { removeOnComplete: { count: keepCompleted }, removeOnFail: { count: keepFailed }, attempts: 1 },
  });
  // Same reason as the worker's listener: a Redis restart must not crash the process.
  queue.on('error', (e) => options.onError?.(e));
  const jobKey = (jobId: string) => queue.toKey(jobId);
  const rewakeKey = (jobId: string) => queue.toKey(`rewake:${jobId}`);
  const toJob = (it: QueueItem, now: number) => ({
    name: 'wake',
    data: { key: it.key, tenantId: it.tenantId, runAt: it.runAt },
    opts: { jobId: jobIdOf(it.key), delay: Math.max(0, it.runAt - now) },
  });

  async function enqueue(items: readonly QueueItem[]): Promise<void> {
    if (!items.length) return;
    // One wake-up per key: the earliest asked for.
    const byKey = new Map<string, QueueItem>();
    for (const it of items) {
      const seen = byKey.get(it.key);
      if (!seen || it.runAt < seen.runAt) byKey.set(it.key, it);
    }
    const list = [...byKey.values()];
    const client = withScripts(await queue.client);
    const probe = client.pipeline();
    for (const it of list) {
      const id = jobIdOf(it.key);
      const k = jobKey(id);
      probe.runCommand(PROBE.name, [k, `${k}:lock`, rewakeKey(id), String(it.runAt), String(rewakeTtlMs)]);
    }
    const replies = (await probe.exec()) ?? [];
    const add: QueueItem[] = [];
    const finished: QueueItem[] = [];
    list.forEach((it, i) => {
      const [err, found] = replies[i] ?? [new Error('no reply from Redis')];
      if (err) throw err;
      if (found === JobProbe.absent) add.push(it);
      else if (found === JobProbe.finished) finished.push(it);
      // running: a wake-again mark was left; pending: it will wake anyway.
    });
    if (finished.length) await Promise.all(finished.map((it) => removeJob(jobIdOf(it.key))));
    const now = Date.now();
    const fresh = [...add, ...finished];
    for (let i = 0; i < fresh.length; i += 1000) await queue.addBulk(fresh.slice(i, i + 1000).map((it) => toJob(it, now)));
  }

  /** Removes a job; a job that is running (locked) stays, which is fine: its wake-up is a no-op. */
  async function removeJob(jobId: string): Promise<void> {
    try {
      await queue.remove(jobId);
    } catch (e) {
      if (e instanceof Error && /locked/i.test(e.message)) return;
      throw e;
    }
  }

  async function remove(keys: readonly string[]): Promise<void> {
    if (!keys.length) return;
    const ids = [...new Set(keys)].map(jobIdOf);
    await Promise.all(ids.map(removeJob));
    const client = await queue.client;
    const del = client.pipeline();
    for (const id of ids) del.del(rewakeKey(id));
    await del.exec();
  }

  function consume(handler: (item: QueueItem, job: Job<QueueItem>) => Promise<unknown>, opts: ConsumeOptions = {}): Consumer {
    const worker: Worker<QueueItem> = new Worker<QueueItem>(
      queueName,
      async (job, token) => {
        const result = await handler(job.data, job);
        if (opts.checkMark && !opts.checkMark(result)) return result;
        // Was this key enqueued again while it ran? Then put the job back, delayed.
        const client = withScripts(await worker.client);
        const again = (await client.runCommand(TAKE_MARK.name, [rewakeKey(job.id!)])) as string | null;
        if (again !== null) {
          await job.moveToDelayed(Math.max(Number(again), Date.now()), token);
          throw new DelayedError();
        }
        return result;
      },
      {
        connection,
        prefix,
        concurrency: opts.concurrency ?? 10,
        ...(opts.limiter ? { limiter: opts.limiter } : {}),
        ...(opts.name ? { name: opts.name } : {}),
        ...(opts.lockDuration ? { lockDuration: opts.lockDuration } : {}),
        removeOnComplete: { count: keepCompleted },
        removeOnFail: { count: keepFailed },
      },
    );
    // Connection errors are retried by ioredis; BullMQ re-emits them here. Without a listener
    // Node would treat them as unhandled and crash the process.
    worker.on('error', (e) => opts.onError?.(e));
    return {
      worker,
      close: () => worker.close(),
    };
  }

  return {
    queue,
    prefix,
    queueName,
    enqueue,
    remove,
    consume,
    async getMetrics() {
      const c = await queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed');
      return { waiting: c.waiting ?? 0, active: c.active ?? 0, completed: c.completed ?? 0, failed: c.failed ?? 0, delayed: c.delayed ?? 0 };
    },
    async obliterate() {
      await queue.obliterate({ force: true });
      // BullMQ removes its own keys; the "wake again" marks and fleet locks are ours.
      await deleteMatching((await queue.client) as unknown as ScanClient, `${queue.toKey('').replace(/[[\]?*\\]/g, (c) => `\\${c}`)}*`);
    },
    async tryLock(name, owner, ttlMs) {
      const client = withScripts(await queue.client);
      return (await client.runCommand(TRY_LOCK.name, [queue.toKey(`lock:${name}`), owner, String(Math.max(1, Math.round(ttlMs)))])) === 1;
    },
    close: () => queue.close(),
  };
}
