/**
 * Batched rounds: a worker round decides its actions in one transaction and records their
 * outcomes in another. These tests count the commits, and break each of the two transactions
 * to prove a failing batch falls back to one action at a time without losing or repeating a
 * message, and that a lost lease inside a batch fences only that action.
 */
import { describe, expect, it } from 'vitest';
import {
  createEngine,
  createFakeTransport,
  createMemoryQueue,
  createMemoryStore,
  createVirtualClock,
  createWorker,
  type ActionRecord,
  type CampaignStore,
  type PlanInput,
  type WorkerResult,
} from '../src/index.js';
import { T0, contacts, expectNoKeySentTwice } from './engine-harness.js';

const oneSms: PlanInput = {
  version: '1.0',
  name: 'Blast',
  timezone: 'UTC',
  startNodeId: 'sms',
  nodes: [{ id: 'sms', action: 'send', channel: 'sms', body: 'Hi {{name}}', transitions: [] }],
};

/**
 * The memory store behind a proxy that counts transactions and can break one after its work
 * ran (as a commit that fails would): the store rolls it back. Which one is named by what it
 * did (the store methods its callback called), since a worker's claims, decisions and
 * outcome transactions interleave.
 */
function setup(options: { batchTransactions?: boolean } = {}) {
  const clock = createVirtualClock(T0);
  const inner = createMemoryStore();
  let transactions = 0;
  let broken = 0;
  let breakWhen: ((calls: ReadonlyArray<{ method: string; args: unknown[] }>) => boolean) | null = null;
  const store: CampaignStore = {
    ...inner,
    transaction: (tenantId, fn) => {
      const n = ++transactions;
      return inner.transaction(tenantId, async (tx) => {
        const calls: Array<{ method: string; args: unknown[] }> = [];
        const watched = new Proxy(tx, {
          get(target, prop) {
            const v = Reflect.get(target, prop);
            if (typeof v !== 'function') return v;
            return (...args: unknown[]) => {
              calls.push({ method: String(prop), args });
              return v.apply(target, args);
            };
          },
        });
        const r = await fn(watched);
        if (breakWhen?.(calls)) {
          breakWhen = null;
          broken += 1;
          throw new Error(`connection reset during commit of transaction ${n}`);
        }
        return r;
      });
    },
  };
  const transport = createFakeTransport();
  const engine = createEngine({ store, queue: createMemoryQueue(), transports: transport, clock, rateLimits: {} });
  const results: Partial<Record<WorkerResult, number>> = {};
  const worker = createWorker(engine, {
    store,
    tenants: ['t1'],
    id: 'w1',
    batchSize: 100,
    perCampaignLimit: 100,
    concurrency: 8,
    chunkSize: 8,
    ...(options.batchTransactions === undefined ? {} : { batchTransactions: options.batchTransactions }),
    onRound: (r) => {
      for (const [k, v] of Object.entries(r.results)) results[k as WorkerResult] = (results[k as WorkerResult] ?? 0) + v!;
    },
  });
  return {
    clock,
    inner,
    store,
    transport,
    engine,
    worker,
    results,
    get transactions() {
      return transactions;
    },
    /** How many transactions were broken. */
    get broken() {
      return broken;
    },
    /** Breaks the next transaction whose calls match. */
    breakNext: (when: (calls: ReadonlyArray<{ method: string; args: unknown[] }>) => boolean) => (breakWhen = when),
    dump: () => inner.dump('t1'),
  };
}

async function started(h: ReturnType<typeof setup>, n: number) {
  await h.engine.createCampaign(null, 't1', { id: 'c', plan: oneSms });
  await h.engine.startCampaign(null, 't1', 'c', { audience: contacts(n) });
}

/** At each send, how many messages the store holds as `sending` (the one being sent among them). */
function sendingAtEachSend(h: ReturnType<typeof setup>): number[] {
  const counts: number[] = [];
  const send = h.transport.send.bind(h.transport);
  h.transport.send = async (m) => {
    counts.push(h.dump().outbox.filter((o) => o.status === 'sending').length);
    return send(m);
  };
  return counts;
}

describe('engine: batched rounds', () => {
  it('a round of 60 sends at concurrency 8 commits one transaction per chunk of 8 (outcomes, decision, next claim) instead of 2 per send', async () => {
    const batched = setup();
    await started(batched, 60);
    let before = batched.transactions;
    await batched.worker.tick();
    const batchedCommits = batched.transactions - before;
    expect(batched.transport.sent).toHaveLength(60);
    expect(batched.dump().outbox.filter((m) => m.status === 'sent')).toHaveLength(60);
    expect(batched.results).toEqual({ sent: 60 });
    expect((await batched.engine.getCampaign(null, 't1', 'c')).status).toBe('completed');

    const single = setup({ batchTransactions: false });
    await started(single, 60);
    before = single.transactions;
    await single.worker.tick();
    const singleCommits = single.transactions - before;
    expect(single.transport.sent).toHaveLength(60);

    // Both: activateDueCampaigns (1). One action at a time: one claim, then a decision and an
    // outcome per send (120). Pipelined: the first claim (1), one turn per chunk of 8 (8: the
    // previous chunk's outcomes, this chunk's decision, the next claim), and a last turn for
    // the last chunk's outcomes (1).
    expect(singleCommits).toBe(1 + 1 + 2 * 60);
    expect(batchedCommits).toBe(1 + 1 + 8 + 1);
    expectNoKeySentTwice({ dump: batched.dump, transport: batched.transport });
  });

  it('when the batch decision fails to commit, every action runs on its own and each message goes out once', async () => {
    const h = setup();
    await started(h, 30);
    // The first chunk's decision: the transaction that writes outbox rows.
    h.breakNext((calls) => calls.some((c) => c.method === 'insertOutbound'));
    await h.worker.tick();
    expect(h.broken).toBe(1);
    expect(h.transport.sent).toHaveLength(30);
    expect(new Set(h.transport.sent.map((m) => m.key)).size).toBe(30);
    expect(h.dump().outbox.map((m) => m.status)).toEqual(Array(30).fill('sent'));
    expect(h.results).toEqual({ sent: 30 });
    expectNoKeySentTwice({ dump: h.dump, transport: h.transport });
  });

  it('when the batch outcome fails to commit after the sends, each outcome is recorded on its own: nothing resent, nothing lost', async () => {
    const h = setup();
    await started(h, 30);
    // The first chunk's outcomes: the transaction that marks outbox rows sent.
    h.breakNext((calls) => calls.some((c) => c.method === 'updateOutbound' && (c.args[1] as { status?: string }).status === 'sent'));
    await h.worker.tick();
    expect(h.broken).toBe(1);
    expect(h.transport.sent).toHaveLength(30);
    const outbox = h.dump().outbox;
    expect(outbox.map((m) => m.status)).toEqual(Array(30).fill('sent'));
    expect(outbox.every((m) => m.providerMessageId?.startsWith('fake-'))).toBe(true);
    expect(h.dump().actions.filter((a) => a.status !== 'done')).toEqual([]);
    expect(h.results).toEqual({ sent: 30 });
    // A later round finds nothing to do: no action was left running or pending.
    h.clock.advanceBy(120_000);
    expect(await h.worker.tick()).toBe(0);
    expect(h.transport.sent).toHaveLength(30);
  });

  it('the pipeline keeps at most one chunk of messages between "sending" and their outcome, so a crash could leave at most chunkSize unknown', async () => {
    const h = setup();
    await started(h, 60);
    // At each send, what the store holds as sending: the pipeline commits the next chunk's
    // intents in the same transaction as the previous chunk's outcomes, never before them.
    const sendingAtSend = sendingAtEachSend(h);
    const claimed = await h.engine.processDue('t1', 'w1', { chunkSize: 8 });
    expect(claimed).toBe(60);
    expect(h.transport.sent).toHaveLength(60);
    expect(sendingAtSend).toHaveLength(60);
    expect(Math.max(...sendingAtSend)).toBe(8);
    expect(h.dump().outbox.filter((o) => o.status !== 'sent')).toEqual([]);
    expectNoKeySentTwice({ dump: h.dump, transport: h.transport });
  });

  it('campaigns take turns in every chunk: one with a backlog of earlier sends does not hold back another\'s', async () => {
    const h = setup();
    await h.engine.createCampaign(null, 't1', { id: 'big', plan: oneSms });
    await h.engine.startCampaign(null, 't1', 'big', { audience: contacts(60, 'big') });
    h.clock.advanceBy(1_000);
    await h.engine.createCampaign(null, 't1', { id: 'small', plan: oneSms });
    await h.engine.startCampaign(null, 't1', 'small', { audience: contacts(4, 'small') });
    expect(await h.engine.processDue('t1', 'w1', { chunkSize: 8 })).toBe(64);
    const order = h.transport.sent.map((m) => m.campaignId);
    // The first chunk of 8 holds the small campaign's four (due a second after all of the big
    // one's sixty) beside the big campaign's earliest four.
    expect(order.slice(0, 8).filter((c) => c === 'small')).toHaveLength(4);
    expect(order).toHaveLength(64);
    expectNoKeySentTwice({ dump: h.dump, transport: h.transport });
  });

  it('a pipeline told to stop claims no more, finishes what it claimed, and leaves nothing running', async () => {
    const h = setup();
    await started(h, 60);
    let chunks = 0;
    const claimed = await h.engine.processDue('t1', 'w1', {
      chunkSize: 8,
      shouldStop: () => chunks >= 2,
      onResults: () => void chunks++,
    });
    // It stopped claiming after two chunks had finished; what it had claimed by then (the
    // chunk claimed with the second chunk's turn, and the one with the third's) went out.
    expect(claimed).toBeLessThan(60);
    expect(claimed % 8).toBe(0);
    expect(h.transport.sent).toHaveLength(claimed);
    const actions = h.dump().actions;
    expect(actions.filter((a) => a.status === 'running')).toEqual([]);
    expect(actions.filter((a) => a.status === 'done')).toHaveLength(claimed);
    expect(actions.filter((a) => a.status === 'pending')).toHaveLength(60 - claimed);
  });

  it('a per-campaign share smaller than the chunk: every claim of a lone campaign is capped, and the pipeline still runs until nothing is due', async () => {
    const h = setup();
    await started(h, 30);
    const sizes: number[] = [];
    const claimed = await h.engine.processDue('t1', 'w1', { chunkSize: 8, perCampaignLimit: 4, onResults: (actions) => void sizes.push(actions.length) });
    // Chunks of the share (4): a claim that gets as many as the share may have left more due.
    expect(claimed).toBe(30);
    expect(sizes).toEqual([4, 4, 4, 4, 4, 4, 4, 2]);
    expect(h.transport.sent).toHaveLength(30);
    expect(h.dump().actions.filter((a) => a.status !== 'done')).toEqual([]);
    expectNoKeySentTwice({ dump: h.dump, transport: h.transport });
  });

  it('onLimit runs the next limit in the same pipeline: each boundary saves a record-only turn and a claim of its own', async () => {
    // Rounds of 16 apart: each ends with a turn that only records outcomes and the next
    // begins with a claim of its own.
    const apart = setup();
    await started(apart, 60);
    let before = apart.transactions;
    const rounds: number[] = [];
    for (let n = 16; n === 16; ) rounds.push((n = await apart.engine.processDue('t1', 'w1', { chunkSize: 8, limit: 16 })));
    expect(rounds).toEqual([16, 16, 16, 12]);
    const apartTransactions = apart.transactions - before;

    const onward = setup();
    await started(onward, 60);
    const sendingAtSend = sendingAtEachSend(onward);
    // At each boundary: how many of the round's sends had gone out, and what the store held as sending.
    const atLimit: Array<{ sent: number; sending: number }> = [];
    before = onward.transactions;
    const claimed = await onward.engine.processDue('t1', 'w1', {
      chunkSize: 8,
      limit: 16,
      onLimit: () => {
        atLimit.push({ sent: onward.transport.sent.length, sending: onward.dump().outbox.filter((o) => o.status === 'sending').length });
        return true;
      },
    });
    expect(claimed).toBe(60);
    // Called when 16, 32 and 48 had been claimed: the chunk sent last is still unrecorded then.
    expect(atLimit).toEqual([
      { sent: 8, sending: 8 },
      { sent: 24, sending: 8 },
      { sent: 40, sending: 8 },
    ]);
    expect(apartTransactions - (onward.transactions - before)).toBe(2 * atLimit.length);
    expect(Math.max(...sendingAtSend)).toBe(8);
    expect(onward.transport.sent).toHaveLength(60);
    expect(onward.dump().outbox.filter((o) => o.status !== 'sent')).toEqual([]);
    expect(onward.dump().actions.filter((a) => a.status !== 'done')).toEqual([]);
    expectNoKeySentTwice({ dump: onward.dump, transport: onward.transport });
  });

  it('onLimit resolving false ends the pipeline at the limit, as without it', async () => {
    const h = setup();
    await started(h, 60);
    let asked = 0;
    const claimed = await h.engine.processDue('t1', 'w1', { chunkSize: 8, limit: 16, onLimit: async () => (asked++, false) });
    expect([claimed, asked]).toEqual([16, 1]);
    expect(h.transport.sent).toHaveLength(16);
    const actions = h.dump().actions;
    expect(actions.filter((a) => a.status === 'running')).toEqual([]);
    expect(actions.filter((a) => a.status === 'pending')).toHaveLength(44);
  });

  it('an onLimit that throws ends the pipeline: what was claimed still goes out and is recorded, then the error is thrown', async () => {
    const h = setup();
    await started(h, 60);
    const run = h.engine.processDue('t1', 'w1', {
      chunkSize: 8,
      limit: 16,
      onLimit: () => {
        throw new Error('between rounds: store unreachable');
      },
    });
    await expect(run).rejects.toThrow('between rounds: store unreachable');
    expect(h.transport.sent).toHaveLength(16);
    const actions = h.dump().actions;
    expect(actions.filter((a) => a.status === 'running')).toEqual([]);
    expect(actions.filter((a) => a.status === 'done')).toHaveLength(16);
    expect(h.dump().outbox.filter((o) => o.status !== 'sent')).toEqual([]);
  });

  it('a row that cannot be read costs only its own action: the pipeline claims around it and sends the rest', async () => {
    const clock = createVirtualClock(T0);
    const inner = createMemoryStore();
    let poisoned: string | null = null;
    // Reading one enrollment throws (a corrupt row, a store bug): claims with rows that include
    // it fail, and the action itself fails whenever it runs.
    const store: CampaignStore = {
      transaction: (tenantId, fn) =>
        inner.transaction(tenantId, (tx) =>
          fn(
            new Proxy(tx, {
              get(target, prop) {
                if (prop === 'getEnrollment')
                  return async (id: string) => {
                    if (id === poisoned) throw new Error(`cannot read enrollment ${id}`);
                    return target.getEnrollment(id);
                  };
                const v = Reflect.get(target, prop);
                return typeof v === 'function' ? v.bind(target) : v;
              },
            }),
          ),
        ),
    };
    const transport = createFakeTransport();
    const engine = createEngine({ store, transports: transport, clock, rateLimits: {} });
    await engine.createCampaign(null, 't1', { id: 'c', plan: oneSms });
    await engine.startCampaign(null, 't1', 'c', { audience: contacts(30) });
    poisoned = 'c:p5';
    const results: Partial<Record<string, number>> = {};
    const claimed = await engine.processDue('t1', 'w1', {
      chunkSize: 8,
      onResults: (_actions, settled) => settled.forEach((r) => (results[r.status === 'fulfilled' ? r.value : 'error'] = (results[r.status === 'fulfilled' ? r.value : 'error'] ?? 0) + 1)),
    });
    expect(claimed).toBe(30);
    expect(results).toEqual({ sent: 29, error: 1 });
    expect(transport.sent.map((m) => m.contactId)).not.toContain('p5');
    expect(new Set(transport.sent.map((m) => m.key)).size).toBe(29);
    // The poisoned action keeps its lease, to be tried again (and parked after 10 claims).
    expect(inner.dump('t1').actions.filter((a) => a.status !== 'done').map((a) => [a.enrollmentId, a.status])).toEqual([['c:p5', 'running']]);
  });

  it('a queue that refuses wake-ups costs only the wake-ups: every decided send still goes out once and its outcome is recorded', async () => {
    const clock = createVirtualClock(T0);
    const store = createMemoryStore();
    const refused: string[] = [];
    // Every enqueue fails (Redis unreachable): the timeouts the outcomes schedule get no
    // wake-up, which the sweeper would make up for; nothing else may be lost.
    const queue = {
      enqueue: async (items: readonly { key: string }[]) => {
        refused.push(...items.map((i) => i.key));
        throw new Error('queue unreachable');
      },
      remove: async () => undefined,
    };
    const transport = createFakeTransport();
    const engine = createEngine({ store, queue: queue as never, transports: transport, clock, rateLimits: {} });
    const withTimeout: PlanInput = {
      version: '1.0',
      name: 'Nudge',
      timezone: 'UTC',
      startNodeId: 'sms',
      nodes: [
        { id: 'sms', action: 'send', channel: 'sms', body: 'Hi {{name}}', transitions: [{ on: 'no_reply', to: 'done', after: 'P1D' }] },
        { id: 'done', action: 'exit' },
      ],
    };
    await engine.createCampaign(null, 't1', { id: 'c', plan: withTimeout });
    await engine.startCampaign(null, 't1', 'c', { audience: contacts(24) }).catch(() => undefined);
    const claimed = await engine.processDue('t1', 'w1', { chunkSize: 8 });
    expect(claimed).toBe(24);
    expect(transport.sent).toHaveLength(24);
    expect(new Set(transport.sent.map((m) => m.key)).size).toBe(24);
    const dump = store.dump('t1');
    expect(dump.outbox.map((m) => m.status)).toEqual(Array(24).fill('sent'));
    // The outcomes scheduled the timeouts, in the store, whose wake-ups the queue refused.
    const timeouts = dump.actions.filter((a) => a.kind === 'timeout');
    expect(timeouts).toHaveLength(24);
    expect(timeouts.every((a) => a.status === 'pending')).toBe(true);
    expect(refused).toEqual(expect.arrayContaining(timeouts.map((a) => a.key)));
  });

  it('a lost lease inside a batch fences that action only; the new owner sends it, once', async () => {
    const h = setup();
    await started(h, 10);
    // Worker A claims all ten with a short lease, then stalls past it.
    const claimedByA: ActionRecord[] = await h.store.transaction('t1', (tx) =>
      tx.claimDueActions({ now: h.clock.now(), limit: 100, owner: 'A', leaseMs: 1_000, perCampaignLimit: 100 }),
    );
    expect(claimedByA).toHaveLength(10);
    h.clock.advanceBy(2_000);
    // Worker B takes three of them over (their leases expired).
    const takenByB = claimedByA.slice(0, 3);
    for (const a of takenByB) expect(await h.store.transaction('t1', (tx) => tx.claimAction(a.key, { now: h.clock.now(), owner: 'B', leaseMs: 60_000 }))).not.toBeNull();
    // A wakes up and runs its whole batch. Its other seven leases expired too but nobody took
    // them: the fence is the lease's owner and expiry, so all ten are refused to A.
    const a = await h.engine.processClaimedBatch('t1', claimedByA, 'A');
    expect(a.map((r) => (r.status === 'fulfilled' ? r.value : 'rejected'))).toEqual(Array(10).fill('lost-lease'));
    expect(h.transport.sent).toHaveLength(0);

    // Now with a live lease for A on the seven others: A sends those, B sends its three.
    const reclaimed: ActionRecord[] = [];
    for (const x of claimedByA.slice(3)) reclaimed.push((await h.store.transaction('t1', (tx) => tx.claimAction(x.key, { now: h.clock.now(), owner: 'A', leaseMs: 60_000 })))!);
    const fresh = await h.store.transaction('t1', async (tx) => Promise.all(takenByB.map((x) => tx.getAction(x.key))));
    const mixed = await h.engine.processClaimedBatch('t1', [...fresh.map((x) => x!), ...reclaimed], 'A');
    expect(mixed.map((r) => (r.status === 'fulfilled' ? r.value : 'rejected'))).toEqual([...Array(3).fill('lost-lease'), ...Array(7).fill('sent')]);
    const b = await h.engine.processClaimedBatch('t1', fresh.map((x) => x!), 'B');
    expect(b.map((r) => (r.status === 'fulfilled' ? r.value : 'rejected'))).toEqual(Array(3).fill('sent'));
    expect(h.transport.sent.map((m) => m.key).sort()).toEqual(claimedByA.map((x) => x.key).sort());
    expectNoKeySentTwice({ dump: h.dump, transport: h.transport });
  });
});

describe('engine: settling campaigns whose last enrollments ended concurrently', () => {
  it('a campaign whose completion check read stale counters is completed by the next idle round', async () => {
    const clock = createVirtualClock(T0);
    const inner = createMemoryStore();
    // Counters as a concurrent transaction would see them: without the other's increments.
    let stale = true;
    const store: CampaignStore = {
      ...inner,
      transaction: (tenantId, fn) =>
        inner.transaction(tenantId, (tx) => fn(stale ? Object.assign(Object.create(tx), { getAnalytics: async () => ({}) }) : tx)),
    };
    const transport = createFakeTransport();
    const engine = createEngine({ store, queue: createMemoryQueue(), transports: transport, clock, rateLimits: {} });
    const worker = createWorker(engine, { store, tenants: ['t1'], id: 'w1', settleIntervalMs: 60_000 });
    await engine.createCampaign(null, 't1', { id: 'c', plan: oneSms });
    await engine.startCampaign(null, 't1', 'c', { audience: contacts(12) });
    expect(await worker.tick()).toBe(12);
    expect(transport.sent).toHaveLength(12);
    expect((await engine.getCampaign(null, 't1', 'c')).status).toBe('active');
    stale = false;
    const statuses: string[] = [];
    engine.events.on('campaign.status', (e) => statuses.push(`${e.from}->${e.to}`));
    expect(await worker.tick()).toBe(0);
    expect((await engine.getCampaign(null, 't1', 'c')).status).toBe('completed');
    expect(statuses).toEqual(['active->completed']);
    expect(await engine.settleCampaigns('t1')).toBe(0);
  });
});

describe('engine: sends a rate limit refused come back in successive slots', () => {
  it('60 sends at 3/s: each deferred at most once, in whole milliseconds, never more than 3 in a second, done in about 20 s', async () => {
    const clock = createVirtualClock(T0);
    const store = createMemoryStore();
    const transport = createFakeTransport();
    const engine = createEngine({ store, queue: createMemoryQueue(), transports: transport, clock, rateLimits: { sender: { '*': { limit: 3, window: 1000 } } } });
    const deferredTimes = new Map<string, number>();
    engine.events.on('message.deferred', (d) => {
      deferredTimes.set(d.key, (deferredTimes.get(d.key) ?? 0) + 1);
      // 1000 / 3 ms apart, rounded up: stores keep whole milliseconds.
      expect(Number.isInteger(d.until)).toBe(true);
    });
    const worker = createWorker(engine, { store, tenants: ['t1'], id: 'w1', batchSize: 100, perCampaignLimit: 100, concurrency: 10 });
    await engine.createCampaign(null, 't1', { id: 'c', plan: oneSms });
    await engine.startCampaign(null, 't1', 'c', { audience: contacts(60) });
    const sentAt: number[] = [];
    for (let guard = 0; guard < 10_000 && transport.sent.length < 60; guard++) {
      const next = store.nextDueAt('t1');
      if (next === null) break;
      if (next > clock.now()) clock.advanceTo(next);
      const before = transport.sent.length;
      await worker.tick();
      for (let i = before; i < transport.sent.length; i++) sentAt.push(clock.now());
    }
    expect(transport.sent).toHaveLength(60);
    // No sliding second holds more than 3 sends.
    for (let i = 3; i < sentAt.length; i++) expect(sentAt[i]! - sentAt[i - 3]!).toBeGreaterThanOrEqual(1000);
    // Every refused send got its own slot: deferred once, not round after round.
    expect(Math.max(...deferredTimes.values())).toBe(1);
    expect(deferredTimes.size).toBe(57);
    expect(sentAt[59]! - T0).toBeLessThanOrEqual(20_000);
    expectNoKeySentTwice({ dump: () => store.dump('t1'), transport });
  });
});

describe('engine: rate-limit slots look at most a minute ahead', () => {
  it('400 sends claimed at once at 3/s: slots run one minute ahead, the rest wait at the horizon', async () => {
    const clock = createVirtualClock(T0);
    const store = createMemoryStore();
    const engine = createEngine({ store, queue: createMemoryQueue(), transports: createFakeTransport(), clock, rateLimits: { sender: { '*': { limit: 3, window: 1000 } } } });
    const until: number[] = [];
    engine.events.on('message.deferred', (d) => until.push(d.until));
    const worker = createWorker(engine, { store, tenants: ['t1'], id: 'w1', batchSize: 400, perCampaignLimit: 400, concurrency: 10 });
    await engine.createCampaign(null, 't1', { id: 'c', plan: oneSms });
    await engine.startCampaign(null, 't1', 'c', { audience: contacts(400) });
    await worker.tick();
    expect(until).toHaveLength(397);
    // The first 180 or so get their own slots a third of a second apart, up to a minute out;
    // a stopped campaign's unused slots can thus hold other sends back by a minute at most.
    expect(Math.max(...until)).toBeLessThanOrEqual(T0 + 1_000 + 60_000);
    expect(new Set(until).size).toBeGreaterThan(170);
  });
});

describe('worker: one tenant\'s rounds back to back', () => {
  /** The engine with its processDue calls counted: each is one pipeline. */
  function counted(h: ReturnType<typeof setup>) {
    const pipelines: number[] = [];
    const processDue = h.engine.processDue.bind(h.engine);
    h.engine.processDue = async (...args) => {
      const n = await processDue(...args);
      pipelines.push(n);
      return n;
    };
    return pipelines;
  }

  async function runUntil(worker: ReturnType<typeof createWorker>, done: () => boolean) {
    const loop = worker.start();
    for (let i = 0; i < 500 && !done(); i++) await new Promise((r) => setTimeout(r, 2));
    await worker.stop();
    await loop;
  }

  it('a started worker serving one tenant runs its rounds in one pipeline and still reports each round', async () => {
    const h = setup();
    await started(h, 60);
    const pipelines = counted(h);
    const rounds: Array<{ claimed: number; results: Partial<Record<WorkerResult, number>> }> = [];
    const worker = createWorker(h.engine, { store: h.store, tenants: ['t1'], id: 'w1', batchSize: 16, perCampaignLimit: 16, concurrency: 8, pollIntervalMs: 5, onRound: (r) => rounds.push(r) });
    await runUntil(worker, () => h.transport.sent.length === 60 && rounds.reduce((n, r) => n + (r.results.sent ?? 0), 0) === 60);
    expect(rounds.map((r) => r.claimed)).toEqual([16, 16, 16, 12]);
    expect(rounds.reduce((n, r) => n + (r.results.sent ?? 0), 0)).toBe(60);
    // The first pipeline claimed all sixty; later ticks found nothing.
    expect(pipelines[0]).toBe(60);
    expect(pipelines.slice(1).every((n) => n === 0)).toBe(true);
    expect(h.dump().actions.filter((a) => a.status !== 'done')).toEqual([]);
    expectNoKeySentTwice({ dump: h.dump, transport: h.transport });
  });

  it('tick() alone still runs one round, and a worker serving two tenants ends each round', async () => {
    const h = setup();
    await started(h, 60);
    const pipelines = counted(h);
    const one = createWorker(h.engine, { store: h.store, tenants: ['t1'], id: 'w1', batchSize: 16, perCampaignLimit: 16, concurrency: 8 });
    expect(await one.tick()).toBe(16);
    expect(pipelines).toEqual([16]);

    const two = createWorker(h.engine, { store: h.store, tenants: ['t1', 't2'], id: 'w2', batchSize: 16, perCampaignLimit: 16, concurrency: 8, pollIntervalMs: 5 });
    await runUntil(two, () => h.transport.sent.length === 60);
    // t2 has nothing due: its rounds claim nothing. t1's end at 16 each (the first was the tick's).
    expect(pipelines.filter((n) => n > 0)).toEqual([16, 16, 16, 12]);
    expect(h.dump().actions.filter((a) => a.status !== 'done')).toEqual([]);
  });

  it('stop() between back-to-back rounds ends the pipeline with everything it claimed sent and recorded', async () => {
    const h = setup();
    await started(h, 60);
    let worker: ReturnType<typeof createWorker> | null = null;
    let stopped: Promise<void> | null = null;
    const rounds: number[] = [];
    let sent = 0;
    worker = createWorker(h.engine, {
      store: h.store,
      tenants: ['t1'],
      id: 'w1',
      batchSize: 16,
      perCampaignLimit: 16,
      concurrency: 8,
      pollIntervalMs: 5,
      onRound: (r) => {
        rounds.push(r.claimed);
        sent += r.results.sent ?? 0;
        if (rounds.length === 1) stopped = worker!.stop();
      },
    });
    await worker.start();
    await stopped;
    // The round's last chunk had not been recorded when it was reported: its outcomes come
    // with the report of what the pipeline did after (nothing more claimed).
    expect(rounds).toEqual([16, 0]);
    expect(sent).toBe(16);
    expect(h.transport.sent).toHaveLength(16);
    const actions = h.dump().actions;
    expect(actions.filter((a) => a.status === 'running')).toEqual([]);
    expect(actions.filter((a) => a.status === 'pending')).toHaveLength(44);
    expect(h.dump().outbox.filter((o) => o.status !== 'sent')).toEqual([]);
  });
});
