/** `createBullmqWorker` in-process: an engine on the memory store, woken by real BullMQ jobs. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, createFakeTransport, createMemoryStore, type EngineOptions } from '@dripline/core';
import { createBullmqQueue, createBullmqWorker, type BullmqWorker } from '../../src/index.js';
import { contacts } from '../fleet.js';
import { REDIS_URL, testPrefix, waitFor } from '../redis.js';

/** Two SMS a second apart: the second is a timer (no_reply) then a send, so both kinds of action run. */
const TWO_STEPS = {
  version: '1.0',
  name: 'two steps',
  timezone: 'UTC',
  startNodeId: 'first',
  nodes: [
    { id: 'first', action: 'send', channel: 'sms', body: 'one', schedule: { delay: 'PT0S' }, transitions: [{ on: 'no_reply', to: 'second', after: 'PT1S' }] },
    { id: 'second', action: 'send', channel: 'sms', body: 'two', schedule: { delay: 'PT0S' }, transitions: [] },
  ],
};

export function workerSuite(): void {
  describe('bullmq worker (one process)', () => {
    const prefix = testPrefix();
    let n = 0;
    const cleanup: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const c of cleanup.splice(0).reverse()) await c();
    });
    function setup(engineOptions: Partial<EngineOptions> = {}, workerOptions: { sweepIntervalMs?: number; sweepGraceMs?: number; start?: boolean } = {}) {
      const store = createMemoryStore();
      const transport = createFakeTransport();
      const queue = createBullmqQueue({ connection: REDIS_URL, prefix, queueName: `w-${++n}` });
      const engine = createEngine({ store, queue, transports: transport, rateLimits: {}, ...engineOptions });
      let worker: BullmqWorker | null = null;
      const start = () =>
        (worker = createBullmqWorker({ engine, queue, store, tenants: ['t1'], concurrency: 8, sweepIntervalMs: workerOptions.sweepIntervalMs ?? 0, sweepGraceMs: workerOptions.sweepGraceMs ?? 0 }));
      if (workerOptions.start !== false) start();
      cleanup.push(async () => {
        await worker?.close();
        await queue.obliterate();
        await queue.close();
      });
      return { store, transport, queue, engine, start, get worker() { return worker!; } };
    }
    const sentOnce = (sent: ReadonlyArray<{ key: string }>) => new Set(sent.map((m) => m.key)).size === sent.length;

    it('runs a two-step campaign through BullMQ: every message exactly once, timers included', async () => {
      const h = setup();
      const c = await h.engine.createCampaign(null, 't1', { plan: TWO_STEPS });
      await h.engine.startCampaign(null, 't1', c.id, { audience: contacts(40) });
      await waitFor('the campaign to complete', async () => (await h.engine.getCampaign(null, 't1', c.id)).status === 'completed', 20_000);
      expect(h.transport.sent.length).toBe(80);
      expect(sentOnce(h.transport.sent)).toBe(true);
      expect(h.worker.stats.sent).toBe(80);
      const m = await h.queue.getMetrics();
      expect(m.completed).toBe(100); // 120 jobs ran (40 sends, 40 timers, 40 sends), 100 kept
    });

    it('wakes a deferred action again from inside its own run (core limiter: 10/s in this process)', async () => {
      const h = setup({ rateLimits: undefined });
      const c = await h.engine.createCampaign(null, 't1', { plan: { ...TWO_STEPS, nodes: [{ ...TWO_STEPS.nodes[1]!, id: 'first' }] } });
      await h.engine.startCampaign(null, 't1', c.id, { audience: contacts(25) });
      await waitFor('the campaign to complete', async () => (await h.engine.getCampaign(null, 't1', c.id)).status === 'completed', 20_000);
      expect(h.worker.stats.deferred ?? 0).toBeGreaterThan(0);
      expect(h.transport.sent.length).toBe(25);
      expect(sentOnce(h.transport.sent)).toBe(true);
    });

    it('loses nothing when Redis loses every job: the sweeper re-enqueues overdue actions from the store', async () => {
      const h = setup({}, { start: false, sweepIntervalMs: 300, sweepGraceMs: 100 });
      const c = await h.engine.createCampaign(null, 't1', { plan: { ...TWO_STEPS, nodes: [{ ...TWO_STEPS.nodes[1]!, id: 'first' }] } });
      await h.engine.startCampaign(null, 't1', c.id, { audience: contacts(30) });
      expect((await h.queue.getMetrics()).waiting).toBe(30);
      await h.queue.obliterate(); // as if Redis had been flushed
      expect((await h.queue.getMetrics()).waiting).toBe(0);
      h.start();
      await waitFor('the campaign to complete', async () => (await h.engine.getCampaign(null, 't1', c.id)).status === 'completed', 20_000);
      expect(h.transport.sent.length).toBe(30);
      expect(sentOnce(h.transport.sent)).toBe(true);
    });

    it('ships a worker entry point that explains its usage', () => {
      const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
      const r = spawnSync(process.execPath, [cli], { encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('usage: dripline-bullmq-worker <config module>');
    });
  });
}
