/**
 * Micro-batching in `createBullmqWorker`: the jobs BullMQ runs at once go to
 * `engine.processActions` together. Real Redis, real BullMQ, the real engine on the memory
 * store; `engine.processActions` is only wrapped to record what each batch held.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, createFakeTransport, createMemoryStore, type CampaignStore, type Engine, type ProcessResult, type StoreTransaction } from '@dripline/core';
import { createBullmqQueue, createBullmqWorker, type BullmqWorker, type BullmqWorkerOptions } from '../../src/index.js';
import { contacts } from '../fleet.js';
import { REDIS_URL, testPrefix, waitFor } from '../redis.js';

const ONE_SMS = {
  version: '1.0',
  name: 'one sms',
  timezone: 'UTC',
  startNodeId: 'sms',
  nodes: [{ id: 'sms', action: 'send', channel: 'sms', body: 'Hi {{name}}', schedule: { delay: 'PT0S' }, transitions: [] }],
};

/** A store whose transactions throw on reading one enrollment: the action of that contact always fails. */
function poisonable(store: CampaignStore) {
  const state = { enrollmentId: null as string | null };
  const wrapTx = (tx: StoreTransaction): StoreTransaction =>
    new Proxy(tx, {
      get(target, prop) {
        // No set-based operations: the engine's batch reads then go through getEnrollment too.
        if (prop === 'bulk') return undefined;
        if (prop === 'getEnrollment')
          return async (id: string) => {
            if (id === state.enrollmentId) throw new Error(`poisoned enrollment ${id}`);
            return target.getEnrollment(id);
          };
        const v = Reflect.get(target, prop);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  const wrapped = new Proxy(store, {
    get(target, prop) {
      if (prop === 'transaction') return <T>(tenantId: string, fn: (tx: StoreTransaction) => Promise<T>) => target.transaction(tenantId, (tx) => fn(wrapTx(tx)));
      const v = Reflect.get(target, prop);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { store: wrapped, state };
}

/** Records each `processActions` call (keys and settled results) and each `processAction` call. */
function spy(engine: Engine) {
  const batches: Array<{ keys: string[]; results: Array<PromiseSettledResult<ProcessResult>> }> = [];
  const single: string[] = [];
  const processActions = engine.processActions.bind(engine);
  const processAction = engine.processAction.bind(engine);
  engine.processActions = async (tenantId, keys, owner, options) => {
    const results = await processActions(tenantId, keys, owner, options);
    batches.push({ keys: [...keys], results });
    return results;
  };
  engine.processAction = (tenantId, key, owner) => {
    single.push(key);
    return processAction(tenantId, key, owner);
  };
  return { batches, single };
}

export function batchSuite(): void {
  describe('bullmq worker micro-batching', () => {
    const prefix = testPrefix();
    let n = 0;
    const cleanup: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const c of cleanup.splice(0).reverse()) await c();
    });

    /** A campaign of `size` one-SMS contacts, all enqueued before any worker runs. */
    async function setup(size: number) {
      const poison = poisonable(createMemoryStore());
      const store = poison.store;
      const transport = createFakeTransport();
      const queue = createBullmqQueue({ connection: REDIS_URL, prefix, queueName: `b-${++n}` });
      const engine = createEngine({ store, queue, transports: transport, rateLimits: {} });
      const calls = spy(engine);
      const campaign = await engine.createCampaign(null, 't1', { plan: ONE_SMS });
      await engine.startCampaign(null, 't1', campaign.id, { audience: contacts(size) });
      expect((await queue.getMetrics()).waiting).toBe(size);
      let worker: BullmqWorker | null = null;
      const errors: Array<{ key?: string; phase: string }> = [];
      const start = (o: Partial<BullmqWorkerOptions> = {}) =>
        (worker = createBullmqWorker({ engine, queue, store, tenants: ['t1'], concurrency: 10, sweepIntervalMs: 0, onError: (_e, context) => errors.push(context), ...o }));
      cleanup.push(async () => {
        await worker?.close();
        await queue.obliterate();
        await queue.close();
      });
      const outbox = () => store.transaction('t1', (tx) => tx.listOutbound(campaign.id, { limit: 10_000 }));
      const actions = () => store.transaction('t1', (tx) => tx.listActions(campaign.id, { limit: 10_000 }));
      return { store, poison: poison.state, transport, queue, engine, campaign, calls, errors, start, outbox, actions, get worker() { return worker!; } };
    }

    it('runs jobs that arrive together through processActions in batches, each action exactly once', async () => {
      const h = await setup(200);
      h.start();
      await waitFor('the campaign to complete', async () => (await h.engine.getCampaign(null, 't1', h.campaign.id)).status === 'completed', 30_000);
      const sizes = h.calls.batches.map((b) => b.keys.length);
      // Batches of more than one job, never more than the jobs running at once.
      expect(Math.max(...sizes)).toBeGreaterThan(1);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(10);
      expect(sizes.filter((s) => s > 1).length).toBeGreaterThan(sizes.length / 4);
      expect(h.calls.single).toEqual([]);
      // Every job went through exactly one batch, and every action ran exactly once.
      const keys = h.calls.batches.flatMap((b) => b.keys);
      expect(keys.length).toBe(200);
      expect(new Set(keys).size).toBe(200);
      expect(h.calls.batches.flatMap((b) => b.results).every((r) => r.status === 'fulfilled' && r.value === 'sent')).toBe(true);
      const outbox = await h.outbox();
      expect(outbox.length).toBe(200);
      expect(new Set(outbox.map((m) => m.key)).size).toBe(200);
      expect(h.transport.sent.length).toBe(200);
      expect(new Set(h.transport.sent.map((m) => m.key)).size).toBe(200);
      expect((await h.actions()).every((a) => a.status === 'done')).toBe(true);
      expect(h.worker.stats).toEqual({ sent: 200 });
      const m = await h.queue.getMetrics();
      expect(m).toMatchObject({ waiting: 0, active: 0, failed: 0, delayed: 0 });
      console.log(`batch sizes (200 jobs, concurrency 10): ${sizes.join(' ')}`);
    });

    it('fails only the job of an action that throws; the rest of its batch is sent', async () => {
      const h = await setup(30);
      const [victim] = (await h.actions()).slice(7, 8);
      h.poison.enrollmentId = victim!.enrollmentId;
      h.start();
      await waitFor('29 sends and one failed job', async () => h.transport.sent.length === 29 && (await h.queue.getMetrics()).failed === 1, 20_000);
      await waitFor('the queue to drain', async () => {
        const m = await h.queue.getMetrics();
        return m.waiting + m.active + m.delayed === 0;
      });
      // The victim shared a batch with others, and only its own result was a rejection.
      const batch = h.calls.batches.find((b) => b.keys.includes(victim!.key))!;
      expect(batch.keys.length).toBeGreaterThan(1);
      batch.keys.forEach((k, i) => expect(batch.results[i]!.status).toBe(k === victim!.key ? 'rejected' : 'fulfilled'));
      // The failed job is the victim's; the others completed and their messages are in the outbox once.
      const failed = await h.queue.queue.getFailed();
      expect(failed.map((j) => j.data.key)).toEqual([victim!.key]);
      expect(failed[0]!.failedReason).toContain('poisoned enrollment');
      expect(h.worker.stats).toEqual({ sent: 29, error: 1 });
      expect(h.errors).toEqual([{ key: victim!.key, phase: 'process' }]);
      const outbox = await h.outbox();
      expect(outbox.length).toBe(29);
      expect(outbox.some((m) => m.key === victim!.key)).toBe(false);
      expect(new Set(h.transport.sent.map((m) => m.key)).size).toBe(29);
      // The victim keeps its lease (the sweeper would wake it again once it expires).
      const actions = await h.actions();
      expect(actions.find((a) => a.key === victim!.key)!.status).toBe('running');
      expect(actions.filter((a) => a.status === 'done').length).toBe(29);
    });

    it('fails every job of a batch whose processActions call itself throws, and only that batch', async () => {
      const h = await setup(20);
      const real = h.engine.processActions;
      let first: string[] | null = null;
      h.engine.processActions = async (tenantId, keys, owner, options) => {
        if (!first && keys.length > 1) {
          first = [...keys];
          throw new Error('store down');
        }
        return real(tenantId, keys, owner, options);
      };
      h.start();
      await waitFor('the queue to drain', async () => {
        const m = await h.queue.getMetrics();
        return first !== null && m.waiting + m.active + m.delayed === 0;
      }, 20_000);
      const failed = (await h.queue.queue.getFailed()).map((j) => j.data.key).sort();
      expect(failed).toEqual([...first!].sort());
      expect(h.worker.stats.error).toBe(first!.length);
      expect(h.worker.stats.sent).toBe(20 - first!.length);
      expect(h.errors.map((e) => e.key).sort()).toEqual([...first!].sort());
      // Nothing of the failed batch was claimed: those actions are still pending.
      const pending = (await h.actions()).filter((a) => a.status === 'pending').map((a) => a.key).sort();
      expect(pending).toEqual([...first!].sort());
    });

    it('runs each job on its own with batch: false (and batchSize 1)', async () => {
      for (const o of [{ batch: false }, { batchSize: 1 }]) {
        const h = await setup(15);
        h.start(o);
        await waitFor('the campaign to complete', async () => (await h.engine.getCampaign(null, 't1', h.campaign.id)).status === 'completed', 20_000);
        expect(h.calls.batches).toEqual([]);
        expect(h.calls.single.length).toBe(15);
        expect((await h.outbox()).length).toBe(15);
        await h.worker.close();
      }
    });

    it('runs the batches still gathering on close() instead of dropping them', async () => {
      const h = await setup(20);
      // A batch that would wait 30 s for more jobs than BullMQ ever runs at once.
      h.start({ concurrency: 5, batchSize: 100, batchWindowMs: 30_000 });
      await waitFor('5 jobs waiting in the batch', async () => (await h.queue.getMetrics()).active === 5);
      expect(h.calls.batches).toEqual([]);
      const t0 = Date.now();
      await h.worker.close();
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(h.calls.batches.map((b) => b.keys.length)).toEqual([5]);
      expect(h.transport.sent.length).toBe(5);
      expect((await h.outbox()).length).toBe(5);
      const m = await h.queue.getMetrics();
      expect(m).toMatchObject({ active: 0, completed: 5, failed: 0, waiting: 15 });
    });
  });
}
