/**
 * The shared `ActionQueue` conformance suite and the harness for the in-memory queue.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryQueue } from '../memory/memory-queue.js';
import { createVirtualClock } from '../memory/virtual-clock.js';
import type { ActionQueue, QueueItem } from '../ports/action-queue.js';
import { T0 } from './fixtures.js';

/**
 * What {@link runQueueConformance} drives: a queue, a way to let time pass, and the log of
 * the wake-ups a consumer received. Time is virtual for an in-memory queue and real for a
 * queue on Redis; the suite only ever asks for it through `now` and `advance`.
 */
export interface QueueHarness {
  /** The queue under test. */
  queue: ActionQueue;
  /** The harness's current time (epoch ms): the clock `runAt` is compared with. */
  now(): number;
  /**
   * Lets `ms` pass (virtual for memory, real for Redis) and gives the consumer the chance to
   * receive what fell due meanwhile.
   */
  advance(ms: number): Promise<void>;
  /** Keys woken so far, in delivery order; a key delivered twice appears twice. */
  delivered(): Promise<string[]>;
  /** Stops the consumer and releases connections. */
  close(): Promise<void>;
}

/** Options of {@link runQueueConformance}. */
export interface QueueConformanceOptions {
  /** Names the suite in the report, e.g. `bullmq`. */
  name: string;
  /** A fresh harness for each test (its own queue and consumer: isolate them, e.g. by a Redis prefix). */
  makeQueue: () => Promise<QueueHarness>;
  /**
   * The most harness time to wait for a delivery that is due, in ms. Default 10 000; raise it
   * for a slow backend. Late deliveries within it are accepted: a queue only wakes work up.
   */
  patienceMs?: number;
  /** The step by which the suite advances time while waiting, in ms. Default 50. */
  stepMs?: number;
}

/**
 * Registers the `ActionQueue` conformance tests (vitest `describe` / `it`): nothing is
 * delivered before its `runAt` and everything is delivered after it, a key enqueued twice is
 * delivered once, a removed key never, deliveries follow `runAt`, and 500 items are each
 * delivered exactly once.
 *
 * @example
 * ```ts
 * // packages/adapter-bullmq/test/queue.conformance.test.ts
 * import { runQueueConformance } from '@dripline/core/testing';
 * import { createBullmqQueue } from '../src/index.js';
 *
 * runQueueConformance({
 *   name: 'bullmq',
 *   async makeQueue() {
 *     const prefix = `dripline-test-${crypto.randomUUID()}`;
 *     const delivered: string[] = [];
 *     const queue = createBullmqQueue({ connection: { url: process.env.REDIS_URL }, prefix });
 *     const worker = queue.consume(async (item) => void delivered.push(item.key));
 *     return {
 *       queue,
 *       now: () => Date.now(),
 *       advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
 *       delivered: async () => [...delivered],
 *       close: async () => { await worker.close(); await queue.close(); },
 *     };
 *   },
 * });
 * ```
 */
export function runQueueConformance(options: QueueConformanceOptions): void {
  const { name, makeQueue, patienceMs = 10_000, stepMs = 50 } = options;
  const timeout = Math.max(30_000, patienceMs * 3);
  let counter = 0;

  describe(`ActionQueue conformance: ${name}`, () => {
    let h: QueueHarness;
    let tenant: string;
    beforeEach(async () => {
      h = await makeQueue();
      tenant = `t-${++counter}`;
    });
    afterEach(async () => {
      await h.close();
    });

    const item = (key: string, runAt: number): QueueItem => ({ key, tenantId: tenant, runAt });
    /** Advances time step by step until `done` holds; fails after `patienceMs` of harness time. */
    async function waitFor(what: string, done: (delivered: string[]) => boolean): Promise<string[]> {
      const start = h.now();
      for (;;) {
        const d = await h.delivered();
        if (done(d)) return d;
        if (h.now() - start > patienceMs) throw new Error(`${what}: not delivered within ${patienceMs} ms; delivered so far: ${JSON.stringify(d.slice(0, 20))}`);
        await h.advance(stepMs);
      }
    }
    const count = (d: readonly string[], key: string) => d.filter((k) => k === key).length;

    it('delivers nothing before its runAt, and the item once it is due', async () => {
      // A wide margin: with a real clock, a cold first enqueue on a loaded machine can take
      // a second or more, and the early look must still happen before the item is due.
      const runAt = h.now() + 3_000;
      await h.queue.enqueue([item('later', runAt)]);
      await h.advance(400);
      const early = await h.delivered();
      expect(h.now()).toBeLessThan(runAt);
      expect(early).not.toContain('later');
      const d = await waitFor('an item due in 3 s', (x) => x.includes('later'));
      expect(h.now()).toBeGreaterThanOrEqual(runAt);
      expect(count(d, 'later')).toBe(1);
    }, timeout);

    it('delivers an overdue item promptly', async () => {
      await h.queue.enqueue([item('overdue', h.now() - 60_000)]);
      const d = await waitFor('an overdue item', (x) => x.includes('overdue'));
      expect(d).toEqual(['overdue']);
    }, timeout);

    it('delivers a key enqueued twice only once', async () => {
      const runAt = h.now() + 300;
      await h.queue.enqueue([item('twice', runAt), item('twice', runAt)]);
      await h.queue.enqueue([item('twice', runAt)]);
      await h.queue.enqueue([item('marker', runAt + 400)]);
      const d = await waitFor('the items', (x) => x.includes('marker'));
      await h.advance(300);
      expect(count(await h.delivered(), 'twice')).toBe(1);
      expect(count(d, 'marker')).toBe(1);
    }, timeout);

    it('never delivers a key removed before it was due', async () => {
      const t = h.now();
      await h.queue.enqueue([item('removed', t + 300), item('kept', t + 600)]);
      await h.queue.remove(['removed', 'never-enqueued']);
      const d = await waitFor('the later item', (x) => x.includes('kept'));
      await h.advance(300);
      expect(await h.delivered()).toEqual(['kept']);
      expect(d).not.toContain('removed');
    }, timeout);

    it('delivers in runAt order', async () => {
      const t = h.now();
      await h.queue.enqueue([item('third', t + 900), item('first', t + 300)]);
      await h.queue.enqueue([item('second', t + 600)]);
      await waitFor('three items', (x) => x.length >= 3);
      await h.advance(300);
      expect(await h.delivered()).toEqual(['first', 'second', 'third']);
    }, timeout);

    it('delivers 500 items each exactly once', async () => {
      const t = h.now();
      const items = Array.from({ length: 500 }, (_, i) => item(`k${String(i).padStart(3, '0')}`, t + 100 + ((i * 37) % 500)));
      for (let i = 0; i < items.length; i += 100) await h.queue.enqueue(items.slice(i, i + 100));
      const d = await waitFor('500 items', (x) => new Set(x).size >= 500);
      await h.advance(500);
      const final = await h.delivered();
      expect(final.length).toBe(500);
      expect([...final].sort()).toEqual(items.map((x) => x.key).sort());
      expect(d.length).toBe(500);
    }, timeout);
  });
}

/**
 * A {@link QueueHarness} over the in-memory queue and a virtual clock: `advance` moves the
 * clock and drains every wake-up due by then (earliest first) into the delivered log. The
 * suite's reference run, and a model for writing a harness.
 *
 * @example
 * ```ts
 * import { memoryQueueHarness, runQueueConformance } from '@dripline/core/testing';
 *
 * runQueueConformance({ name: 'memory', makeQueue: async () => memoryQueueHarness() });
 * ```
 */
export function memoryQueueHarness(start: number = T0): QueueHarness {
  const queue = createMemoryQueue();
  const clock = createVirtualClock(start);
  const log: string[] = [];
  const drain = () => {
    for (let batch = queue.takeDue(clock.now(), 1_000); batch.length > 0; batch = queue.takeDue(clock.now(), 1_000)) for (const it of batch) log.push(it.key);
  };
  return {
    queue,
    now: () => clock.now(),
    async advance(ms) {
      clock.advanceBy(ms);
      drain();
    },
    async delivered() {
      return [...log];
    },
    async close() {},
  };
}
