/** Every listed provider answer is classified as documented, end to end through the fakes. */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDriplineError, type OutboundMessage, type Transport } from '@dripline/core';
import { createSendgridTransport, createTwilioTransport, TWILIO_ERROR_CODES, type TwilioClientLike } from '../src/index.js';
import { startFakeSendgrid, startFakeTwilio, type FakeSendgrid, type FakeTwilio } from '../src/testing/index.js';

const msg = (channel: OutboundMessage['channel'] = 'sms', n = 1): OutboundMessage => ({
  key: `e1:node:1:send:${n}`,
  tenantId: 't1',
  campaignId: 'c1',
  contactId: 'p1',
  channel,
  to: channel === 'email' ? 'p1@example.test' : '+15555550100',
  ...(channel === 'email' ? { subject: 'Hello' } : {}),
  body: 'hello',
});

async function failure(t: Transport, m: OutboundMessage = msg()): Promise<Record<string, unknown>> {
  try {
    await t.send(m);
  } catch (e) {
    if (!isDriplineError(e, 'TRANSPORT_ERROR')) throw e;
    return { retryable: e.retryable, message: e.message, ...(e.details as Record<string, unknown>) };
  }
  throw new Error('send resolved; a failure was expected');
}

/** A port nobody listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('twilio classification', () => {
  let fake: FakeTwilio;
  let t: Transport;
  beforeAll(async () => {
    fake = await startFakeTwilio();
    t = createTwilioTransport({ accountSid: fake.accountSid, authToken: fake.authToken, from: '+15005550006', statusCallback: 'https://hooks.example.test/s', baseUrl: fake.url, timeoutMs: 300 });
  });
  afterAll(() => fake.close());

  it('429 / 20429 is retryable and honours Retry-After', async () => {
    fake.failNext({ status: 429, code: 20429, retryAfterSeconds: 7 });
    expect(await failure(t)).toMatchObject({ kind: 'retryable', retryable: true, reason: 'rate-limited', providerCode: '20429', status: 429, retryAfterMs: 7000 });
  });

  it('a 429 without a code is still retryable', async () => {
    fake.failNext({ status: 429 });
    expect(await failure(t)).toMatchObject({ kind: 'retryable', reason: 'rate-limited' });
  });

  it('a refused connection is retryable (the request never left)', async () => {
    const port = await closedPort();
    const refused = createTwilioTransport({ accountSid: 'AC1', authToken: 'x', from: '+15005550006', statusCallback: 'https://h.example.test/s', baseUrl: `http://127.0.0.1:${port}` });
    expect(await failure(refused)).toMatchObject({ kind: 'retryable', retryable: true, reason: 'provider-unreachable' });
  });

  for (const status of [500, 502, 503]) {
    it(`${status} is ambiguous`, async () => {
      fake.failNext({ status, retryAfterSeconds: 3 });
      expect(await failure(t)).toMatchObject({ kind: 'ambiguous', retryable: false, reason: 'provider-error', status, retryAfterMs: 3000 });
    });
  }

  it('a timeout after the request left is ambiguous', async () => {
    fake.failNext({ kind: 'timeout' });
    expect(await failure(t)).toMatchObject({ kind: 'ambiguous', reason: 'no-answer' });
  });

  it('a reset connection after the request left is ambiguous', async () => {
    fake.failNext({ kind: 'reset' });
    expect(await failure(t)).toMatchObject({ kind: 'ambiguous', reason: 'no-answer' });
  });

  const permanent: Array<[number, string, Record<string, unknown>]> = [
    [21211, 'invalid-recipient', {}],
    [21614, 'invalid-recipient', {}],
    [21635, 'invalid-recipient', {}],
    [30006, 'unreachable-recipient', {}],
    [30007, 'content-filtered', {}],
    [63016, 'whatsapp-window-closed', {}],
    [21610, 'recipient-unsubscribed', { suppress: true }],
    [30034, 'sender-unregistered', { haltSender: true }],
    [30032, 'sender-unregistered', { haltSender: true }],
  ];
  for (const [code, reason, extra] of permanent) {
    it(`${code} is permanent (${reason})${Object.keys(extra).length ? ` with ${Object.keys(extra).join(', ')}` : ''}`, async () => {
      fake.failNext({ status: 400, code });
      const f = await failure(t);
      expect(f).toMatchObject({ kind: 'permanent', retryable: false, reason, providerCode: String(code), status: 400, ...extra });
      if (!('suppress' in extra)) expect(f.suppress).toBeUndefined();
      if (!('haltSender' in extra)) expect(f.haltSender).toBeUndefined();
      expect(TWILIO_ERROR_CODES[String(code)]?.reason).toBe(reason);
    });
  }

  it('wrong credentials are permanent (authentication-failed)', async () => {
    const bad = createTwilioTransport({ accountSid: fake.accountSid, authToken: 'wrong', from: '+15005550006', statusCallback: 'https://h.example.test/s', baseUrl: fake.url });
    expect(await failure(bad)).toMatchObject({ kind: 'permanent', reason: 'authentication-failed', providerCode: '20003', status: 401 });
  });

  it('another 4xx is permanent (rejected)', async () => {
    fake.failNext({ status: 400, code: 21602 });
    expect(await failure(t)).toMatchObject({ kind: 'permanent', reason: 'rejected', providerCode: '21602' });
  });

  it('every send carries ValidityPeriod and a StatusCallback with the tenant and key; WhatsApp gets its prefixes', async () => {
    const before = fake.messages().length;
    await t.send(msg('sms', 7));
    await t.send({ ...msg('whatsapp', 8) });
    const [sms, wa] = fake.messages().slice(before);
    expect(sms).toMatchObject({ to: '+15555550100', from: '+15005550006', validityPeriod: 3600 });
    const cb = new URL(sms!.statusCallback!);
    expect(cb.origin + cb.pathname).toBe('https://hooks.example.test/s');
    expect(cb.searchParams.get('dl_tenant')).toBe('t1');
    expect(cb.searchParams.get('dl_key')).toBe('e1:node:1:send:7');
    expect(wa).toMatchObject({ to: 'whatsapp:+15555550100', from: 'whatsapp:+15005550006' });
  });

  it('uses the messaging service unless the message names its sender; per-channel senders', async () => {
    const svc = createTwilioTransport({ accountSid: fake.accountSid, authToken: fake.authToken, messagingServiceSid: 'MG123', statusCallback: 'https://h.example.test/s', baseUrl: fake.url, validityPeriod: 600 });
    const per = createTwilioTransport({ accountSid: fake.accountSid, authToken: fake.authToken, from: { sms: '+15005550001', whatsapp: '+15005550002' }, statusCallback: 'https://h.example.test/s', baseUrl: fake.url });
    const before = fake.messages().length;
    await svc.send(msg('sms', 20));
    await svc.send({ ...msg('sms', 21), from: '+15005550009' });
    await per.send(msg('sms', 22));
    await per.send(msg('whatsapp', 23));
    expect(fake.messages().slice(before).map((m) => [m.from, m.to, m.validityPeriod])).toEqual([
      ['MG123', '+15555550100', 600],
      ['+15005550009', '+15555550100', 600],
      ['+15005550001', '+15555550100', 3600],
      ['whatsapp:+15005550002', 'whatsapp:+15555550100', 3600],
    ]);
  });

  it('refuses a validity period outside 1..36000 at construction', () => {
    expect(() => createTwilioTransport({ accountSid: 'AC1', authToken: 'x', from: '+1', statusCallback: 'https://h.example.test/', validityPeriod: 36_001 })).toThrow(/validityPeriod/);
  });
});

describe('twilio classification through the official client shape (client option)', () => {
  const clientFailing = (err: unknown): TwilioClientLike => ({ messages: { create: async () => Promise.reject(err) } });
  const make = (client: TwilioClientLike) => createTwilioTransport({ accountSid: 'AC1', client, messagingServiceSid: 'MG1', statusCallback: 'https://h.example.test/s' });

  it('maps RestException-like errors by status and code', async () => {
    expect(await failure(make(clientFailing(Object.assign(new Error('Too many'), { status: 429, code: 20429 }))))).toMatchObject({ kind: 'retryable' });
    expect(await failure(make(clientFailing(Object.assign(new Error('unsub'), { status: 400, code: 21610 }))))).toMatchObject({ kind: 'permanent', suppress: true });
    expect(await failure(make(clientFailing(Object.assign(new Error('boom'), { status: 500 }))))).toMatchObject({ kind: 'ambiguous' });
    expect(await failure(make(clientFailing(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))))).toMatchObject({ kind: 'retryable' });
    expect(await failure(make(clientFailing(Object.assign(new Error('timeout'), { code: 'ECONNABORTED' }))))).toMatchObject({ kind: 'ambiguous' });
  });

  it('passes the messaging service, callback and validity period to the client', async () => {
    const calls: unknown[] = [];
    const t = make({ messages: { create: async (p) => (calls.push(p), { sid: 'SM1' }) } });
    expect(await t.send(msg())).toEqual({ providerMessageId: 'SM1' });
    expect(calls[0]).toMatchObject({ to: '+15555550100', body: 'hello', messagingServiceSid: 'MG1', validityPeriod: 3600 });
    expect(String((calls[0] as { statusCallback: string }).statusCallback)).toContain('dl_key=');
  });
});

describe('sendgrid classification', () => {
  let fake: FakeSendgrid;
  let t: Transport;
  beforeAll(async () => {
    fake = await startFakeSendgrid();
    t = createSendgridTransport({ apiKey: fake.apiKey, from: { email: 'news@example.test', name: 'News' }, baseUrl: fake.url, timeoutMs: 300, unsubscribeUrl: (m) => `https://example.test/u?k=${encodeURIComponent(m.key)}` });
  });
  afterAll(() => fake.close());

  it('202 → X-Message-Id; custom_args and one-click List-Unsubscribe headers are sent', async () => {
    const r = await t.send(msg('email', 1));
    const m = fake.messages().at(-1)!;
    expect(r.providerMessageId).toBe(m.messageId);
    expect(m.customArgs).toEqual({ dl_tenant: 't1', dl_key: 'e1:node:1:send:1' });
    expect(m.headers).toEqual({ 'List-Unsubscribe': `<https://example.test/u?k=${encodeURIComponent('e1:node:1:send:1')}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' });
    expect(m).toMatchObject({ to: 'p1@example.test', from: 'news@example.test', subject: 'Hello', contentType: 'text/html' });
  });
  it('429 is retryable with Retry-After', async () => {
    fake.failNext({ status: 429, retryAfterSeconds: 2 });
    expect(await failure(t, msg('email'))).toMatchObject({ kind: 'retryable', reason: 'rate-limited', retryAfterMs: 2000 });
  });
  it('a rate-limit 429 from the window is retryable with a delay from X-RateLimit-Reset', async () => {
    const limited = await startFakeSendgrid({ messagesPerSecond: 1, windowMs: 60_000 });
    try {
      const lt = createSendgridTransport({ apiKey: limited.apiKey, from: 'a@example.test', baseUrl: limited.url, unsubscribeUrl: () => 'https://example.test/u' });
      await lt.send(msg('email'));
      const f = await failure(lt, msg('email'));
      expect(f).toMatchObject({ kind: 'retryable', status: 429 });
      expect(f.retryAfterMs).toBeGreaterThanOrEqual(0);
      expect(f.retryAfterMs).toBeLessThanOrEqual(61_000); // X-RateLimit-Reset: when the window frees up
    } finally {
      await limited.close();
    }
  });
  for (const status of [500, 503]) {
    it(`${status} is ambiguous`, async () => {
      fake.failNext({ status });
      expect(await failure(t, msg('email'))).toMatchObject({ kind: 'ambiguous', reason: 'provider-error' });
    });
  }
  it('a timeout is ambiguous', async () => {
    fake.failNext({ kind: 'timeout' });
    expect(await failure(t, msg('email'))).toMatchObject({ kind: 'ambiguous', reason: 'no-answer' });
  });
  for (const [status, reason] of [[400, 'rejected'], [401, 'authentication-failed'], [403, 'authentication-failed'], [413, 'rejected']] as const) {
    it(`${status} is permanent (${reason})`, async () => {
      fake.failNext({ status });
      expect(await failure(t, msg('email'))).toMatchObject({ kind: 'permanent', reason, status });
    });
  }
  it('a refused connection is retryable', async () => {
    const port = await closedPort();
    const refused = createSendgridTransport({ apiKey: 'k', from: 'a@example.test', baseUrl: `http://127.0.0.1:${port}`, unsubscribeUrl: () => 'https://example.test/u' });
    expect(await failure(refused, msg('email'))).toMatchObject({ kind: 'retryable', reason: 'provider-unreachable' });
  });
});

describe('an accepted answer without the provider id is an unknown outcome', () => {
  it('Twilio 201 without sid, SendGrid 202 without X-Message-Id → ambiguous no-answer', async () => {
    const { createServer: createHttp } = await import('node:http');
    const server = createHttp((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url?.startsWith('/v3/')) res.writeHead(202).end();
        else res.writeHead(201, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const tw = createTwilioTransport({ accountSid: 'AC1', authToken: 'x', from: '+1', statusCallback: 'https://h.example.test/s', baseUrl: base });
      const sg = createSendgridTransport({ apiKey: 'k', from: 'a@example.test', baseUrl: base, unsubscribeUrl: () => 'https://example.test/u' });
      expect(await failure(tw)).toMatchObject({ kind: 'ambiguous', reason: 'no-answer', status: 201 });
      expect(await failure(sg, msg('email'))).toMatchObject({ kind: 'ambiguous', reason: 'no-answer', status: 202 });
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
