import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  createFakeTransport,
  createMemoryQueue,
  createMemoryStore,
  createEngine,
  createVirtualClock,
  hash32,
  isDriplineError,
  simulate,
  type OutboundRecord,
} from '../src/index.js';

const plan = JSON.parse(readFileSync(new URL('../../../examples/quickstart/onboarding.plan.json', import.meta.url), 'utf8'));

/** Every message key is in the outbox at most once and the transport accepted it at most once. */
function expectNoKeySentTwice(messages: readonly OutboundRecord[], sentKeys: readonly string[]) {
  expect(new Set(messages.map((m) => m.key)).size).toBe(messages.length);
  expect(new Set(sentKeys).size).toBe(sentKeys.length);
}

describe('simulate', () => {
  it('runs the onboarding plan to the end for everyone, sending each message once', async () => {
    const r = await simulate(plan, {
      contacts: 300,
      start: '2026-03-02T16:00:00Z',
      until: 'P20D',
      respond: (m) => {
        const h = hash32(m.key);
        if (m.nodeId === 'email_intro' && h % 2 === 0) return [{ type: 'opened', after: 'PT2H' }, ...(h % 4 === 0 ? [{ type: 'clicked', after: 'PT3H' }] : [])];
        return [];
      },
    });
    const s = r.summary;
    expect(s.sentByNode.email_intro).toBe(300);
    const opened = s.transitions['email_intro → wait_click'] ?? 0;
    expect(opened + (s.transitions['email_intro → email_bump_1'] ?? 0)).toBe(300);
    expect(s.sentByNode.email_bump_1).toBe(300 - opened);
    // Everyone who opened but did not click got the SMS nudge; clickers are done.
    expect(s.sentByNode.sms_nudge).toBe(opened - (s.transitions['wait_click → done'] ?? 0));
    expect(s.byStatus).toEqual({ completed: 300 });
    expectNoKeySentTwice(r.messages, r.messages.map((m) => m.key));
    expect(r.messages.every((m) => m.status === 'sent')).toBe(true);
    // Email bodies are rendered and HTML-escaped by default; SMS are plain.
    expect(r.messages.find((m) => m.nodeId === 'sms_nudge')!.body).toMatch(/one tap/);
  });

  it('defers sends out of quiet hours in the contact’s own zone and reports them', async () => {
    // 16:00Z is 01:00 in Tokyo: inside 21:00–07:30, so the intro waits until 07:30 local.
    const r = await simulate(plan, {
      contacts: [{ id: 'tokyo', timezone: 'Asia/Tokyo', address: { email: 't@example.test', phone: '+81000' } }],
      start: '2026-03-02T16:00:00Z',
      until: 'P1D',
    });
    const sent = r.timeline.find((e) => e.kind === 'sent')!;
    expect(new Date(sent.at).toISOString()).toBe('2026-03-02T22:30:00.000Z');
    expect(r.summary.movedByQuietHours).toBe(1);
  });

  it('replays a click that arrived before its open', async () => {
    const r = await simulate(plan, {
      contacts: 1,
      start: '2026-03-02T16:00:00Z',
      until: 'P5D',
      respond: (m) => (m.nodeId === 'email_intro' ? [{ type: 'clicked', after: 'PT1H' }, { type: 'opened', after: 'PT2H' }] : []),
    });
    expect(r.summary.replayed).toBe(1);
    expect(r.summary.transitions).toMatchObject({ 'email_intro → wait_click': 1, 'wait_click → done': 1 });
    expect(r.summary.sentByNode).toEqual({ email_intro: 1 });
  });

  it('an exitOn event stops everything that was still to come', async () => {
    const r = await simulate(plan, {
      contacts: 2,
      start: '2026-03-02T16:00:00Z',
      until: 'P10D',
      events: [{ contactId: 'contact-1', type: 'unsubscribed', at: 'PT1H' }],
    });
    expect(r.enrollments.find((e) => e.contactId === 'contact-1')!.status).toBe('exited');
    expect(r.messages.filter((m) => m.contactId === 'contact-1').map((m) => m.nodeId)).toEqual(['email_intro']);
    expect(r.messages.filter((m) => m.contactId === 'contact-2').map((m) => m.nodeId)).toEqual(['email_intro', 'email_bump_1']);
  });

  it('refuses an invalid plan with its issues', async () => {
    const err = await simulate({ ...plan, startNodeId: 'nope' }, { contacts: 1, start: 0, until: 'P1D' }).catch((e: unknown) => e);
    expect(isDriplineError(err, 'INVALID_PLAN')).toBe(true);
    expect((err as Error).message).toContain('"nope"');
  });
});

describe('engine on the memory adapters', () => {
  it('a duplicated or late wake-up never sends twice, and a lost lease writes nothing', async () => {
    const clock = createVirtualClock('2026-03-02T18:00:00Z');
    const store = createMemoryStore();
    const queue = createMemoryQueue();
    const transport = createFakeTransport();
    const engine = createEngine({ store, queue, transports: transport, clock, leaseMs: 1000 });
    await engine.createCampaign(null, 't1', { id: 'c', plan });
    await engine.startCampaign(null, 't1', 'c');
    expect((await engine.enroll(null, 't1', 'c', [{ id: 'p1', address: { email: 'p1@example.test' } }])).enrolled).toBe(1);
    expect((await engine.enroll(null, 't1', 'c', [{ id: 'p1', address: { email: 'p1@example.test' } }])).enrolled).toBe(0);
    const [wake] = queue.takeDue(clock.now(), 10);
    expect(await engine.processAction('t1', wake!.key)).toBe('sent');
    expect(await engine.processAction('t1', wake!.key)).toBe('skipped');
    expect(transport.sent.map((m) => m.key)).toEqual([wake!.key]);

    // Fencing: worker A claims the no_open timeout, stalls past its lease; B takes it over.
    const timeout = store.dump('t1').actions.find((a) => a.kind === 'timeout')!;
    clock.advanceTo(timeout.runAt);
    const a = await store.transaction('t1', (tx) => tx.claimAction(timeout.key, { now: clock.now(), owner: 'A', leaseMs: 1000 }));
    expect(a?.leaseOwner).toBe('A');
    clock.advanceBy(5000);
    expect(await engine.processAction('t1', timeout.key, 'B')).toBe('stepped');
    // A resumes: whatever it tries to commit is refused.
    expect(await engine.processClaimed('t1', a!, 'A')).toBe('lost-lease');
    const lateWrite = await store.transaction('t1', (tx) => tx.finishAction(timeout.key, 'A', clock.now(), 'done'));
    expect(lateWrite).toBe(false);
    expect(store.dump('t1').enrollments[0]!.enrollment.nodeId).toBe('email_bump_1');
    expect(store.dump('t1').enrollments[0]!.enrollment.visit).toBe(2);
  });

  it('a transaction that throws leaves nothing behind', async () => {
    const store = createMemoryStore();
    await expect(
      store.transaction('t', async (tx) => {
        await tx.insertEvent({ tenantId: 't', providerEventId: 'e1', type: 'opened', at: 0, providerMessageId: null, messageKey: null, receivedAt: 0 });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const again = await store.transaction('t', (tx) =>
      tx.insertEvent({ tenantId: 't', providerEventId: 'e1', type: 'opened', at: 0, providerMessageId: null, messageKey: null, receivedAt: 0 }),
    );
    expect(again).toBe(true);
  });

  it('the virtual clock refuses to go backwards', () => {
    const clock = createVirtualClock(1000);
    expect(() => clock.advanceTo(999)).toThrow(/cannot go back/);
    clock.advanceBy(5);
    expect(clock.now()).toBe(1005);
  });
});
