// The HTTP API over real HTTP, started in-process on embedded PGlite with the local Twilio
// and SendGrid fakes: every endpoint, every refusal (401, 403 per permission and route),
// validation (400 with paths), plan validation, engine errors (404, 409), tenancy, metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDriplineError } from '@dripline/core';
import {
  ADMIN,
  LACKING,
  OTHER_TENANT,
  admin,
  call,
  contacts,
  createAndStart,
  emailPlan,
  smsPlan,
  start,
  statusOf,
  until,
  waitForStatus,
  type Server,
} from './helpers.js';

let server: Server;
beforeAll(async () => {
  server = await start();
});
afterAll(async () => {
  await server?.close();
});

/** Every protected route with the permission it needs (`:id` is replaced by a real campaign). */
const ROUTES: Array<[method: string, path: string, permission: string]> = [
  ['GET', '/api/campaigns', 'campaigns.read'],
  ['POST', '/api/campaigns', 'campaigns.create'],
  ['GET', '/api/campaigns/:id', 'campaigns.read'],
  ['POST', '/api/campaigns/:id/start', 'campaigns.send'],
  ['GET', '/api/campaigns/:id/queue-status', 'campaigns.read'],
  ['POST', '/api/campaigns/:id/queue-pause', 'campaigns.send'],
  ['POST', '/api/campaigns/:id/queue-resume', 'campaigns.send'],
  ['POST', '/api/campaigns/:id/queue-stop', 'campaigns.send'],
  ['GET', '/api/campaigns/:id/plan', 'campaigns.read'],
  ['GET', '/api/campaigns/:id/plan.svg', 'campaigns.read'],
  ['GET', '/api/campaigns/:id/messages', 'campaigns.read'],
  ['GET', '/api/dashboard/campaign-queue-metrics', 'campaigns.read'],
];

describe('authentication and permissions', () => {
  let draftId: string;
  beforeAll(async () => {
    const r = await admin(server, 'POST', '/api/campaigns', { id: 'perm-draft', plan: smsPlan(), contacts: contacts(2) });
    expect(r.status).toBe(201);
    draftId = r.json.campaign.id;
  });
  const bodyFor = (method: string, path: string) => (path === '/api/campaigns' && method === 'POST' ? { plan: smsPlan('refused'), contacts: contacts(1) } : undefined);

  for (const [method, path, permission] of [...ROUTES, ['GET', '/api/me', 'none'] as [string, string, string]]) {
    it(`${method} ${path}: 401 without a token, with a bad token, with a malformed header`, async () => {
      const p = path.replace(':id', 'perm-draft');
      const none = await call(server, method, p, { body: bodyFor(method, path) });
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer realm="dripline"');
      expect(none.json).toMatchObject({ success: false, error: 'unauthorized' });

      const bad = await call(server, method, p, { token: 'not-a-real-token', body: bodyFor(method, path) });
      expect(bad.status).toBe(401);
      expect(bad.headers.get('www-authenticate')).toMatch(/^Bearer realm="dripline", error="invalid_token"/);
      expect(bad.json.message).toBe('the bearer token is not valid');

      const basic = await call(server, method, p, { headers: { authorization: `Basic ${Buffer.from(`x:${ADMIN}`).toString('base64')}` } });
      expect(basic.status).toBe(401);
      expect(basic.json.message).toMatch(/must be "Bearer <token>"/);
      void permission;
    });
  }

  for (const [method, path, permission] of ROUTES) {
    it(`${method} ${path}: 403 naming "${permission}" for a token without it, and nothing changes`, async () => {
      const before = await statusOf(server, draftId);
      const listBefore = await admin(server, 'GET', '/api/campaigns?limit=200');
      const r = await call(server, method, path.replace(':id', draftId), { token: LACKING[permission], body: bodyFor(method, path) });
      expect(r.status).toBe(403);
      expect(r.json).toMatchObject({ success: false, error: 'forbidden', permission });
      expect(r.json.message).toContain(`"${permission}"`);
      expect(await statusOf(server, draftId)).toEqual(before);
      expect((await admin(server, 'GET', '/api/campaigns?limit=200')).json.total).toBe(listBefore.json.total);
    });
  }

  it('the tokens lacking one permission still hold the others', async () => {
    expect((await call(server, 'GET', `/api/campaigns/${draftId}/queue-status`, { token: LACKING['campaigns.send'] })).status).toBe(200);
    expect((await call(server, 'GET', '/api/campaigns', { token: LACKING['campaigns.create'] })).status).toBe(200);
    const me = await call(server, 'GET', '/api/me', { token: LACKING['campaigns.read'] });
    expect(me.json.principal).toEqual({ id: 'no-read', tenantId: 'acme', permissions: ['campaigns.create', 'campaigns.send'] });
  });

  it('the engine checks the same permissions through its Authorizer', async () => {
    const viewer = { id: 'viewer', tenantId: 'acme', permissions: ['campaigns.read'] };
    const e = await server.engine.pauseCampaign(viewer, 'acme', draftId).catch((x: unknown) => x);
    expect(isDriplineError(e, 'FORBIDDEN')).toBe(true);
    await expect(server.engine.getCampaign(viewer, 'acme', draftId)).resolves.toMatchObject({ id: draftId });
  });

  it('a token of another tenant sees none of this tenant\'s campaigns', async () => {
    const list = await call(server, 'GET', '/api/campaigns', { token: OTHER_TENANT });
    expect(list.status).toBe(200);
    expect(list.json.campaigns.map((c: { id: string }) => c.id)).not.toContain(draftId);
    for (const [method, path] of ROUTES.filter(([, p]) => p.includes(':id'))) {
      const r = await call(server, method, path.replace(':id', draftId), { token: OTHER_TENANT });
      expect(r.status, `${method} ${path}`).toBe(404);
    }
    expect((await statusOf(server, draftId)).status).toBe('draft');
  });
});

describe('POST /api/campaigns', () => {
  it('creates a draft from a plan and a contact list (201), with plan warnings', async () => {
    const plan = { ...smsPlan('Warned'), variables: [] as string[] };
    const r = await admin(server, 'POST', '/api/campaigns', { plan, contacts: contacts(3), name: 'Spring', batchSize: 2, failureThreshold: 0.3 });
    expect(r.status).toBe(201);
    expect(r.json.success).toBe(true);
    expect(r.json.campaign).toMatchObject({ name: 'Spring', status: 'draft', planVersion: 1, batchSize: 2, failureThreshold: 0.3, audienceSize: 3, startAt: null });
    expect(r.json.campaign.id).toMatch(/^cmp_/);
    expect(r.json.warnings).toEqual([
      expect.objectContaining({ code: 'undeclared_variable', severity: 'warning', path: 'plan.nodes[0].body', planPath: 'nodes[0].body' }),
    ]);
    const got = await admin(server, 'GET', `/api/campaigns/${r.json.campaign.id}`);
    expect(got.status).toBe(200);
    expect(got.json.campaign).toEqual(r.json.campaign);
  });

  it('accepts a count of generated demo contacts', async () => {
    const r = await admin(server, 'POST', '/api/campaigns', { plan: smsPlan(), generateContacts: 7, contacts: contacts(1, 'g') });
    expect(r.status).toBe(201);
    expect(r.json.campaign.audienceSize).toBe(8);
  });

  it('refuses a body that is not JSON (400 invalid_json)', async () => {
    const r = await call(server, 'POST', '/api/campaigns', { token: ADMIN, raw: '{"plan": {', headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ success: false, error: 'invalid_json' });
    expect(r.json.message).toMatch(/not valid JSON/);
    const empty = await call(server, 'POST', '/api/campaigns', { token: ADMIN, raw: '' });
    expect(empty.status).toBe(400);
    expect(empty.json.error).toBe('invalid_json');
  });

  it('reports each bad field with its path (400 invalid_request)', async () => {
    const list = contacts(5);
    (list[3] as Record<string, unknown>).timezone = 'Mars/Olympus_Mons';
    (list[1] as { address: Record<string, string> }).address = { email: 'not-an-email' };
    (list[4] as { address: Record<string, string> }).address = { phone: '555-0100' };
    const r = await admin(server, 'POST', '/api/campaigns', { plan: smsPlan(), contacts: list, batchSize: 0, surprise: true });
    expect(r.status).toBe(400);
    expect(r.json.error).toBe('invalid_request');
    const byPath = Object.fromEntries(r.json.issues.map((i: { path: string; message: string }) => [i.path, i.message]));
    expect(byPath['contacts.3.timezone']).toBe('not an IANA time zone (e.g. "Europe/Berlin")');
    expect(byPath['contacts.1.address.email']).toBe('not an email address');
    expect(byPath['contacts.4.address.phone']).toMatch(/not an E\.164 phone number/);
    expect(byPath['batchSize']).toMatch(/>=1/);
    expect(byPath['surprise']).toBe('unknown field "surprise"');
    expect(Object.keys(byPath)).toHaveLength(5);
  });

  it('requires an audience, a plan object, distinct contact ids', async () => {
    const noAudience = await admin(server, 'POST', '/api/campaigns', { plan: smsPlan() });
    expect(noAudience.status).toBe(400);
    expect(noAudience.json.issues).toEqual([expect.objectContaining({ path: 'contacts', message: expect.stringMatching(/give the audience/) })]);

    const noPlan = await admin(server, 'POST', '/api/campaigns', { plan: 'welcome', contacts: contacts(1) });
    expect(noPlan.status).toBe(400);
    expect(noPlan.json.issues[0]).toMatchObject({ path: 'plan', code: 'invalid_type' });

    const dup = contacts(3);
    dup[2]!.id = 'c-1';
    const dupes = await admin(server, 'POST', '/api/campaigns', { plan: smsPlan(), contacts: dup });
    expect(dupes.status).toBe(400);
    expect(dupes.json.issues).toEqual([{ path: 'contacts.2.id', code: 'custom', message: 'duplicate contact id "c-1" (also contacts.0.id)' }]);

    const array = await admin(server, 'POST', '/api/campaigns', [1, 2]);
    expect(array.status).toBe(400);
    expect(array.json.issues[0].path).toBe('(body)');
  });

  it('refuses an invalid plan with core\'s codes and paths (400 invalid_plan)', async () => {
    const plan = {
      version: '1.0',
      name: 'Broken',
      timezone: 'UTC',
      startNodeId: 'hello',
      nodes: [
        { id: 'hello', action: 'send', channel: 'sms', body: 'hi', transitions: [{ on: 'replied', to: 'nowhere' }, { on: 'no_reply', to: 'hello' }] },
        { id: 'later', action: 'wait', transitions: [{ on: 'no_click', to: 'hello', after: 'PT1H' }] },
      ],
    };
    const r = await admin(server, 'POST', '/api/campaigns', { plan, contacts: contacts(1) });
    expect(r.status).toBe(400);
    expect(r.json.error).toBe('invalid_plan');
    const byCode = Object.fromEntries(r.json.issues.map((i: { code: string }) => [i.code, i]));
    expect(byCode.unknown_target).toEqual({
      code: 'unknown_target',
      severity: 'error',
      path: 'plan.nodes[0].transitions[0].to',
      planPath: 'nodes[0].transitions[0].to',
      message: 'target "nowhere" is not the id of any node',
    });
    expect(byCode.timeout_without_after).toMatchObject({ severity: 'error', path: 'plan.nodes[0].transitions[1].after' });
    expect(byCode.unreachable_node).toMatchObject({ severity: 'warning', path: 'plan.nodes[1]' });

    // Shape errors (zod, inside core) come back the same way.
    const shapes = [
      [{ ...plan, nodes: [{ id: 'hello', action: 'wait', transitions: [{ on: 'no_click', to: 'hello', after: 'P2X' }] }] }, 'invalid_duration', 'plan.nodes[0].transitions[0].after'],
      [{ ...smsPlan(), timezone: 'Mars/Olympus_Mons' }, 'invalid_timezone', 'plan.timezone'],
      [{ ...smsPlan(), version: '2.0' }, 'unsupported_version', 'plan.version'],
      [{ ...smsPlan(), startNodeId: undefined }, 'required', 'plan.startNodeId'],
    ] as const;
    for (const [bad, code, path] of shapes) {
      const x = await admin(server, 'POST', '/api/campaigns', { plan: bad, contacts: contacts(1) });
      expect(x.status, code).toBe(400);
      expect(x.json.issues.map((i: { code: string; path: string }) => `${i.code} ${i.path}`), code).toContain(`${code} ${path}`);
    }
    // Nothing of the refused plans was stored.
    const list = await admin(server, 'GET', '/api/campaigns?limit=200');
    expect(list.json.campaigns.map((c: { name: string }) => c.name)).not.toContain('Broken');
  });

  it('409 for an id that exists; the existing campaign keeps its audience', async () => {
    const a = await admin(server, 'POST', '/api/campaigns', { id: 'dup-id', plan: smsPlan(), contacts: contacts(2) });
    expect(a.status).toBe(201);
    const b = await admin(server, 'POST', '/api/campaigns', { id: 'dup-id', plan: smsPlan(), contacts: contacts(5) });
    expect(b.status).toBe(409);
    expect(b.json.message).toBe('campaign "dup-id" already exists in tenant "acme"');
    expect((await admin(server, 'GET', '/api/campaigns/dup-id')).json.campaign.audienceSize).toBe(2);
  });

  it('an unknown compliance preset is a 400 from the engine', async () => {
    const r = await admin(server, 'POST', '/api/campaigns', { plan: smsPlan(), contacts: contacts(1), compliance: ['mars-quiet-law'] });
    expect(r.status).toBe(400);
    expect(r.json.message).toMatch(/mars-quiet-law/);
  });
});

describe('running a campaign', () => {
  let id: string;
  beforeAll(async () => {
    id = await createAndStart(server, { plan: smsPlan('Run'), contacts: contacts(6, 'run'), name: 'Run' });
    await waitForStatus(server, id, 'completed');
  });

  it('POST start answers in seed 004\'s shape', async () => {
    const created = await admin(server, 'POST', '/api/campaigns', { plan: smsPlan(), contacts: contacts(4, 'shape') });
    const r = await admin(server, 'POST', `/api/campaigns/${created.json.campaign.id}/start`);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ success: true, message: 'Campaign queued for sending', estimatedContacts: 4, estimatedTime: 400 });
    // As stored after enrolment: active, or already completed if the four sends were that quick.
    expect(['active', 'completed']).toContain(r.json.campaign.status);
    expect(Date.parse(r.json.campaign.updatedAt)).toBeGreaterThan(Date.parse(created.json.campaign.updatedAt));
    expect(r.json.jobId).toMatch(new RegExp(`^${created.json.campaign.id}:start:\\d+$`));
    await waitForStatus(server, created.json.campaign.id, 'completed');
  });

  it('GET queue-status: seed 004\'s status with progress', async () => {
    const r = await admin(server, 'GET', `/api/campaigns/${id}/queue-status`);
    expect(r.status).toBe(200);
    expect(r.json.success).toBe(true);
    expect(r.json.status).toMatchObject({
      campaignId: id,
      status: 'completed',
      totalJobs: 6,
      activeJobs: 0,
      waitingJobs: 0,
      completedJobs: 6,
      failedJobs: 0,
      progress: { processed: 6, total: 6, success: 6, failed: 0, percentage: 100 },
      metrics: { messagesSent: 6, messagesFailed: 0, enrollments: { completed: 6 }, planVersion: 1 },
    });
    expect(typeof r.json.status.sendRate).toBe('number');
  });

  it('every contact got exactly one SMS through the (fake) Twilio API', () => {
    const to = server.twilioFake!.messages().filter((m) => m.body.startsWith('Hi Person')).map((m) => m.to);
    for (const c of contacts(6, 'run')) expect(to.filter((x) => x === c.address.phone)).toHaveLength(1);
  });

  it('GET /api/campaigns lists it with progress, counts and send rate', async () => {
    const r = await admin(server, 'GET', '/api/campaigns?status=completed&limit=200');
    expect(r.status).toBe(200);
    const row = r.json.campaigns.find((c: { id: string }) => c.id === id);
    expect(row).toMatchObject({ name: 'Run', status: 'completed', audienceSize: 6, progress: { processed: 6, total: 6, percentage: 100 }, messages: { sent: 6, failed: 0 }, jobs: { completed: 6 } });
    expect(r.json.campaigns.every((c: { status: string }) => c.status === 'completed')).toBe(true);
    const bad = await admin(server, 'GET', '/api/campaigns?status=sleeping&limit=0');
    expect(bad.status).toBe(400);
    expect(bad.json.issues.map((i: { path: string }) => i.path)).toEqual(['query.status.0', 'query.limit']);
  });

  it('GET messages: the outbox, addresses masked, no bodies', async () => {
    const r = await admin(server, 'GET', `/api/campaigns/${id}/messages?limit=4`);
    expect(r.status).toBe(200);
    expect(r.json.messages).toHaveLength(4);
    expect(r.json.next).toBe(r.json.messages[3].key);
    const m = r.json.messages[0];
    expect(m).toMatchObject({ channel: 'sms', nodeId: 'announce', attempts: 1 });
    expect(['sent', 'delivered']).toContain(m.status);
    expect(m.to).toMatch(/^\+1555\*\*\*\d{4}$/);
    expect(m).not.toHaveProperty('body');
    const rest = await admin(server, 'GET', `/api/campaigns/${id}/messages?limit=4&after=${encodeURIComponent(r.json.next)}`);
    expect(rest.json.messages).toHaveLength(2);
    expect(rest.json.next).toBeNull();
  });

  it('GET plan: the plan, its graph, Mermaid text and an SVG drawing', async () => {
    const r = await admin(server, 'GET', `/api/campaigns/${id}/plan`);
    expect(r.status).toBe(200);
    expect(r.json.plan).toMatchObject({ name: 'Run', startNodeId: 'announce' });
    expect(r.json.graph.nodes).toEqual([{ id: 'announce', action: 'send', label: 'send sms', start: true }]);
    expect(r.json.mermaid).toMatch(/^flowchart TD\n/);
    expect(r.json.svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(r.json.svg).toContain('data-node-id="announce"');
    const svg = await admin(server, 'GET', `/api/campaigns/${id}/plan.svg`);
    expect(svg.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect(svg.text).toBe(r.json.svg);
  });

  it('the SVG escapes text from the plan', async () => {
    const plan = {
      version: '1.0',
      name: '<script>alert(1)</script>',
      timezone: 'UTC',
      startNodeId: 'a',
      nodes: [
        { id: 'a', name: '<img src=x onerror=alert(1)>', action: 'send', channel: 'sms', body: 'x', transitions: [{ on: 'replied', to: 'b' }] },
        { id: 'b', action: 'exit' },
      ],
    };
    const created = await admin(server, 'POST', '/api/campaigns', { plan, contacts: contacts(1) });
    const r = await admin(server, 'GET', `/api/campaigns/${created.json.campaign.id}/plan`);
    expect(r.json.svg).not.toContain('<img');
    expect(r.json.svg).not.toContain('<script');
    expect(r.json.svg).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(r.json.graph.edges).toEqual([{ from: 'a', to: 'b', label: 'replied', kind: 'event' }]);
  });

  it('GET /api/dashboard/campaign-queue-metrics: seed 004\'s metrics', async () => {
    const r = await admin(server, 'GET', '/api/dashboard/campaign-queue-metrics');
    expect(r.status).toBe(200);
    const { campaignQueue, processingQueue, system } = r.json.metrics;
    for (const k of ['waiting', 'active', 'completed', 'failed', 'delayed']) {
      expect(typeof campaignQueue[k]).toBe('number');
      expect(typeof processingQueue[k]).toBe('number');
    }
    expect(campaignQueue.completed).toBeGreaterThanOrEqual(2);
    expect(campaignQueue.waiting).toBeGreaterThanOrEqual(1); // drafts
    expect(system).toMatchObject({ circuitBreakerStatus: 'closed', circuits: { twilio: 'closed' } });
    expect(system.messagesSent).toBeGreaterThanOrEqual(10);
    for (const k of ['campaignsProcessed', 'messagesFailed', 'averageProcessingTime', 'activeWorkers', 'sendRate']) expect(typeof system[k]).toBe('number');
  });

  it('GET /metrics: Prometheus text with the run\'s counters and gauges', async () => {
    const r = await call(server, 'GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const sent = /^dripline_messages_sent_total\{tenant="acme",channel="sms",uncertain="false"\} (\d+)$/m.exec(r.text);
    expect(Number(sent?.[1])).toBeGreaterThanOrEqual(10);
    expect(r.text).toMatch(/^dripline_campaigns\{tenant="acme",status="completed"\} [2-9]\d*$/m);
    expect(r.text).toMatch(/^dripline_campaigns\{tenant="acme",status="draft"\} \d+$/m);
    expect(r.text).toMatch(/^dripline_circuit_state\{transport="twilio"\} 0$/m);
    expect(r.text).toMatch(/^dripline_send_duration_seconds_count\{transport="twilio",channel="sms",outcome="accepted"\} \d+$/m);
    expect(r.text).toMatch(/^dripline_enrollments_ended_total\{status="completed"\} \d+$/m);
    expect(r.text).toMatch(/^dripline_campaign_transitions_total\{to="completed"\} \d+$/m);
    expect(r.text).toMatch(/^# TYPE dripline_api_process_cpu_seconds_total counter$/m);
  });
});

describe('engine errors', () => {
  it('404 for an unknown campaign on every campaign route', async () => {
    for (const [method, path] of ROUTES.filter(([, p]) => p.includes(':id'))) {
      const r = await admin(server, method, path.replace(':id', 'no-such-campaign'));
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.json).toMatchObject({ success: false, error: 'not_found' });
      expect(r.json.message).toMatch(/campaign "no-such-campaign" not found/);
    }
  });

  it('409 for an illegal move, naming the current status', async () => {
    const created = await admin(server, 'POST', '/api/campaigns', { plan: smsPlan(), contacts: contacts(2, 'ill') });
    const id = created.json.campaign.id;
    const resume = await admin(server, 'POST', `/api/campaigns/${id}/queue-resume`);
    expect(resume.status).toBe(409);
    expect(resume.json).toMatchObject({ error: 'illegal_state', currentStatus: 'draft', operation: 'resume' });
    expect(resume.json.message).toBe(`cannot resume campaign "${id}": it is draft (resume needs paused)`);
    const pause = await admin(server, 'POST', `/api/campaigns/${id}/queue-pause`);
    expect(pause.status).toBe(409);
    expect(pause.json.message).toMatch(/it is draft/);

    expect((await admin(server, 'POST', `/api/campaigns/${id}/start`)).status).toBe(200);
    await waitForStatus(server, id, 'completed');
    const again = await admin(server, 'POST', `/api/campaigns/${id}/start`);
    expect(again.status).toBe(409);
    expect(again.json.message).toBe(`cannot start campaign "${id}": it is completed (start needs draft or scheduled)`);
    const stop = await admin(server, 'POST', `/api/campaigns/${id}/queue-stop`);
    expect(stop.status).toBe(409);
    expect(stop.json.currentStatus).toBe('completed');
  });

  it('start and control routes take an empty body or {}, nothing else', async () => {
    const created = await admin(server, 'POST', '/api/campaigns', { plan: smsPlan(), contacts: contacts(1, 'body') });
    const id = created.json.campaign.id;
    const junk = await admin(server, 'POST', `/api/campaigns/${id}/start`, { now: true });
    expect(junk.status).toBe(400);
    expect(junk.json.issues).toEqual([{ path: 'now', code: 'unknown_key', message: 'unknown field "now"' }]);
    const notJson = await call(server, 'POST', `/api/campaigns/${id}/queue-pause`, { token: ADMIN, raw: 'pause!' });
    expect(notJson.status).toBe(400);
    expect(notJson.json.error).toBe('invalid_json');
    expect((await statusOf(server, id)).status).toBe('draft');
    expect((await admin(server, 'POST', `/api/campaigns/${id}/start`, {})).status).toBe(200);
  });

  it('unknown /api routes are JSON 404s', async () => {
    const r = await admin(server, 'GET', '/api/campaings');
    expect(r.status).toBe(404);
    expect(r.json.message).toBe('no route GET /api/campaings');
  });
});

describe('scheduled start', () => {
  it('a campaign created with startAt is activated by the worker and enrolls its saved audience', async () => {
    const startAt = new Date(Date.now() + 1500).toISOString();
    const r = await admin(server, 'POST', '/api/campaigns', { plan: smsPlan('Later'), contacts: contacts(3, 'sched'), startAt });
    expect(r.status).toBe(201);
    expect(r.json.campaign).toMatchObject({ status: 'scheduled', startAt });
    const id = r.json.campaign.id;
    await waitForStatus(server, id, 'completed', 30_000);
    const s = await statusOf(server, id);
    expect(s.progress).toMatchObject({ total: 3, processed: 3, success: 3 });
    const to = server.twilioFake!.messages().map((m) => m.to);
    for (const c of contacts(3, 'sched')) expect(to).toContain(c.address.phone);
  });
});

describe('dashboard files and health', () => {
  it('serves the page and its assets locally, with a strict CSP', async () => {
    const page = await call(server, 'GET', '/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(page.text).toContain('<script src="/assets/dashboard.js" defer></script>');
    expect(page.text).not.toMatch(/https?:\/\//);
    for (const asset of ['/assets/dashboard.js', '/assets/dashboard.css']) {
      const r = await call(server, 'GET', asset);
      expect(r.status, asset).toBe(200);
      expect(r.text).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    }
    expect((await call(server, 'GET', '/healthz')).json).toEqual({ ok: true });
  });
});

describe('a server without email', () => {
  let noMail: Server;
  beforeAll(async () => {
    noMail = await start({ sendgrid: null });
  });
  afterAll(async () => {
    await noMail?.close();
  });

  it('refuses a plan with an email step (400 channel_unavailable) and has no SendGrid webhook', async () => {
    const r = await admin(noMail, 'POST', '/api/campaigns', { plan: emailPlan(), contacts: contacts(1) });
    expect(r.status).toBe(400);
    expect(r.json.error).toBe('channel_unavailable');
    expect(r.json.issues).toEqual([{ path: 'plan.nodes[0].channel', code: 'channel_unavailable', message: 'no transport is configured for channel "email" (configured: sms, whatsapp)' }]);
    expect((await call(noMail, 'POST', '/webhooks/sendgrid/events', { raw: '[]' })).status).toBe(404);
    expect((await admin(noMail, 'POST', '/api/campaigns', { plan: smsPlan(), contacts: contacts(1) })).status).toBe(201);
  });
});

it('metrics can require a token', async () => {
  const locked = await start({ metricsToken: 'scrape-me', twilio: null, sendgrid: null });
  try {
    const none = await call(locked, 'GET', '/metrics');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    const ok = await call(locked, 'GET', '/metrics', { token: 'scrape-me' });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('# TYPE dripline_messages_sent_total counter');
    await until(async () => (await admin(locked, 'GET', '/api/campaigns')).status === 200, 'api up');
  } finally {
    await locked.close();
  }
});
