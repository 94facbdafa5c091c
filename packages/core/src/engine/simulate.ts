/**
 * `simulate`: a dry run of a plan. It runs the real engine on the in-memory store, queue
 * and a fake transport, with a virtual clock that jumps from one due action or event to
 * the next, and returns the timeline and a summary.
 */
import { DriplineError } from '../errors.js';
import { compilePlan } from '../plan/compile.js';
import { parseDuration, addDuration } from '../schedule/index.js';
import type { Enrollment, PlanEvent, StepNote, TransitionRecord } from '../machine/types.js';
import { createMemoryStore } from '../memory/memory-store.js';
import { createMemoryQueue } from '../memory/memory-queue.js';
import { createFakeTransport, type FakeTransportOptions } from '../memory/fake-transport.js';
import { createVirtualClock } from '../memory/virtual-clock.js';
import type { OutboundRecord } from '../ports/campaign-store.js';
import type { AudienceContact } from '../ports/contact-source.js';
import type { LimiterTreeConfig } from '../policy/index.js';
import { createEngine } from './engine.js';

/** One line of a run's story: who got what, when, and why they moved. */
export type TimelineEntry =
  | { at: number; kind: 'transition'; enrollmentId: string; contactId: string; record: TransitionRecord }
  | { at: number; kind: 'scheduled'; enrollmentId: string; contactId: string; key: string; nodeId: string; runAt: number; requestedAt?: number }
  | { at: number; kind: 'sent'; enrollmentId: string; contactId: string; key: string; nodeId: string; channel: string; to: string; providerMessageId: string }
  | { at: number; kind: 'send-failed'; enrollmentId: string; contactId: string; key: string; nodeId: string; reason: string; errorKind: string }
  | { at: number; kind: 'deferred'; enrollmentId: string; contactId: string; key: string; until: number; reason: string; rule?: string }
  | { at: number; kind: 'event'; enrollmentId: string; contactId: string; event: PlanEvent; note?: StepNote | 'duplicate' | 'orphan' }
  | { at: number; kind: 'ended'; enrollmentId: string; contactId: string; status: string; reason: string };

/** An event to inject at a fixed time. */
export interface SimulatedEvent {
  contactId: string;
  /** `opened`, `clicked`, `replied`, `unsubscribed`, a custom name... */
  type: string;
  /** When it happens: epoch ms, ISO instant, or an ISO duration after the simulation start. */
  at: number | string;
  /** Provider event id; default derived from the other fields. */
  id?: string;
}

/** A message the simulated recipient reacts to. */
export interface SimulatedMessage {
  key: string;
  contactId: string;
  nodeId: string;
  channel: string;
  sentAt: number;
}

/** Options of {@link simulate}. */
export interface SimulateOptions {
  /** The audience, or a number of generated contacts (`contact-1`... in the plan's zone). */
  contacts: readonly AudienceContact[] | number;
  /** When the campaign starts: epoch ms, ISO instant or Date. */
  start: number | string | Date;
  /**
   * When to stop: an instant, or an ISO duration after `start` (e.g. `"P30D"`), added in the
   * plan's time zone: calendar days keep the local clock time across DST, so `P14D` over a
   * spring-forward is 14 × 24 h − 1 h.
   */
  until: number | string | Date;
  /** Events at fixed times. */
  events?: readonly SimulatedEvent[];
  /**
   * How recipients react to each message: return events with a delay (ms or ISO duration)
   * after the send. Must be deterministic (derive choices from the key, not `Math.random`).
   * Each reaction gets its own event id (`key:type:index`), so two opens of one message are
   * two events.
   */
  respond?: (message: SimulatedMessage) => ReadonlyArray<{ type: string; after: number | string }> | undefined | void;
  /** Makes the fake transport fail (see `createFakeTransport`). */
  fail?: FakeTransportOptions['fail'];
  /** Called every `progressEvery` steps and at the end. */
  onProgress?: (progress: { now: number; steps: number; sent: number }) => void;
  progressEvery?: number;
  /** Keep the full timeline (default true); set false for very large runs. */
  keepTimeline?: boolean;
  /** Rate limits to simulate (default none: the plan's timing alone). */
  rateLimits?: LimiterTreeConfig;
  /** Compliance presets to apply (e.g. `['us-tcpa']`). */
  compliance?: readonly string[];
}

/** Counts of a simulation. */
export interface SimulationSummary {
  contacts: number;
  /** Messages sent, per node id. */
  sentByNode: Record<string, number>;
  /** Transitions taken, keyed `"from → to"` (`"(start) → x"` for enrolments). */
  transitions: Record<string, number>;
  /** Enrollments by final status (`active` means still waiting when the run ended). */
  byStatus: Record<string, number>;
  /** Sends whose time quiet hours moved. */
  movedByQuietHours: number;
  /** Events delivered to enrollments, per type. */
  events: Record<string, number>;
  /** Events that were replayed on entering a node (they had arrived early). */
  replayed: number;
  failedSends: number;
  startedAt: number;
  endedAt: number;
}

/** What {@link simulate} returns. */
export interface SimulationResult {
  timeline: TimelineEntry[];
  summary: SimulationSummary;
  messages: OutboundRecord[];
  enrollments: Enrollment[];
}

function instant(v: number | string | Date, what: string, from?: number, zone = 'UTC'): number {
  if (typeof v === 'number') return v;
  if (v instanceof Date) return v.getTime();
  if (from !== undefined && /^P/.test(v)) return addDuration(from, parseDuration(v), zone);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new DriplineError('INVALID_INPUT', `${what} ${JSON.stringify(v)} is not an instant or an ISO duration`, { details: { [what]: v } });
  return t;
}

/**
 * Runs `plan` for `contacts` from `start` to `until` on in-memory adapters with a virtual
 * clock, and returns who got what, when, and why they moved.
 *
 * @example
 * ```ts
 * const { summary, timeline } = await simulate(planJson, {
 *   contacts: 100,
 *   start: '2026-03-02T16:00:00Z',
 *   until: 'P14D',
 *   respond: (m) => (m.nodeId === 'email_intro' ? [{ type: 'opened', after: 'PT2H' }] : []),
 * });
 * ```
 */
export async function simulate(plan: unknown, options: SimulateOptions): Promise<SimulationResult> {
  const compiled = compilePlan(plan);
  const startAt = instant(options.start, 'start');
  const until = instant(options.until, 'until', startAt, compiled.timezone);
  const tenantId = 'simulation';
  const clock = createVirtualClock(startAt);
  const store = createMemoryStore();
  const queue = createMemoryQueue();
  const transport = createFakeTransport(options.fail ? { fail: options.fail } : {});
  const engine = createEngine({
    store,
    queue,
    transports: transport,
    clock,
    rateLimits: options.rateLimits ?? {},
    ...(options.compliance ? { compliance: options.compliance } : {}),
    // Retry jitter in a simulation must be reproducible.
    random: () => 0.5,
  });
  const keep = options.keepTimeline ?? true;
  const timeline: TimelineEntry[] = [];
  const eventQueue = createMemoryQueue();
  const pendingEvents = new Map<string, { contactId: string; event: PlanEvent }>();
  const summary: SimulationSummary = {
    contacts: 0,
    sentByNode: {},
    transitions: {},
    byStatus: {},
    movedByQuietHours: 0,
    events: {},
    replayed: 0,
    failedSends: 0,
    startedAt: startAt,
    endedAt: startAt,
  };
  const bump = (m: Record<string, number>, k: string) => void (m[k] = (m[k] ?? 0) + 1);
  const push = (entry: TimelineEntry) => void (keep && timeline.push(entry));
  const enrollmentOf = (contactId: string) => `${campaignId}:${contactId}`;
  const addEvent = (contactId: string, event: PlanEvent) => {
    pendingEvents.set(event.id!, { contactId, event });
    void eventQueue.enqueue([{ key: event.id!, tenantId, runAt: event.at }]);
  };

  engine.events.on('transition', ({ contactId, record }) => {
    bump(summary.transitions, `${record.from ?? '(start)'} → ${record.to}`);
    if (record.cause.replayed) summary.replayed += 1;
    push({ at: record.at, kind: 'transition', enrollmentId: record.enrollmentId, contactId, record });
  });
  engine.events.on('send.scheduled', ({ contactId, key, nodeId, runAt, requestedAt }) => {
    if (requestedAt !== undefined) summary.movedByQuietHours += 1;
    push({ at: clock.now(), kind: 'scheduled', enrollmentId: enrollmentOf(contactId), contactId, key, nodeId, runAt, ...(requestedAt === undefined ? {} : { requestedAt }) });
  });
  engine.events.on('message.sent', ({ contactId, key, nodeId, channel, to, providerMessageId, at }) => {
    bump(summary.sentByNode, nodeId);
    push({ at, kind: 'sent', enrollmentId: enrollmentOf(contactId), contactId, key, nodeId, channel, to, providerMessageId: providerMessageId ?? '(unknown)' });
    const reacts = options.respond?.({ key, contactId, nodeId, channel, sentAt: at });
    (reacts ?? []).forEach((r, i) => {
      const when = typeof r.after === 'number' ? at + r.after : addDuration(at, parseDuration(r.after), 'UTC');
      addEvent(contactId, { id: `${key}:${r.type}:${i}`, type: r.type, at: when, messageKey: key });
    });
  });
  engine.events.on('message.failed', ({ contactId, key, nodeId, reason, kind, willRetry, at }) => {
    if (willRetry) return;
    summary.failedSends += 1;
    push({ at, kind: 'send-failed', enrollmentId: enrollmentOf(contactId), contactId, key, nodeId, reason, errorKind: kind });
  });
  engine.events.on('message.deferred', ({ key, until: u, reason, rule }) => {
    const contactId = key.split(':')[1] ?? '';
    push({ at: clock.now(), kind: 'deferred', enrollmentId: enrollmentOf(contactId), contactId, key, until: u, reason, ...(rule ? { rule } : {}) });
  });
  engine.events.on('enrollment.ended', ({ contactId, status, reason }) => {
    push({ at: clock.now(), kind: 'ended', enrollmentId: enrollmentOf(contactId), contactId, status, reason });
  });
  let lastNote: StepNote | 'duplicate' | 'orphan' | undefined;
  engine.events.on('event.received', ({ note }) => void (lastNote = note));

  const campaign = await engine.createCampaign(null, tenantId, { id: 'simulation', plan: compiled.plan });
  const campaignId = campaign.id;
  const contacts: readonly AudienceContact[] =
    typeof options.contacts === 'number'
      ? Array.from({ length: options.contacts }, (_, i) => ({
          id: `contact-${i + 1}`,
          address: { email: `contact-${i + 1}@example.test`, phone: `+1555${String(i + 1).padStart(7, '0')}` },
        }))
      : options.contacts;
  summary.contacts = contacts.length;
  await engine.startCampaign(null, tenantId, campaignId, { audience: contacts });
  for (const ev of options.events ?? []) {
    const at = instant(ev.at, 'event time', startAt, compiled.timezone);
    addEvent(ev.contactId, { id: ev.id ?? `sim:${ev.contactId}:${ev.type}:${at}`, type: ev.type, at });
  }

  let steps = 0;
  const every = options.progressEvery ?? 10_000;
  for (;;) {
    const nextAction = queue.nextRunAt();
    const nextEvent = eventQueue.nextRunAt();
    const next = nextAction === null ? nextEvent : nextEvent === null ? nextAction : Math.min(nextAction, nextEvent);
    if (next === null || next > until) break;
    if (next > clock.now()) clock.advanceTo(next);
    const now = clock.now();
    for (const item of eventQueue.takeDue(now, Number.MAX_SAFE_INTEGER)) {
      const { contactId, event } = pendingEvents.get(item.key)!;
      pendingEvents.delete(item.key);
      lastNote = undefined;
      await engine.ingestEvent({
        tenantId,
        providerEventId: event.id!,
        type: event.type,
        at: event.at,
        ...(event.messageKey ? { messageKey: event.messageKey } : { campaignId, contactId }),
      });
      push({ at: now, kind: 'event', enrollmentId: enrollmentOf(contactId), contactId, event, ...(lastNote ? { note: lastNote } : {}) });
      if (lastNote !== 'duplicate') bump(summary.events, event.type);
      if (++steps % every === 0) options.onProgress?.({ now, steps, sent: transport.sent.length });
    }
    for (const item of queue.takeDue(now, Number.MAX_SAFE_INTEGER)) {
      await engine.processAction(tenantId, item.key, 'simulator');
      if (++steps % every === 0) options.onProgress?.({ now, steps, sent: transport.sent.length });
    }
  }
  summary.endedAt = Math.max(clock.now(), until);
  options.onProgress?.({ now: clock.now(), steps, sent: transport.sent.length });

  const dump = store.dump(tenantId);
  for (const e of dump.enrollments) bump(summary.byStatus, e.enrollment.status);
  return { timeline, summary, messages: dump.outbox, enrollments: dump.enrollments.map((e) => e.enrollment) };
}
