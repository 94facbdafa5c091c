/** The queue's own behaviour beyond the port: re-enqueue after a run, retention, metrics, ids. */
import { afterEach, describe, expect, it } from 'vitest';
import type { QueueItem } from '@dripline/core';
import { createBullmqQueue, jobIdOf, keyOfJobId, type BullmqActionQueue, type Consumer } from '../../src/index.js';
import { REDIS_URL, testPrefix, waitFor } from '../redis.js';

export function queueSuite(): void {
  describe('bullmq queue', () => {
    const prefix = testPrefix();
    let n = 0;
    const open: Array<{ queue: BullmqActionQueue; consumer?: Consumer }> = [];
    afterEach(async () => {
      for (const o of open.splice(0)) {
        await o.consumer?.close();
        await o.queue.obliterate();
        await o.queue.close();
      }
    });
    function setup(opts: { completed?: number; failed?: number } = {}, handler?: (item: QueueItem) => Promise<unknown>) {
      const queue = createBullmqQueue({ connection: REDIS_URL, prefix, queueName: `q-${++n}`, retention: opts });
      const log: Array<{ key: string; at: number }> = [];
      const consumer = queue.consume(async (item) => {
        log.push({ key: item.key, at: Date.now() });
        return handler?.(item);
      }, { concurrency: 5 });
      open.push({ queue, consumer });
      const item = (key: string, runAt = Date.now()): QueueItem => ({ key, tenantId: 't', runAt });
      const count = (key: string) => log.filter((x) => x.key === key).length;
      return { queue, consumer, log, item, count };
    }

    it('maps action keys to valid, distinct job ids and back', () => {
      for (const key of ['c:p1:n:1:send', 'a%3Ab', 'a:b', '123', '%', '']) {
        const id = jobIdOf(key);
        expect(id).not.toContain(':');
        expect(`${parseInt(id, 10)}`).not.toBe(id);
        expect(keyOfJobId(id)).toBe(key);
      }
      expect(jobIdOf('a%3Ab')).not.toBe(jobIdOf('a:b'));
    });

    it('wakes a key again when it is re-enqueued after its job completed and is still kept', async () => {
      const h = setup();
      await h.queue.enqueue([h.item('again:1:send')]);
      await waitFor('first wake-up', () => h.count('again:1:send') === 1);
      await waitFor('the job to be kept as completed', async () => (await h.queue.getMetrics()).completed === 1);
      await h.queue.enqueue([h.item('again:1:send')]);
      await waitFor('second wake-up', () => h.count('again:1:send') === 2);
    });

    it('wakes a key again when its completed job was already removed by retention', async () => {
      const h = setup({ completed: 0 });
      await h.queue.enqueue([h.item('gone:1:send')]);
      await waitFor('first wake-up', () => h.count('gone:1:send') === 1);
      await waitFor('the job to be removed', async () => (await h.queue.queue.getJobState(jobIdOf('gone:1:send'))) === 'unknown');
      await h.queue.enqueue([h.item('gone:1:send')]);
      await waitFor('second wake-up', () => h.count('gone:1:send') === 2);
    });

    it('puts a running job back, delayed to the new runAt, when its key is enqueued during the run', async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let first = true;
      const h = setup({}, async () => {
        if (first) {
          first = false;
          await gate;
        }
      });
      await h.queue.enqueue([h.item('busy:1:send')]);
      await waitFor('the job to run', () => h.count('busy:1:send') === 1);
      const runAt = Date.now() + 600;
      await h.queue.enqueue([h.item('busy:1:send', runAt)]);
      release();
      await waitFor('the second wake-up', () => h.count('busy:1:send') === 2, 10_000);
      expect(h.log[1]!.at).toBeGreaterThanOrEqual(runAt);
      // and only once more
      await new Promise((r) => setTimeout(r, 300));
      expect(h.count('busy:1:send')).toBe(2);
    });

    it('keeps at most 100 completed and 50 failed jobs by default (seed 004), and reports metrics', async () => {
      const h = setup({}, async (item) => {
        if (item.key.startsWith('bad')) throw new Error('boom');
      });
      const now = Date.now();
      await h.queue.enqueue(Array.from({ length: 120 }, (_, i) => h.item(`ok${i}`, now)));
      await h.queue.enqueue(Array.from({ length: 60 }, (_, i) => h.item(`bad${i}`, now)));
      await h.queue.enqueue([h.item('later', now + 60_000)]);
      await waitFor('every job to run', () => h.log.length >= 180, 20_000);
      const m = await waitFor('retention to settle', async () => {
        const x = await h.queue.getMetrics();
        return x.completed === 100 && x.failed === 50 && x.active === 0 ? x : null;
      });
      expect(m).toEqual({ waiting: 0, active: 0, completed: 100, failed: 50, delayed: 1 });
    });

    it('takes a retention override, and removing a running or unknown key is harmless', async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const h = setup({ completed: 3, failed: 1 }, async (item) => {
        if (item.key === 'hold') await gate;
      });
      await h.queue.enqueue(Array.from({ length: 6 }, (_, i) => h.item(`r${i}`)));
      await waitFor('six runs', () => h.log.length >= 6);
      await waitFor('retention', async () => (await h.queue.getMetrics()).completed === 3);
      await h.queue.enqueue([h.item('hold')]);
      await waitFor('the held job to run', () => h.count('hold') === 1);
      await expect(h.queue.remove(['hold', 'never-enqueued'])).resolves.toBeUndefined();
      release();
    });
  });
}
