// The embedded-machine example: the loop module (src/loop.mjs) tested directly, then both
// scripts run as a user would (`node src/main.mjs`, `node src/workflow-style.mjs`).
// Needs @dripline/core built (the root `pnpm test` builds first).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDuration, compilePlan, computeSendTime } from '@dripline/core';
import { createRunner, emptyState, runLoop } from '../src/loop.mjs';
import { CONTACTS, EVENTS, PLAN, START, UNTIL } from '../src/scenario.mjs';
import { runWorkflows } from '../src/workflow-style.mjs';

const cwd = fileURLToPath(new URL('..', import.meta.url));
const T = (iso: string) => Date.parse(iso);

interface Sent { key: string; contactId: string; nodeId: string; channel: string; to: string; at: number; subject?: string; body: string }
interface Entry { at: number; contactId: string; type: string; from?: string | null; to?: string; cause?: { kind: string; on?: string; replayed?: boolean; key?: string }; note?: string; event?: string; eventId?: string; nodeId?: string; runAt?: number; requestedAt?: number; status?: string; key?: string }
interface State { clock: number; enrollments: Record<string, { status: string; nodeId: string; sends: number; endReason: string | null }>; timers: Record<string, unknown>; sent: Record<string, { at: number }>; timeline: Entry[] }

const plan = compilePlan(PLAN);

/** Runs the loop over the scenario, recording every message handed to `send`. */
async function run(options: { until?: number; state?: State } = {}) {
  const sends: Sent[] = [];
  const state = (await runLoop({
    plan,
    contacts: CONTACTS,
    events: EVENTS,
    start: START,
    until: options.until ?? UNTIL,
    send: async (m: Sent) => void sends.push(m),
    ...(options.state ? { state: options.state } : {}),
  })) as State;
  return { state, sends };
}

const transitions = (s: State, contactId: string) => s.timeline.filter((e) => e.contactId === contactId && e.type === 'transition');
const sendsOf = (sends: Sent[], contactId: string) => sends.filter((m) => m.contactId === contactId).map((m) => [m.nodeId, new Date(m.at).toISOString()]);
const node = (cmd: string[]) => spawnSync(process.execPath, cmd, { cwd, encoding: 'utf8', timeout: 30_000 });

describe('the loop module (src/loop.mjs)', () => {
  let full: Awaited<ReturnType<typeof run>>;
  beforeAll(async () => {
    full = await run();
  });

  it('ends each contact where its events lead', () => {
    const final = Object.fromEntries(Object.entries(full.state.enrollments).map(([id, e]) => [id, `${e.status}@${e.nodeId}`]));
    expect(final).toEqual({ ana: 'completed@thanks', ben: 'completed@sms_nudge', chloe: 'completed@done', dev: 'completed@thanks', eve: 'exited@email_intro' });
    expect(full.state.timers).toEqual({});
  });

  it('takes the clicked branch for the contact who clicked, at the click', () => {
    expect(transitions(full.state, 'ana').map((e) => [e.from, e.to, e.cause?.on, new Date(e.at).toISOString()])).toEqual([
      [null, 'email_intro', undefined, '2026-03-02T16:00:00.000Z'],
      ['email_intro', 'wait_click', 'opened', '2026-03-02T17:00:00.000Z'],
      ['wait_click', 'thanks', 'clicked', '2026-03-03T08:00:00.000Z'],
    ]);
    expect(sendsOf(full.sends, 'ana')).toEqual([
      ['email_intro', '2026-03-02T16:00:00.000Z'],
      ['thanks', '2026-03-03T08:00:00.000Z'],
    ]);
    // Ben opened but never clicked: he never reaches the clicked branch.
    expect(transitions(full.state, 'ben').map((e) => e.to)).not.toContain('thanks');
  });

  it('fires the no_click timeout at exactly open + P2D, and the SMS at the next 10:00 local after PT1H', () => {
    const opened = T('2026-03-02T18:00:00Z');
    const timeout = transitions(full.state, 'ben').find((e) => e.cause?.kind === 'timer');
    expect(timeout).toMatchObject({ from: 'wait_click', to: 'sms_nudge', cause: { on: 'no_click' } });
    expect(timeout!.at).toBe(T('2026-03-04T18:00:00Z'));
    expect(timeout!.at).toBe(addDuration(opened, 'P2D', 'America/New_York'));
    const sms = full.sends.find((m) => m.contactId === 'ben' && m.nodeId === 'sms_nudge')!;
    // 18:00Z + 1 h = 14:00 in New York, so the next 10:00 there is the following morning (15:00Z).
    expect(sms.at).toBe(T('2026-03-05T15:00:00Z'));
    expect(sms.at).toBe(computeSendTime({ from: timeout!.at, delay: 'PT1H', at: '10:00', zone: 'America/New_York', quietHours: PLAN.quietHours }));
    expect(sms).toMatchObject({ channel: 'sms', to: '+15550100002', body: 'Ben, one tap to finish setting up: https://app.example.test/setup?c=ben' });
  });

  it('moves a send out of quiet hours in the contact’s own zone, and counts timeouts from the send', () => {
    const scheduled = full.state.timeline.find((e) => e.contactId === 'chloe' && e.type === 'scheduled' && e.nodeId === 'email_intro')!;
    expect(scheduled.requestedAt).toBe(START); // 01:00 in Tokyo: quiet
    expect(scheduled.runAt).toBe(T('2026-03-02T22:30:00Z')); // 07:30 in Tokyo
    expect(sendsOf(full.sends, 'chloe')).toEqual([
      ['email_intro', '2026-03-02T22:30:00.000Z'],
      ['email_bump', '2026-03-06T00:00:00.000Z'], // no_open 72 h after the send (07:30), then at 09:00 local
    ]);
    expect(transitions(full.state, 'chloe').map((e) => [e.to, new Date(e.at).toISOString()])).toEqual([
      ['email_intro', '2026-03-02T16:00:00.000Z'],
      ['email_bump', '2026-03-05T22:30:00.000Z'],
      ['done', '2026-03-09T00:00:00.000Z'],
    ]);
  });

  it('replays a click that was reported before its open', () => {
    const early = full.state.timeline.find((e) => e.contactId === 'dev' && e.type === 'event' && e.event === 'clicked')!;
    expect(early).toMatchObject({ note: 'event-recorded', at: T('2026-03-02T16:20:00Z') });
    const tr = transitions(full.state, 'dev');
    expect(tr.at(-1)).toMatchObject({ from: 'wait_click', to: 'thanks', at: T('2026-03-02T16:25:00Z'), cause: { on: 'clicked', replayed: true } });
  });

  it('ignores a redelivered webhook and events after an unsubscribe', () => {
    const anaEvents = full.state.timeline.filter((e) => e.contactId === 'ana' && e.type === 'event');
    expect(anaEvents.map((e) => [e.event, e.note ?? null])).toEqual([
      ['opened', null],
      ['opened', 'duplicate-event'],
      ['clicked', null],
    ]);
    expect(full.state.timeline.filter((e) => e.contactId === 'eve' && e.type === 'ended')).toMatchObject([{ status: 'exited', at: T('2026-03-02T20:00:00Z') }]);
    expect(full.state.timeline.find((e) => e.contactId === 'eve' && e.event === 'opened')?.note).toBe('already-ended');
    expect(sendsOf(full.sends, 'eve')).toEqual([['email_intro', '2026-03-02T16:00:00.000Z']]);
  });

  it('sends nobody the same message twice', () => {
    const keys = full.sends.map((m) => m.key);
    expect(keys.length).toBe(9);
    expect(new Set(keys).size).toBe(keys.length);
    expect(Object.keys(full.state.sent).sort()).toEqual([...keys].sort());
    for (const c of CONTACTS) expect(full.state.enrollments[c.id]!.sends).toBe(full.sends.filter((m) => m.contactId === c.id).length);
  });

  it('carries on from its JSON state exactly as an uninterrupted run (a cron job that stops and restarts)', async () => {
    const first = await run({ until: T('2026-03-04T00:00:00Z') });
    expect(first.state.clock).toBe(T('2026-03-04T00:00:00Z'));
    expect(first.state.enrollments.ben!.status).toBe('active');
    const saved = JSON.parse(JSON.stringify(first.state)) as State;
    const second = await run({ state: saved });
    expect([...first.sends, ...second.sends].map((m) => [m.key, m.at])).toEqual(full.sends.map((m) => [m.key, m.at]));
    expect(second.state.enrollments).toEqual(full.state.enrollments);
    expect(second.state.timeline).toEqual(full.state.timeline);
  });

  it('does nothing more when run again at the same instant, or given the same event again', async () => {
    const sends: Sent[] = [];
    const state = JSON.parse(JSON.stringify(full.state)) as State;
    const runner = createRunner({ plan, state, send: async (m: Sent) => void sends.push(m) });
    expect(await runner.runDue(UNTIL)).toBe(0);
    await runner.receive(EVENTS[0], UNTIL);
    expect(sends).toEqual([]);
    expect(state.enrollments).toEqual(full.state.enrollments);
  });

  it('does not send again when a crashed run replays a send it had already made (the ledger)', async () => {
    // The state saved before Chloé's first send (due 22:30Z), and a run that sends it.
    const before = (await run({ until: T('2026-03-02T22:00:00Z') })).state;
    const sends: Sent[] = [];
    const runner = createRunner({ plan, state: JSON.parse(JSON.stringify(before)), send: async (m: Sent) => void sends.push(m) });
    await runner.runDue(T('2026-03-02T22:30:00Z'));
    expect(sends.map((m) => m.key)).toEqual(['chloe:email_intro:1:send']);
    // The crash: only the ledger row was committed; the enrollment and timers are the old ones.
    const replay = { ...(JSON.parse(JSON.stringify(before)) as State), sent: runner.state.sent };
    const again: Sent[] = [];
    const second = createRunner({ plan, state: replay, send: async (m: Sent) => void again.push(m) });
    await second.runDue(T('2026-03-02T22:31:00Z'));
    expect(again).toEqual([]);
    expect(replay.timeline.at(-1)).toMatchObject({ type: 'send-skipped', key: 'chloe:email_intro:1:send', sentAt: T('2026-03-02T22:30:00Z') });
    // The machine was told: the no_open timeout counts from the real send time.
    expect(replay.timers['chloe:email_intro:1:no_open']).toMatchObject({ runAt: T('2026-03-05T22:30:00Z') });
  });

  it('starts from an empty state', () => {
    expect(JSON.parse(JSON.stringify(emptyState()))).toEqual({ clock: null, contacts: {}, enrollments: {}, timers: {}, sent: {}, timeline: [] });
  });
});

describe('node src/main.mjs', () => {
  it('prints the sends, the timeline and the final states, and exits 0', () => {
    const r = node(['src/main.mjs']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [sendsPart = '', rest = ''] = r.stdout.split(/^Timeline/m);
    expect(sendsPart.split('\n').filter((l) => /→ \S+@example\.test|→ \+1555/.test(l))).toHaveLength(9);
    expect(sendsPart).toMatch(/05 Mar 15:00Z {2}ben +sms +sms_nudge +→ \+15550100002/);
    expect(rest).toMatch(/wait_click → thanks {3}\[clicked \(replayed: it arrived before this node was entered\)\]/);
    expect(rest).toMatch(/moved by quiet hours from 01:00/);
    expect(rest).toMatch(/duplicate \(same provider event id\): ignored/);
    const finals = Object.fromEntries([...rest.matchAll(/^ {2}(\w+) +(completed|exited|active|failed) +at (\w+)/gm)].map((m) => [m[1], `${m[2]}@${m[3]}`]));
    expect(finals).toEqual({ ana: 'completed@thanks', ben: 'completed@sms_nudge', chloe: 'completed@done', dev: 'completed@thanks', eve: 'exited@email_intro' });
    expect(rest).toMatch(/^9 messages sent, 9 distinct keys; pending timers: 0/m);
  });

  it('--json prints the state the loop module computes', async () => {
    const r = node(['src/main.mjs', '--json']);
    expect(r.status).toBe(0);
    const printed = JSON.parse(r.stdout) as State;
    const { state } = await run();
    expect(printed).toEqual(JSON.parse(JSON.stringify(state)));
  });

  describe('--state: two cron runs on one JSON file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dripline-embedded-'));
    const file = join(dir, 'state.json');
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('the second run sends only what is left and ends where one run ends', async () => {
      const a = node(['src/main.mjs', '--until', '2026-03-04T00:00:00Z', '--state', file]);
      expect(a.status).toBe(0);
      expect(a.stdout).toMatch(/^ {2}ben +active +at wait_click/m);
      const b = node(['src/main.mjs', '--state', file]);
      expect(b.status).toBe(0);
      expect(b.stdout).toMatch(/^resuming from .* at 2026-03-04T00:00:00.000Z$/m);
      const sent = b.stdout.split(/^Timeline/m)[0]!.split('\n').filter((l) => l.includes('→ '));
      expect(sent).toHaveLength(2);
      expect(sent[0]).toMatch(/ben +sms +sms_nudge/);
      expect(sent[1]).toMatch(/chloe +email +email_bump/);
      const saved = JSON.parse(readFileSync(file, 'utf8')) as State;
      expect(saved.enrollments).toEqual((await run()).state.enrollments);
      // A third run has nothing left to do.
      const c = node(['src/main.mjs', '--state', file]);
      expect(c.stdout.split(/^Timeline/m)[0]!.split('\n').filter((l) => l.includes('→ '))).toEqual([]);
    });
  });
});

describe('node src/workflow-style.mjs', () => {
  it('runs one workflow per contact to the same result as the loop', async () => {
    const r = node(['src/workflow-style.mjs']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ {2}ana +returned completed +email_intro → wait_click → thanks/m);
    expect(r.stdout).toMatch(/^ {2}eve +returned exited +email_intro {2}\(exitOn "unsubscribed"\)/m);
    expect(r.stdout).toMatch(/signal opened for eve at 02 Mar 21:00Z dropped: its workflow had completed/);
    expect(r.stdout).toMatch(/^9 messages sent, 9 distinct keys$/m);

    const json = node(['src/workflow-style.mjs', '--json']);
    expect(json.status).toBe(0);
    const out = JSON.parse(json.stdout) as { sends: Sent[]; results: Record<string, { done: boolean; enrollment: { status: string; nodeId: string } }> };
    const { state, sends } = await run();
    // Same machine, same inputs, same instants: the same messages at the same times.
    const byKey = (list: Sent[]) => list.map((m) => [m.key, m.at, m.to]).sort();
    expect(byKey(out.sends)).toEqual(byKey(sends));
    for (const c of CONTACTS) {
      expect(out.results[c.id]!.done).toBe(true);
      expect(out.results[c.id]!.enrollment).toEqual(state.enrollments[c.id]);
    }
  });

  it('is importable: runWorkflows stops at `until` with the workflows still asleep', async () => {
    const { results, sends } = await runWorkflows({ until: T('2026-03-04T00:00:00Z') });
    expect(results.ben).toEqual({ done: false });
    expect(results.ana!.done).toBe(true);
    expect(sends.map((m: Sent) => m.key)).not.toContain('ben:sms_nudge:3:send');
  });
});
