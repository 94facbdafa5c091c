/**
 * The runtime: the impure loop that carries out the machine's effects over the ports. It
 * claims an action by key in the store, steps the machine in the store's transaction,
 * writes the outbox row before calling the transport and records the outcome after.
 *
 * This is the small, policy-free runtime the simulator and the quickstart run on; the full
 * engine (lifecycle, audiences in pages, retries, rate limits, circuit breaker) builds on it.
 */
import { DriplineError, isDriplineError } from '../errors.js';
import { compilePlan, type CompiledPlan } from '../plan/compile.js';
import type { Plan } from '../plan/schema.js';
import { renderMessage } from '../plan/template.js';
import { start, step } from '../machine/machine.js';
import type { Effect, MachineInput, PlanEvent, SendEffect, StepNote, TransitionRecord } from '../machine/types.js';
import type { ActionQueue, QueueItem } from '../ports/action-queue.js';
import type {
  ActionRecord,
  CampaignRecord,
  CampaignStore,
  EnrollmentRecord,
  OutboundRecord,
  StoreTransaction,
} from '../ports/campaign-store.js';
import type { Clock } from '../ports/clock.js';
import type { AudienceContact } from '../ports/contact-source.js';
import type { SendErrorDetails, Transport } from '../ports/transport.js';

/** One line of a run's story: who got what, when, and why they moved. */
export type TimelineEntry =
  | { at: number; kind: 'transition'; enrollmentId: string; contactId: string; record: TransitionRecord }
  | { at: number; kind: 'scheduled'; enrollmentId: string; contactId: string; key: string; nodeId: string; runAt: number; requestedAt?: number }
  | { at: number; kind: 'sent'; enrollmentId: string; contactId: string; key: string; nodeId: string; channel: string; to: string; providerMessageId: string }
  | { at: number; kind: 'send-failed'; enrollmentId: string; contactId: string; key: string; nodeId: string; reason: string; errorKind: string }
  | { at: number; kind: 'event'; enrollmentId: string; contactId: string; event: PlanEvent; note?: StepNote }
  | { at: number; kind: 'ended'; enrollmentId: string; contactId: string; status: string; reason: string };

/** Options of {@link createRuntime}. */
export interface RuntimeOptions {
  store: CampaignStore;
  queue: ActionQueue;
  transport: Transport;
  clock: Clock;
  tenantId: string;
  /** Lease owner name. Default `runtime`. */
  workerId?: string;
  /** Lease length. Default 60 s. */
  leaseMs?: number;
  /** Called for every timeline entry, in order. */
  onTimeline?: (entry: TimelineEntry) => void;
  /** Extra template variables (e.g. `unsubscribe_url`) per message. */
  templateVariables?: (contact: AudienceContact, campaignId: string) => Record<string, unknown>;
}

/** What processing one action did. */
export type ProcessResult = 'skipped' | 'stepped' | 'sent' | 'failed' | 'retry';

/** The runtime's operations. */
export interface Runtime {
  /** Persists an active campaign running `plan`. */
  createCampaign(input: { id: string; name?: string; plan: Plan | unknown; batchSize?: number }): Promise<CampaignRecord>;
  /** Enrolls contacts (a contact already enrolled is left alone). Returns how many were new. */
  enroll(campaignId: string, contacts: readonly AudienceContact[]): Promise<number>;
  /** Claims and runs the action `key` if it is due. */
  processAction(key: string): Promise<ProcessResult>;
  /** Applies an engagement event to an enrollment. Returns the machine's note, if any. */
  ingestEvent(input: { enrollmentId: string; event: PlanEvent }): Promise<StepNote | undefined>;
}

function addressFor(contact: AudienceContact, channel: string): string | undefined {
  if (channel === 'email') return contact.address.email;
  if (channel === 'sms') return contact.address.phone;
  return contact.address.whatsapp ?? contact.address.phone;
}

/** Creates a runtime over the given ports. */
export function createRuntime(options: RuntimeOptions): Runtime {
  const { store, queue, transport, clock, tenantId } = options;
  const owner = options.workerId ?? 'runtime';
  const leaseMs = options.leaseMs ?? 60_000;
  const emit = options.onTimeline ?? (() => {});
  const compiled = new Map<string, CompiledPlan>();

  async function planOf(tx: StoreTransaction, campaignId: string): Promise<{ campaign: CampaignRecord; plan: CompiledPlan }> {
    const campaign = await tx.getCampaign(campaignId);
    if (!campaign) throw new DriplineError('NOT_FOUND', `campaign "${campaignId}" not found for tenant "${tenantId}"`, { details: { campaignId } });
    const cacheKey = `${campaignId}@${campaign.planVersion}`;
    let plan = compiled.get(cacheKey);
    if (!plan) compiled.set(cacheKey, (plan = compilePlan(campaign.plan, { version: campaign.planVersion, key: campaignId })));
    return { campaign, plan };
  }

  /** Writes a step's effects (except sends) inside the transaction; returns the queue work to do after commit. */
  async function applyEffects(tx: StoreTransaction, rec: EnrollmentRecord, effects: readonly Effect[], at: number) {
    const enqueue: QueueItem[] = [];
    const remove: string[] = [];
    const actions: ActionRecord[] = [];
    const transitions: TransitionRecord[] = [];
    const entries: TimelineEntry[] = [];
    const counters: Record<string, number> = {};
    const base = { enrollmentId: rec.enrollment.id, contactId: rec.contactId };
    for (const fx of effects) {
      switch (fx.type) {
        case 'schedule':
          actions.push({ ...fx.action, tenantId, campaignId: rec.campaignId, status: 'pending', attempts: 0, leaseOwner: null, leaseExpiresAt: null, lastError: null });
          enqueue.push({ key: fx.action.key, tenantId, runAt: fx.action.runAt });
          if (fx.action.kind === 'send') {
            entries.push({ at, kind: 'scheduled', ...base, key: fx.action.key, nodeId: fx.action.nodeId, runAt: fx.action.runAt, ...(fx.action.requestedAt === undefined ? {} : { requestedAt: fx.action.requestedAt }) });
            if (fx.action.requestedAt !== undefined) counters.sendsMovedByQuietHours = (counters.sendsMovedByQuietHours ?? 0) + 1;
          }
          break;
        case 'cancel':
          remove.push(...fx.keys);
          break;
        case 'transition':
          transitions.push(fx.record);
          entries.push({ at, kind: 'transition', ...base, record: fx.record });
          break;
        case 'complete':
        case 'exit': {
          const status = fx.type === 'complete' ? 'completed' : fx.status;
          counters[`enrollments.${status}`] = (counters[`enrollments.${status}`] ?? 0) + 1;
          entries.push({ at, kind: 'ended', ...base, status, reason: fx.reason });
          break;
        }
        case 'send':
          break;
      }
    }
    if (remove.length) await tx.cancelActions(remove);
    if (actions.length) await tx.insertActions(actions);
    if (transitions.length) await tx.appendTransitions(transitions.map((t) => ({ ...t, tenantId, campaignId: rec.campaignId })));
    if (Object.keys(counters).length) await tx.incrementAnalytics(rec.campaignId, counters);
    return { enqueue, remove, entries };
  }

  async function afterCommit(work: { enqueue: QueueItem[]; remove: string[]; entries: TimelineEntry[] }) {
    if (work.remove.length) await queue.remove(work.remove);
    if (work.enqueue.length) await queue.enqueue(work.enqueue);
    for (const e of work.entries) emit(e);
  }

  async function save(tx: StoreTransaction, rec: EnrollmentRecord, enrollment: EnrollmentRecord['enrollment']) {
    if (!(await tx.updateEnrollment({ ...rec, enrollment }, rec.rowVersion)))
      throw new DriplineError('CONFLICT', `enrollment "${rec.enrollment.id}" changed under us (row version ${rec.rowVersion})`, { retryable: true });
  }

  /** Steps an enrollment inside a transaction and applies the effects. */
  async function stepIn(tx: StoreTransaction, rec: EnrollmentRecord, plan: CompiledPlan, input: MachineInput, now: number) {
    const result = step(plan, rec.enrollment, input, { now, contact: rec.contact });
    if (result.enrollment !== rec.enrollment) await save(tx, rec, result.enrollment);
    const work = await applyEffects(tx, rec, result.effects, now);
    return { result, work };
  }

  async function createCampaign(input: { id: string; name?: string; plan: unknown; batchSize?: number }): Promise<CampaignRecord> {
    const plan = compilePlan(input.plan, { key: input.id });
    const now = clock.now();
    const record: CampaignRecord = {
      tenantId,
      id: input.id,
      name: input.name ?? plan.plan.name ?? input.id,
      status: 'active',
      plan: plan.plan,
      planVersion: 1,
      startAt: now,
      batchSize: input.batchSize ?? 1000,
      failureThreshold: 1,
      createdAt: now,
      updatedAt: now,
    };
    await store.transaction(tenantId, (tx) => tx.insertCampaign(record));
    return record;
  }

  async function enroll(campaignId: string, contacts: readonly AudienceContact[]): Promise<number> {
    const now = clock.now();
    const work = await store.transaction(tenantId, async (tx) => {
      const { plan } = await planOf(tx, campaignId);
      const started = contacts.map((contact) => ({ contact, r: start(plan, { now, contact, campaignId }) }));
      const inserted = new Set(
        await tx.insertEnrollments(
          started.map(({ contact, r }) => ({ tenantId, campaignId, contactId: contact.id, enrollment: r.enrollment, contact, rowVersion: 0 })),
        ),
      );
      const all = { enqueue: [] as QueueItem[], remove: [] as string[], entries: [] as TimelineEntry[] };
      for (const { contact, r } of started) {
        if (!inserted.has(r.enrollment.id)) continue;
        const rec: EnrollmentRecord = { tenantId, campaignId, contactId: contact.id, enrollment: r.enrollment, contact, rowVersion: 0 };
        const w = await applyEffects(tx, rec, r.effects, now);
        all.enqueue.push(...w.enqueue);
        all.remove.push(...w.remove);
        all.entries.push(...w.entries);
      }
      if (inserted.size) await tx.incrementAnalytics(campaignId, { 'enrollments.total': inserted.size });
      return { work: all, count: inserted.size };
    });
    await afterCommit(work.work);
    return work.count;
  }

  async function processAction(key: string): Promise<ProcessResult> {
    const now = clock.now();
    const claimed = await store.transaction(tenantId, async (tx) => {
      const action = await tx.claimAction(key, { now, owner, leaseMs });
      if (!action) return null;
      const rec = await tx.getEnrollment(action.enrollmentId);
      if (!rec) {
        if (!(await tx.finishAction(key, owner, now, 'canceled', { lastError: 'enrollment not found' }))) throw fenced(key);
        return null;
      }
      const { plan } = await planOf(tx, rec.campaignId);
      const { result, work } = await stepIn(tx, rec, plan, { type: 'timer', key }, now);
      const send = result.effects.find((e): e is SendEffect => e.type === 'send');
      if (!send) {
        if (!(await tx.finishAction(key, owner, now, 'done'))) throw fenced(key);
        return { work, send: null, rec };
      }
      const to = addressFor(rec.contact, send.channel);
      const rendered = renderMessage(send, {
        ...(rec.contact.attributes ?? {}),
        contact_id: rec.contact.id,
        ...(options.templateVariables?.(rec.contact, rec.campaignId) ?? {}),
      });
      const outbound: OutboundRecord = {
        tenantId,
        key,
        campaignId: rec.campaignId,
        contactId: rec.contactId,
        enrollmentId: rec.enrollment.id,
        nodeId: send.nodeId,
        channel: send.channel,
        to: to ?? '',
        ...(rendered.subject === undefined ? {} : { subject: rendered.subject }),
        body: rendered.body,
        status: 'sending',
        providerMessageId: null,
        failureReason: to === undefined ? `contact has no ${send.channel} address` : null,
        attempts: 1,
        createdAt: now,
        updatedAt: now,
      };
      // The outbox key is unique: the same send can never be recorded twice.
      if (!(await tx.insertOutbound(outbound))) throw new DriplineError('CONFLICT', `message "${key}" is already in the outbox`);
      return { work, send: outbound, rec: { ...rec, enrollment: result.enrollment, rowVersion: rec.rowVersion + 1 } };
    });
    if (!claimed) return 'skipped';
    await afterCommit(claimed.work);
    const msg = claimed.send;
    if (!msg) return 'stepped';

    let outcome: MachineInput;
    let providerMessageId: string | null = null;
    let failure: { reason: string; kind: string } | null = null;
    if (msg.failureReason) {
      failure = { reason: msg.failureReason, kind: 'permanent' };
      outcome = { type: 'sendFailed', key, at: clock.now(), reason: msg.failureReason, permanent: true };
    } else {
      try {
        const receipt = await transport.send({
          key,
          tenantId,
          campaignId: msg.campaignId,
          contactId: msg.contactId,
          channel: msg.channel,
          to: msg.to,
          ...(msg.subject === undefined ? {} : { subject: msg.subject }),
          body: msg.body,
        });
        providerMessageId = receipt.providerMessageId;
        outcome = { type: 'sent', key, at: clock.now(), providerMessageId };
      } catch (e) {
        const details = (isDriplineError(e, 'TRANSPORT_ERROR') ? e.details : { kind: 'ambiguous' }) as unknown as SendErrorDetails;
        const reason = e instanceof Error ? e.message : String(e);
        failure = { reason, kind: details.kind };
        // Without retry policy here, only a permanent error fails the node; an ambiguous one
        // may have been sent (at-most-once: never resend); a retryable one is rescheduled.
        if (details.kind === 'retryable') {
          await store.transaction(tenantId, async (tx) => {
            await tx.updateOutbound(key, { failureReason: reason, updatedAt: clock.now() });
            if (!(await tx.finishAction(key, owner, clock.now(), 'pending', { runAt: clock.now() + (details.retryAfterMs ?? 1000), lastError: reason }))) throw fenced(key);
          });
          await queue.enqueue([{ key, tenantId, runAt: clock.now() + (details.retryAfterMs ?? 1000) }]);
          return 'retry';
        }
        outcome =
          details.kind === 'ambiguous'
            ? { type: 'sent', key, at: clock.now() }
            : { type: 'sendFailed', key, at: clock.now(), reason, permanent: true, ...(details.providerCode ? { code: details.providerCode } : {}) };
      }
    }
    const at = clock.now();
    const work = await store.transaction(tenantId, async (tx) => {
      const rec = await tx.getEnrollment(msg.enrollmentId);
      if (!rec) throw new DriplineError('NOT_FOUND', `enrollment "${msg.enrollmentId}" vanished`);
      const { plan } = await planOf(tx, rec.campaignId);
      const { work } = await stepIn(tx, rec, plan, outcome, at);
      const status = failure ? (failure.kind === 'ambiguous' ? 'unknown' : 'failed') : 'sent';
      await tx.updateOutbound(key, { status, providerMessageId, failureReason: failure?.reason ?? null, updatedAt: at });
      await tx.incrementAnalytics(rec.campaignId, { [`messages.${status}`]: 1 });
      if (!(await tx.finishAction(key, owner, at, 'done'))) throw fenced(key);
      return work;
    });
    const base = { enrollmentId: msg.enrollmentId, contactId: msg.contactId, key, nodeId: msg.nodeId };
    emit(
      failure && failure.kind !== 'ambiguous'
        ? { at, kind: 'send-failed', ...base, reason: failure.reason, errorKind: failure.kind }
        : { at, kind: 'sent', ...base, channel: msg.channel, to: msg.to, providerMessageId: providerMessageId ?? '(unknown)' },
    );
    await afterCommit(work);
    return failure && failure.kind !== 'ambiguous' ? 'failed' : 'sent';
  }

  function fenced(key: string): DriplineError {
    return new DriplineError('CONFLICT', `lease on action "${key}" was lost; nothing was written`, { details: { key } });
  }

  async function ingestEvent(input: { enrollmentId: string; event: PlanEvent }): Promise<StepNote | undefined> {
    const now = clock.now();
    const out = await store.transaction(tenantId, async (tx) => {
      const rec = await tx.getEnrollment(input.enrollmentId);
      if (!rec) throw new DriplineError('NOT_FOUND', `enrollment "${input.enrollmentId}" not found`, { details: { enrollmentId: input.enrollmentId } });
      if (input.event.id !== undefined) {
        const fresh = await tx.insertEvent({
          tenantId,
          providerEventId: input.event.id,
          type: input.event.type,
          at: input.event.at,
          providerMessageId: null,
          messageKey: input.event.messageKey ?? null,
          receivedAt: now,
        });
        if (!fresh) return { note: 'duplicate-event' as StepNote, work: null, rec };
      }
      const { plan } = await planOf(tx, rec.campaignId);
      const { result, work } = await stepIn(tx, rec, plan, { type: 'event', event: input.event }, now);
      await tx.incrementAnalytics(rec.campaignId, { [`events.${input.event.type}`]: 1 });
      return { note: result.note, work, rec };
    });
    emit({ at: now, kind: 'event', enrollmentId: input.enrollmentId, contactId: out.rec.contactId, event: input.event, ...(out.note ? { note: out.note } : {}) });
    if (out.work) await afterCommit(out.work);
    return out.note;
  }

  return { createCampaign, enroll, processAction, ingestEvent };
}
