/**
 * The pure state machine: `start` and `step` map (plan, enrollment, input, now) to
 * (enrollment, effects) and do nothing else. No I/O, no clock, no randomness: A/B splits use
 * a seeded hash of the contact id. The same call gives the same result in a test, a BullMQ
 * processor or a Temporal workflow.
 */
import { DriplineError } from '../errors.js';
import type { CompiledEventTransition, CompiledNode, CompiledPlan, CompiledSendNode, CompiledWaitNode } from '../plan/compile.js';
import { addDuration, explainSendTime, isValidTimeZone } from '../schedule/index.js';
import { evaluateCondition } from './condition.js';
import { hashToUnit } from './hash.js';
import type {
  Contact,
  Effect,
  Enrollment,
  InboxEvent,
  MachineInput,
  PlanEvent,
  StartContext,
  StepContext,
  StepNote,
  StepResult,
  TransitionCause,
  TransitionRecord,
} from './types.js';

/** Instant hops (branch, split, replayed events) one step may take before it is called a loop. */
const MAX_HOPS = 100;
/** Events kept on an enrollment's inbox; the oldest consumed ones go first. */
const INBOX_LIMIT = 100;

/** Builds an action key: `enrollment:node:visit:kind`. */
export function actionKey(enrollmentId: string, nodeId: string, visit: number, kind: string): string {
  return `${enrollmentId}:${nodeId}:${visit}:${kind}`;
}

/** The kind part of an action key: `send` or a timeout name such as `no_open`. */
export function actionKind(key: string): string {
  return key.slice(key.lastIndexOf(':') + 1);
}

interface Run {
  cp: CompiledPlan;
  e: Enrollment;
  effects: Effect[];
  now: number;
  contact: Contact | undefined;
  hops: number;
}

function node(cp: CompiledPlan, id: string): CompiledNode {
  const n = cp.nodes.get(id);
  if (!n) throw new DriplineError('INVALID_INPUT', `node "${id}" is not in plan "${cp.key}" version ${cp.version}`, { details: { nodeId: id } });
  return n;
}

function end(r: Run, status: 'completed' | 'exited' | 'failed' | 'stopped', reason: string): void {
  const e = r.e;
  if (e.pending.length) r.effects.push({ type: 'cancel', keys: e.pending });
  e.pending = [];
  e.status = status;
  e.endedAt = r.now;
  e.endReason = reason;
  r.effects.push(
    status === 'completed'
      ? { type: 'complete', enrollmentId: e.id, at: r.now, reason }
      : { type: 'exit', enrollmentId: e.id, at: r.now, reason, status },
  );
}

function scheduleTimeouts(r: Run, n: CompiledSendNode | CompiledWaitNode, anchor: number, record: TransitionRecord | null): void {
  const e = r.e;
  for (const t of n.timeouts) {
    const key = actionKey(e.id, n.id, e.visit, t.on);
    const runAt = addDuration(anchor, t.after, e.zone);
    e.pending.push(key);
    record?.scheduled.push(key);
    r.effects.push({ type: 'schedule', action: { key, enrollmentId: e.id, kind: 'timeout', nodeId: n.id, visit: e.visit, runAt, on: t.on } });
  }
}

/** Moves the enrollment to `target`, leaving (and canceling the timers of) the current node. */
function enter(r: Run, target: string, cause: TransitionCause): void {
  if (++r.hops > MAX_HOPS)
    throw new DriplineError('INVALID_INPUT', `more than ${MAX_HOPS} instant moves in one step at node "${target}"; the plan loops without waiting`, {
      details: { nodeId: target },
    });
  const e = r.e;
  const from = e.status === 'active' && e.visit > 0 ? e.nodeId : null;
  if (e.pending.length) r.effects.push({ type: 'cancel', keys: e.pending });
  e.pending = [];
  e.visit += 1;
  e.nodeId = target;
  e.enteredAt = r.now;
  e.anchorAt = null;
  e.sendState = null;
  e.sendKey = null;
  const record: TransitionRecord = { enrollmentId: e.id, from, to: target, visit: e.visit, at: r.now, cause, planVersion: r.cp.version, scheduled: [] };
  r.effects.push({ type: 'transition', record });

  const n = node(r.cp, target);
  switch (n.kind) {
    case 'exit':
      end(r, 'completed', `exit node "${n.id}"`);
      return;
    case 'branch': {
      const attributes = r.contact?.attributes ?? {};
      const index = n.cases.findIndex((c) => evaluateCondition(c.if, attributes, e.seen));
      enter(r, index === -1 ? n.else : n.cases[index]!.to, { kind: 'branch', index });
      return;
    }
    case 'split': {
      const u = hashToUnit(`${r.cp.key}:${n.id}:${e.contactId}`);
      let index = n.cumulative.findIndex((c) => u < c);
      if (index === -1) index = n.variants.length - 1;
      enter(r, n.variants[index]!.to, { kind: 'split', index });
      return;
    }
    case 'send': {
      const key = actionKey(e.id, n.id, e.visit, 'send');
      const t = explainSendTime({
        from: r.now,
        delay: n.delay,
        ...(n.at === undefined ? {} : { at: n.at }),
        zone: e.zone,
        ...(r.cp.quietHours ? { quietHours: r.cp.quietHours } : {}),
      });
      e.sendState = 'scheduled';
      e.sendKey = key;
      e.pending.push(key);
      record.scheduled.push(key);
      r.effects.push({
        type: 'schedule',
        action: {
          key,
          enrollmentId: e.id,
          kind: 'send',
          nodeId: n.id,
          visit: e.visit,
          runAt: t.at,
          ...(t.movedByQuietHours ? { requestedAt: t.requested } : {}),
        },
      });
      return;
    }
    case 'wait':
      e.anchorAt = r.now;
      scheduleTimeouts(r, n, r.now, record);
      replay(r, n);
      return;
  }
}

/** Whether an event at `at` is within the transition's window from the node's anchor. */
function inWindow(r: Run, t: CompiledEventTransition, at: number): boolean {
  if (!t.within || r.e.anchorAt === null) return true;
  return at <= addDuration(r.e.anchorAt, t.within, r.e.zone);
}

/**
 * Replays the unconsumed events received since the most recent send against the node just
 * entered (or just sent), in order of occurrence: an event that raced ahead is never lost.
 */
function replay(r: Run, n: CompiledSendNode | CompiledWaitNode): void {
  const e = r.e;
  if (e.inbox.length === 0 || n.onEvent.size === 0) return;
  const candidates = e.inbox
    .map((ev, i) => ({ ev, i }))
    .filter(({ ev }) => !ev.consumed && n.onEvent.has(ev.type))
    .sort((a, b) => a.ev.at - b.ev.at || a.i - b.i);
  for (const { ev, i } of candidates) {
    const t = n.onEvent.get(ev.type)!;
    if (!inWindow(r, t, ev.at)) continue;
    e.inbox = e.inbox.slice();
    e.inbox[i] = inboxEvent(ev, true);
    enter(r, t.to, { kind: 'event', on: ev.type, ...(ev.id === undefined ? {} : { eventId: ev.id }), replayed: true });
    return;
  }
}

/**
 * Copies an enrollment field by field, always in the same order, so every enrollment has one
 * hidden class: an object spread here made the hot path megamorphic (bench/core.bench.mjs).
 */
function cloneEnrollment(e: Enrollment): Enrollment {
  return {
    id: e.id,
    contactId: e.contactId,
    campaignId: e.campaignId,
    planKey: e.planKey,
    planVersion: e.planVersion,
    status: e.status,
    nodeId: e.nodeId,
    visit: e.visit,
    enteredAt: e.enteredAt,
    anchorAt: e.anchorAt,
    sendState: e.sendState,
    sendKey: e.sendKey,
    lastSentAt: e.lastSentAt,
    zone: e.zone,
    pending: e.pending,
    inbox: e.inbox,
    eventIds: e.eventIds,
    seen: e.seen,
    sends: e.sends,
    endedAt: e.endedAt,
    endReason: e.endReason,
  };
}

function inboxEvent(ev: PlanEvent, consumed: boolean): InboxEvent {
  const kept: InboxEvent = { type: ev.type, at: ev.at, consumed };
  if (ev.id !== undefined) kept.id = ev.id;
  if (ev.messageKey !== undefined) kept.messageKey = ev.messageKey;
  return kept;
}

function recordEvent(e: Enrollment, ev: PlanEvent): InboxEvent {
  const kept = inboxEvent(ev, false);
  let inbox = [...e.inbox, kept];
  if (inbox.length > INBOX_LIMIT) {
    const drop = inbox.findIndex((x) => x.consumed);
    inbox.splice(drop === -1 ? 0 : drop, 1);
  }
  e.inbox = inbox;
  if (ev.id !== undefined) e.eventIds = [...e.eventIds, ev.id];
  if (!e.seen.includes(ev.type)) e.seen = [...e.seen, ev.type];
  return kept;
}

function effectiveZone(cp: CompiledPlan, contact: Contact): { zone: string; fallback: boolean } {
  if (contact.timezone === undefined) return { zone: cp.timezone, fallback: false };
  return isValidTimeZone(contact.timezone) ? { zone: contact.timezone, fallback: false } : { zone: cp.timezone, fallback: true };
}

/**
 * Enrolls a contact: enters the plan's start node at `ctx.now`.
 *
 * @example
 * ```ts
 * const plan = compilePlan(json);
 * const { enrollment, effects } = start(plan, { now: Date.parse('2026-03-02T16:00:00Z'), contact: { id: 'c1', timezone: 'Europe/Berlin' } });
 * // effects: a transition record and a `schedule` of the first send
 * ```
 */
export function start(cp: CompiledPlan, ctx: StartContext): StepResult {
  const { zone, fallback } = effectiveZone(cp, ctx.contact);
  const id = ctx.enrollmentId ?? (ctx.campaignId === undefined ? ctx.contact.id : `${ctx.campaignId}:${ctx.contact.id}`);
  const e: Enrollment = {
    id,
    contactId: ctx.contact.id,
    campaignId: ctx.campaignId ?? null,
    planKey: cp.key,
    planVersion: cp.version,
    status: 'active',
    nodeId: cp.startNodeId,
    visit: 0,
    enteredAt: ctx.now,
    anchorAt: null,
    sendState: null,
    sendKey: null,
    lastSentAt: null,
    zone,
    pending: [],
    inbox: [],
    eventIds: [],
    seen: [],
    sends: 0,
    endedAt: null,
    endReason: null,
  };
  const r: Run = { cp, e, effects: [], now: ctx.now, contact: ctx.contact, hops: 0 };
  enter(r, cp.startNodeId, { kind: 'start' });
  return fallback ? { enrollment: e, effects: r.effects, note: 'zone-fallback' } : { enrollment: e, effects: r.effects };
}

function same(enrollment: Enrollment, note: StepNote): StepResult {
  return { enrollment, effects: [], note };
}

/**
 * Applies one input to an enrollment and returns the new enrollment and the effects to
 * carry out. The input enrollment is not modified.
 *
 * - `event`: deduplicated by `event.id`; `exitOn` events end the enrollment from any node;
 *   otherwise the current node's transition on that event is taken if the node's message was
 *   sent (or it is a wait node) and the event is `within` its window. Every event is kept
 *   on the enrollment so a `wait` node entered later can replay it.
 * - `timer`: a due action. Ignored (`note: 'stale-timer'`) unless its key is pending on the
 *   current visit.
 * - `sent` / `sendFailed`: the outcome of a send effect.
 * - `stop`: the campaign was stopped.
 *
 * @example
 * ```ts
 * const r = step(plan, enrollment, { type: 'event', event: { id: 'ev1', type: 'opened', at: now } }, { now });
 * ```
 */
export function step(cp: CompiledPlan, enrollment: Enrollment, input: MachineInput, ctx: StepContext): StepResult {
  if (enrollment.status !== 'active') {
    return same(enrollment, input.type === 'event' && input.event.id !== undefined && enrollment.eventIds.includes(input.event.id) ? 'duplicate-event' : 'already-ended');
  }
  const e = cloneEnrollment(enrollment);
  const r: Run = { cp, e, effects: [], now: ctx.now, contact: ctx.contact, hops: 0 };

  switch (input.type) {
    case 'event': {
      const ev = input.event;
      if (ev.id !== undefined && enrollment.eventIds.includes(ev.id)) return same(enrollment, 'duplicate-event');
      const kept = recordEvent(e, ev);
      if (cp.exitOn.has(ev.type)) {
        kept.consumed = true;
        end(r, 'exited', `exitOn "${ev.type}"`);
        return { enrollment: e, effects: r.effects };
      }
      const n = node(cp, e.nodeId);
      const waiting = n.kind === 'wait' || (n.kind === 'send' && e.sendState === 'sent');
      const t = waiting ? (n as CompiledSendNode | CompiledWaitNode).onEvent.get(ev.type) : undefined;
      if (!t) return { enrollment: e, effects: r.effects, note: 'event-recorded' };
      if (!inWindow(r, t, ev.at)) return { enrollment: e, effects: r.effects, note: 'late-event' };
      kept.consumed = true;
      enter(r, t.to, { kind: 'event', on: ev.type, ...(ev.id === undefined ? {} : { eventId: ev.id }) });
      return { enrollment: e, effects: r.effects };
    }
    case 'timer': {
      if (!enrollment.pending.includes(input.key)) return same(enrollment, 'stale-timer');
      const n = node(cp, e.nodeId);
      const kind = actionKind(input.key);
      if (kind === 'send') {
        if (n.kind !== 'send' || e.sendState !== 'scheduled' || e.sendKey !== input.key) return same(enrollment, 'stale-timer');
        e.pending = e.pending.filter((k) => k !== input.key);
        e.sendState = 'sending';
        // Events received before this message went out belong to earlier messages.
        e.inbox = [];
        r.effects.push({
          type: 'send',
          key: input.key,
          enrollmentId: e.id,
          contactId: e.contactId,
          nodeId: n.id,
          visit: e.visit,
          channel: n.channel,
          ...(n.subject === undefined ? {} : { subject: n.subject }),
          body: n.body,
        });
        return { enrollment: e, effects: r.effects };
      }
      if (n.kind !== 'send' && n.kind !== 'wait') return same(enrollment, 'stale-timer');
      const t = n.timeouts.find((x) => x.on === kind);
      if (!t) return same(enrollment, 'stale-timer');
      e.pending = e.pending.filter((k) => k !== input.key);
      enter(r, t.to, { kind: 'timer', on: t.on, key: input.key });
      return { enrollment: e, effects: r.effects };
    }
    case 'sent': {
      const n = node(cp, e.nodeId);
      if (n.kind !== 'send' || e.sendKey !== input.key || e.sendState === 'sent') return same(enrollment, 'stale-send-outcome');
      e.pending = e.pending.filter((k) => k !== input.key);
      e.sendState = 'sent';
      e.lastSentAt = input.at;
      e.anchorAt = input.at;
      e.sends += 1;
      if (n.terminal) {
        end(r, 'completed', `sent "${n.id}", which has no transitions`);
        return { enrollment: e, effects: r.effects };
      }
      scheduleTimeouts(r, n, input.at, null);
      replay(r, n);
      return { enrollment: e, effects: r.effects };
    }
    case 'sendFailed': {
      const n = node(cp, e.nodeId);
      if (n.kind !== 'send' || e.sendKey !== input.key || e.sendState === 'sent') return same(enrollment, 'stale-send-outcome');
      e.pending = e.pending.filter((k) => k !== input.key);
      e.sendState = null;
      const t = n.onEvent.get('failed');
      if (t) enter(r, t.to, { kind: 'failed', on: 'failed', key: input.key });
      else end(r, 'failed', `send "${n.id}" failed: ${input.reason}`);
      return { enrollment: e, effects: r.effects };
    }
    case 'stop':
      end(r, 'stopped', input.reason ?? 'campaign stopped');
      return { enrollment: e, effects: r.effects };
    case 'migrate': {
      const from = { key: e.planKey, version: e.planVersion };
      e.planKey = cp.key;
      e.planVersion = cp.version;
      if (input.to === null) {
        end(r, 'exited', `migrated from plan version ${from.version} to ${cp.version}: exit`);
        return { enrollment: e, effects: r.effects };
      }
      node(cp, input.to);
      enter(r, input.to, { kind: 'migration', on: `v${from.version}→v${cp.version}` });
      return { enrollment: e, effects: r.effects };
    }
  }
}
