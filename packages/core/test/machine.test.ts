import { describe, expect, it } from 'vitest';
import {
  actionKey,
  compilePlan,
  computeSendTime,
  start,
  step,
  type CompiledPlan,
  type Effect,
  type Enrollment,
  type MachineInput,
  type PlanInput,
  type StepResult,
} from '../src/index.js';

const H = 3_600_000;
const D = 24 * H;
const T0 = Date.parse('2026-03-02T17:00:00Z'); // Monday 09:00 in Los Angeles (PST)

/** The onboarding plan of seed 003, completed. */
const onboarding: PlanInput = {
  version: '1.0',
  name: 'Onboarding',
  timezone: 'America/Los_Angeles',
  quietHours: { start: '21:00', end: '07:30' },
  startNodeId: 'email_intro',
  exitOn: ['unsubscribed', 'converted'],
  variables: ['name', 'link'],
  nodes: [
    {
      id: 'email_intro',
      action: 'send',
      channel: 'email',
      subject: 'Intro',
      body: 'Hi {{name}}',
      schedule: { delay: 'PT0S' },
      transitions: [
        { on: 'opened', to: 'wait_click', within: 'PT72H' },
        { on: 'no_open', to: 'email_bump_1', after: 'PT72H' },
      ],
    },
    { id: 'email_bump_1', action: 'send', channel: 'email', subject: 'Bump', body: 'Hi {{name}}', transitions: [] },
    {
      id: 'wait_click',
      action: 'wait',
      transitions: [
        { on: 'clicked', to: 'done' },
        { on: 'no_click', to: 'sms_nudge', after: 'P2D' },
      ],
    },
    { id: 'sms_nudge', action: 'send', channel: 'sms', body: '{{name}}: {{link}}', schedule: { delay: 'PT1H', at: '10:00' }, transitions: [] },
    { id: 'done', action: 'exit' },
  ],
};

const contact = { id: 'c1', attributes: { name: 'Ann' } };

function of<T extends Effect['type']>(r: StepResult, type: T): Array<Extract<Effect, { type: T }>> {
  return r.effects.filter((e): e is Extract<Effect, { type: T }> => e.type === type);
}

/** Drives one enrollment and keeps the latest state. */
function driver(plan: CompiledPlan, now = T0, c: { id: string; timezone?: string; attributes?: Record<string, unknown> } = contact) {
  let last = start(plan, { now, contact: c, campaignId: 'camp' });
  return {
    get e(): Enrollment {
      return last.enrollment;
    },
    get last(): StepResult {
      return last;
    },
    step(input: MachineInput, at: number): StepResult {
      last = step(plan, last.enrollment, input, { now: at, contact: c });
      return last;
    },
    /** Fires the send timer and acknowledges it `ackAfter` ms later. */
    send(at: number, ackAfter = 0): StepResult {
      const key = last.enrollment.sendKey!;
      const fired = step(plan, last.enrollment, { type: 'timer', key }, { now: at, contact: c });
      expect(of(fired, 'send')).toHaveLength(1);
      last = step(plan, fired.enrollment, { type: 'sent', key, at: at + ackAfter }, { now: at + ackAfter, contact: c });
      return last;
    },
  };
}

describe('machine: send nodes', () => {
  it('entering a send node schedules its send at computeSendTime(entered, delay, at), quiet hours applied', () => {
    const plan = compilePlan(onboarding);
    const late = Date.parse('2026-03-03T06:30:00Z'); // 22:30 Monday in Los Angeles: quiet
    const r = start(plan, { now: late, contact, campaignId: 'camp' });
    const [sched] = of(r, 'schedule');
    const expected = computeSendTime({ from: late, delay: 'PT0S', zone: 'America/Los_Angeles', quietHours: { start: '21:00', end: '07:30' } });
    expect(sched!.action.runAt).toBe(expected);
    expect(new Date(expected).toISOString()).toBe('2026-03-03T15:30:00.000Z'); // 07:30 PST next morning
    expect(sched!.action.requestedAt).toBe(late);
    expect(sched!.action.key).toBe('camp:c1:email_intro:1:send');
  });

  it('`at` picks the first local occurrence at or after entry + delay', () => {
    const plan = compilePlan(onboarding);
    const d = driver(plan);
    d.send(T0);
    const r = d.step({ type: 'event', event: { id: 'o1', type: 'opened', at: T0 + H } }, T0 + H);
    expect(r.enrollment.nodeId).toBe('wait_click');
    const timeout = of(r, 'schedule')[0]!.action;
    const fired = d.step({ type: 'timer', key: timeout.key }, timeout.runAt);
    expect(fired.enrollment.nodeId).toBe('sms_nudge');
    const sms = of(fired, 'schedule')[0]!.action;
    // Opened Monday 10:00 PST; no_click after P2D fires Wednesday 10:00 PST. Entered then,
    // + PT1H = 11:00, so the first 10:00 at or after that is Thursday 10:00 PST.
    expect(new Date(timeout.runAt).toISOString()).toBe('2026-03-04T18:00:00.000Z');
    expect(new Date(sms.runAt).toISOString()).toBe('2026-03-05T18:00:00.000Z');
  });

  it('a no_* timeout on a send node is anchored at the send time, not the entry time', () => {
    const plan = compilePlan(onboarding);
    const d = driver(plan);
    const sentAt = T0 + 5 * H + 123;
    const r = d.send(T0 + 5 * H, 123);
    const [t] = of(r, 'schedule');
    expect(t!.action.kind).toBe('timeout');
    expect(t!.action.on).toBe('no_open');
    expect(t!.action.runAt).toBe(sentAt + 72 * H);
    expect(r.enrollment.anchorAt).toBe(sentAt);
  });

  it('a send node without transitions completes the enrollment once the message is sent', () => {
    const plan = compilePlan({ ...onboarding, startNodeId: 'email_bump_1' });
    const d = driver(plan);
    expect(d.e.status).toBe('active');
    const r = d.send(T0);
    expect(r.enrollment.status).toBe('completed');
    expect(of(r, 'complete')).toHaveLength(1);
  });

  it('an open that arrives before the send is acknowledged is applied once it is', () => {
    const plan = compilePlan(onboarding);
    const d = driver(plan);
    const key = d.e.sendKey!;
    d.step({ type: 'timer', key }, T0);
    const early = d.step({ type: 'event', event: { id: 'o1', type: 'opened', at: T0 + 1000 } }, T0 + 1000);
    expect(early.enrollment.nodeId).toBe('email_intro');
    expect(early.note).toBe('event-recorded');
    const acked = d.step({ type: 'sent', key, at: T0 + 2000 }, T0 + 2000);
    expect(acked.enrollment.nodeId).toBe('wait_click');
    const tr = of(acked, 'transition')[0]!.record;
    expect(tr.cause).toMatchObject({ kind: 'event', on: 'opened', eventId: 'o1', replayed: true });
    // The no_open timer scheduled on the ack is canceled again by leaving the node.
    expect(of(acked, 'cancel')[0]!.keys).toEqual(['camp:c1:email_intro:1:no_open']);
  });

  it('a permanent send failure takes the node\u2019s `failed` transition, or fails the enrollment', () => {
    const withFailed = compilePlan({
      ...onboarding,
      nodes: onboarding.nodes.map((n) =>
        n.id === 'email_intro' && n.action === 'send' ? { ...n, transitions: [...(n.transitions ?? []), { on: 'failed', to: 'sms_nudge' }] } : n,
      ),
    });
    const a = driver(withFailed);
    const key = a.e.sendKey!;
    a.step({ type: 'timer', key }, T0);
    const r = a.step({ type: 'sendFailed', key, at: T0, reason: 'invalid address', permanent: true }, T0);
    expect(r.enrollment.nodeId).toBe('sms_nudge');
    expect(of(r, 'transition')[0]!.record.cause.kind).toBe('failed');

    const b = driver(compilePlan(onboarding));
    const key2 = b.e.sendKey!;
    b.step({ type: 'timer', key: key2 }, T0);
    const f = b.step({ type: 'sendFailed', key: key2, at: T0, reason: 'invalid address', permanent: true }, T0);
    expect(f.enrollment.status).toBe('failed');
    expect(f.enrollment.endReason).toContain('invalid address');
  });
});

describe('machine: waiting', () => {
  it('on a wait node, timeouts are anchored at the moment the node is entered', () => {
    const plan = compilePlan(onboarding);
    const d = driver(plan);
    d.send(T0);
    const openedAt = T0 + 7 * H;
    const r = d.step({ type: 'event', event: { id: 'o1', type: 'opened', at: openedAt - 60_000 } }, openedAt);
    const [t] = of(r, 'schedule');
    expect(t!.action).toMatchObject({ kind: 'timeout', on: 'no_click', nodeId: 'wait_click', visit: 2 });
    // P2D is a calendar duration: same local wall-clock time two days later (no DST here).
    expect(t!.action.runAt).toBe(openedAt + 2 * D);
  });

  it('`within`: an event inside the window takes the transition', () => {
    const d = driver(compilePlan(onboarding));
    d.send(T0);
    const r = d.step({ type: 'event', event: { id: 'o1', type: 'opened', at: T0 + 72 * H } }, T0 + 72 * H);
    expect(r.enrollment.nodeId).toBe('wait_click');
  });

  it('`within`: a later event is recorded but moves nothing', () => {
    const d = driver(compilePlan(onboarding));
    d.send(T0);
    const at = T0 + 72 * H + 1;
    const r = d.step({ type: 'event', event: { id: 'o1', type: 'opened', at } }, at);
    expect(r.note).toBe('late-event');
    expect(r.enrollment.nodeId).toBe('email_intro');
    expect(r.effects).toEqual([]);
    expect(r.enrollment.inbox.map((e) => e.id)).toEqual(['o1']);
    expect(r.enrollment.eventIds).toEqual(['o1']);
  });

  it('several transitions form an any-of wait: the first event wins and the other timers are canceled', () => {
    const d = driver(compilePlan(onboarding));
    d.send(T0);
    d.step({ type: 'event', event: { id: 'o1', type: 'opened', at: T0 + H } }, T0 + H);
    const r = d.step({ type: 'event', event: { id: 'k1', type: 'clicked', at: T0 + 2 * H } }, T0 + 2 * H);
    expect(r.enrollment.status).toBe('completed');
    expect(of(r, 'cancel')[0]!.keys).toEqual(['camp:c1:wait_click:2:no_click']);
    // A second click after completion changes nothing.
    const again = d.step({ type: 'event', event: { id: 'k2', type: 'clicked', at: T0 + 3 * H } }, T0 + 3 * H);
    expect(again.note).toBe('already-ended');
    expect(again.effects).toEqual([]);
  });

  it('leaving a node cancels its pending timers', () => {
    const d = driver(compilePlan(onboarding));
    const r = d.send(T0);
    const noOpen = of(r, 'schedule')[0]!.action.key;
    const moved = d.step({ type: 'event', event: { id: 'o1', type: 'opened', at: T0 + H } }, T0 + H);
    expect(of(moved, 'cancel')).toEqual([{ type: 'cancel', keys: [noOpen] }]);
    expect(moved.enrollment.pending).toEqual(['camp:c1:wait_click:2:no_click']);
  });

  it('a timer left over from an earlier visit of the same node is a no-op', () => {
    // A loop that takes time: wait (no_reply after P1D) → send reminder → wait again.
    const plan = compilePlan({
      version: '1.0',
      startNodeId: 'wait',
      nodes: [
        { id: 'wait', action: 'wait', transitions: [{ on: 'replied', to: 'done' }, { on: 'no_reply', to: 'remind', after: 'P1D' }] },
        { id: 'remind', action: 'send', channel: 'sms', body: 'ping', transitions: [{ on: 'no_reply', to: 'wait', after: 'PT1H' }] },
        { id: 'done', action: 'exit' },
      ],
    });
    const d = driver(plan);
    const firstTimer = d.e.pending[0]!;
    expect(firstTimer).toBe('camp:c1:wait:1:no_reply');
    d.step({ type: 'timer', key: firstTimer }, T0 + D);
    d.send(T0 + D);
    const back = d.step({ type: 'timer', key: d.e.pending[0]! }, T0 + D + H);
    expect(back.enrollment.nodeId).toBe('wait');
    expect(back.enrollment.visit).toBe(3);
    const before = back.enrollment;
    // The first visit's timer fires again (a duplicate wake-up): nothing happens.
    const stale = d.step({ type: 'timer', key: firstTimer }, T0 + 2 * D);
    expect(stale.note).toBe('stale-timer');
    expect(stale.effects).toEqual([]);
    expect(stale.enrollment).toBe(before);
  });

  it('entering a wait node replays events that arrived early, in order of occurrence', () => {
    const d = driver(compilePlan(onboarding));
    d.send(T0);
    // The click is reported before the open it implies.
    const click = d.step({ type: 'event', event: { id: 'k1', type: 'clicked', at: T0 + 2 * H } }, T0 + 2 * H);
    expect(click.note).toBe('event-recorded');
    expect(click.enrollment.nodeId).toBe('email_intro');
    const open = d.step({ type: 'event', event: { id: 'o1', type: 'opened', at: T0 + H } }, T0 + 2 * H + 5);
    const transitions = of(open, 'transition').map((t) => t.record);
    expect(transitions.map((t) => [t.from, t.to, t.cause.on, t.cause.replayed ?? false])).toEqual([
      ['email_intro', 'wait_click', 'opened', false],
      ['wait_click', 'done', 'clicked', true],
    ]);
    expect(open.enrollment.status).toBe('completed');
  });

  it('events received before the current message was sent are not replayed', () => {
    const d = driver(compilePlan(onboarding));
    // A click arrives while the intro email is still scheduled (it belongs to nothing sent yet).
    d.step({ type: 'event', event: { id: 'k0', type: 'clicked', at: T0 - H } }, T0);
    d.send(T0 + 10);
    const open = d.step({ type: 'event', event: { id: 'o1', type: 'opened', at: T0 + H } }, T0 + H);
    expect(open.enrollment.nodeId).toBe('wait_click');
    expect(open.enrollment.status).toBe('active');
  });
});

describe('machine: exits, completion, duplicates', () => {
  it('exitOn events end the enrollment from any node and cancel its timers', () => {
    const d = driver(compilePlan(onboarding));
    const r0 = d.send(T0);
    const pending = r0.enrollment.pending;
    expect(pending).toHaveLength(1);
    const r = d.step({ type: 'event', event: { id: 'u1', type: 'unsubscribed', at: T0 + H } }, T0 + H);
    expect(r.enrollment.status).toBe('exited');
    expect(r.enrollment.endReason).toBe('exitOn "unsubscribed"');
    expect(of(r, 'cancel')[0]!.keys).toEqual(pending);
    expect(of(r, 'exit')[0]).toMatchObject({ status: 'exited' });
    // Custom exit events too, even before the first send.
    const d2 = driver(compilePlan(onboarding));
    const c = d2.step({ type: 'event', event: { type: 'converted', at: T0 } }, T0);
    expect(c.enrollment.status).toBe('exited');
    expect(of(c, 'cancel')[0]!.keys).toEqual(['camp:c1:email_intro:1:send']);
  });

  it('exit nodes complete the enrollment at once', () => {
    const plan = compilePlan({ version: '1.0', startNodeId: 'x', nodes: [{ id: 'x', action: 'exit' }] });
    const r = start(plan, { now: T0, contact });
    expect(r.enrollment.status).toBe('completed');
    expect(r.effects.map((e) => e.type)).toEqual(['transition', 'complete']);
  });

  it('an event with a provider id already seen changes nothing', () => {
    const d = driver(compilePlan(onboarding));
    d.send(T0);
    const first = d.step({ type: 'event', event: { id: 'ev-1', type: 'clicked', at: T0 + H } }, T0 + H);
    const dup = d.step({ type: 'event', event: { id: 'ev-1', type: 'opened', at: T0 + H } }, T0 + H);
    expect(dup.note).toBe('duplicate-event');
    expect(dup.effects).toEqual([]);
    expect(dup.enrollment).toBe(first.enrollment);
    expect(dup.enrollment.nodeId).toBe('email_intro');
  });

  it('stop ends the enrollment as stopped and cancels its actions', () => {
    const d = driver(compilePlan(onboarding));
    const r = d.step({ type: 'stop' }, T0 + 1);
    expect(r.enrollment.status).toBe('stopped');
    expect(of(r, 'cancel')[0]!.keys).toEqual(['camp:c1:email_intro:1:send']);
  });

  it('a send outcome for a message that is not the current one is ignored', () => {
    const d = driver(compilePlan(onboarding));
    const r = d.step({ type: 'sent', key: 'camp:c1:email_intro:9:send', at: T0 }, T0);
    expect(r.note).toBe('stale-send-outcome');
    expect(r.effects).toEqual([]);
  });
});

describe('machine: branch and split', () => {
  const branchy = (cases: unknown) =>
    compilePlan({
      version: '1.0',
      startNodeId: 'vip',
      nodes: [
        { id: 'vip', action: 'branch', cases, else: 'b' },
        { id: 'a', action: 'exit' },
        { id: 'b', action: 'exit' },
      ],
    } as PlanInput);
  const to = (plan: CompiledPlan, attributes: Record<string, unknown>, seen?: string[]) => {
    const r = start(plan, { now: T0, contact: { id: 'c', attributes } });
    void seen;
    return of(r, 'transition').map((t) => t.record.to);
  };

  it('branches on contact attributes: eq, in, comparisons, nested paths, else', () => {
    expect(to(branchy([{ if: { attr: 'tier', eq: 'vip' }, to: 'a' }]), { tier: 'vip' })).toEqual(['vip', 'a']);
    expect(to(branchy([{ if: { attr: 'tier', eq: 'vip' }, to: 'a' }]), { tier: 'free' })).toEqual(['vip', 'b']);
    expect(to(branchy([{ if: { attr: 'plan.seats', gte: 10 }, to: 'a' }]), { plan: { seats: 12 } })).toEqual(['vip', 'a']);
    expect(to(branchy([{ if: { attr: 'plan.seats', gte: 10 }, to: 'a' }]), { plan: { seats: '12' } })).toEqual(['vip', 'b']);
    expect(to(branchy([{ if: { attr: 'country', in: ['US', 'CA'] }, to: 'a' }]), { country: 'CA' })).toEqual(['vip', 'a']);
    expect(
      to(branchy([{ if: { all: [{ attr: 'a', exists: true }, { not: { attr: 'b', eq: 1 } }] }, to: 'a' }]), { a: 0, b: 2 }),
    ).toEqual(['vip', 'a']);
    const r = start(branchy([{ if: { attr: 'x', eq: 1 }, to: 'a' }]), { now: T0, contact: { id: 'c', attributes: { x: 1 } } });
    expect(of(r, 'transition')[1]!.record.cause).toEqual({ kind: 'branch', index: 0 });
  });

  it('branches on events the enrollment has seen', () => {
    const plan = compilePlan({
      version: '1.0',
      startNodeId: 'w',
      nodes: [
        { id: 'w', action: 'wait', transitions: [{ on: 'no_reply', to: 'check', after: 'P1D' }] },
        { id: 'check', action: 'branch', cases: [{ if: { event: 'opened' }, to: 'engaged' }], else: 'cold' },
        { id: 'engaged', action: 'exit' },
        { id: 'cold', action: 'exit' },
      ],
    });
    const d = driver(plan);
    d.step({ type: 'event', event: { id: 'o', type: 'opened', at: T0 + H } }, T0 + H);
    const r = d.step({ type: 'timer', key: d.e.pending[0]! }, T0 + D);
    expect(of(r, 'transition').map((t) => t.record.to)).toEqual(['check', 'engaged']);
  });

  const splitPlan = (weights: number[]) =>
    compilePlan({
      version: '1.0',
      id: 'ab-test',
      startNodeId: 'ab',
      nodes: [
        { id: 'ab', action: 'split', variants: weights.map((w, i) => ({ weight: w, to: `v${i}` })) },
        ...weights.map((_, i) => ({ id: `v${i}`, action: 'exit' as const })),
      ],
    });

  it('split: the same contact always gets the same variant', () => {
    const plan = splitPlan([50, 50]);
    for (let i = 0; i < 200; i++) {
      const c = { id: `contact-${i}` };
      const a = of(start(plan, { now: T0, contact: c }), 'transition')[1]!.record.to;
      const b = of(start(plan, { now: T0 + 999 * D, contact: c }), 'transition')[1]!.record.to;
      expect(b).toBe(a);
    }
  });

  it('split: weights are respected within 1% over 100k contacts', () => {
    const weights = [50, 30, 20];
    const plan = splitPlan(weights);
    const counts = [0, 0, 0];
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const r = start(plan, { now: T0, contact: { id: `user-${i}@example.com` } });
      counts[Number(r.enrollment.nodeId.slice(1))]! += 1;
    }
    weights.forEach((w, i) => expect(Math.abs(counts[i]! / n - w / 100)).toBeLessThan(0.01));
  });
});

describe('machine: determinism and data', () => {
  it('action keys are deterministic: enrollment:node:visit:kind', () => {
    const a = start(compilePlan(onboarding), { now: T0, contact, campaignId: 'camp' });
    const b = start(compilePlan(onboarding), { now: T0, contact, campaignId: 'camp' });
    expect(a).toEqual(b);
    expect(a.enrollment.sendKey).toBe(actionKey('camp:c1', 'email_intro', 1, 'send'));
  });

  it('an enrollment round-trips through JSON and steps identically afterwards', () => {
    const plan = compilePlan(onboarding);
    const d = driver(plan);
    d.send(T0);
    const revived = JSON.parse(JSON.stringify(d.e)) as Enrollment;
    expect(revived).toEqual(d.e);
    const input: MachineInput = { type: 'event', event: { id: 'o', type: 'opened', at: T0 + H } };
    expect(step(plan, revived, input, { now: T0 + H })).toEqual(step(plan, d.e, input, { now: T0 + H }));
  });

  it('step never modifies the enrollment it is given', () => {
    const plan = compilePlan(onboarding);
    const d = driver(plan);
    d.send(T0);
    const frozen = structuredClone(d.e);
    const deepFreeze = (o: unknown): void => {
      if (o && typeof o === 'object') {
        Object.freeze(o);
        Object.values(o).forEach(deepFreeze);
      }
    };
    deepFreeze(d.e);
    d.step({ type: 'event', event: { id: 'k', type: 'clicked', at: T0 + H } }, T0 + H);
    d.step({ type: 'event', event: { id: 'o', type: 'opened', at: T0 + 2 * H } }, T0 + 2 * H);
    expect(frozen.nodeId).toBe('email_intro');
  });

  it("the contact's time zone wins over the plan's; an invalid one falls back with a note", () => {
    const plan = compilePlan(onboarding);
    const late = Date.parse('2026-03-02T21:30:00Z'); // 22:30 in Berlin, 13:30 in Los Angeles
    const berlin = start(plan, { now: late, contact: { id: 'b', timezone: 'Europe/Berlin' } });
    expect(berlin.enrollment.zone).toBe('Europe/Berlin');
    expect(new Date(of(berlin, 'schedule')[0]!.action.runAt).toISOString()).toBe('2026-03-03T06:30:00.000Z'); // 07:30 CET
    const bad = start(plan, { now: late, contact: { id: 'x', timezone: 'Mars/Olympus' } });
    expect(bad.note).toBe('zone-fallback');
    expect(bad.enrollment.zone).toBe('America/Los_Angeles');
    expect(of(bad, 'schedule')[0]!.action.runAt).toBe(late);
  });

  it('every transition record names its cause, plan version and what it scheduled', () => {
    const plan = compilePlan(onboarding, { version: 7 });
    const r = start(plan, { now: T0, contact, campaignId: 'camp' });
    expect(of(r, 'transition')[0]!.record).toEqual({
      enrollmentId: 'camp:c1',
      from: null,
      to: 'email_intro',
      visit: 1,
      at: T0,
      cause: { kind: 'start' },
      planVersion: 7,
      scheduled: ['camp:c1:email_intro:1:send'],
    });
  });
});
