/** The shipped fakes behave as documented (other packages' tests rely on them). */
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { isDriplineError, type OutboundMessage } from '@dripline/core';
import { createTwilioTransport, verifyTwilioSignature } from '../src/index.js';
import { startFakeSendgrid, startFakeTwilio } from '../src/testing/index.js';

const sms = (n: number): OutboundMessage => ({ key: `k${n}`, tenantId: 't1', campaignId: 'c1', contactId: `p${n}`, channel: 'sms', to: '+15555550100', body: `m${n}` });
const post = (url: string, accountSid: string, token: string, body = 'To=%2B1&From=%2B2&Body=x') =>
  fetch(`${url}/2010-04-01/Accounts/${accountSid}/Messages.json`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${accountSid}:${token}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });

describe('startFakeTwilio', () => {
  it('the default window is one second: the limit frees up after it', async () => {
    const fake = await startFakeTwilio({ messagesPerSecond: 1 });
    try {
      expect((await post(fake.url, fake.accountSid, fake.authToken)).status).toBe(201);
      const first = fake.requests()[0]!.at;
      // a refusal is only possible inside the first request's second
      const second = await post(fake.url, fake.accountSid, fake.authToken);
      const at = fake.requests()[1]!.at;
      expect(second.status).toBe(at - first < 1000 ? 429 : 201);
      await new Promise((r) => setTimeout(r, Math.max(0, first + 1001 - Date.now())));
      expect((await post(fake.url, fake.accountSid, fake.authToken)).status).toBe(201);
    } finally {
      await fake.close();
    }
  });

  it('enforces messagesPerSecond over a sliding window with 429 / 20429 and records every request', async () => {
    const fake = await startFakeTwilio({ messagesPerSecond: 3, windowMs: 60_000 });
    try {
      const answers = [];
      for (let i = 0; i < 5; i++) answers.push(await post(fake.url, fake.accountSid, fake.authToken));
      expect(answers.map((r) => r.status)).toEqual([201, 201, 201, 429, 429]);
      expect(await answers[3]!.json()).toMatchObject({ code: 20429, status: 429 });
      expect(Number(answers[3]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(59); // the 60 s window frees up in about a minute
      expect(fake.requests().map((r) => r.status)).toEqual([201, 201, 201, 429, 429]);
      expect(fake.messages()).toHaveLength(3);
      // in no sliding second did more than 3 get accepted
      const accepted = fake.requests().filter((r) => r.status === 201).map((r) => r.at);
      for (const t of accepted) expect(accepted.filter((u) => u > t - 60_000 && u <= t).length).toBeLessThanOrEqual(3);
    } finally {
      await fake.close();
    }
  });

  it('failNext applies `times` and then recovers; checks credentials', async () => {
    const fake = await startFakeTwilio();
    try {
      fake.failNext({ status: 500, code: 20500, times: 2 });
      fake.failNext({ status: 400, code: 21211 });
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await post(fake.url, fake.accountSid, fake.authToken)).status);
      expect(statuses).toEqual([500, 500, 400, 201]);
      expect((await post(fake.url, fake.accountSid, 'wrong')).status).toBe(401);
      expect(() => fake.failNext({ status: 500, times: 0 })).toThrow(RangeError);
    } finally {
      await fake.close();
    }
  });

  it('a timeout is never answered; close() still returns', async () => {
    const fake = await startFakeTwilio();
    const t = createTwilioTransport({ accountSid: fake.accountSid, authToken: fake.authToken, from: '+1', statusCallback: 'https://h.example.test/s', baseUrl: fake.url, timeoutMs: 100 });
    fake.failNext({ kind: 'timeout' });
    const e = await t.send(sms(1)).catch((x: unknown) => x);
    expect(isDriplineError(e, 'TRANSPORT_ERROR') && e.details.kind).toBe('ambiguous');
    expect(fake.requests()).toEqual([{ at: expect.any(Number), status: 0 }]);
    await fake.close();
  });

  it('sendStatusCallbacks posts queued → sent → delivered, correctly signed, to the StatusCallback URL', async () => {
    const got: Array<{ url: string; sig: string | undefined; body: string }> = [];
    const app = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        got.push({ url: req.url!, sig: req.headers['x-twilio-signature'] as string | undefined, body });
        res.end();
      });
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(app.address() as { port: number }).port}`;
    const fake = await startFakeTwilio({ sendStatusCallbacks: true });
    try {
      const t = createTwilioTransport({ accountSid: fake.accountSid, authToken: fake.authToken, from: '+15005550006', statusCallback: `${base}/status`, baseUrl: fake.url });
      const { providerMessageId } = await t.send(sms(1));
      await fake.idle();
      expect(got.map((g) => new URLSearchParams(g.body).get('MessageStatus'))).toEqual(['queued', 'sent', 'delivered']);
      for (const g of got) {
        expect(new URLSearchParams(g.body).get('MessageSid')).toBe(providerMessageId);
        expect(verifyTwilioSignature({ authToken: fake.authToken, url: `${base}${g.url}`, params: [...new URLSearchParams(g.body)], signature: g.sig })).toBe(true);
      }
      expect(fake.callbacks().map((c) => c.responseStatus)).toEqual([200, 200, 200]);
      const read = await fake.sendStatus(providerMessageId, 'read');
      expect(read.responseStatus).toBe(200);
    } finally {
      await fake.close();
      await new Promise<void>((r) => app.close(() => r()));
    }
  });
});

describe('startFakeSendgrid', () => {
  it('answers 202 with X-Message-Id, 401 for a wrong key, 400 for an incomplete mail, 429 over the limit', async () => {
    const fake = await startFakeSendgrid({ messagesPerSecond: 1, windowMs: 60_000 });
    try {
      const send = (key: string, mail: unknown) => fetch(`${fake.url}/v3/mail/send`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(mail) });
      const mail = { personalizations: [{ to: [{ email: 'a@example.test' }] }], from: { email: 'b@example.test' }, subject: 's', content: [{ type: 'text/plain', value: 'v' }] };
      const ok = await send(fake.apiKey, mail);
      expect(ok.status).toBe(202);
      expect(ok.headers.get('x-message-id')).toBe(fake.messages()[0]!.messageId);
      expect((await send('nope', mail)).status).toBe(401);
      expect((await send(fake.apiKey, { ...mail, subject: '' })).status).toBe(400);
      expect((await send(fake.apiKey, mail)).status).toBe(429);
      expect(fake.requests().map((r) => r.status)).toEqual([202, 401, 400, 429]);
    } finally {
      await fake.close();
    }
  });
});

describe('built package', () => {
  it('exposes both entries in ESM and CommonJS', async () => {
    const esm = await import('../dist/index.js');
    const esmTesting = await import('../dist/testing/index.js');
    const require = createRequire(import.meta.url);
    const cjs = require('../dist/index.cjs');
    const cjsTesting = require('../dist/testing/index.cjs');
    for (const m of [esm, cjs]) for (const name of ['createTwilioTransport', 'createTwilioWebhooks', 'createSendgridTransport', 'createSendgridWebhooks', 'verifyTwilioSignature', 'verifySendgridSignature']) expect(typeof m[name]).toBe('function');
    for (const m of [esmTesting, cjsTesting]) for (const name of ['startFakeTwilio', 'startFakeSendgrid', 'signTwilioRequest', 'postSignedTwilioWebhook']) expect(typeof m[name]).toBe('function');
  });
});
