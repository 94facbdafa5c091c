import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { buildCampaigns, hash32, isDriplineError, type PlanInput, type Principal, type StoreTransaction } from '../src/index.js';
import { T0, contacts, expectNoKeySentTwice, harness, takeHarnesses } from './engine-harness.js';

// After every scenario: no message key in the outbox twice, no key accepted by the transport twice.
afterEach(() => {
  for (const h of takeHarnesses()) expectNoKeySentTwice(h);
});

const H = 3_600_000;
const D = 24 * H;
const onboarding = JSON.parse(readFileSync(new URL('../../../examples/quickstart/onboarding.plan.json', import.meta.url), 'utf8'));

/** One SMS, then done. */
const oneSms: PlanInput = {
  version: '1.0',
  name: 'Blast',
  timezone: 'UTC',
  startNodeId: 'sms',
  nodes: [{ id: 'sms', action: 'send', channel: 'sms', body: 'Hi {{name}}', transitions: [] }],
};

describe('engine: lifecycle', () => {
  it('moves a campaign through its statuses and refuses illegal moves, naming the status', async () => {
    const h = harness();
    const c = await h.engine.createCampaign(null, h.tenant, { id: 'c1', plan: oneSms });
    expect(c.status).toBe('draft');
    await h.engine.scheduleCampaign(null, h.tenant, 'c1', T0 + H);
    expect((await h.engine.getCampaign(null, h.tenant, 'c1')).status).toBe('scheduled');
    await h.engine.startCampaign(null, h.tenant, 'c1');
    await h.engine.pauseCampaign(null, h.tenant, 'c1');
    await h.engine.resumeCampaign(null, h.tenant, 'c1');
    await h.engine.cancelCampaign(null, h.tenant, 'c1');
    const err = await h.engine.startCampaign(null, h.tenant, 'c1').catch((e: unknown) => e);
    expect(isDriplineError(err, 'ILLEGAL_STATE')).toBe(true);
    expect((err as Error).message).toBe('cannot start campaign "c1": it is canceled (start needs draft or scheduled)');
    const err2 = await h.engine.resumeCampaign(null, h.tenant, 'c1').catch((e: unknown) => e);
    expect((err2 as { details: { status: string } }).details.status).toBe('canceled');
  });

  it('each lifecycle call returns the record as stored, with the time of that change', async () => {
    const h = harness();
    await h.engine.createCampaign(null, h.tenant, { id: 'c1', plan: oneSms });
    h.clock.advanceBy(1_000);
    const started = await h.engine.startCampaign(null, h.tenant, 'c1');
    h.clock.advanceBy(1_000);
    const paused = await h.engine.pauseCampaign(null, h.tenant, 'c1');
    expect([started.updatedAt, paused.updatedAt]).toEqual([T0 + 1_000, T0 + 2_000]);
    expect(paused).toEqual(await h.engine.getCampaign(null, h.tenant, 'c1'));
  });

  it('createCampaign refuses an invalid plan with its issues and persists nothing', async () => {
    const h = harness();
    const err = await h.engine.createCampaign(null, h.tenant, { id: 'bad', plan: { ...oneSms, startNodeId: 'nope' } }).catch((e: unknown) => e);
    expect(isDriplineError(err, 'INVALID_PLAN')).toBe(true);
    expect((err as { details: { issues: Array<{ path: string }> } }).details.issues[0]!.path).toBe('startNodeId');
    expect(h.dump().campaigns).toEqual([]);
  });

  it('checks permissions through the authorizer', async () => {
    const granted: Record<string, string[]> = { alice: ['campaigns.create', 'campaigns.read'], bob: ['campaigns.read'] };
    const h = harness({ authorizer: { authorize: async (p, perm) => granted[p.id]?.includes(perm) ?? false } });
    const alice: Principal = { id: 'alice', tenantId: h.tenant };
    const bob: Principal = { id: 'bob', tenantId: h.tenant };
    await h.engine.createCampaign(alice, h.tenant, { id: 'c', plan: oneSms });
    const e1 = await h.engine.createCampaign(bob, h.tenant, { id: 'c2', plan: oneSms }).catch((e: unknown) => e);
    expect(isDriplineError(e1, 'FORBIDDEN')).toBe(true);
    expect((e1 as Error).message).toContain('"campaigns.create"');
    const e2 = await h.engine.startCampaign(alice, h.tenant, 'c').catch((e: unknown) => e);
    expect((e2 as Error).message).toContain('"campaigns.send"');
    const e3 = await h.engine.getCampaign({ id: 'alice', tenantId: 'other' }, h.tenant, 'c').catch((e: unknown) => e);
    expect(isDriplineError(e3, 'FORBIDDEN')).toBe(true);
  });

  it('a scheduled campaign starts at its time and enrolls its audience', async () => {
    const audience = contacts(5);
    const h = harness({ resolveAudience: () => audience });
    await h.engine.createCampaign(null, h.tenant, { id: 'c', plan: oneSms, startAt: T0 + 2 * H });
    await h.worker.tick();
    expect(h.transport.sent).toHaveLength(0);
    h.clock.advanceTo(T0 + 2 * H);
    await h.worker.tick();
    await h.runUntil(T0 + 3 * H);
    expect(h.transport.sent).toHaveLength(5);
    expect((await h.engine.getCampaign(null, h.tenant, 'c')).status).toBe('completed');
  });
});

describe('engine: end to end on the memory adapters', () => {
  it('runs a 10,000-contact campaign to completion, every message once', async () => {
    const h = harness({ batchSize: 1000 });
    const zones = ['America/Los_Angeles', 'Europe/Berlin', 'Asia/Kolkata', 'Australia/Sydney'];
    await h.engine.createCampaign(null, h.tenant, { id: 'big', plan: onboarding, batchSize: 2500 });
    await h.engine.startCampaign(null, h.tenant, 'big', { audience: contacts(10_000, 'c', zones) });
    // A third opens the intro two hours after it arrives.
    h.engine.events.on('message.sent', (m) => {
      if (m.nodeId === 'email_intro' && hash32(m.key) % 3 === 0)
        void h.engine.ingestEvent({ tenantId: h.tenant, providerEventId: `open:${m.key}`, type: 'open', providerMessageId: m.providerMessageId!, at: m.at + 2 * H });
    });
    await h.runUntil(T0 + 30 * D);
    const status = await h.engine.getCampaignStatus(null, h.tenant, 'big');
    expect(status.status).toBe('completed');
    expect(status.progress).toEqual({ processed: 10_000, total: 10_000, success: 10_000, failed: 0, percentage: 100 });
    const sent = h.transport.sent;
    expect(sent.filter((m) => m.key.includes(':email_intro:')).length).toBe(10_000);
    expectNoKeySentTwice(h);
    expect(h.dump().actions.filter((a) => a.status === 'pending' || a.status === 'running')).toEqual([]);
  }, 120_000);

  it('pause mid-way then resume loses and repeats nothing', async () => {
    const h = harness({ rateLimits: { sender: { '*': { limit: 10, window: 1000 } } } });
    await h.engine.createCampaign(null, h.tenant, { id: 'c', plan: oneSms });
    await h.engine.startCampaign(null, h.tenant, 'c', { audience: contacts(300) });
    await h.runUntil(T0 + 10_000);
    const before = h.transport.sent.length;
    expect(before).toBeGreaterThan(50);
    expect(before).toBeLessThan(300);
    await h.engine.pauseCampaign(null, h.tenant, 'c');
    await h.runUntil(T0 + 60_000);
    expect(h.transport.sent.length).toBe(before);
    await h.engine.resumeCampaign(null, h.tenant, 'c');
    await h.runUntil(T0 + 10 * 60_000);
    expect(h.transport.sent.length).toBe(300);
    expect(new Set(h.transport.sent.map((m) => m.to)).size).toBe(300);
    expectNoKeySentTwice(h);
  });

  it('stop mid-way sends nothing more, and enrollments end as stopped', async () => {
    const h = harness({ rateLimits: { sender: { '*': { limit: 10, window: 1000 } } } });
    await h.engine.createCampaign(null, h.tenant, { id: 'c', plan: oneSms });
    await h.engine.startCampaign(null, h.tenant, 'c', { audience: contacts(200) });
    await h.runUntil(T0 + 5_000);
    const before = h.transport.sent.length;
    await h.engine.stopCampaign(null, h.tenant, 'c');
    await h.runUntil(T0 + 10 * 60_000);
    expect(h.transport.sent.length).toBe(before);
    const enrollments = h.dump().enrollments.map((e) => e.enrollment.status);
    expect(enrollments.filter((s) => s === 'stopped').length).toBe(200 - before);
    expect(enrollments.filter((s) => s === 'completed').length).toBe(before);
  });

  it('stop retries a page that races a worker, and leaves no enrollment active', async () => {
    const h = harness();
    await h.engine.createCampaign(null, h.tenant, { id: 'c', plan: onboarding });
    await h.engine.startCampaign(null, h.tenant, 'c', { audience: contacts(30) });
    // A worker writes one enrollment right after stop has read its page (stop's copy is stale).
    const store = h.store;
    const original = store.transaction.bind(store);
    let raced = false;
    store.transaction = (<T,>(tenant: string, fn: (tx: StoreTransaction) => Promise<T>) =>
      original(tenant, (tx) =>
        fn({
          ...tx,
          async listEnrollments(campaignId, page) {
            const rows = await tx.listEnrollments(campaignId, page);
            if (!raced && rows.length) {
              raced = true;
              expect(await tx.updateEnrollment(rows[0]!, rows[0]!.rowVersion)).toBe(true);
            }
            return rows;
          },
        }),
      )) as typeof store.transaction;
    await h.engine.stopCampaign(null, h.tenant, 'c');
    store.transaction = original;
    expect(raced).toBe(true);
    expect(h.dump().enrollments.map((e) => e.enrollment.status)).toEqual(Array(30).fill('stopped'));
  });

  it('a transport failing 20% of calls (retryable) still delivers every message exactly once', async () => {
    const h = harness({ fail: (m, attempt) => (hash32(`${m.key}#${attempt}`) % 5 === 0 ? 'retryable' : null) });
    await h.engine.createCampaign(null, h.tenant, { id: 'c', plan: oneSms });
    await h.engine.startCampaign(null, h.tenant, 'c', { audience: contacts(1000) });
    await h.runUntil(T0 + D);
    expect(h.transport.calls).toBeGreaterThan(1100);
    expect(h.transport.sent.length).toBe(1000);
    expect(h.dump().outbox.every((m) => m.status === 'sent')).toBe(true);
    expectNoKeySentTwice(h);
    expect(h.engine.getSystemMetrics().messagesSent).toBe(1000);
  });

  it('permanent failures are recorded with their reason and never retried', async () => {
    const h = harness({ fail: (m) => (m.to.endsWith('3') ? 'permanent' : null) });
    await h.engine.createCampaign(null, h.tenant, { id: 'c', plan: oneSms, failureThreshold: 1 });
    await h.engine.startCampaign(null, h.tenant, 'c', { audience: contacts(50) });
    await h.runUntil(T0 + D);
    const failed = h.dump().outbox.filter((m) => m.status === 'failed');
    expect(failed.length).toBe(5);
    expect(failed.every((m) => m.attempts === 1 && /permanent failure/.test(m.failureReason ?? ''))).toBe(true);
    expect(h.transport.calls).toBe(50);
    const status = await h.engine.getCampaignStatus(null, h.tenant, 'c');
    expect(status.progress.failed).toBe(5);
  });

  it('a campaign whose failure rate passes its threshold moves to failed', async () => {
    const h = harness({ fail: () => 'permanent' });
    const statuses: string[] = [];
    h.engine.events.on('campaign.status', (e) => statuses.push(e.to));
    await h.engine.createCampaign(null, h.tenant, { id: 'c', plan: oneSms, failureThreshold: 0.5 });
    await h.engine.startCampaign(null, h.tenant, 'c', { audience: contacts(100) });
    await h.runUntil(T0 + D);
    expect((await h.engine.getCampaign(null, h.tenant, 'c')).status).toBe('failed');
    expect(statuses).toEqual(['active', 'failed']);
    // Sends stop soon after: once failed, nothing is claimed any more.
    expect(h.transport.calls).toBeLessThan(100);
  });

  it('the circuit opens after the configured failures and recovers after the cool-down', async () => {
    let down = true;
    const h = harness({ fail: () => (down ? 'retryable' : null), circuitBreaker: { failureThreshold: 3, cooldown: 60_000 }, retry: { maxAttempts: 10 } });
    const seen: string[] = [];
    h.engine.events.on('circuit.open', () => seen.push('open'));
    h.engine.events.on('circuit.close', () => seen.push('close'));
    await h.engine.createCampaign(null, h.tenant, { id: 'c', plan: oneSms });
    await h.engine.startCampaign(null, h.tenant, 'c', { audience: contacts(20) });
    await h.runUntil(T0 + 30_000);
    expect(seen).toEqual(['open']);
    expect(h.engine.getSystemMetrics().circuitBreakerStatus).toBe('open');
    const callsWhileOpen = h.transport.calls;
    await h.runUntil(T0 + 55_000);
    expect(h.transport.calls).toBe(callsWhileOpen);
    down = false;
    await h.runUntil(T0 + 10 * 60_000);
    expect(seen).toEqual(['open', 'close']);
    expect(h.transport.sent.length).toBe(20);
    expectNoKeySentTwice(h);
  });

  it('an ambiguous outcome is recorded as unknown and not resent under at-most-once', async () => {
    const h = harness({ fail: (m) => (m.to.endsWith('1') ? 'ambiguous' : null) });
    await h.engine.createCampaign(null, h.tenant, { id: 'c', plan: oneSms });
    await h.engine.startCampaign(null, h.tenant, 'c', { audience: contacts(20) });
    await h.runUntil(T0 + D);
    const unknown = h.dump().outbox.filter((m) => m.status === 'unknown');
    expect(unknown.map((m) => m.to).sort()).toEqual(['+15550000001', '+15550000011']);
    expect(h.transport.calls).toBe(20);
  });

  it('50 concurrent identical enrol calls create one enrolment', async () => {
    const h = harness();
    await h.engine.createCampaign(null, h.tenant, { id: 'c', plan: oneSms });
    await h.engine.startCampaign(null, h.tenant, 'c');
    const [one] = contacts(1);
    const results = await Promise.all(Array.from({ length: 50 }, () => h.engine.enroll(null, h.tenant, 'c', [one!])));
    expect(results.reduce((s, r) => s + r.enrolled, 0)).toBe(1);
    expect(h.dump().enrollments).toHaveLength(1);
    expect(h.dump().actions).toHaveLength(1);
  });
});

describe('engine: events, suppression, caps', () => {
  it('maps provider events, deduplicates them, and keeps orphans until the message is known', async () => {
    const h = harness();
    await h.engine.createCampaign(null, h.tenant, { id: 'c', plan: onboarding });
    await h.engine.startCampaign(null, h.tenant, 'c', { audience: contacts(1) });
    // The open arrives before its message's provider id is saved (fake ids are fake-1, fake-2...).
    expect(await h.engine.ingestEvent({ tenantId: h.tenant, providerEventId: 'ev1', type: 'open', providerMessageId: 'fake-1', at: T0 + 1000 })).toBe('orphan');
    await h.runUntil(T0 + H);
    const e = h.dump().enrollments[0]!.enrollment;
    expect(e.nodeId).toBe('wait_click');
    expect(await h.engine.ingestEvent({ tenantId: h.tenant, providerEventId: 'ev1', type: 'open', providerMessageId: 'fake-1' })).toBe('duplicate');
    expect(await h.engine.ingestEvent({ tenantId: h.tenant, providerEventId: 'ev2', type: 'click', providerMessageId: 'fake-1' })).toBe('applied');
    expect(h.dump().enrollments[0]!.enrollment.status).toBe('completed');
  });

  it('a message status never goes backwards', async () => {
    const h = harness();
    await h.engine.createCampaign(null, h.tenant, { id: 'c', plan: oneSms });
    await h.engine.startCampaign(null, h.tenant, 'c', { audience: contacts(1) });
    await h.runUntil(T0 + H);
    await h.engine.ingestEvent({ tenantId: h.tenant, providerEventId: 'd', type: 'delivered', providerMessageId: 'fake-1' });
    await h.engine.ingestEvent({ tenantId: h.tenant, providerEventId: 'r', type: 'read', providerMessageId: 'fake-1' });
    await h.engine.ingestEvent({ tenantId: h.tenant, providerEventId: 'd2', type: 'delivered', providerMessageId: 'fake-1' });
    expect(h.dump().outbox[0]!.status).toBe('read');
  });

  it('STOP wins: after the opt-out, none of the 1,000 waiting messages goes to that address', async () => {
    const h = harness({ rateLimits: { sender: { '*': { limit: 10, window: 1000 } } } });
    const everyone = contacts(1000);
    const target = everyone[500]!;
    await h.engine.createCampaign(null, h.tenant, { id: 'c', plan: oneSms });
    await h.engine.startCampaign(null, h.tenant, 'c', { audience: everyone });
    // A second campaign also waits to text the same person.
    await h.engine.createCampaign(null, h.tenant, { id: 'c2', plan: oneSms });
    await h.engine.startCampaign(null, h.tenant, 'c2', { audience: [target] });
    await h.runUntil(T0 + 3_000);
    // The second campaign's text went out before the STOP; campaign c's is still waiting (10/s, position 500).
    const sentBeforeStop = h.transport.sent.length;
    expect(h.transport.sent.filter((m) => m.to === target.address.phone).map((m) => m.campaignId)).toEqual(['c2']);
    expect(await h.engine.ingestEvent({ tenantId: h.tenant, providerEventId: 'stop-1', type: 'STOP', address: target.address.phone!, channel: 'sms' })).toBe('recorded');
    await h.runUntil(T0 + D);
    const afterStop = h.transport.sent.slice(sentBeforeStop);
    expect(afterStop.length).toBeGreaterThan(900);
    expect(afterStop.filter((m) => m.to === target.address.phone)).toEqual([]);
    expect(h.transport.sent.length).toBe(1000);
    const refused = h.dump().outbox.filter((m) => m.to === target.address.phone && m.campaignId === 'c');
    expect(refused.map((m) => [m.status, m.failureReason])).toEqual([['failed', 'recipient is suppressed (STOP received)']]);
    expectNoKeySentTwice(h);
  });

  it('a per-recipient frequency cap across campaigns defers sends', async () => {
    const h = harness({ frequencyCap: { max: 3, window: 'PT24H' } });
    const [p] = contacts(1);
    for (const id of ['a', 'b', 'c', 'd', 'e']) {
      await h.engine.createCampaign(null, h.tenant, { id, plan: oneSms });
      await h.engine.startCampaign(null, h.tenant, id, { audience: [p!] });
    }
    await h.runUntil(T0 + 23 * H);
    expect(h.transport.sent.length).toBe(3);
    await h.runUntil(T0 + 48 * H);
    expect(h.transport.sent.length).toBe(5);
    const times = h.transport.sent.map((m) => h.dump().outbox.find((o) => o.key === m.key)!.createdAt);
    expect(times[3]! - times[0]!).toBeGreaterThanOrEqual(24 * H);
  });

  it('compliance presets defer sends to the allowed window and record the rule', async () => {
    // 17:00Z is 09:00 in Los Angeles but 02:00 in Tokyo: us-tcpa only allows 08:00–21:00.
    const h = harness({ compliance: ['us-tcpa'] });
    const deferrals: string[] = [];
    h.engine.events.on('message.deferred', (d) => deferrals.push(`${d.reason}:${d.rule}`));
    await h.engine.createCampaign(null, h.tenant, { id: 'c', plan: oneSms });
    await h.engine.startCampaign(null, h.tenant, 'c', { audience: contacts(2, 'p', ['America/Los_Angeles', 'Asia/Tokyo']) });
    await h.runUntil(T0 + D);
    const sent = h.dump().outbox.map((m) => [m.contactId, new Date(m.updatedAt).toISOString()]);
    expect(sent).toContainEqual(['p0', new Date(T0).toISOString()]);
    // Tokyo: 17:00Z = 02:00 JST → deferred to 08:00 JST = 23:00Z.
    expect(sent).toContainEqual(['p1', '2026-03-02T23:00:00.000Z']);
    expect(deferrals).toEqual(['quiet-hours:us-tcpa: TCPA: 08:00–21:00 recipient local time']);
  });
});

describe('engine: plan versions', () => {
  it('moves half the in-flight contacts to a new version; the rest stay; nothing lost or sent twice', async () => {
    const h = harness();
    await h.engine.createCampaign(null, h.tenant, { id: 'c', plan: onboarding });
    await h.engine.startCampaign(null, h.tenant, 'c', { audience: contacts(100) });
    await h.runUntil(T0 + H);
    // Everyone got the intro and now waits on email_intro for an open.
    const v2: PlanInput = {
      ...onboarding,
      nodes: [
        ...onboarding.nodes.filter((n: { id: string }) => n.id !== 'email_intro'),
        { id: 'email_intro', action: 'send', channel: 'email', subject: 'Intro', body: 'Hi', transitions: [{ on: 'no_open', to: 'sms_v2', after: 'PT1H' }] },
        { id: 'sms_v2', action: 'send', channel: 'sms', body: 'v2 {{name}}', transitions: [] },
      ],
    };
    const { version } = await h.engine.updatePlan(null, h.tenant, 'c', v2);
    expect(version).toBe(2);
    const half = (e: { contactId: string }) => Number(e.contactId.slice(1)) % 2 === 0;
    const preview = await h.engine.previewMigration(null, h.tenant, 'c', { map: { email_intro: 'sms_v2' }, filter: half });
    expect(preview).toEqual({ toVersion: 2, moves: { 'email_intro → sms_v2': 50 }, staying: { email_intro: 50 }, moved: 50 });
    expect(h.dump().enrollments.every((e) => e.enrollment.planVersion === 1)).toBe(true);
    const done = await h.engine.migrate(null, h.tenant, 'c', { map: { email_intro: 'sms_v2' }, filter: half });
    expect(done.moved).toBe(50);
    await h.runUntil(T0 + 30 * D);
    const byVersion = h.dump().enrollments.reduce<Record<number, number>>((m, e) => ((m[e.enrollment.planVersion] = (m[e.enrollment.planVersion] ?? 0) + 1), m), {});
    expect(byVersion).toEqual({ 1: 50, 2: 50 });
    expect(h.transport.sent.filter((m) => m.body.startsWith('v2')).length).toBe(50);
    expect(h.transport.sent.filter((m) => m.key.includes(':email_bump_1:')).length).toBe(50);
    expect(h.dump().enrollments.every((e) => e.enrollment.status === 'completed')).toBe(true);
    expectNoKeySentTwice(h);
  });
});

describe('buildCampaigns (seeds 000 and 001)', () => {
  it('creates a campaign per segment; one failing segment does not stop the others', async () => {
    const h = harness();
    let planCalls = 0;
    const report = await buildCampaigns(h.engine, null, h.tenant, {
      siteId: 'site_456',
      segments: async () => [
        { id: 'seg_123', name: 'High Value Customers' },
        { id: 'seg_bad', name: 'Broken' },
        { id: 'seg_456', name: 'New Visitors' },
      ],
      planFor: (s) => {
        planCalls++;
        if (s.id === 'seg_bad') return { ...oneSms, startNodeId: 'missing' };
        return oneSms;
      },
      audienceFor: (s) => contacts(3, `${s.id}-`),
      sleep: async () => {},
      delayBetweenSegmentsMs: 5000,
    });
    expect(report.success).toBe(true);
    expect(report.segmentsFound).toBe(3);
    expect(report.campaignCreated).toBe(true);
    expect(report.campaigns.map((c) => c.id)).toEqual(['site_456:seg_123', 'site_456:seg_456']);
    expect(report.results.map((r) => [r.segmentId, r.success])).toEqual([
      ['seg_123', true],
      ['seg_bad', false],
      ['seg_456', true],
    ]);
    expect(report.errors).toHaveLength(1);
    expect(report.errors[0]).toMatch(/^segment seg_bad: create campaign failed after 1 attempt\(s\): invalid plan: startNodeId/);
    expect(planCalls).toBe(3);
    expect(report.results[0]!.enrolled).toBe(3);
    expect(typeof report.executionTime).toBe('string');
  });

  it('retries a flaky step and reports a failed segment fetch', async () => {
    const h = harness();
    let calls = 0;
    const ok = await buildCampaigns(h.engine, null, h.tenant, {
      siteId: 's',
      segments: async () => {
        if (++calls < 3) throw new Error('Failed to fetch segments: 503');
        return [{ id: 'a' }];
      },
      planFor: () => oneSms,
      sleep: async () => {},
    });
    expect(ok.success).toBe(true);
    expect(calls).toBe(3);
    const none = await buildCampaigns(h.engine, null, h.tenant, { siteId: 's2', segments: async () => [], planFor: () => oneSms, sleep: async () => {} });
    expect(none).toMatchObject({ success: true, segmentsFound: 0, campaignCreated: false });
    const broken = await buildCampaigns(h.engine, null, h.tenant, {
      siteId: 's3',
      segments: async () => {
        throw new Error('API down');
      },
      planFor: () => oneSms,
      sleep: async () => {},
      maxAttempts: 2,
    });
    expect(broken.success).toBe(false);
    expect(broken.errors[0]).toBe('Failed to fetch segments: fetch segments failed after 2 attempt(s): API down');
  });
});
