/** Twilio status-callback and inbound handlers: signatures, URL pitfalls, replays, keywords. */
import { afterEach, describe, expect, it } from 'vitest';
import type { IncomingEvent, IngestResult } from '@dripline/core';
import { computeTwilioSignature, createTwilioWebhooks, requestUrl, type EventSink } from '../src/index.js';
import { signTwilioRequest } from '../src/testing/index.js';
import { contacts, engineHarness, recordingSink, shuffle, STATUS_URL, T0, TENANT } from './helpers.js';

const TOKEN = 'test-auth-token';

/** A sink that records events and answers `applied`. */
function stubSink() {
  const events: IncomingEvent[] = [];
  const suppressed: Array<[string, string, string | null]> = [];
  const sink: EventSink = {
    async ingestEvent(e): Promise<IngestResult> {
      events.push(e);
      return 'applied';
    },
    async suppress(t, a, c) {
      suppressed.push([t, a, c]);
    },
  };
  return { sink, events, suppressed };
}

const statusParams = (sid: string, status: string, extra: Record<string, string> = {}) => ({
  AccountSid: 'AC1',
  ApiVersion: '2010-04-01',
  From: '+15005550006',
  MessageSid: sid,
  MessageStatus: status,
  SmsSid: sid,
  SmsStatus: status,
  To: '+15555550100',
  ...extra,
});

describe('twilio status callback: signature', () => {
  const signedUrl = `${STATUS_URL}?dl_tenant=t1&dl_key=k1`;

  it('accepts a correctly signed callback and maps it', async () => {
    const { sink, events } = stubSink();
    const hooks = createTwilioWebhooks({ authToken: TOKEN, engine: sink });
    const r = await hooks.handleStatusCallback(signTwilioRequest({ authToken: TOKEN, url: signedUrl, params: statusParams('SM1', 'delivered') }));
    expect(r.status).toBe(200);
    expect(events).toEqual([{ tenantId: 't1', providerEventId: 'SM1:delivered', type: 'delivered', providerMessageId: 'SM1', channel: 'sms' }]);
  });

  it('maps read → read (opened), failed/undelivered → with the error code; ignores queued/sent', async () => {
    const { sink, events } = stubSink();
    const hooks = createTwilioWebhooks({ authToken: TOKEN, engine: sink });
    for (const [status, extra] of [['queued', {}], ['sent', {}], ['read', {}], ['failed', { ErrorCode: '30006' }], ['undelivered', { ErrorCode: '30007' }]] as const) {
      const r = await hooks.handleStatusCallback(signTwilioRequest({ authToken: TOKEN, url: signedUrl, params: statusParams('SM2', status, extra) }));
      expect(r.status).toBe(200);
    }
    expect(events.map((e) => [e.providerEventId, e.type, e.errorCode])).toEqual([
      ['SM2:read', 'read', undefined],
      ['SM2:failed', 'failed', '30006'],
      ['SM2:undelivered', 'undelivered', '30007'],
    ]);
  });

  it('rejects forged, tampered, replayed-with-other-params and unsigned callbacks with 403 and records nothing', async () => {
    const { sink, events } = stubSink();
    const hooks = createTwilioWebhooks({ authToken: TOKEN, engine: sink });
    const good = signTwilioRequest({ authToken: TOKEN, url: signedUrl, params: statusParams('SM3', 'delivered') });
    const forged = signTwilioRequest({ authToken: 'not-the-token', url: signedUrl, params: statusParams('SM3', 'delivered') });
    const tampered = { ...good, body: good.body.replace('MessageStatus=delivered', 'MessageStatus=failed') };
    const otherParams = { ...good, body: good.body.replace(/SM3/g, 'SM4') };
    const otherTenant = { ...good, url: signedUrl.replace('dl_tenant=t1', 'dl_tenant=t2') };
    const { 'x-twilio-signature': _s, ...unsignedHeaders } = good.headers;
    const unsigned = { ...good, headers: unsignedHeaders };
    const empty = { ...good, headers: { ...good.headers, 'x-twilio-signature': '' } };
    for (const req of [forged, tampered, otherParams, otherTenant, unsigned, empty]) expect((await hooks.handleStatusCallback(req)).status).toBe(403);
    expect(events).toEqual([]);
    expect((await hooks.handleStatusCallback(good)).status).toBe(200);
    expect(events).toHaveLength(1);
  });

  it('answers 400 to a malformed body and never throws, 500 when recording fails', async () => {
    const { sink, events } = stubSink();
    const hooks = createTwilioWebhooks({ authToken: TOKEN, engine: sink });
    const noSid = signTwilioRequest({ authToken: TOKEN, url: signedUrl, params: { MessageStatus: 'delivered' } });
    expect((await hooks.handleStatusCallback(noSid)).status).toBe(400);
    expect((await hooks.handleStatusCallback({ url: signedUrl, headers: {}, body: 42 as never })).status).toBe(400);
    expect((await hooks.handleStatusCallback({ url: signedUrl, headers: {}, body: { a: { b: 1 } } as never })).status).toBe(400);
    expect((await hooks.handleStatusCallback({ url: '/relative/without/host', headers: {}, body: '' })).status).toBe(400);
    const noTenant = signTwilioRequest({ authToken: TOKEN, url: STATUS_URL, params: statusParams('SM5', 'delivered') });
    expect((await hooks.handleStatusCallback(noTenant)).status).toBe(400);
    expect(events).toEqual([]);
    const failing = createTwilioWebhooks({ authToken: TOKEN, engine: { ingestEvent: () => Promise.reject(new Error('store down')), suppress: async () => {} } });
    expect((await failing.handleStatusCallback(signTwilioRequest({ authToken: TOKEN, url: signedUrl, params: statusParams('SM6', 'delivered') }))).status).toBe(500);
  });

  it('a failed callback with 21610 suppresses the recipient; 30034 raises a sender alert', async () => {
    const { sink, suppressed } = stubSink();
    const alerts: unknown[] = [];
    const halted: string[] = [];
    const hooks = createTwilioWebhooks({ authToken: TOKEN, engine: { ...sink, haltSender: (sender) => void halted.push(sender) }, onSenderAlert: (a) => alerts.push(a) });
    await hooks.handleStatusCallback(signTwilioRequest({ authToken: TOKEN, url: signedUrl, params: statusParams('SM7', 'failed', { ErrorCode: '21610' }) }));
    await hooks.handleStatusCallback(signTwilioRequest({ authToken: TOKEN, url: signedUrl, params: statusParams('SM8', 'undelivered', { ErrorCode: '30034' }) }));
    expect(suppressed).toEqual([['t1', '+15555550100', 'sms']]);
    expect(alerts).toEqual([{ tenantId: 't1', providerMessageId: 'SM8', from: '+15005550006', code: '30034', meaning: expect.any(String) }]);
    expect(halted).toEqual(['twilio:sms']);
  });
});

describe('twilio webhooks: URL pitfalls', () => {
  const publicUrl = 'https://hooks.example.com/twilio/status?dl_tenant=t1&dl_key=a%3Ab';
  const params = statusParams('SM9', 'delivered');
  const sig = computeTwilioSignature(TOKEN, publicUrl, params);
  const body = new URLSearchParams(params).toString();
  const path = '/twilio/status?dl_tenant=t1&dl_key=a%3Ab';
  const run = async (opts: { publicUrl?: string; trustProxy?: boolean }, url: string, headers: Record<string, string>) => {
    const { sink } = stubSink();
    const hooks = createTwilioWebhooks({ authToken: TOKEN, engine: sink, ...opts });
    return (await hooks.handleStatusCallback({ url, headers: { 'x-twilio-signature': sig, ...headers }, body })).status;
  };

  it('https behind a TLS-terminating proxy: X-Forwarded-Proto / X-Forwarded-Host rebuild the signed URL', async () => {
    expect(await run({}, path, { host: 'localhost:3000', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'hooks.example.com' })).toBe(200);
    expect(await run({}, path, { host: 'hooks.example.com', 'x-forwarded-proto': 'https, http' })).toBe(200);
    // without the forwarded headers the app sees http://localhost:3000/...: not what Twilio signed
    expect(await run({}, path, { host: 'localhost:3000' })).toBe(403);
    expect(await run({}, path, { host: 'hooks.example.com' })).toBe(403); // http, not https
    // trustProxy: false ignores them
    expect(await run({ trustProxy: false }, path, { host: 'localhost:3000', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'hooks.example.com' })).toBe(403);
  });

  it('a configured publicUrl wins over what the app sees', async () => {
    expect(await run({ publicUrl: 'https://hooks.example.com' }, path, { host: 'localhost:3000' })).toBe(200);
    expect(await run({ publicUrl: 'https://hooks.example.com/' }, `http://localhost:3000${path}`, {})).toBe(200);
    expect(await run({ publicUrl: 'https://other.example.com' }, path, { host: 'hooks.example.com', 'x-forwarded-proto': 'https' })).toBe(403);
  });

  it('explicit port vs none: the default port may be added or a port stripped, as Twilio does', async () => {
    expect(await run({}, `https://hooks.example.com:443${path}`, {})).toBe(200);
    expect(await run({}, path, { host: 'hooks.example.com:8443', 'x-forwarded-proto': 'https' })).toBe(200);
    const withPort = 'https://hooks.example.com:8443/twilio/status?dl_tenant=t1';
    const { sink } = stubSink();
    const hooks = createTwilioWebhooks({ authToken: TOKEN, engine: sink });
    const req = signTwilioRequest({ authToken: TOKEN, url: withPort, params });
    expect((await hooks.handleStatusCallback(req)).status).toBe(200);
    expect((await hooks.handleStatusCallback({ ...req, url: 'https://hooks.example.com:9443/twilio/status?dl_tenant=t1' })).status).toBe(403);
  });

  it('the query string is part of what is signed', async () => {
    expect(await run({}, 'https://hooks.example.com/twilio/status', {})).toBe(403);
    expect(await run({}, 'https://hooks.example.com/twilio/status?dl_key=a%3Ab&dl_tenant=t1', {})).toBe(403); // reordered
    expect(await run({}, 'https://hooks.example.com/twilio/status?dl_tenant=t1&dl_key=a%3Ab', {})).toBe(200);
  });

  it('requestUrl rebuilds what it can and refuses what it cannot', () => {
    expect(requestUrl({ url: '/a?b=1', headers: { host: 'x.test' } })).toBe('http://x.test/a?b=1');
    expect(requestUrl({ url: 'http://internal:3000/a?b=1', headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'x.test' } })).toBe('https://x.test/a?b=1');
    expect(requestUrl({ url: '/a', headers: new Headers({ host: 'x.test', 'x-forwarded-proto': 'https' }) })).toBe('https://x.test/a');
    expect(() => requestUrl({ url: '/a', headers: {} })).toThrow(/publicUrl/);
  });
});

describe('twilio inbound', () => {
  const INBOUND = 'https://hooks.example.test/twilio/inbound?dl_tenant=t1';
  const inbound = (body: string, from = '+15555550100', sid = 'SMin1') =>
    signTwilioRequest({ authToken: TOKEN, url: INBOUND, params: { AccountSid: 'AC1', Body: body, From: from, MessageSid: sid, To: '+15005550006' } });

  it('maps opt-out keywords (trimmed, any case) to unsubscribed, opt-in to resubscribed, anything else to replied', async () => {
    const { sink, events } = stubSink();
    const hooks = createTwilioWebhooks({ authToken: TOKEN, engine: sink });
    const bodies = ['STOP', ' stop ', 'StopAll', 'UNSUBSCRIBE', 'cancel', 'End', 'quit\n', 'START', 'yes', 'Unstop', 'stop please', 'Thanks!'];
    for (const [i, b] of bodies.entries()) {
      const r = await hooks.handleInbound(inbound(b, '+15555550100', `SMin${i}`));
      expect(r).toEqual({ status: 200, body: '<?xml version="1.0" encoding="UTF-8"?><Response></Response>', headers: { 'content-type': 'text/xml' } });
    }
    expect(events.map((e) => e.type)).toEqual([
      'unsubscribed', 'unsubscribed', 'unsubscribed', 'unsubscribed', 'unsubscribed', 'unsubscribed', 'unsubscribed',
      'resubscribed', 'resubscribed', 'resubscribed', 'replied', 'replied',
    ]);
    expect(events[0]).toEqual({ tenantId: 't1', providerEventId: 'SMin0', type: 'unsubscribed', address: '+15555550100', channel: 'sms' });
  });

  it('WhatsApp replies carry the bare number and the whatsapp channel; resolveReply attributes replies', async () => {
    const { sink, events } = stubSink();
    const hooks = createTwilioWebhooks({ authToken: TOKEN, engine: sink, resolveReply: async ({ from }) => (from === '+15555550100' ? { campaignId: 'c1', contactId: 'p0' } : null) });
    await hooks.handleInbound(inbound('hola', 'whatsapp:+15555550100'));
    expect(events[0]).toEqual({ tenantId: 't1', providerEventId: 'SMin1', type: 'replied', address: '+15555550100', channel: 'whatsapp', campaignId: 'c1', contactId: 'p0' });
  });

  it('rejects a forged inbound STOP (403) and suppresses nobody', async () => {
    const { sink, events } = stubSink();
    const hooks = createTwilioWebhooks({ authToken: TOKEN, engine: sink });
    const forged = signTwilioRequest({ authToken: 'wrong', url: INBOUND, params: { Body: 'STOP', From: '+15555550100', MessageSid: 'SMx' } });
    expect((await hooks.handleInbound(forged)).status).toBe(403);
    expect((await hooks.handleInbound({ ...inbound('hi'), body: inbound('STOP').body })).status).toBe(403);
    expect(events).toEqual([]);
  });

  it('tenantFromRequest and a fixed tenantId take precedence over the URL', async () => {
    const { sink, events } = stubSink();
    await createTwilioWebhooks({ authToken: TOKEN, engine: sink, tenantId: 'fixed' }).handleInbound(inbound('hi'));
    await createTwilioWebhooks({ authToken: TOKEN, engine: sink, tenantFromRequest: (_r, p) => `by-${p.To}` }).handleInbound(inbound('hi', '+1', 'SMin2'));
    expect(events.map((e) => e.tenantId)).toEqual(['fixed', 'by-+15005550006']);
  });
});

describe('status callbacks through the engine: replays and reordering', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  const plan = {
    version: '1.0',
    name: 'SMS',
    timezone: 'America/Los_Angeles',
    startNodeId: 'sms_hello',
    nodes: [
      {
        id: 'sms_hello',
        action: 'send',
        channel: 'sms',
        body: 'Hi {{name}}',
        schedule: { delay: 'PT0S' },
        transitions: [
          { on: 'opened', to: 'done' },
          { on: 'no_open', to: 'done', after: 'PT24H' },
        ],
      },
      { id: 'done', action: 'exit' },
    ],
  };

  /** Sends to 6 contacts and returns the callbacks Twilio would post for them. */
  async function setup() {
    const h = await engineHarness();
    close = h.close;
    const c = await h.engine.createCampaign(null, TENANT, { id: 'c1', plan });
    await h.engine.startCampaign(null, TENANT, c.id, { audience: contacts(6) });
    await h.runUntil(T0 + 60_000);
    const messages = h.twilioFake.messages();
    expect(messages).toHaveLength(6);
    const script: Array<Array<[string, Record<string, string>]>> = [
      [['queued', {}], ['sent', {}], ['delivered', {}]],
      [['queued', {}], ['sent', {}], ['delivered', {}], ['read', {}]],
      [['queued', {}], ['sent', {}], ['undelivered', { ErrorCode: '30003' }]],
      [['queued', {}], ['sent', {}], ['failed', { ErrorCode: '30006' }]],
      [['queued', {}], ['sent', {}], ['delivered', {}], ['read', {}]],
      [['queued', {}], ['sent', {}]],
    ];
    const requests = messages.flatMap((m, i) =>
      script[i]!.map(([status, extra]) =>
        signTwilioRequest({ authToken: h.twilioFake.authToken, url: m.statusCallback!, params: { AccountSid: h.twilioFake.accountSid, From: m.from, MessageSid: m.sid, MessageStatus: status, To: m.to, ...extra } }),
      ),
    );
    const sink = recordingSink(h.engine);
    const hooks = createTwilioWebhooks({ authToken: h.twilioFake.authToken, engine: sink });
    return { h, requests, sink, hooks, messages };
  }

  const state = (d: ReturnType<Awaited<ReturnType<typeof engineHarness>>['dump']>) => ({
    outbox: d.outbox.map((m) => [m.contactId, m.status]).sort(),
    events: d.events.map((e) => [e.providerEventId, e.type]).sort(),
    transitions: d.transitions.map((t) => [t.enrollmentId, t.from, t.to, t.cause.kind, t.cause.on ?? null]).sort(),
    enrollments: d.enrollments.map((e) => [e.enrollment.id, e.enrollment.status, e.enrollment.nodeId]).sort(),
    suppressions: d.suppressions.length,
  });

  it('each callback replayed 3 times and shuffled ends exactly where one in-order pass ends; statuses never go backwards', async () => {
    const inOrder = await setup();
    for (const r of inOrder.requests) expect((await inOrder.hooks.handleStatusCallback(r)).status).toBe(200);
    const expected = state(inOrder.h.dump());
    await close!();
    close = undefined;

    const replay = await setup();
    const tripled = shuffle([...replay.requests, ...replay.requests, ...replay.requests], 20261122);
    const seen = new Map<string, string[]>();
    for (const r of tripled) {
      expect((await replay.hooks.handleStatusCallback(r)).status).toBe(200);
      // the outbox status of every message only moves forward
      for (const m of replay.h.dump().outbox) {
        const hist = seen.get(m.key) ?? [];
        if (hist.at(-1) !== m.status) hist.push(m.status);
        seen.set(m.key, hist);
      }
    }
    expect(state(replay.h.dump())).toEqual(expected);
    const rank = ['sending', 'unknown', 'sent', 'delivered', 'read', 'undelivered', 'failed'];
    for (const hist of seen.values()) expect(hist).toEqual([...hist].sort((a, b) => rank.indexOf(a) - rank.indexOf(b)));
    // only the first copy of each counted event was fresh
    const fresh = replay.sink.results.filter((r) => r.result !== 'duplicate').map((r) => r.event.providerEventId);
    expect(new Set(fresh).size).toBe(fresh.length);
    expect(fresh.sort()).toEqual(inOrder.sink.results.map((r) => r.event.providerEventId).sort());
    expect(replay.sink.results.filter((r) => r.result === 'duplicate')).toHaveLength(2 * fresh.length);

    expect(expected.outbox.map(([, s]) => s)).toEqual(['delivered', 'read', 'undelivered', 'undelivered', 'read', 'sent']);
    // read (→ opened) moved contacts 1 and 4 to done
    expect(expected.enrollments.filter(([, , node]) => node === 'done').map(([id]) => id)).toEqual(['c1:p1', 'c1:p4']);
  });

  it('a late `sent` or `delivered` does not undo `read`', async () => {
    const { h, hooks, messages } = await setup();
    const m = messages[1]!;
    const sign = (status: string) => signTwilioRequest({ authToken: h.twilioFake.authToken, url: m.statusCallback!, params: { MessageSid: m.sid, MessageStatus: status, To: m.to } });
    for (const s of ['read', 'delivered', 'sent', 'queued']) expect((await hooks.handleStatusCallback(sign(s))).status).toBe(200);
    expect(h.dump().outbox.find((o) => o.providerMessageId === m.sid)?.status).toBe('read');
  });

  it('forged, tampered and unsigned callbacks change nothing in the store', async () => {
    const { h, hooks, requests } = await setup();
    const before = JSON.stringify(h.dump());
    const r = requests[2]!; // a delivered callback
    const attempts = [
      { ...r, headers: { ...r.headers, 'x-twilio-signature': computeTwilioSignature('forged-token', r.url, [...new URLSearchParams(r.body)]) } },
      { ...r, body: r.body.replace('delivered', 'undelivered') },
      { ...r, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      { ...r, url: r.url.replace('dl_tenant=t1', 'dl_tenant=t2') },
    ];
    for (const a of attempts) expect((await hooks.handleStatusCallback(a)).status).toBe(403);
    expect(JSON.stringify(h.dump())).toBe(before);
  });

  it('an inbound STOP suppresses the number for later sends', async () => {
    const { h, hooks } = await setup();
    const stop = signTwilioRequest({ authToken: h.twilioFake.authToken, url: 'https://hooks.example.test/twilio/inbound?dl_tenant=t1', params: { Body: ' Stop ', From: '+15550000003', To: '+15005550006', MessageSid: 'SMstop' } });
    expect((await hooks.handleInbound(stop)).status).toBe(200);
    expect(h.dump().suppressions.map((s) => [s.address, s.channel])).toEqual([['+15550000003', 'sms']]);
    const start = signTwilioRequest({ authToken: h.twilioFake.authToken, url: 'https://hooks.example.test/twilio/inbound?dl_tenant=t1', params: { Body: 'START', From: '+15550000003', To: '+15005550006', MessageSid: 'SMstart' } });
    expect((await hooks.handleInbound(start)).status).toBe(200);
    expect(h.dump().suppressions).toEqual([]);
  });
});
