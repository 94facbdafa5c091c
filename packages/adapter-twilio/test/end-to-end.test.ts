/**
 * End to end on the memory store with a virtual clock: seed 003's onboarding plan
 * (examples/quickstart/onboarding.plan.json) over 100 contacts, email through the fake
 * SendGrid and SMS through the fake Twilio, with opens, clicks, bounces, an unsubscribe and
 * STOP replies arriving as signed HTTP callbacks at the webhook handlers (served on
 * 127.0.0.1), and automatic signed Twilio status callbacks. Ends with exact per-contact paths.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSendgridWebhooks, createTwilioWebhooks } from '../src/index.js';
import { contacts, engineHarness, T0, TENANT } from './helpers.js';

const plan = JSON.parse(readFileSync(new URL('../../../examples/quickstart/onboarding.plan.json', import.meta.url), 'utf8'));
const H = 3_600_000;
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

// The groups (contact index ranges) and what happens to them.
const A = range(0, 20); //  open the intro, click                      → done
const B = range(20, 40); // open the intro, never click                 → SMS nudge (5 reply STOP afterwards)
const STOPPERS = range(20, 25);
const C = range(40, 55); // ignore the intro, open the bump, click      → done
const D = range(55, 70); // never open                                  → bump → done
const E = range(70, 80); // the intro hard-bounces                      → bump suppressed: failed
const F = range(80, 90); // unsubscribe from the intro                  → exited
const G = range(90, 100); // click reported before the open             → done (the click is replayed)

describe('end to end: seed 003 onboarding over 100 contacts through the fakes', () => {
  let h: Awaited<ReturnType<typeof engineHarness>>;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    // The webhook endpoints, as an application would mount them.
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const path = (req.url ?? '').split('?')[0];
        const r =
          path === '/twilio/status'
            ? await twilioHooks.handleStatusCallback({ url: req.url ?? '', headers: req.headers, body: raw })
            : path === '/twilio/inbound'
              ? await twilioHooks.handleInbound({ url: req.url ?? '', headers: req.headers, body: raw })
              : path === '/sendgrid/events'
                ? await sendgridHooks.handleSendgridEvents({ headers: req.headers, rawBody: raw })
                : { status: 404 };
        res.writeHead(r.status, r.headers ?? {});
        res.end(r.body ?? '');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    h = await engineHarness({ statusCallback: `${base}/twilio/status`, sendStatusCallbacks: true });
    twilioHooks = createTwilioWebhooks({ authToken: h.twilioFake.authToken, engine: h.engine });
    sendgridHooks = createSendgridWebhooks({ publicKey: h.sendgridFake.publicKey, engine: h.engine, clock: h.clock });
  });
  let twilioHooks: ReturnType<typeof createTwilioWebhooks>;
  let sendgridHooks: ReturnType<typeof createSendgridWebhooks>;

  afterAll(async () => {
    await h?.close();
    await new Promise<void>((r) => server?.close(() => r()));
  });

  /** Posts SendGrid events about contacts' latest email, signed with the current virtual time. */
  async function emailEvents(spec: Array<[number, string, Record<string, unknown>?]>) {
    const byContact = new Map(h.sendgridFake.messages().map((m) => [m.to, m] as const)); // latest wins
    const events = spec.map(([i, type, extra]) => h.sendgridFake.event(byContact.get(`p${i}@example.test`)!, type, { at: h.clock.now(), ...(extra ?? {}) }));
    for (let k = 0; k < events.length; k += 25) {
      const r = await h.sendgridFake.postEvents(`${base}/sendgrid/events`, events.slice(k, k + 25), Math.floor(h.clock.now() / 1000));
      expect(r.status).toBe(200);
    }
  }

  it('runs the plan and ends with the exact expected paths', async () => {
    const c = await h.engine.createCampaign(null, TENANT, { id: 'onboarding', plan });
    await h.engine.startCampaign(null, TENANT, c.id, { audience: contacts(100) });

    // Monday 09:00 LA: 100 intro emails.
    await h.runUntil(T0 + 60_000);
    expect(h.sendgridFake.messages()).toHaveLength(100);
    expect(h.sendgridFake.messages().every((m) => m.headers['List-Unsubscribe-Post'] === 'List-Unsubscribe=One-Click')).toBe(true);

    // Two hours later: engagement on the intro.
    await h.runUntil(T0 + 2 * H);
    await emailEvents([
      ...[...A, ...B, ...C, ...D].map((i): [number, string] => [i, 'delivered']),
      ...A.map((i): [number, string] => [i, 'open']),
      ...B.map((i): [number, string] => [i, 'open']),
      ...G.map((i): [number, string] => [i, 'click']), // the click arrives first...
      ...E.map((i): [number, string, Record<string, unknown>] => [i, 'bounce', { type: 'bounce', reason: '550 5.1.1 unknown user' }]),
      ...F.map((i): [number, string] => [i, 'unsubscribe']),
    ]);
    await emailEvents(G.map((i): [number, string] => [i, 'open'])); // ...then its open
    await h.runUntil(T0 + 3 * H);
    await emailEvents(A.map((i): [number, string] => [i, 'click']));

    // Thursday 09:00 (72 h): no_open → bump for C, D, E; Thursday 10:00: SMS nudge for B.
    await h.runUntil(T0 + 72 * H + 60_000);
    await h.runUntil(T0 + 73 * H + 60_000);
    await h.twilioFake.idle();
    expect(h.twilioFake.messages().map((m) => m.to).sort()).toEqual(B.map((i) => `+1555${String(i).padStart(7, '0')}`).sort());
    expect(h.twilioFake.messages().every((m) => m.validityPeriod === 3600 && m.statusCallback?.startsWith(`${base}/twilio/status?dl_tenant=t1&dl_key=`))).toBe(true);

    // C opens and clicks the bump; some of B reply STOP to the SMS.
    await h.runUntil(T0 + 74 * H);
    await emailEvents([...C.map((i): [number, string] => [i, 'open']), ...C.map((i): [number, string] => [i, 'click'])]);
    for (const i of STOPPERS) {
      const r = await h.twilioFake.sendInbound(`${base}/twilio/inbound?dl_tenant=t1`, { from: `+1555${String(i).padStart(7, '0')}`, to: '+15005550006', body: i % 2 ? ' stop ' : 'STOP' });
      expect(r.status).toBe(200);
    }

    // A week on: D's bump times out.
    await h.runUntil(T0 + 8 * 24 * H);
    await h.twilioFake.idle();

    const d = h.dump();
    const paths = new Map<string, string[]>();
    for (const t of d.transitions) paths.set(t.enrollmentId, [...(paths.get(t.enrollmentId) ?? []), t.to]);
    const status = new Map(d.enrollments.map((e) => [e.contactId, e.enrollment.status]));
    const expectGroup = (group: number[], path: string[], st: string) => {
      for (const i of group) {
        expect(paths.get(`onboarding:p${i}`), `path of p${i}`).toEqual(path);
        expect(status.get(`p${i}`), `status of p${i}`).toBe(st);
      }
    };
    expectGroup(A, ['email_intro', 'wait_click', 'done'], 'completed');
    expectGroup(B, ['email_intro', 'wait_click', 'sms_nudge'], 'completed');
    expectGroup(C, ['email_intro', 'email_bump_1', 'wait_click', 'done'], 'completed');
    expectGroup(D, ['email_intro', 'email_bump_1', 'done'], 'completed');
    expectGroup(E, ['email_intro', 'email_bump_1'], 'failed');
    expectGroup(F, ['email_intro'], 'exited');
    expectGroup(G, ['email_intro', 'wait_click', 'done'], 'completed');
    // G's click was replayed on entering wait_click
    const gDone = d.transitions.filter((t) => t.enrollmentId === 'onboarding:p90' && t.to === 'done');
    expect(gDone[0]?.cause).toMatchObject({ kind: 'event', on: 'clicked', replayed: true });

    // The outbox: 100 intros, 40 bumps (10 failed as suppressed), 20 SMS all delivered through signed callbacks.
    const byNode = (node: string) => d.outbox.filter((m) => m.key.includes(`:${node}:`));
    expect(byNode('email_intro')).toHaveLength(100);
    expect(byNode('email_bump_1').map((m) => m.status).sort()).toEqual([...Array(30).fill('sent'), ...Array(10).fill('failed')].sort());
    expect(byNode('sms_nudge').map((m) => m.status)).toEqual(Array(20).fill('delivered'));
    expect(h.sendgridFake.messages()).toHaveLength(130);
    expect(h.twilioFake.callbacks().filter((cb) => cb.responseStatus === 200)).toHaveLength(60);

    // Suppressions: bounced and unsubscribed emails, STOPped numbers.
    expect(d.suppressions.map((s) => `${s.channel}:${s.address}`).sort()).toEqual(
      [
        ...E.map((i) => `email:p${i}@example.test`),
        ...F.map((i) => `email:p${i}@example.test`),
        ...STOPPERS.map((i) => `sms:+1555${String(i).padStart(7, '0')}`),
      ].sort(),
    );
    // Exactly one message per action key.
    expect(new Set(d.outbox.map((m) => m.key)).size).toBe(d.outbox.length);
  });
});
