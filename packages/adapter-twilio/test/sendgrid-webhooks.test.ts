/** SendGrid Event Webhook handler: signature, mapping, suppression, replays. */
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { IncomingEvent, IngestResult } from '@dripline/core';
import { createSendgridWebhooks, type EventSink } from '../src/index.js';
import { signSendgridPayload, startFakeSendgrid, type FakeSendgrid } from '../src/testing/index.js';
import { contacts, engineHarness, recordingSink, shuffle, T0, TENANT } from './helpers.js';

function stubSink() {
  const events: IncomingEvent[] = [];
  const suppressed: Array<[string, string, string | null, string]> = [];
  const sink: EventSink = {
    async ingestEvent(e): Promise<IngestResult> {
      events.push(e);
      return 'applied';
    },
    async suppress(t, a, c, reason) {
      suppressed.push([t, a, c, reason]);
    },
  };
  return { sink, events, suppressed };
}

describe('sendgrid events handler', () => {
  let fake: FakeSendgrid;
  afterEach(async () => fake?.close());

  const message = (key = 'e1:email_intro:1:send') => ({
    messageId: 'abc123XYZ',
    to: 'p0@example.test',
    from: 'hello@example.test',
    subject: 's',
    body: 'b',
    contentType: 'text/html',
    customArgs: { dl_tenant: 't1', dl_key: key },
    headers: {},
    receivedAt: 0,
  });

  it('maps every event type and suppresses unsubscribes, spam reports and hard bounces', async () => {
    fake = await startFakeSendgrid();
    const { sink, events, suppressed } = stubSink();
    const hooks = createSendgridWebhooks({ publicKey: fake.publicKey, engine: sink, maxAgeSeconds: 0 });
    const m = message();
    const batch = ['processed', 'deferred', 'delivered', 'open', 'click', 'bounce', 'dropped', 'unsubscribe', 'group_unsubscribe', 'spamreport', 'group_resubscribe', 'weird'].map((t) =>
      fake.event(m, t, { at: T0, ...(t === 'bounce' ? { type: 'bounce', reason: '550 no such user' } : {}) }),
    );
    const blocked = fake.event(m, 'bounce', { at: T0, type: 'blocked' });
    const r = await hooks.handleSendgridEvents(fake.signEvents([...batch, blocked]));
    expect(r.status).toBe(200);
    expect(events.map((e) => e.type)).toEqual(['delivered', 'open', 'click', 'bounce', 'dropped', 'unsubscribe', 'group_unsubscribe', 'spamreport', 'group_resubscribe', 'bounce']);
    expect(events[1]).toEqual({ tenantId: 't1', providerEventId: batch[3]!.sg_event_id, type: 'open', at: Math.floor(T0 / 1000) * 1000, providerMessageId: 'abc123XYZ' });
    expect(events[5]).toMatchObject({ address: 'p0@example.test', channel: 'email' });
    expect(events[1]).not.toHaveProperty('address');
    // hard bounce suppresses; a block does not
    expect(suppressed).toEqual([['t1', 'p0@example.test', 'email', 'sendgrid bounce: 550 no such user']]);
  });

  it('403 for a forged, tampered, re-timestamped or unsigned batch; nothing recorded', async () => {
    fake = await startFakeSendgrid();
    const { sink, events } = stubSink();
    const hooks = createSendgridWebhooks({ publicKey: fake.publicKey, engine: sink, maxAgeSeconds: 0 });
    const signed = fake.signEvents([fake.event(message(), 'unsubscribe')], 1_700_000_000);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forged = { ...signed, headers: { ...signed.headers, 'X-Twilio-Email-Event-Webhook-Signature': signSendgridPayload(other.privateKey, signed.rawBody, '1700000000') } };
    const tampered = { ...signed, rawBody: signed.rawBody.replace('p0@example.test', 'victim@example.test') };
    const retimed = { ...signed, headers: { ...signed.headers, 'X-Twilio-Email-Event-Webhook-Timestamp': '1700000001' } };
    const unsigned = { headers: { 'content-type': 'application/json' }, rawBody: signed.rawBody };
    for (const req of [forged, tampered, retimed, unsigned]) expect((await hooks.handleSendgridEvents(req)).status).toBe(403);
    expect(events).toEqual([]);
    expect((await hooks.handleSendgridEvents(signed)).status).toBe(200);
    expect(events).toHaveLength(1);
  });

  it('refuses a stale timestamp by default; header names are case-insensitive; bytes bodies work', async () => {
    fake = await startFakeSendgrid();
    const { sink, events } = stubSink();
    const now = 1_800_000_000_000;
    const hooks = createSendgridWebhooks({ publicKey: fake.publicKey, engine: sink, clock: { now: () => now } });
    const stale = fake.signEvents([fake.event(message(), 'open')], now / 1000 - 4 * 86_400);
    expect((await createSendgridWebhooks({ publicKey: fake.publicKey, engine: sink, clock: { now: () => now }, maxAgeSeconds: 600 }).handleSendgridEvents(fake.signEvents([fake.event(message(), 'open')], now / 1000 - 3600))).status).toBe(403);
    expect((await hooks.handleSendgridEvents(stale)).status).toBe(403);
    const fresh = fake.signEvents([fake.event(message(), 'open')], now / 1000 - 5);
    const lower = Object.fromEntries(Object.entries(fresh.headers).map(([k, v]) => [k.toLowerCase(), v]));
    expect((await hooks.handleSendgridEvents({ headers: new Headers(lower), rawBody: new TextEncoder().encode(fresh.rawBody) })).status).toBe(200);
    expect(events).toHaveLength(1);
  });

  it('400 for a signed body that is not a JSON array, or a parsed body; skips events without id; 500 when the store fails', async () => {
    fake = await startFakeSendgrid();
    const { sink, events } = stubSink();
    const hooks = createSendgridWebhooks({ publicKey: fake.publicKey, engine: sink, maxAgeSeconds: 0 });
    expect((await hooks.handleSendgridEvents(fake.signEvents('{"event":"open"}'))).status).toBe(400);
    expect((await hooks.handleSendgridEvents(fake.signEvents('not json'))).status).toBe(400);
    expect((await hooks.handleSendgridEvents({ headers: {}, rawBody: [{ event: 'open' }] as never })).status).toBe(400);
    const noId = { ...fake.event(message(), 'open'), sg_event_id: '' };
    expect((await hooks.handleSendgridEvents(fake.signEvents([noId]))).status).toBe(200);
    expect(events).toEqual([]);
    const failing = createSendgridWebhooks({ publicKey: fake.publicKey, engine: { ingestEvent: () => Promise.reject(new Error('down')), suppress: async () => {} }, maxAgeSeconds: 0 });
    expect((await failing.handleSendgridEvents(fake.signEvents([fake.event(message(), 'open')]))).status).toBe(500);
  });
});

describe('sendgrid events through the engine', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });
  const plan = {
    version: '1.0',
    name: 'Email',
    timezone: 'America/Los_Angeles',
    startNodeId: 'email_hello',
    exitOn: ['unsubscribed'],
    nodes: [
      { id: 'email_hello', action: 'send', channel: 'email', subject: 'Hi', body: 'Hi {{name}}', schedule: { delay: 'PT0S' }, transitions: [{ on: 'opened', to: 'wait_click' }, { on: 'bounced', to: 'done' }] },
      { id: 'wait_click', action: 'wait', transitions: [{ on: 'clicked', to: 'done' }, { on: 'no_click', to: 'done', after: 'P1D' }] },
      { id: 'done', action: 'exit' },
    ],
  };

  it('replayed ×3 and shuffled batches change nothing beyond the first; a click before its open is not lost', async () => {
    const run = async (shuffled: boolean) => {
      const h = await engineHarness();
      close = h.close;
      await h.engine.createCampaign(null, TENANT, { id: 'c1', plan });
      await h.engine.startCampaign(null, TENANT, 'c1', { audience: contacts(4) });
      await h.runUntil(T0 + 60_000);
      const ms = h.sendgridFake.messages();
      const ev = (i: number, t: string, extra: Record<string, unknown> = {}) => h.sendgridFake.event(ms[i]!, t, { at: T0 + 120_000, ...extra });
      const events = [ev(0, 'delivered'), ev(0, 'open'), ev(0, 'click'), ev(1, 'open'), ev(2, 'bounce', { type: 'bounce' }), ev(3, 'spamreport')];
      const sink = recordingSink(h.engine);
      const hooks = createSendgridWebhooks({ publicKey: h.sendgridFake.publicKey, engine: sink, clock: h.clock });
      const ts = Math.floor(h.clock.now() / 1000);
      if (!shuffled) {
        for (const e of events) expect((await hooks.handleSendgridEvents(h.sendgridFake.signEvents([e], ts))).status).toBe(200);
      } else {
        const copies = shuffle([...events, ...events, ...events], 42);
        // in batches of 3, as SendGrid batches
        for (let i = 0; i < copies.length; i += 3) expect((await hooks.handleSendgridEvents(h.sendgridFake.signEvents(copies.slice(i, i + 3), ts))).status).toBe(200);
      }
      const d = h.dump();
      const out = {
        nodes: d.enrollments.map((e) => [e.contactId, e.enrollment.status, e.enrollment.nodeId]).sort(),
        events: d.events.length,
        suppressions: d.suppressions.map((s) => s.address).sort(),
        duplicates: sink.results.filter((r) => r.result === 'duplicate').length,
      };
      await h.close();
      close = undefined;
      return out;
    };
    const a = await run(false);
    const b = await run(true);
    expect(b.nodes).toEqual(a.nodes);
    expect(b.events).toBe(a.events);
    expect(b.suppressions).toEqual(a.suppressions);
    expect(a.duplicates).toBe(0);
    expect(b.duplicates).toBe(12);
    expect(a.suppressions).toEqual(['p2@example.test', 'p3@example.test']);
    expect(a.nodes).toEqual([
      ['p0', 'completed', 'done'],
      ['p1', 'active', 'wait_click'],
      ['p2', 'completed', 'done'],
      ['p3', 'exited', 'email_hello'],
    ]);
  });
});
