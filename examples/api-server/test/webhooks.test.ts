// The provider webhooks over real HTTP: Twilio status callbacks and inbound messages, the
// SendGrid Event Webhook. Correctly signed requests (signed by the fakes with the account's
// auth token / their private key) change what the API reports; forged, unsigned or tampered
// ones get 403 and change nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { postSignedTwilioWebhook, signSendgridPayload, signTwilioRequest } from '@dripline/adapter-twilio/testing';
import { admin, call, contacts, createAndStart, emailPlan, smsPlan, start, statusOf, until, waitForStatus, type Server } from './helpers.js';

let server: Server;
beforeAll(async () => {
  // No automatic status callbacks: each test sends exactly the callbacks it is about.
  server = await start({ twilio: { fake: { sendStatusCallbacks: false } } });
});
afterAll(async () => {
  await server?.close();
});

async function messages(id: string) {
  const r = await admin(server, 'GET', `/api/campaigns/${id}/messages?limit=100`);
  expect(r.status).toBe(200);
  return r.json.messages as Array<{ key: string; contactId: string; status: string; providerMessageId: string | null; failureReason: string | null }>;
}

describe('Twilio status callbacks', () => {
  const audience = contacts(2, 'cb');
  let id: string;
  let fakeMessages: ReturnType<NonNullable<Server['twilioFake']>['messages']>;
  beforeAll(async () => {
    id = await createAndStart(server, { plan: smsPlan('Callbacks'), contacts: audience });
    await waitForStatus(server, id, 'completed');
    fakeMessages = server.twilioFake!.messages().filter((m) => audience.some((c) => c.address.phone === m.to));
    expect(fakeMessages).toHaveLength(2);
  });

  it('the status callback URL carries the tenant and message key, on our public URL', () => {
    const url = new URL(fakeMessages[0]!.statusCallback!);
    expect(url.origin + url.pathname).toBe(`${server.url}/webhooks/twilio/status`);
    expect(url.searchParams.get('dl_tenant')).toBe('acme');
    expect(url.searchParams.get('dl_key')).toMatch(new RegExp(`^${id}:cb-\\d:announce:1:send$`));
  });

  it('a correctly signed "delivered" callback is accepted and moves the message to delivered', async () => {
    const before = await messages(id);
    expect(before.map((m) => m.status)).toEqual(['sent', 'sent']);
    const cb = await server.twilioFake!.sendStatus(fakeMessages[0]!.sid, 'delivered');
    expect(cb.responseStatus).toBe(200);
    const after = await messages(id);
    const m = after.find((x) => x.providerMessageId === fakeMessages[0]!.sid)!;
    expect(m.status).toBe('delivered');
    expect(after.find((x) => x.providerMessageId === fakeMessages[1]!.sid)!.status).toBe('sent');
  });

  it('a replayed callback is accepted and changes nothing', async () => {
    const cb = await server.twilioFake!.sendStatus(fakeMessages[0]!.sid, 'delivered');
    expect(cb.responseStatus).toBe(200);
    const metrics = await call(server, 'GET', '/metrics');
    expect(metrics.text).toMatch(/^dripline_events_received_total\{type="delivered",outcome="duplicate"\} 1$/m);
  });

  it('a callback signed with another auth token gets 403 and changes nothing', async () => {
    const target = fakeMessages[1]!;
    const params = { AccountSid: server.twilioFake!.accountSid, MessageSid: target.sid, MessageStatus: 'delivered', To: target.to, From: target.from };
    const forged = await postSignedTwilioWebhook({ authToken: 'not-the-auth-token', url: target.statusCallback!, params });
    expect(forged.status).toBe(403);
    expect(forged.body).toBe('invalid signature');

    // Signed correctly, then tampered with: the signature covers every parameter.
    const signed = signTwilioRequest({ authToken: server.twilioFake!.authToken, url: target.statusCallback!, params: { ...params, MessageStatus: 'sent' } });
    const tampered = await fetch(signed.url, { method: 'POST', headers: signed.headers, body: signed.body.replace('MessageStatus=sent', 'MessageStatus=delivered') });
    expect(tampered.status).toBe(403);

    const unsigned = await fetch(target.statusCallback!, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params).toString() });
    expect(unsigned.status).toBe(403);

    // The same callback, signed for another URL (another tenant in dl_tenant): refused.
    const otherUrl = target.statusCallback!.replace('dl_tenant=acme', 'dl_tenant=globex');
    const moved = signTwilioRequest({ authToken: server.twilioFake!.authToken, url: target.statusCallback!, params });
    expect((await fetch(otherUrl, { method: 'POST', headers: moved.headers, body: moved.body })).status).toBe(403);

    expect((await messages(id)).find((x) => x.providerMessageId === target.sid)!.status).toBe('sent');
  });

  it('a signed "undelivered" callback with an error code marks the message undelivered', async () => {
    const cb = await server.twilioFake!.sendStatus(fakeMessages[1]!.sid, 'undelivered', { ErrorCode: '30003' });
    expect(cb.responseStatus).toBe(200);
    expect((await messages(id)).find((x) => x.providerMessageId === fakeMessages[1]!.sid)!.status).toBe('undelivered');
  });
});

describe('Twilio inbound messages', () => {
  const inboundUrl = () => `${server.url}/webhooks/twilio/inbound?dl_tenant=acme`;

  it('STOP suppresses the number: the next campaign does not text it', async () => {
    const [quitter, stayer] = contacts(2, 'stop-in');
    const r = await server.twilioFake!.sendInbound(inboundUrl(), { from: quitter!.address.phone, to: '+15005550006', body: ' stop ' });
    expect(r.status).toBe(200);
    expect(r.body).toBe('<?xml version="1.0" encoding="UTF-8"?><Response></Response>');

    const id = await createAndStart(server, { plan: smsPlan('After STOP'), contacts: [quitter, stayer] });
    await waitForStatus(server, id, 'completed');
    const to = server.twilioFake!.messages().map((m) => m.to);
    expect(to).toContain(stayer!.address.phone);
    expect(to).not.toContain(quitter!.address.phone);
    const m = (await messages(id)).find((x) => x.contactId === quitter!.id)!;
    expect(m.status).toBe('failed');
    expect(m.failureReason).toMatch(/suppressed/);
    const s = await statusOf(server, id);
    expect(s.progress).toMatchObject({ total: 2, processed: 2, success: 1, failed: 1 });
  });

  it('a forged inbound message gets 403 and suppresses nothing', async () => {
    const [victim] = contacts(1, 'forged-in');
    const forged = await postSignedTwilioWebhook({
      authToken: 'guessed-token',
      url: inboundUrl(),
      params: { AccountSid: server.twilioFake!.accountSid, MessageSid: 'SMforged000000000000000000000001', From: victim!.address.phone, To: '+15005550006', Body: 'STOP' },
    });
    expect(forged.status).toBe(403);
    const id = await createAndStart(server, { plan: smsPlan('After forged STOP'), contacts: [victim] });
    await waitForStatus(server, id, 'completed');
    expect(server.twilioFake!.messages().map((m) => m.to)).toContain(victim!.address.phone);
  });
});

describe('SendGrid Event Webhook', () => {
  const audience = contacts(2, 'mail');
  let id: string;
  beforeAll(async () => {
    id = await createAndStart(server, { plan: emailPlan('Mail'), contacts: audience });
    await waitForStatus(server, id, 'completed');
  });
  const url = () => `${server.url}/webhooks/sendgrid/events`;
  const mails = () => server.sendgridFake!.messages().filter((m) => audience.some((c) => c.address.email === m.to));

  it('the mail went out through the (fake) SendGrid API with the tenant and key as custom args', () => {
    expect(mails()).toHaveLength(2);
    expect(mails()[0]!.customArgs).toMatchObject({ dl_tenant: 'acme' });
    expect(mails()[0]!.subject).toBe('News for Person 1');
  });

  it('a correctly signed "delivered" event is accepted and marks the message delivered', async () => {
    const mail = mails()[0]!;
    const r = await server.sendgridFake!.postEvents(url(), [server.sendgridFake!.event(mail, 'delivered')]);
    expect(r.status).toBe(200);
    const m = (await messages(id)).find((x) => x.providerMessageId === mail.messageId)!;
    expect(m.status).toBe('delivered');
  });

  it('events signed with another key, or tampered with, get 403 and change nothing', async () => {
    const mail = mails()[1]!;
    const events = [server.sendgridFake!.event(mail, 'delivered')];
    const body = JSON.stringify(events);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const forged = await fetch(url(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-twilio-email-event-webhook-signature': signSendgridPayload(other, body, timestamp), 'x-twilio-email-event-webhook-timestamp': timestamp },
      body,
    });
    expect(forged.status).toBe(403);

    const signed = server.sendgridFake!.signEvents(events);
    const tampered = await fetch(url(), { method: 'POST', headers: signed.headers, body: signed.rawBody.replace('"delivered"', '"bounce"') });
    expect(tampered.status).toBe(403);

    const m = (await messages(id)).find((x) => x.providerMessageId === mail.messageId)!;
    expect(m.status).toBe('sent');
  });

  it('a signed body that is not an event array is a 400', async () => {
    const signed = server.sendgridFake!.signEvents('{"not":"an array"}');
    const r = await fetch(url(), { method: 'POST', headers: signed.headers, body: signed.rawBody });
    expect(r.status).toBe(400);
  });

  it('/metrics counts the ingested events', async () => {
    await until(async () => /dripline_events_received_total\{type="delivered"/.test((await call(server, 'GET', '/metrics')).text), 'event metrics');
    const r = await call(server, 'GET', '/metrics');
    expect(r.text).toMatch(/^dripline_events_received_total\{type="unsubscribed",outcome="applied"\} 1$/m);
  });
});
