/**
 * The engine: the impure orchestration over the ports. Campaign lifecycle, enrolment of an
 * audience in pages, processing one due action (claim, guard, send, record), event
 * ingestion, plan versions and status. Workers (`createWorker`) drive `processAction`.
 *
 * Every write happens in a store transaction; the machine's effects are applied in the same
 * transaction as the enrollment update; a claimed action is finished fenced by its lease, so
 * a worker that lost its lease commits nothing.
 */
import pLimit from 'p-limit';
import { EventEmitter } from 'eventemitter3';
import { DriplineError, isDriplineError } from '../errors.js';
import { compilePlan, type CompiledPlan } from '../plan/compile.js';
import { renderMessage } from '../plan/template.js';
import type { Channel, Plan } from '../plan/schema.js';
import { start, step } from '../machine/machine.js';
import type { Effect, Enrollment, MachineInput, PlanEvent, SendEffect, StepResult } from '../machine/types.js';
import { applyQuietHours, isQuiet, parseDuration, type QuietHours } from '../schedule/index.js';
import {
  compileRetryPolicy,
  createCircuitBreaker,
  createLimiterTree,
  frequencyCapDecision,
  resolveCompliance,
  retryDecision,
  type CircuitBreaker,
  type RetryPolicy,
} from '../policy/index.js';
import type { QueueItem } from '../ports/action-queue.js';
import type { Permission } from '../ports/authorizer.js';
import type {
  ActionRecord,
  BulkStoreOperations,
  CampaignRecord,
  CampaignStatus,
  ChunkClaimRequest,
  ClaimedChunk,
  EnrollmentRecord,
  OutboundRecord,
  OutboundStatus,
  StoreTransaction,
} from '../ports/campaign-store.js';
import type { AudienceContact, ContactSource } from '../ports/contact-source.js';
import type { SendErrorDetails, Transport } from '../ports/transport.js';
import { addressesOf, bulkOperations, chunkCache, chunkRows, claimActionsOnly, claimChunk, mergeRows, noChunk, rowsOf, type ChunkCache, type ChunkRows } from './bulk.js';
import { assertTransition, type CampaignOperation } from './lifecycle.js';
import { OUTBOUND_PROGRESS, toPlanEvent } from './provider-events.js';
import type {
  Caller,
  CampaignInput,
  CampaignStatusReport,
  Deferral,
  EngineEvents,
  EngineOptions,
  IncomingEvent,
  IngestResult,
  SystemMetrics,
} from './types.js';

/** What processing one action did. */
export type ProcessResult = 'skipped' | 'lost-lease' | 'stepped' | 'sent' | 'failed' | 'retry' | 'deferred' | 'unknown';

/** Options of {@link Engine.processDue}. */
export interface ProcessDueOptions {
  /** Actions per chunk, and so sends in flight at once. Default 10. */
  chunkSize?: number;
  /** Most actions to claim. Default: no limit (until a claim comes back short). */
  limit?: number;
  /** Fair share: at most this many actions of one campaign per claim. */
  perCampaignLimit?: number;
  /** Lease on claimed actions, ms. Default the engine's `leaseMs`. */
  leaseMs?: number;
  /** Checked before each claim; `true` stops claiming (claimed actions still finish). */
  shouldStop?: () => boolean;
  /** Called with each chunk's actions and their results once all are known. */
  onResults?: (actions: readonly ActionRecord[], results: ReadonlyArray<PromiseSettledResult<ProcessResult>>) => void;
  /**
   * Called when `limit` actions were claimed while more may be due (the last claim came back
   * full), before the pipeline would wind down. Resolving `true` grants another `limit` and the
   * pipeline runs on: the turn that would only have recorded the last chunk's outcomes also
   * claims the next chunk, and no claim of its own starts the next `limit`. The chunk sent
   * last waits, unrecorded, until it resolves. A worker serving one tenant uses it to run its
   * rounds back to back; without it (or resolving `false`) the pipeline ends after `limit`.
   * If it throws, the pipeline ends as if it had resolved `false`, and the error is rethrown
   * once the claimed actions are done.
   */
  onLimit?: () => boolean | Promise<boolean>;
}

/** Claims of an action whose processing keeps throwing before it is parked. */
const MAX_CLAIMS = 10;
/** Minimum sends before a campaign's failure rate is judged. */
const FAILURE_SAMPLE = 20;
const DAY = 86_400_000;

/** The engine. Create it with {@link createEngine}. */
export interface Engine {
  /** Typed events: `message.sent`, `message.failed`, `transition`, `campaign.status`, `circuit.open`... */
  readonly events: EventEmitter<EngineEvents>;
  /** The options' clock. */
  readonly clock: {
    /** The current time, epoch ms. */
    now(): number;
  };
  /** Validates the plan and stores a `draft` campaign (`scheduled` with `startAt`). Needs `campaigns.create`. */
  createCampaign(caller: Caller, tenantId: string, input: CampaignInput): Promise<CampaignRecord>;
  /** The campaign; `NOT_FOUND` if there is none. Needs `campaigns.read`. */
  getCampaign(caller: Caller, tenantId: string, campaignId: string): Promise<CampaignRecord>;
  /** Sets the start time; a worker activates it then (and enrolls `resolveAudience`'s contacts). */
  scheduleCampaign(caller: Caller, tenantId: string, campaignId: string, startAt: number | string): Promise<CampaignRecord>;
  /** Activates the campaign and, if given, enrolls the audience in pages. */
  startCampaign(caller: Caller, tenantId: string, campaignId: string, options?: { audience?: ContactSource | readonly AudienceContact[] }): Promise<CampaignRecord>;
  /** Stops claiming the campaign's actions; they wait, pending, until resume. */
  pauseCampaign(caller: Caller, tenantId: string, campaignId: string): Promise<CampaignRecord>;
  /** Resumes and re-enqueues every pending action (paged), so nothing waits for the sweeper. */
  resumeCampaign(caller: Caller, tenantId: string, campaignId: string): Promise<CampaignRecord>;
  /** No further sends; every active enrollment ends as `stopped`. */
  stopCampaign(caller: Caller, tenantId: string, campaignId: string): Promise<CampaignRecord>;
  /** Like stop, from any unfinished status; the campaign ends `canceled`. */
  cancelCampaign(caller: Caller, tenantId: string, campaignId: string): Promise<CampaignRecord>;
  /**
   * Enrolls an audience in pages of the campaign's batch size; a contact already enrolled is
   * left alone. Returns how many were new.
   */
  enroll(
    caller: Caller,
    tenantId: string,
    campaignId: string,
    audience: ContactSource | readonly AudienceContact[],
    options?: { onProgress?: (p: { enrolled: number; seen: number }) => void; complete?: boolean },
  ): Promise<{ enrolled: number; seen: number }>;
  /** Claims the action `key` (if due and its campaign active) and runs it. */
  processAction(tenantId: string, key: string, owner?: string): Promise<ProcessResult>;
  /** Runs an action this worker already claimed (from `claimDueActions`). */
  processClaimed(tenantId: string, action: ActionRecord, owner: string): Promise<ProcessResult>;
  /**
   * Runs a batch of claimed actions of one tenant in chunks of `chunkSize` (default
   * `concurrency`, which defaults to 10), with two commits per chunk: one transaction decides
   * every action of the chunk (up to the transport call), its sends go out together, and one
   * transaction records every outcome. `concurrency / chunkSize` chunks run at once, so at
   * most `concurrency` messages are between "sending" and their outcome at any time. Each action is still
   * fenced by its own lease. If either transaction fails (a lost lease, a poison action, a
   * store error), nothing of it was written and those actions run one by one as in
   * {@link Engine.processClaimed}, so one bad action costs the others only time.
   * Each chunk reads its rows with one statement per kind where the store has
   * {@link BulkStoreOperations}. Results are in the order of `actions`.
   */
  processClaimedBatch(tenantId: string, actions: readonly ActionRecord[], owner: string, options?: { concurrency?: number; chunkSize?: number }): Promise<Array<PromiseSettledResult<ProcessResult>>>;
  /**
   * {@link Engine.processAction} for several keys of one tenant at once, as queue wake-ups
   * arriving together: claims them in one transaction (one statement where the store has
   * {@link BulkStoreOperations}), then runs the claimed ones as
   * {@link Engine.processClaimedBatch} does. A key it could not claim (not due, done, held
   * by a live lease, campaign not active) is `skipped`. Results are in the order of `keys`.
   */
  processActions(tenantId: string, keys: readonly string[], owner?: string, options?: { concurrency?: number; chunkSize?: number }): Promise<Array<PromiseSettledResult<ProcessResult>>>;
  /**
   * Runs a chunk claimed with {@link claimChunk} (or a store's `claimChunk`) as
   * {@link Engine.processClaimedBatch} runs its chunks, starting from the rows that came with
   * the claim instead of reading them again. On a store that commits a transaction of only
   * buffered writes in one statement (PostgreSQL), a chunk then costs three round trips: the
   * claim, the decision and the outcomes. Results are in the order of `chunk.actions`.
   */
  processChunk(tenantId: string, chunk: ClaimedChunk, owner: string, options?: { concurrency?: number; chunkSize?: number }): Promise<Array<PromiseSettledResult<ProcessResult>>>;
  /**
   * Claims and runs a tenant's due actions in a pipeline of chunks, until a claim finds fewer
   * than `chunkSize` due actions, `limit` actions were claimed, or `shouldStop` says so;
   * returns how many it claimed. Each turn is one transaction that records the previous
   * chunk's outcomes, decides the current chunk and claims the next (`claimAtCommit`), after
   * which the current chunk's messages go out: on PostgreSQL one round trip per chunk. At most
   * `chunkSize` messages are ever between "sending" and their outcome, so a crash leaves at
   * most that many `unknown`. A turn whose transaction fails is redone apart (outcomes one by
   * one, the chunk on its own), so one bad action costs the others only time. This is what
   * {@link createWorker} runs.
   */
  processDue(tenantId: string, owner: string, options?: ProcessDueOptions): Promise<number>;
  /** Maps, deduplicates and applies an incoming event. */
  ingestEvent(event: IncomingEvent): Promise<IngestResult>;
  /** Activates `scheduled` campaigns whose start time has come; returns how many. */
  activateDueCampaigns(tenantId: string): Promise<number>;
  /**
   * Completes every active campaign of the tenant whose audience is enrolled and whose
   * enrollments have all ended, and fails those past their failure threshold; returns how
   * many changed. The engine checks after each step too, but two transactions that end a
   * campaign's last enrollments at the same moment each miss the other's count under
   * READ COMMITTED; workers call this when idle and every few seconds to settle such
   * campaigns.
   */
  settleCampaigns(tenantId: string): Promise<number>;
  /** Stores a new plan version. Enrollments in flight stay on theirs; new ones use it. */
  updatePlan(caller: Caller, tenantId: string, campaignId: string, plan: unknown): Promise<{ version: number }>;
  /** Who would move where under a migration map (old node → new node, or `null` to exit). */
  previewMigration(caller: Caller, tenantId: string, campaignId: string, input: MigrationInput): Promise<MigrationPreview>;
  /** Moves in-flight enrollments onto a newer plan version according to the map. */
  migrate(caller: Caller, tenantId: string, campaignId: string, input: MigrationInput): Promise<MigrationPreview>;
  /** Progress and counts in seed 004's shape. Needs `campaigns.read`. */
  getCampaignStatus(caller: Caller, tenantId: string, campaignId: string): Promise<CampaignStatusReport>;
  /** This process's counters: messages, processing time, circuits. */
  getSystemMetrics(): SystemMetrics;
  /** Suppresses an address (a STOP, an unsubscribe, a complaint). */
  suppress(tenantId: string, address: string, channel: Channel | null, reason: string): Promise<void>;
  /**
   * Stops sending through a sender (`${transport.name}:${channel}`, e.g. after Twilio's 30034
   * "unregistered sender" arrives in a status callback) until {@link Engine.resumeSender}; its
   * sends are deferred, not failed. Emits `sender.halted`.
   */
  haltSender(sender: string, reason: string): void;
  /** Lets a halted sender send again. */
  resumeSender(sender: string): void;
}

/** Input of a plan migration. */
export interface MigrationInput {
  /** The version to move to. Default: the campaign's latest. */
  toVersion?: number;
  /** Old node id → new node id, or `null` to end the enrollment. Nodes not in the map stay. */
  map: Readonly<Record<string, string | null>>;
  /** Only enrollments this returns true for (default all). */
  filter?: (enrollment: Enrollment) => boolean;
}

/** Result of a migration or its preview. */
export interface MigrationPreview {
  toVersion: number;
  /** `"old → new"` (or `"old → exit"`) → number of enrollments. */
  moves: Record<string, number>;
  /** Enrollments that stay on their version, by node. */
  staying: Record<string, number>;
  moved: number;
}

function resolveTransports(t: EngineOptions['transports']): (channel: Channel) => Transport {
  const byChannel = new Map<Channel, Transport>();
  if (Array.isArray(t)) {
    for (const tr of t as readonly Transport[]) for (const c of tr.channels) if (!byChannel.has(c)) byChannel.set(c, tr);
  } else if (t && typeof (t as Transport).send === 'function') {
    for (const c of (t as Transport).channels) byChannel.set(c, t as Transport);
  } else {
    for (const [c, tr] of Object.entries(t as Record<string, Transport | undefined>)) if (tr) byChannel.set(c as Channel, tr);
  }
  return (channel) => {
    const tr = byChannel.get(channel);
    if (!tr) throw new DriplineError('INVALID_INPUT', `no transport is configured for channel "${channel}"`, { details: { channel } });
    return tr;
  };
}

function toMs(v: number | string, what: string): number {
  if (typeof v === 'number') return v;
  const d = parseDuration(v);
  if (d.calendar) {
    if (d.years || d.months) throw new DriplineError('INVALID_INPUT', `${what} "${v}" must be days or less (no months or years)`);
    return (d.weeks * 7 + d.days) * DAY + d.timeMs;
  }
  return d.timeMs;
}

function instant(v: number | string, what: string): number {
  if (typeof v === 'number') return v;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new DriplineError('INVALID_INPUT', `${what} ${JSON.stringify(v)} is not an ISO instant`, { details: { [what]: v } });
  return t;
}

function addressFor(contact: AudienceContact, channel: Channel): string | undefined {
  if (channel === 'email') return contact.address.email;
  if (channel === 'sms') return contact.address.phone;
  return contact.address.whatsapp ?? contact.address.phone;
}

async function* pagesOf(audience: ContactSource | readonly AudienceContact[], pageSize: number): AsyncIterable<AudienceContact[]> {
  if (Array.isArray(audience)) {
    const list = audience as readonly AudienceContact[];
    for (let i = 0; i < list.length; i += pageSize) yield list.slice(i, i + pageSize);
    return;
  }
  yield* (audience as ContactSource).pages({ pageSize });
}

/**
 * Creates an engine over a store, an optional queue and transports.
 *
 * @example
 * ```ts
 * const engine = createEngine({ store: createMemoryStore(), transports: createFakeTransport() });
 * const campaign = await engine.createCampaign(null, 't1', { plan });
 * await engine.startCampaign(null, 't1', campaign.id, { audience: contacts });
 * const worker = createWorker(engine, { tenants: ['t1'] });
 * await worker.start();
 * ```
 */
export function createEngine(options: EngineOptions): Engine {
  const { store, queue } = options;
  const clock = options.clock ?? { now: () => Date.now() };
  const random = options.random ?? Math.random;
  const transportFor = resolveTransports(options.transports);
  const sendPolicy = options.sendPolicy ?? 'at-most-once';
  const retry: RetryPolicy = compileRetryPolicy(options.retry);
  const limiter = createLimiterTree(options.rateLimits ?? { sender: { '*': { limit: 10, window: 1000 } } });
  const leaseMs = options.leaseMs ?? 60_000;
  const defaultCompliance = options.compliance ?? [];
  const frequencyCap = options.frequencyCap ? { max: options.frequencyCap.max, windowMs: toMs(options.frequencyCap.window, 'frequencyCap.window') } : undefined;
  const events = new EventEmitter<EngineEvents>();
  const breakers = new Map<string, CircuitBreaker>();
  const haltedSenders = new Set<string>();
  const plans = new Map<string, CompiledPlan>();
  const metrics = { campaignsProcessed: 0, messagesSent: 0, messagesFailed: 0, processingMs: 0, processed: 0, activeWorkers: 0 };
  let idCounter = 0;

  const log = options.logger;
  const breakerFor = (name: string) => {
    let b = breakers.get(name);
    if (!b) breakers.set(name, (b = createCircuitBreaker(options.circuitBreaker)));
    return b;
  };

  async function authorize(caller: Caller, permission: Permission, tenantId: string, campaignId?: string) {
    if (caller === null || !options.authorizer) return;
    if (caller.tenantId !== tenantId)
      throw new DriplineError('FORBIDDEN', `principal "${caller.id}" of tenant "${caller.tenantId}" may not act on tenant "${tenantId}"`, {
        details: { principal: caller.id, permission, tenantId },
      });
    const ok = await options.authorizer.authorize(caller, permission, { tenantId, ...(campaignId ? { campaignId } : {}) });
    if (!ok) throw new DriplineError('FORBIDDEN', `principal "${caller.id}" lacks permission "${permission}"`, { details: { principal: caller.id, permission, tenantId, campaignId } });
  }

  async function loadCampaign(tx: StoreTransaction, campaignId: string): Promise<CampaignRecord> {
    const c = await tx.getCampaign(campaignId);
    if (!c) throw new DriplineError('NOT_FOUND', `campaign "${campaignId}" not found in tenant "${tx.tenantId}"`, { details: { campaignId, tenantId: tx.tenantId } });
    return c;
  }

  async function planFor(tx: StoreTransaction, campaignId: string, version: number): Promise<CompiledPlan> {
    const cacheKey = `${tx.tenantId}\u0000${campaignId}\u0000${version}`;
    let p = plans.get(cacheKey);
    if (p) return p;
    const row = await tx.getPlanVersion(campaignId, version);
    if (!row) throw new DriplineError('NOT_FOUND', `plan version ${version} of campaign "${campaignId}" not found`, { details: { campaignId, version } });
    p = compilePlan(row.plan, { version, key: campaignId });
    plans.set(cacheKey, p);
    return p;
  }

  /** Refuses a plan whose quiet hours, with the compliance presets, leave no time to send a text. */
  function assertSendableWindows(compiled: CompiledPlan, presetNames: readonly string[]) {
    const presets = presetNames.length ? resolveCompliance([...new Set(presetNames)]).presets : [];
    const texts = [...compiled.nodes.values()].some((n) => n.kind === 'send' && n.channel !== 'email');
    const windows = [...(compiled.plan.quietHours ? [compiled.plan.quietHours] : []), ...(texts ? presets.map((p) => p.quietHours) : [])];
    if (windows.length < 2) return; // one window alone is checked by validatePlan
    try {
      applyQuietHours(Date.UTC(2026, 0, 5, 12), 'UTC', windows);
    } catch (e) {
      if (!isDriplineError(e, 'QUIET_HOURS_COVER_ALL')) throw e;
      throw new DriplineError(
        'INVALID_INPUT',
        `the plan's quiet hours ${JSON.stringify(compiled.plan.quietHours)} and compliance preset(s) ${presets.map((p) => p.name).join(', ')} together leave no time at which a text may be sent`,
        { details: { quietHours: compiled.plan.quietHours, presets: presets.map((p) => p.name) } },
      );
    }
  }

  function compliancePresets(campaign: CampaignRecord) {
    const names = [...defaultCompliance, ...(campaign.compliance ?? [])];
    return names.length ? resolveCompliance([...new Set(names)]) : null;
  }

  interface Work {
    enqueue: QueueItem[];
    remove: string[];
    emits: Array<() => void>;
  }
  const newWork = (): Work => ({ enqueue: [], remove: [], emits: [] });

  /** Writes a step's effects (sends excepted) in the transaction; queue work and events wait for commit. */
  async function applyEffects(tx: StoreTransaction, rec: EnrollmentRecord, effects: readonly Effect[], work: Work) {
    const tenantId = tx.tenantId;
    const actions: ActionRecord[] = [];
    const cancel: string[] = [];
    const counters: Record<string, number> = {};
    for (const fx of effects) {
      switch (fx.type) {
        case 'schedule':
          actions.push({ ...fx.action, tenantId, campaignId: rec.campaignId, status: 'pending', attempts: 0, leaseOwner: null, leaseExpiresAt: null, lastError: null });
          work.enqueue.push({ key: fx.action.key, tenantId, runAt: fx.action.runAt });
          if (fx.action.kind === 'send') {
            const a = fx.action;
            if (a.requestedAt !== undefined) counters['sends.movedByQuietHours'] = (counters['sends.movedByQuietHours'] ?? 0) + 1;
            work.emits.push(() =>
              events.emit('send.scheduled', { tenantId, campaignId: rec.campaignId, contactId: rec.contactId, key: a.key, nodeId: a.nodeId, runAt: a.runAt, ...(a.requestedAt === undefined ? {} : { requestedAt: a.requestedAt }) }),
            );
          }
          break;
        case 'cancel':
          cancel.push(...fx.keys);
          break;
        case 'transition': {
          const record = fx.record;
          work.emits.push(() => events.emit('transition', { tenantId, campaignId: rec.campaignId, contactId: rec.contactId, record }));
          break;
        }
        case 'complete':
        case 'exit': {
          const status = fx.type === 'complete' ? 'completed' : fx.status;
          counters[`enrollments.${status}`] = (counters[`enrollments.${status}`] ?? 0) + 1;
          counters['enrollments.ended'] = (counters['enrollments.ended'] ?? 0) + 1;
          const reason = fx.reason;
          work.emits.push(() => events.emit('enrollment.ended', { tenantId, campaignId: rec.campaignId, contactId: rec.contactId, status, reason }));
          break;
        }
        case 'send':
          break;
      }
    }
    if (cancel.length) {
      await tx.cancelActions(cancel);
      work.remove.push(...cancel);
    }
    if (actions.length) await tx.insertActions(actions);
    const transitions = effects.filter((e): e is Extract<Effect, { type: 'transition' }> => e.type === 'transition');
    if (transitions.length) await tx.appendTransitions(transitions.map((t) => ({ ...t.record, tenantId, campaignId: rec.campaignId })));
    if (Object.keys(counters).length) await tx.incrementAnalytics(rec.campaignId, counters);
  }

  async function save(tx: StoreTransaction, rec: EnrollmentRecord, enrollment: Enrollment): Promise<EnrollmentRecord> {
    if (!(await tx.updateEnrollment({ ...rec, enrollment }, rec.rowVersion)))
      throw new DriplineError('CONFLICT', `enrollment "${rec.enrollment.id}" changed concurrently (row version ${rec.rowVersion})`, { retryable: true });
    return { ...rec, enrollment, rowVersion: rec.rowVersion + 1 };
  }

  /** Steps an enrollment in the transaction, saves it and applies the effects. */
  async function stepIn(tx: StoreTransaction, rec: EnrollmentRecord, plan: CompiledPlan, input: MachineInput, now: number, work: Work) {
    const result = step(plan, rec.enrollment, input, { now, contact: rec.contact });
    const saved = result.enrollment === rec.enrollment ? rec : await save(tx, rec, result.enrollment);
    await applyEffects(tx, saved, result.effects, work);
    return { result, rec: saved };
  }

  /**
   * {@link afterCommit} where a chunk's messages are about to go out: a queue that fails to
   * take a wake-up is logged, not thrown, so the decided sends still go out (the store is the
   * source of truth; the sweeper re-enqueues overdue actions).
   */
  async function afterCommitQuietly(work: Work, tenantId: string) {
    try {
      await afterCommit(work);
    } catch (e) {
      log?.warn('queue wake-ups failed after commit; the sweeper re-enqueues overdue actions', { tenantId, error: e instanceof Error ? e.message : String(e) });
    }
  }

  async function afterCommit(work: Work | null | undefined) {
    if (!work) return;
    if (queue && work.remove.length) await queue.remove(work.remove);
    if (queue && work.enqueue.length) await queue.enqueue(work.enqueue);
    for (const emit of work.emits) emit();
  }

  /** Whether a campaign's counters say its audience is enrolled and every enrollment has ended. */
  const isComplete = (a: Readonly<Record<string, number>>) => !!a['audience.complete'] && (a['enrollments.ended'] ?? 0) >= (a['enrollments.total'] ?? 0);
  /** Whether a campaign's counters put its failure rate past its threshold (after enough sends to judge). */
  const isFailing = (a: Readonly<Record<string, number>>, campaign: CampaignRecord) => {
    const failed = a['messages.failed'] ?? 0;
    const total = failed + (a['messages.sent'] ?? 0) + (a['messages.unknown'] ?? 0);
    return total >= FAILURE_SAMPLE && failed / total > campaign.failureThreshold;
  };

  async function maybeComplete(tx: StoreTransaction, campaignId: string, work: Work, analytics?: Record<string, number>) {
    const a = analytics ?? (await tx.getAnalytics(campaignId));
    if (!isComplete(a)) return;
    if (await tx.updateCampaign(campaignId, { status: 'completed', updatedAt: clock.now() }, ['active'])) {
      metrics.campaignsProcessed += 1;
      work.emits.push(() => events.emit('campaign.status', { tenantId: tx.tenantId, campaignId, from: 'active', to: 'completed' }));
    }
  }

  /**
   * What one batch transaction shares: each campaign read once, and the completion and
   * failure-rate checks (an aggregate read each) run once per campaign at the end of the
   * transaction instead of after every action.
   */
  interface BatchScope {
    campaign(tx: StoreTransaction, campaignId: string): Promise<CampaignRecord>;
    complete: Set<string>;
    fail: Map<string, CampaignRecord>;
  }
  function batchScope(): BatchScope {
    const campaigns = new Map<string, Promise<CampaignRecord>>();
    return {
      campaign(tx, campaignId) {
        let c = campaigns.get(campaignId);
        if (!c) campaigns.set(campaignId, (c = loadCampaign(tx, campaignId)));
        return c;
      },
      complete: new Set(),
      fail: new Map(),
    };
  }
  async function completeLater(tx: StoreTransaction, campaignId: string, work: Work, batch: BatchScope | undefined) {
    if (batch) batch.complete.add(campaignId);
    else await maybeComplete(tx, campaignId, work);
  }
  async function failLater(tx: StoreTransaction, campaign: CampaignRecord, work: Work, batch: BatchScope | undefined) {
    if (batch) batch.fail.set(campaign.id, campaign);
    else await maybeFail(tx, campaign, work);
  }
  /** The deferred checks of a batch, in its transaction, before it commits. */
  async function settleBatch(tx: StoreTransaction, batch: BatchScope, work: Work) {
    for (const id of new Set([...batch.complete, ...batch.fail.keys()])) {
      const a = await tx.getAnalytics(id);
      if (batch.complete.has(id)) await maybeComplete(tx, id, work, a);
      const failing = batch.fail.get(id);
      if (failing) await maybeFail(tx, failing, work, a);
    }
  }
  async function maybeFail(tx: StoreTransaction, campaign: CampaignRecord, work: Work, analytics?: Record<string, number>) {
    const a = analytics ?? (await tx.getAnalytics(campaign.id));
    if (!isFailing(a, campaign)) return;
    const failed = a['messages.failed'] ?? 0;
    const total = failed + (a['messages.sent'] ?? 0) + (a['messages.unknown'] ?? 0);
    const reason = `failure rate ${(failed / total).toFixed(3)} passed the threshold ${campaign.failureThreshold} after ${total} sends`;
    if (await tx.updateCampaign(campaign.id, { status: 'failed', updatedAt: clock.now() }, ['active', 'paused'])) {
      log?.warn('campaign failed', { tenantId: tx.tenantId, campaignId: campaign.id, reason });
      work.emits.push(() => events.emit('campaign.status', { tenantId: tx.tenantId, campaignId: campaign.id, from: campaign.status, to: 'failed', reason }));
    }
  }

  // ---------------------------------------------------------------- lifecycle

  async function transition(caller: Caller, tenantId: string, campaignId: string, op: CampaignOperation, permission: Permission, patch: Partial<CampaignRecord> = {}) {
    await authorize(caller, permission, tenantId, campaignId);
    const work = newWork();
    const updated = await store.transaction(tenantId, async (tx) => {
      const c = await loadCampaign(tx, campaignId);
      const to = assertTransition(campaignId, c.status, op);
      const updatedAt = clock.now();
      if (!(await tx.updateCampaign(campaignId, { ...patch, status: to, updatedAt }, [c.status])))
        throw new DriplineError('CONFLICT', `campaign "${campaignId}" changed concurrently`, { retryable: true });
      if (c.status !== to) work.emits.push(() => events.emit('campaign.status', { tenantId, campaignId, from: c.status, to }));
      return { ...c, ...patch, status: to, updatedAt };
    });
    await afterCommit(work);
    return updated;
  }

  async function createCampaign(caller: Caller, tenantId: string, input: CampaignInput): Promise<CampaignRecord> {
    await authorize(caller, 'campaigns.create', tenantId);
    const id = input.id ?? `cmp_${clock.now().toString(36)}_${(++idCounter).toString(36)}`;
    const compiled = compilePlan(input.plan, { version: 1, key: id });
    assertSendableWindows(compiled, [...defaultCompliance, ...(input.compliance ?? [])]);
    const now = clock.now();
    const startAt = input.startAt === undefined ? null : instant(input.startAt, 'startAt');
    const batchSize = input.batchSize ?? 1000;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new DriplineError('INVALID_INPUT', `batchSize must be an integer >= 1, got ${batchSize}`);
    const failureThreshold = input.failureThreshold ?? 0.5;
    if (!(failureThreshold >= 0 && failureThreshold <= 1)) throw new DriplineError('INVALID_INPUT', `failureThreshold must be between 0 and 1, got ${failureThreshold}`);
    const record: CampaignRecord = {
      tenantId,
      id,
      name: input.name ?? compiled.plan.name ?? id,
      status: startAt === null ? 'draft' : 'scheduled',
      plan: compiled.plan as Plan,
      planVersion: 1,
      startAt,
      batchSize,
      failureThreshold,
      createdAt: now,
      updatedAt: now,
      ...(input.compliance?.length ? { compliance: [...input.compliance] } : {}),
    };
    await store.transaction(tenantId, async (tx) => {
      await tx.insertCampaign(record);
      await tx.insertPlanVersion({ tenantId, campaignId: id, version: 1, plan: compiled.plan as Plan, createdAt: now });
    });
    return record;
  }

  async function enroll(
    caller: Caller,
    tenantId: string,
    campaignId: string,
    audience: ContactSource | readonly AudienceContact[],
    opts: { onProgress?: (p: { enrolled: number; seen: number }) => void; complete?: boolean } = {},
  ) {
    await authorize(caller, 'campaigns.send', tenantId, campaignId);
    const campaign = await store.transaction(tenantId, (tx) => loadCampaign(tx, campaignId));
    let enrolled = 0;
    let seen = 0;
    for await (const pageContacts of pagesOf(audience, campaign.batchSize)) {
      const work = newWork();
      const now = clock.now();
      const n = await store.transaction(tenantId, async (tx) => {
        const c = await loadCampaign(tx, campaignId);
        if (c.status === 'stopped' || c.status === 'canceled' || c.status === 'completed' || c.status === 'failed')
          throw new DriplineError('ILLEGAL_STATE', `cannot enroll into campaign "${campaignId}": it is ${c.status}`, { details: { campaignId, status: c.status } });
        const plan = await planFor(tx, campaignId, c.planVersion);
        const started = pageContacts.map((contact) => ({ contact, r: start(plan, { now, contact, campaignId }) }));
        const inserted = new Set(
          await tx.insertEnrollments(started.map(({ contact, r }) => ({ tenantId, campaignId, contactId: contact.id, enrollment: r.enrollment, contact, rowVersion: 0 }))),
        );
        for (const { contact, r } of started) {
          if (!inserted.has(r.enrollment.id)) continue;
          await applyEffects(tx, { tenantId, campaignId, contactId: contact.id, enrollment: r.enrollment, contact, rowVersion: 0 }, r.effects, work);
        }
        if (inserted.size) await tx.incrementAnalytics(campaignId, { 'enrollments.total': inserted.size });
        return inserted.size;
      });
      await afterCommit(work);
      enrolled += n;
      seen += pageContacts.length;
      opts.onProgress?.({ enrolled, seen });
    }
    if (opts.complete !== false) {
      const work = newWork();
      await store.transaction(tenantId, async (tx) => {
        const a = await tx.getAnalytics(campaignId);
        if (!a['audience.complete']) await tx.incrementAnalytics(campaignId, { 'audience.complete': 1 });
        await maybeComplete(tx, campaignId, work);
      });
      await afterCommit(work);
    }
    return { enrolled, seen };
  }

  async function startCampaign(caller: Caller, tenantId: string, campaignId: string, opts: { audience?: ContactSource | readonly AudienceContact[] } = {}) {
    const c = await transition(caller, tenantId, campaignId, 'start', 'campaigns.send', { startAt: clock.now() });
    if (opts.audience) await enroll(caller, tenantId, campaignId, opts.audience);
    return c;
  }

  async function resumeCampaign(caller: Caller, tenantId: string, campaignId: string) {
    const c = await transition(caller, tenantId, campaignId, 'resume', 'campaigns.send');
    if (queue) {
      let after: string | undefined;
      for (;;) {
        const page = await store.transaction(tenantId, (tx) => tx.listActions(campaignId, { status: ['pending'], limit: 1000, ...(after ? { after } : {}) }));
        if (!page.length) break;
        await queue.enqueue(page.map((a) => ({ key: a.key, tenantId, runAt: a.runAt })));
        after = page[page.length - 1]!.key;
      }
    }
    return c;
  }

  /**
   * Runs `fn` for every active enrollment of a campaign, one transaction per page of 500. A
   * page that loses an optimistic-concurrency race with a worker is read and done again.
   */
  async function forEachActiveEnrollment(tenantId: string, campaignId: string, fn: (tx: StoreTransaction, rec: EnrollmentRecord, work: Work) => Promise<void>) {
    let after: string | undefined;
    for (;;) {
      let work = newWork();
      let last: string | null = null;
      for (let attempt = 1; ; attempt++) {
        work = newWork();
        try {
          last = await store.transaction(tenantId, async (tx) => {
            const page = await tx.listEnrollments(campaignId, { status: ['active'], limit: 500, ...(after ? { after } : {}) });
            for (const rec of page) await fn(tx, rec, work);
            return page.length ? page[page.length - 1]!.enrollment.id : null;
          });
          break;
        } catch (e) {
          if (!isDriplineError(e, 'CONFLICT') || attempt >= 10) throw e;
        }
      }
      await afterCommit(work);
      if (last === null) return;
      after = last;
    }
  }

  async function endAll(caller: Caller, tenantId: string, campaignId: string, op: 'stop' | 'cancel') {
    const c = await transition(caller, tenantId, campaignId, op, 'campaigns.send');
    const reason = op === 'stop' ? 'campaign stopped' : 'campaign canceled';
    await forEachActiveEnrollment(tenantId, campaignId, async (tx, rec, work) => {
      const plan = await planFor(tx, campaignId, rec.enrollment.planVersion);
      await stepIn(tx, rec, plan, { type: 'stop', reason }, clock.now(), work);
    });
    return c;
  }

  async function activateDueCampaigns(tenantId: string): Promise<number> {
    const now = clock.now();
    const due = await store.transaction(tenantId, async (tx) => (await tx.listCampaigns(['scheduled'])).filter((c) => c.startAt !== null && c.startAt <= now));
    for (const c of due) {
      const work = newWork();
      const ok = await store.transaction(tenantId, (tx) => tx.updateCampaign(c.id, { status: 'active', updatedAt: now }, ['scheduled']));
      if (!ok) continue;
      work.emits.push(() => events.emit('campaign.status', { tenantId, campaignId: c.id, from: 'scheduled', to: 'active' }));
      await afterCommit(work);
      const audience = options.resolveAudience?.(c);
      if (audience) await enroll(null, tenantId, c.id, audience);
    }
    return due.length;
  }

  async function settleCampaigns(tenantId: string): Promise<number> {
    const active = await store.transaction(tenantId, (tx) => tx.listCampaigns(['active']));
    let changed = 0;
    for (const c of active) {
      const work = newWork();
      await store.transaction(tenantId, async (tx) => {
        const a = await tx.getAnalytics(c.id);
        await maybeComplete(tx, c.id, work, a);
        await maybeFail(tx, c, work, a);
      });
      if (work.emits.length) changed += 1;
      await afterCommit(work);
    }
    return changed;
  }

  // ---------------------------------------------------------------- actions

  function fenced(key: string): DriplineError {
    return new DriplineError('CONFLICT', `lease on action "${key}" was lost; nothing was written`, { details: { key } });
  }

  async function processAction(tenantId: string, key: string, owner = 'engine'): Promise<ProcessResult> {
    const claimed = await store.transaction(tenantId, (tx) => tx.claimAction(key, { now: clock.now(), owner, leaseMs }));
    if (!claimed) return 'skipped';
    return processClaimed(tenantId, claimed, owner);
  }

  interface Prepared {
    kind: 'send';
    message: OutboundRecord;
    campaign: CampaignRecord;
    sender: string;
    transport: Transport;
  }

  /** Phase 1: in one transaction, decide what the action does; up to the transport call. */
  async function prepare(tenantId: string, action: ActionRecord, owner: string): Promise<{ result: ProcessResult; work: Work; prepared?: Prepared }> {
    const work = newWork();
    const now = clock.now();
    return store.transaction(tenantId, (tx) => prepareIn(tx, tenantId, action, owner, now, work));
  }

  /** Phase 1 inside a transaction (one action's, or a whole batch's). */
  async function prepareIn(tx: StoreTransaction, tenantId: string, action: ActionRecord, owner: string, now: number, work: Work, batch?: BatchScope): Promise<{ result: ProcessResult; work: Work; prepared?: Prepared }> {
    const current = await tx.getAction(action.key);
    if (!current || current.status !== 'running' || current.leaseOwner !== owner || (current.leaseExpiresAt ?? 0) <= now) return { result: 'lost-lease' as const, work };
    const finish = async (status: 'done' | 'canceled' | 'pending', patch?: { runAt?: number; lastError?: string }) => {
      if (!(await tx.finishAction(action.key, owner, now, status, patch))) throw fenced(action.key);
    };
    const campaign = batch ? await batch.campaign(tx, action.campaignId) : await loadCampaign(tx, action.campaignId);
    if (campaign.status !== 'active') {
      await finish('pending', { runAt: action.runAt });
      return { result: 'skipped' as const, work };
    }
    let rec = await tx.getEnrollment(action.enrollmentId);
    if (!rec) {
      await finish('canceled', { lastError: 'enrollment not found' });
      return { result: 'skipped' as const, work };
    }
    const plan = await planFor(tx, campaign.id, rec.enrollment.planVersion);
    const e = rec.enrollment;
    const existing = action.kind === 'send' ? await tx.getOutbound(action.key) : null;

    let message: OutboundRecord;
    let pendingStep: StepResult | null = null;
    if (existing) {
      // A retry, or a crash between writing the outbox row and recording the outcome.
      if (e.sendKey !== action.key || e.sendState !== 'sending' || existing.status !== 'sending') {
        await finish('done');
        return { result: 'skipped' as const, work };
      }
      const crashed = existing.failureReason === null;
      if (crashed && sendPolicy === 'at-most-once') {
        await tx.updateOutbound(action.key, { status: 'unknown', failureReason: 'outcome unknown: the worker stopped during the send', updatedAt: now });
        await tx.incrementAnalytics(campaign.id, { 'messages.unknown': 1 });
        await stepIn(tx, rec, plan, { type: 'sent', key: action.key, at: now }, now, work);
        await finish('done');
        return { result: 'unknown' as const, work };
      }
      message = { ...existing, attempts: existing.attempts + 1, failureReason: null, updatedAt: now };
    } else {
      pendingStep = step(plan, e, { type: 'timer', key: action.key }, { now, contact: rec.contact });
      const send = pendingStep.effects.find((x): x is SendEffect => x.type === 'send');
      if (!send) {
        if (pendingStep.enrollment !== e) rec = await save(tx, rec, pendingStep.enrollment);
        await applyEffects(tx, rec, pendingStep.effects, work);
        await finish(pendingStep.note === 'stale-timer' ? 'canceled' : 'done');
        if (pendingStep.effects.some((x) => x.type === 'complete' || x.type === 'exit')) await completeLater(tx, campaign.id, work, batch);
        return { result: 'stepped' as const, work };
      }
      const to = addressFor(rec.contact, send.channel);
      const rendered = renderMessage(send, { ...(rec.contact.attributes ?? {}), contact_id: rec.contact.id, ...(options.templateVariables?.(rec.contact, campaign) ?? {}) });
      message = {
        tenantId,
        key: action.key,
        campaignId: campaign.id,
        contactId: rec.contactId,
        enrollmentId: e.id,
        nodeId: send.nodeId,
        channel: send.channel,
        to: to ?? '',
        ...(rendered.subject === undefined ? {} : { subject: rendered.subject }),
        body: rendered.body,
        status: 'sending',
        providerMessageId: null,
        failureReason: null,
        attempts: 1,
        createdAt: now,
        updatedAt: now,
      };
    }

    /** Fails the send for good, at once: no transport call. */
    const failNow = async (reason: string, suppressed = false) => {
      if (pendingStep) {
        rec = await save(tx, rec!, pendingStep.enrollment);
        await applyEffects(tx, rec, pendingStep.effects, work);
        pendingStep = null;
      }
      if (existing) await tx.updateOutbound(action.key, { status: 'failed', failureReason: reason, updatedAt: now });
      else await tx.insertOutbound({ ...message, status: 'failed', failureReason: reason });
      await tx.incrementAnalytics(campaign.id, { 'messages.failed': 1, ...(suppressed ? { 'messages.suppressed': 1 } : {}) });
      const { result } = await stepIn(tx, rec!, plan, { type: 'sendFailed', key: action.key, at: now, reason, permanent: true }, now, work);
      await finish('done');
      if (result.effects.some((x) => x.type === 'complete' || x.type === 'exit')) await completeLater(tx, campaign.id, work, batch);
      work.emits.push(() =>
        events.emit('message.failed', { tenantId, campaignId: campaign.id, key: action.key, contactId: message.contactId, nodeId: message.nodeId, channel: message.channel, reason, kind: 'permanent', willRetry: false, at: now }),
      );
      return { result: 'failed' as const, work };
    };

    // Guards: a missing address or a suppression fails the send for good, at once.
    const suppression = message.to ? await tx.getSuppression(message.to, message.channel) : null;
    if (!message.to) return failNow(`contact has no ${message.channel} address`);
    if (suppression) return failNow(`recipient is suppressed (${suppression.reason})`, true);

    // Deferrals: quiet hours (the plan's and compliance presets'), frequency cap, rate
    // limits, circuit breaker. A deferred send never lands inside a quiet window: every
    // deferral is settled outside all of them, and a send whose time came inside one (after
    // a retry or a deferral) waits for its end.
    const transport = transportFor(message.channel);
    const sender = `${transport.name}:${message.channel}`;
    const compliance = compliancePresets(campaign);
    const windows: Array<{ label: string; quietHours: QuietHours }> = [];
    if (plan.plan.quietHours) windows.push({ label: `plan: quiet hours ${plan.plan.quietHours.start}–${plan.plan.quietHours.end}`, quietHours: plan.plan.quietHours });
    if (compliance && message.channel !== 'email') for (const p of compliance.presets) windows.push({ label: `${p.name}: ${p.rule}`, quietHours: p.quietHours });
    const quiet = windows.map((w) => w.quietHours);
    const defer = async (at: number, reason: Deferral['reason'], rule?: string): Promise<{ result: ProcessResult; work: Work }> => {
      let until: number;
      try {
        until = quiet.length ? applyQuietHours(at, e.zone, quiet) : at;
      } catch (err) {
        if (!isDriplineError(err, 'QUIET_HOURS_COVER_ALL')) throw err;
        // No time is ever allowed (e.g. engine presets added after the campaign was made): fail it, do not loop.
        return failNow(`no time to send: ${windows.map((w) => w.label).join(' and ')} leave no allowed time`);
      }
      await finish('pending', { runAt: until, lastError: `deferred: ${reason}${rule ? ` (${rule})` : ''}` });
      await tx.incrementAnalytics(campaign.id, { [`deferred.${reason}`]: 1 });
      work.enqueue.push({ key: action.key, tenantId, runAt: until });
      const d: Deferral = { tenantId, campaignId: campaign.id, key: action.key, until, reason, ...(rule ? { rule } : {}) };
      work.emits.push(() => events.emit('message.deferred', d));
      return { result: 'deferred' as const, work };
    };
    if (haltedSenders.has(sender)) return defer(now + 60_000, 'circuit-open', `sender ${sender} halted`);
    for (const w of windows) if (isQuiet(now, e.zone, w.quietHours)) return defer(now, 'quiet-hours', w.label);
    const cap = compliance?.frequencyCap && (!frequencyCap || compliance.frequencyCap.max / compliance.frequencyCap.windowMs < frequencyCap.max / frequencyCap.windowMs)
      ? { max: compliance.frequencyCap.max, windowMs: compliance.frequencyCap.windowMs, rule: `${compliance.frequencyCap.preset}: at most ${compliance.frequencyCap.max} per ${compliance.frequencyCap.windowMs / 3_600_000} h` }
      : frequencyCap ? { ...frequencyCap, rule: `frequency cap: at most ${frequencyCap.max} per ${frequencyCap.windowMs / 3_600_000} h` } : null;
    if (cap && !existing) {
      const times = await tx.listRecentOutboundTimes(message.to, now - cap.windowMs + 1);
      const d = frequencyCapDecision({ recentSendTimes: times, max: cap.max, windowMs: cap.windowMs, now });
      if (!d.ok) return defer(d.retryAt, 'frequency-cap', cap.rule);
    }
    // The limiter before the breaker: a half-open trial slot is only taken by a call that goes out.
    const grant = limiter.tryAcquire({ sender, tenant: tenantId, campaign: `${tenantId}\u0000${campaign.id}` }, now);
    if (!grant.ok) return defer(reserveSlot(grant, now), 'rate-limit', grant.level);
    const breaker = breakerFor(transport.name);
    if (!breaker.canRequest(now)) {
      const snap = breaker.snapshot();
      return defer(Math.max(now + 1, (snap.openedAt ?? now) + breaker.cooldownMs), 'circuit-open', `transport ${transport.name}`);
    }

    // Commit the intent: the outbox row (unique by key) and the enrollment's `sending` state.
    if (pendingStep) {
      rec = await save(tx, rec, pendingStep.enrollment);
      await applyEffects(tx, rec, pendingStep.effects, work);
      if (!(await tx.insertOutbound(message))) throw new DriplineError('CONFLICT', `message "${action.key}" is already in the outbox`);
    } else {
      await tx.updateOutbound(action.key, { attempts: message.attempts, failureReason: null, updatedAt: now });
    }
    return { result: 'sent' as const, work, prepared: { kind: 'send' as const, message, campaign, sender, transport } };
  }

  async function processClaimed(tenantId: string, action: ActionRecord, owner: string): Promise<ProcessResult> {
    const t0 = clock.now();
    metrics.activeWorkers += 1;
    try {
      let phase1;
      try {
        phase1 = await prepare(tenantId, action, owner);
      } catch (e) {
        if (isDriplineError(e, 'CONFLICT')) return 'lost-lease';
        // A poison action (it throws every time) is parked with its error after MAX_CLAIMS
        // claims instead of being retried for ever; it stays visible as canceled with lastError.
        if (action.attempts >= MAX_CLAIMS) {
          const reason = `gave up after ${action.attempts} attempts: ${e instanceof Error ? e.message : String(e)}`;
          await store.transaction(tenantId, async (tx) => {
            if (await tx.finishAction(action.key, owner, clock.now(), 'canceled', { lastError: reason })) await tx.incrementAnalytics(action.campaignId, { 'actions.parked': 1 });
          });
          log?.error('action parked', { tenantId, key: action.key, reason });
          return 'failed';
        }
        throw e;
      }
      await afterCommit(phase1.work);
      const p = phase1.prepared;
      if (!p) return phase1.result;
      return await deliver(tenantId, action, owner, p, t0);
    } finally {
      metrics.activeWorkers -= 1;
    }
  }

  /** Merges the post-commit work of several actions into one (one queue call). */
  function mergeWork(works: readonly Work[]): Work {
    const all = newWork();
    for (const w of works) {
      all.enqueue.push(...w.enqueue);
      all.remove.push(...w.remove);
      all.emits.push(...w.emits);
    }
    return all;
  }

  async function processClaimedBatch(
    tenantId: string,
    actions: readonly ActionRecord[],
    owner: string,
    opts: { concurrency?: number; chunkSize?: number } = {},
  ): Promise<Array<PromiseSettledResult<ProcessResult>>> {
    return inChunks(tenantId, actions, null, owner, opts);
  }

  async function processChunk(
    tenantId: string,
    chunk: ClaimedChunk,
    owner: string,
    opts: { concurrency?: number; chunkSize?: number } = {},
  ): Promise<Array<PromiseSettledResult<ProcessResult>>> {
    return inChunks(tenantId, chunk.actions, chunkRows(chunk), owner, opts);
  }

  /**
   * Chunks of `chunkSize` actions, `concurrency / chunkSize` of them at once (each in its
   * own transactions, so on its own connection): a chunk's sends all go out together, and no
   * more than `concurrency` messages are ever between "sending" and their outcome, so a crash
   * leaves at most that many `unknown` (as one action at a time would).
   */
  async function inChunks(
    tenantId: string,
    actions: readonly ActionRecord[],
    rows: ChunkRows | null,
    owner: string,
    opts: { concurrency?: number; chunkSize?: number },
  ): Promise<Array<PromiseSettledResult<ProcessResult>>> {
    const concurrency = Math.max(1, opts.concurrency ?? 10);
    const chunkSize = Math.min(concurrency, Math.max(1, opts.chunkSize ?? concurrency));
    if (actions.length <= chunkSize) return runChunk(tenantId, actions, rows, owner, concurrency);
    const chunks: ActionRecord[][] = [];
    for (let i = 0; i < actions.length; i += chunkSize) chunks.push(actions.slice(i, i + chunkSize));
    const parallel = pLimit(Math.max(1, Math.floor(concurrency / chunkSize)));
    const done = await Promise.all(chunks.map((c) => parallel(() => runChunk(tenantId, c, rows, owner, chunkSize))));
    return done.flat();
  }

  /** What deciding one action produced: its result so far, its post-commit work, and the send it prepared. */
  type Decision = { result: ProcessResult; work: Work; prepared?: Prepared };

  /**
   * A chunk whose decision committed and whose sends went out: what its outcome transaction
   * needs. `sends` are the indexes (into `actions` and `decisions`) of the prepared sends.
   */
  interface SentChunk {
    actions: readonly ActionRecord[];
    decisions: Decision[];
    sends: number[];
    outcomes: SendOutcome[];
    /** The rows as the decision left them. */
    rows: ChunkRows;
    t0: number;
  }

  /**
   * Decides each action of a chunk through `cache` (phase 1 of {@link prepareIn}). With
   * `fence`, the sends about to go out are fenced again as the transaction commits
   * (`assertLeasesOrFail`): the rows came from the claim, which said each lease was live then;
   * the other actions were finished, which fences them.
   */
  async function decideIn(cache: ChunkCache, raw: StoreTransaction, tenantId: string, actions: readonly ActionRecord[], owner: string, now: number, batch: BatchScope, fence: boolean): Promise<Decision[]> {
    const out: Decision[] = [];
    for (const a of actions) out.push(await prepareIn(cache.tx, tenantId, a, owner, now, newWork(), batch));
    if (fence) {
      const sends = out.flatMap((d, i) => (d.prepared ? [actions[i]!.key] : []));
      if (sends.length) await bulkOperations(raw).assertLeasesOrFail(sends, owner, now);
    }
    return out;
  }

  /**
   * Records a chunk's outcomes through `cache` (phase 3 of {@link recordOutcomeIn}). Orphan
   * events of the new provider ids are an expectation rather than a read: if there are some,
   * the transaction fails and the outcomes are recorded one by one, where they are applied.
   */
  async function recordIn(cache: ChunkCache, tenantId: string, sent: SentChunk, owner: string, now: number, work: Work, batch: BatchScope): Promise<ProcessResult[]> {
    await cache.expectNoOrphans(sent.outcomes.flatMap((o) => (o.providerMessageId ? [o.providerMessageId] : [])));
    const out: ProcessResult[] = [];
    for (let k = 0; k < sent.sends.length; k++) {
      const i = sent.sends[k]!;
      out.push(await recordOutcomeIn(cache.tx, tenantId, sent.actions[i]!, owner, sent.decisions[i]!.prepared!, sent.outcomes[k]!, now, work, batch));
    }
    return out;
  }

  /** Sends a decided chunk's messages, at most `limit` at once; returns what the outcome transaction needs, or null without sends. */
  async function sendDecided(tenantId: string, actions: readonly ActionRecord[], decisions: Decision[], rows: ChunkRows, t0: number, limit: ReturnType<typeof pLimit>): Promise<SentChunk | null> {
    const sends = decisions.flatMap((d, i) => (d.prepared ? [i] : []));
    if (!sends.length) return null;
    const outcomes = await Promise.all(sends.map((i) => limit(() => callTransport(tenantId, decisions[i]!.prepared!))));
    return { actions, decisions, sends, outcomes, rows, t0 };
  }

  /** Files recorded outcomes into `results` (by action index) and the process metrics. */
  function fileRecorded(sent: SentChunk, recorded: readonly ProcessResult[], results: Array<PromiseSettledResult<ProcessResult>>) {
    sent.sends.forEach((i, k) => {
      results[i] = { status: 'fulfilled', value: recorded[k]! };
      countDelivery(recorded[k]!, sent.t0);
    });
  }

  /** When a batch's outcome transaction failed: the sends went out, so each outcome is recorded in its own transaction. */
  async function recordOneByOne(tenantId: string, sent: SentChunk, owner: string, limit: ReturnType<typeof pLimit>, results: Array<PromiseSettledResult<ProcessResult>>) {
    const each = await Promise.allSettled(sent.sends.map((i, k) => limit(() => recordOutcome(tenantId, sent.actions[i]!, owner, sent.decisions[i]!.prepared!, sent.outcomes[k]!, sent.t0))));
    sent.sends.forEach((i, k) => (results[i] = each[k]!));
  }

  /**
   * One chunk, in three steps: one transaction decides every action (up to the transport
   * call), the sends go out together, one transaction records every outcome. The rows come
   * from `rows` (a claimed chunk's) or are read up front with one statement per kind; the
   * outcome transaction starts from the rows the decision left. Its reads of orphan events
   * and of the counters the completion check needs are an expectation and a read at commit
   * (`expectNoOrphanEventsOrFail`, `readAnalyticsAtCommit`), so on a store that commits a
   * transaction of buffered writes in one statement each step is one round trip.
   */
  async function runChunk(tenantId: string, actions: readonly ActionRecord[], rows: ChunkRows | null, owner: string, concurrency: number): Promise<Array<PromiseSettledResult<ProcessResult>>> {
    const limit = pLimit(concurrency);
    const oneByOne = (list: readonly ActionRecord[]) => Promise.allSettled(list.map((a) => limit(() => processClaimed(tenantId, a, owner))));
    if (!actions.length) return [];
    if (actions.length === 1 && !rows) return oneByOne(actions);
    const t0 = clock.now();
    let decided: { decisions: Decision[]; rows: ChunkRows; settle: Settle };
    try {
      const now = clock.now();
      decided = await store.transaction(tenantId, async (raw) => {
        const cache = chunkCache(raw, rows ?? undefined);
        if (!rows) {
          // The chunk's rows in one read per kind; the per-action code reads them from here.
          await cache.prefetch({
            actions: actions.map((a) => a.key),
            enrollments: actions.map((a) => a.enrollmentId),
            outbounds: actions.filter((a) => a.kind === 'send').map((a) => a.key),
          });
          const enrollments = await Promise.all(actions.map((a) => cache.tx.getEnrollment(a.enrollmentId)));
          await cache.prefetch({ suppressions: addressesOf(enrollments) });
        }
        const batch = batchScope();
        const decisions = await decideIn(cache, raw, tenantId, actions, owner, now, batch, rows !== null);
        const settle = await settleIn(cache.tx, batch, decisions[decisions.length - 1]!.work);
        return { decisions, rows: cache.rows(), settle };
      });
    } catch (e) {
      // Nothing of the batch was written: each action gets its own transactions, so one that
      // lost its lease or always throws does not hold back the others.
      log?.debug('batch prepare failed; running its actions one by one', { tenantId, actions: actions.length, error: e instanceof Error ? e.message : String(e) });
      return oneByOne(actions);
    }
    metrics.activeWorkers += actions.length;
    try {
      await afterCommitQuietly(mergeWork(decided.decisions.map((d) => d.work)), tenantId);
      await decided.settle?.(tenantId);
      const results: Array<PromiseSettledResult<ProcessResult>> = decided.decisions.map((d) => ({ status: 'fulfilled', value: d.result }));
      const sent = await sendDecided(tenantId, actions, decided.decisions, decided.rows, t0, limit);
      if (!sent) return results;
      const now = clock.now();
      const work = newWork();
      let recorded: { out: ProcessResult[]; settle: Settle } | null = null;
      try {
        recorded = await store.transaction(tenantId, async (raw) => {
          // Starts from the rows the decision left (enrollments at their new row versions):
          // a row changed since then fails its write, and the batch with it.
          const cache = chunkCache(raw, sent.rows);
          const batch = batchScope();
          const out = await recordIn(cache, tenantId, sent, owner, now, work, batch);
          return { out, settle: await settleIn(cache.tx, batch, work) };
        });
      } catch (e) {
        log?.debug('batch outcome failed; recording outcomes one by one', { tenantId, sends: sent.sends.length, error: e instanceof Error ? e.message : String(e) });
      }
      if (recorded) {
        fileRecorded(sent, recorded.out, results);
        await afterCommitQuietly(work, tenantId);
        await recorded.settle?.(tenantId);
      } else await recordOneByOne(tenantId, sent, owner, limit, results);
      return results;
    } finally {
      metrics.activeWorkers -= actions.length;
    }
  }

  /**
   * The pipeline behind {@link Engine.processDue}. Each turn is one transaction that records
   * the previous chunk's outcomes, decides the current chunk and claims the next one
   * (`claimAtCommit`); then the current chunk's sends go out. At most one chunk's messages are
   * ever between "sending" and their outcome, as with {@link runChunk}, whose three
   * transactions per chunk become one.
   */
  async function processDue(tenantId: string, owner: string, opts: ProcessDueOptions = {}): Promise<number> {
    const chunkSize = Math.max(1, Math.floor(opts.chunkSize ?? 10));
    const limit = pLimit(chunkSize);
    let budget = opts.limit ?? Number.POSITIVE_INFINITY;
    let claimed = 0;
    const stop = () => opts.shouldStop?.() === true || budget <= 0;
    const lease = opts.leaseMs ?? leaseMs;
    const request = (n: number): ChunkClaimRequest => ({ now: clock.now(), owner, leaseMs: lease, limit: n, ...(opts.perCampaignLimit === undefined ? {} : { perCampaignLimit: opts.perCampaignLimit }) });
    const take = () => {
      const n = Math.min(chunkSize, budget);
      budget -= n;
      return n;
    };
    /**
     * Accounts for a claim of `asked` actions; returns the chunk, or null when it is empty.
     * `full` says more may be due: the claim got all it asked for, or as many as one campaign's
     * share (a share smaller than the chunk caps every claim of a lone campaign).
     */
    let full = false;
    const arrived = (asked: number, chunk: ClaimedChunk): ClaimedChunk | null => {
      const n = chunk.actions.length;
      budget += asked - n;
      claimed += n;
      full = n > 0 && (n === asked || (opts.perCampaignLimit !== undefined && n >= opts.perCampaignLimit));
      return n ? chunk : null;
    };
    const report = (actions: readonly ActionRecord[], results: Array<PromiseSettledResult<ProcessResult>>) => opts.onResults?.(actions, results);
    /**
     * A claim with its rows, on its own (the first, and after a turn that failed). If reading
     * the rows fails, the actions are claimed alone and run on their own, each reading its own
     * rows (so a row that cannot be read costs only its action), and the next claim follows.
     */
    const claimNext = async (): Promise<ClaimedChunk | null> => {
      while (!stop()) {
        const asked = take();
        try {
          return arrived(asked, await claimChunk(store, tenantId, request(asked)));
        } catch (e) {
          log?.warn('claim with rows failed; claiming the actions alone', { tenantId, error: e instanceof Error ? e.message : String(e) });
          const actions = await claimActionsOnly(store, tenantId, request(asked));
          budget += asked - actions.length;
          claimed += actions.length;
          if (!actions.length) return null;
          report(actions, await runChunk(tenantId, actions, null, owner, chunkSize));
          if (actions.length < asked) return null;
        }
      }
      return null;
    };

    let chunk: ClaimedChunk | null = await claimNext();
    let sent: SentChunk | null = null;
    let sentResults: Array<PromiseSettledResult<ProcessResult>> = [];
    let limitError: { error: unknown } | null = null;
    /** At `limit` with more due: whether `onLimit` grants another `limit`. */
    const goOn = async (): Promise<boolean> => {
      if (!opts.onLimit || opts.limit === undefined || limitError || opts.shouldStop?.() === true) return false;
      try {
        if (!(await opts.onLimit())) return false;
      } catch (e) {
        limitError = { error: e };
        return false;
      }
      if (opts.shouldStop?.() === true) return false;
      budget += opts.limit;
      return true;
    };
    while (chunk || sent) {
      if (chunk && full && budget <= 0) await goOn();
      const now = clock.now();
      const nextAsked = chunk && full && !stop() ? take() : 0;
      const work = newWork();
      let next: { readonly value: Promise<ClaimedChunk> } | null = null;
      const current: ClaimedChunk | null = chunk;
      const previous: SentChunk | null = sent;
      let turn: { recorded: ProcessResult[] | null; decisions: Decision[] | null; rows: ChunkRows; settle: Settle };
      try {
        turn = await store.transaction(tenantId, async (raw) => {
          // One cache over both chunks: the previous one's rows as its decision left them,
          // the current one's as its claim read them.
          const cache = chunkCache(raw, mergeRows(previous?.rows, current ? chunkRows(current) : undefined));
          const batch = batchScope();
          const recorded = previous ? await recordIn(cache, tenantId, previous, owner, now, work, batch) : null;
          const decisions = current ? await decideIn(cache, raw, tenantId, current.actions, owner, now, batch, true) : null;
          const settle = await settleIn(cache.tx, batch, work);
          if (nextAsked) next = await bulkOperations(raw).claimAtCommit(request(nextAsked));
          // What the next turn needs to record this chunk's outcomes; not every row this turn saw.
          return { recorded, decisions, rows: rowsOf(cache.rows(), current?.actions ?? []), settle };
        });
      } catch (e) {
        // Nothing of the turn was written, and nothing was claimed. The previous chunk's
        // outcomes are recorded one by one; the current chunk runs on its own (its decision in
        // one transaction, or its actions one by one).
        log?.debug('batch turn failed; recording and deciding apart', { tenantId, error: e instanceof Error ? e.message : String(e) });
        budget += nextAsked;
        if (previous) {
          await recordOneByOne(tenantId, previous, owner, limit, sentResults);
          metrics.activeWorkers -= previous.actions.length;
          report(previous.actions, sentResults);
        }
        sent = null;
        if (current) report(current.actions, await runChunk(tenantId, current.actions, chunkRows(current), owner, chunkSize));
        if (current && full && budget <= 0) await goOn();
        chunk = current && full ? await claimNext() : null;
        continue;
      }
      if (previous) {
        fileRecorded(previous, turn.recorded!, sentResults);
        metrics.activeWorkers -= previous.actions.length;
      }
      await afterCommitQuietly(mergeWork([work, ...(turn.decisions ?? []).map((d) => d.work)]), tenantId);
      if (previous) report(previous.actions, sentResults);
      await turn.settle?.(tenantId);
      sent = null;
      if (current && turn.decisions) {
        const results: Array<PromiseSettledResult<ProcessResult>> = turn.decisions.map((d) => ({ status: 'fulfilled', value: d.result }));
        metrics.activeWorkers += current.actions.length;
        sent = await sendDecided(tenantId, current.actions, turn.decisions, turn.rows, now, limit);
        if (sent) sentResults = results;
        else {
          metrics.activeWorkers -= current.actions.length;
          report(current.actions, results);
        }
      }
      chunk = null;
      if (next) {
        let claimedNext: ClaimedChunk;
        try {
          claimedNext = await (next as { readonly value: Promise<ClaimedChunk> }).value;
        } catch {
          claimedNext = noChunk();
        }
        chunk = arrived(nextAsked, claimedNext);
      }
    }
    if (limitError) throw (limitError as { error: unknown }).error;
    return claimed;
  }

  /** The rest of a batch's completion and failure checks, to run once its transaction has committed. */
  type Settle = ((tenantId: string) => Promise<void>) | null;

  /**
   * A batch's deferred completion and failure checks. Where the store reads counters at
   * commit, they are read with the commit and acted on afterwards, in a transaction of their
   * own and only for a campaign the counters say is complete or failing; otherwise they run
   * here, in the batch's transaction, as {@link settleBatch} does.
   */
  async function settleIn(tx: StoreTransaction, batch: BatchScope, work: Work): Promise<Settle> {
    const ids = [...new Set([...batch.complete, ...batch.fail.keys()])];
    if (!ids.length) return null;
    const atCommit = tx.bulk?.readAnalyticsAtCommit;
    if (!atCommit) {
      await settleBatch(tx, batch, work);
      return null;
    }
    const read = await atCommit.call(tx.bulk, ids);
    return async (tenantId) => {
      let all: Record<string, Record<string, number>>;
      try {
        all = await read.value;
      } catch (e) {
        // The batch committed; `settleCampaigns` settles what this check would have.
        log?.warn('completion check failed', { tenantId, error: e instanceof Error ? e.message : String(e) });
        return;
      }
      for (const id of ids) {
        const a = all[id] ?? {};
        const complete = batch.complete.has(id) && isComplete(a);
        const failing = batch.fail.get(id);
        if (!complete && !(failing && isFailing(a, failing))) continue;
        const settled = newWork();
        try {
          await store.transaction(tenantId, async (t) => {
            const fresh = await t.getAnalytics(id);
            if (complete) await maybeComplete(t, id, settled, fresh);
            if (failing) await maybeFail(t, failing, settled, fresh);
          });
          await afterCommit(settled);
        } catch (e) {
          log?.warn('completion check failed', { tenantId, campaignId: id, error: e instanceof Error ? e.message : String(e) });
        }
      }
    };
  }

  async function processActions(tenantId: string, keys: readonly string[], owner = 'engine', opts: { concurrency?: number; chunkSize?: number } = {}): Promise<Array<PromiseSettledResult<ProcessResult>>> {
    if (!keys.length) return [];
    // One store call claims the keys and reads their rows (one statement on PostgreSQL); if
    // the reads fail, the actions are claimed alone and each reads its own rows.
    const request: ChunkClaimRequest = { keys: [...new Set(keys)], now: clock.now(), owner, leaseMs };
    let chunk: ClaimedChunk | null = null;
    try {
      chunk = await claimChunk(store, tenantId, request);
    } catch (e) {
      log?.warn('claim with rows failed; claiming the actions alone', { tenantId, keys: keys.length, error: e instanceof Error ? e.message : String(e) });
    }
    const actions: readonly ActionRecord[] = chunk ? chunk.actions : await claimActionsOnly(store, tenantId, request);
    const settled = !actions.length ? [] : chunk ? await processChunk(tenantId, chunk, owner, opts) : await processClaimedBatch(tenantId, actions, owner, opts);
    const byKey = new Map<string, PromiseSettledResult<ProcessResult>>();
    actions.forEach((a, i) => byKey.set(a.key, settled[i]!));
    // A key given twice is run once: the second copy is a wake-up that found nothing to do.
    return keys.map((k) => {
      const r = byKey.get(k);
      byKey.delete(k);
      return r ?? { status: 'fulfilled' as const, value: 'skipped' as const };
    });
  }

  /**
   * Successive slots for sends a rate limit refused: the first gets the limit's `retryAt`,
   * the next `retryAt + spacing`, and so on, instead of all coming back at the same instant
   * and being refused (and rewritten) again, round after round.
   */
  const slots = new Map<string, number>();
  const SLOT_HORIZON_MS = 60_000;
  let nextSlotPrune = 0;
  function reserveSlot(grant: { retryAt: number; level: string; key: string; spacingMs: number }, now: number): number {
    const k = `${grant.level}\u0000${grant.key}`;
    const next = slots.get(k);
    // At most a minute of slots ahead: slots of sends that never come back (a stopped
    // campaign) hold others back by no more than that.
    const at = next !== undefined && next > grant.retryAt ? Math.min(next, grant.retryAt + SLOT_HORIZON_MS) : grant.retryAt;
    // Whole milliseconds (stores keep integer times), rounded up so the rate is never exceeded.
    slots.set(k, at + Math.ceil(grant.spacingMs));
    if (slots.size > 10_000 && now >= nextSlotPrune) {
      nextSlotPrune = now + 1_000;
      for (const [key, until] of slots) if (until < now) slots.delete(key);
    }
    return at;
  }

  /** What the transport said: a provider id, or a classified error. */
  interface SendOutcome {
    providerMessageId: string | null;
    error: { reason: string; details: SendErrorDetails } | null;
  }

  /** Phase 2: call the transport (no store access); the breaker and sender halts learn from it. */
  async function callTransport(tenantId: string, p: Prepared): Promise<SendOutcome> {
    const { message, transport } = p;
    const breaker = breakerFor(transport.name);
    let providerMessageId: string | null = null;
    let error: SendOutcome['error'] = null;
    try {
      const receipt = await transport.send({
        key: message.key,
        tenantId,
        campaignId: message.campaignId,
        contactId: message.contactId,
        channel: message.channel,
        to: message.to,
        ...(message.subject === undefined ? {} : { subject: message.subject }),
        body: message.body,
      });
      providerMessageId = receipt.providerMessageId;
      if (breaker.onSuccess(clock.now()) === 'closed') events.emit('circuit.close', { transport: transport.name, at: clock.now() });
    } catch (e) {
      const details = (isDriplineError(e, 'TRANSPORT_ERROR') ? e.details : { kind: 'ambiguous' }) as unknown as SendErrorDetails;
      error = { reason: e instanceof Error ? e.message : String(e), details };
      if (details.kind !== 'permanent' && breaker.onFailure(clock.now()) === 'opened') {
        log?.warn('circuit opened', { transport: transport.name });
        events.emit('circuit.open', { transport: transport.name, at: clock.now() });
      }
      if (details.haltSender) {
        haltedSenders.add(p.sender);
        events.emit('sender.halted', { transport: transport.name, sender: p.sender, reason: error.reason });
      }
    }

    return { providerMessageId, error };
  }

  /** Phase 3 inside a transaction (one action's, or a whole batch's): the fenced outcome. */
  async function recordOutcomeIn(tx: StoreTransaction, tenantId: string, action: ActionRecord, owner: string, p: Prepared, sent: SendOutcome, now: number, work: Work, batch?: BatchScope): Promise<ProcessResult> {
    const { message, campaign } = p;
    const { providerMessageId, error } = sent;
    const finish = async (status: 'done' | 'pending', patch?: { runAt?: number; lastError?: string }) => {
      if (!(await tx.finishAction(action.key, owner, now, status, patch))) throw fenced(action.key);
    };
    const rec = await tx.getEnrollment(message.enrollmentId);
    if (!rec) throw new DriplineError('NOT_FOUND', `enrollment "${message.enrollmentId}" not found`);
    const plan = await planFor(tx, campaign.id, rec.enrollment.planVersion);
    const emitFailed = (reason: string, kind: string, willRetry: boolean) =>
      work.emits.push(() => events.emit('message.failed', { tenantId, campaignId: campaign.id, key: message.key, contactId: message.contactId, nodeId: message.nodeId, channel: message.channel, reason, kind, willRetry, at: now }));

    let outcome: MachineInput;
    let status: OutboundStatus;
    if (!error) {
      status = 'sent';
      outcome = { type: 'sent', key: message.key, at: now, providerMessageId: providerMessageId! };
    } else {
      const kind = error.details.kind === 'ambiguous' && sendPolicy === 'at-least-once' ? 'retryable' : error.details.kind;
      const decision = retryDecision(retry, { attempt: message.attempts, kind, ...(error.details.retryAfterMs === undefined ? {} : { retryAfterMs: error.details.retryAfterMs }), random: random() });
      if (decision.retry) {
        await tx.updateOutbound(message.key, { failureReason: `attempt ${message.attempts} failed: ${error.reason}`, updatedAt: now });
        await finish('pending', { runAt: now + decision.delayMs, lastError: error.reason });
        await tx.incrementAnalytics(campaign.id, { 'messages.retried': 1 });
        work.enqueue.push({ key: message.key, tenantId, runAt: now + decision.delayMs });
        emitFailed(error.reason, error.details.kind, true);
        return 'retry' as const;
      }
      if (decision.reason === 'ambiguous') {
        // At-most-once: it may have been sent; never send it again.
        status = 'unknown';
        outcome = { type: 'sent', key: message.key, at: now };
      } else {
        status = 'failed';
        const reason = decision.reason === 'exhausted' ? `gave up after ${message.attempts} attempts: ${error.reason}` : error.reason;
        outcome = { type: 'sendFailed', key: message.key, at: now, reason, permanent: true, ...(error.details.providerCode ? { code: error.details.providerCode } : {}) };
        if (error.details.suppress) await tx.suppress({ tenantId, address: message.to, channel: message.channel, reason: `provider: ${error.reason}`, at: now });
        emitFailed(reason, error.details.kind, false);
      }
    }
    if (status !== 'failed') {
      const uncertain = status === 'unknown';
      work.emits.push(() =>
        events.emit('message.sent', { tenantId, campaignId: campaign.id, key: message.key, contactId: message.contactId, nodeId: message.nodeId, channel: message.channel, to: message.to, providerMessageId, uncertain, at: now }),
      );
    }
    const { result: stepped } = await stepIn(tx, rec, plan, outcome, now, work);
    await tx.updateOutbound(message.key, {
      status,
      providerMessageId,
      failureReason: status === 'sent' ? null : outcome.type === 'sendFailed' ? outcome.reason : `outcome unknown: ${error!.reason}`,
      updatedAt: now,
    });
    await tx.incrementAnalytics(campaign.id, { [`messages.${status}`]: 1 });
    await finish('done');
    if (stepped.effects.some((x) => x.type === 'complete' || x.type === 'exit')) await completeLater(tx, campaign.id, work, batch);
    if (status === 'failed') await failLater(tx, campaign, work, batch);
    // Events that arrived before the provider id was known are applied now, in order.
    if (providerMessageId) {
      for (const orphan of await tx.listOrphanEvents(providerMessageId)) {
        await tx.attachEvent(orphan.providerEventId, message.key);
        const latest = await tx.getEnrollment(message.enrollmentId);
        if (latest) await applyEventTo(tx, latest, { id: orphan.providerEventId, type: orphan.type, at: orphan.at, messageKey: message.key }, message, now, work);
      }
    }
    return status === 'sent' ? ('sent' as const) : status === 'unknown' ? ('unknown' as const) : ('failed' as const);
  }

  /** Counts a finished delivery in the process metrics. */
  function countDelivery(result: ProcessResult, t0: number) {
    if (result === 'sent' || result === 'unknown') metrics.messagesSent += 1;
    if (result === 'failed') metrics.messagesFailed += 1;
    metrics.processed += 1;
    metrics.processingMs += clock.now() - t0;
  }

  /** Phases 2 and 3 for one action: the transport call, then its outcome in its own transaction. */
  async function deliver(tenantId: string, action: ActionRecord, owner: string, p: Prepared, t0: number): Promise<ProcessResult> {
    return recordOutcome(tenantId, action, owner, p, await callTransport(tenantId, p), t0);
  }

  async function recordOutcome(tenantId: string, action: ActionRecord, owner: string, p: Prepared, sent: SendOutcome, t0: number): Promise<ProcessResult> {
    const now = clock.now();
    const work = newWork();
    let result: ProcessResult;
    try {
      result = await store.transaction(tenantId, (tx) => recordOutcomeIn(tx, tenantId, action, owner, p, sent, now, work));
    } catch (e) {
      if (isDriplineError(e, 'CONFLICT')) return 'lost-lease';
      throw e;
    }
    countDelivery(result, t0);
    await afterCommit(work);
    return result;
  }

  // ---------------------------------------------------------------- events

  /** Applies a plan event to an enrollment; the outbox status only ever moves forward. */
  async function applyEventTo(tx: StoreTransaction, rec: EnrollmentRecord, event: PlanEvent, message: OutboundRecord | null, now: number, work: Work) {
    if (message) {
      const next: OutboundStatus | null = event.type === 'delivered' ? 'delivered' : event.type === 'opened' && message.channel !== 'email' ? 'read' : event.type === 'failed' ? 'undelivered' : null;
      const order = (s: OutboundStatus) => OUTBOUND_PROGRESS.indexOf(s as (typeof OUTBOUND_PROGRESS)[number]);
      if (next && message.status !== 'failed' && message.status !== 'undelivered' && (next === 'undelivered' || order(next) > order(message.status)))
        await tx.updateOutbound(message.key, { status: next, updatedAt: now });
    }
    if (event.type === 'unsubscribed' && message) await tx.suppress({ tenantId: tx.tenantId, address: message.to, channel: message.channel, reason: 'unsubscribed', at: now });
    const campaign = await loadCampaign(tx, rec.campaignId);
    const plan = await planFor(tx, rec.campaignId, rec.enrollment.planVersion);
    const { result } = await stepIn(tx, rec, plan, { type: 'event', event }, now, work);
    await tx.incrementAnalytics(rec.campaignId, { [`events.${event.type}`]: 1 });
    if (result.effects.some((x) => x.type === 'complete' || x.type === 'exit')) await maybeComplete(tx, campaign.id, work);
    return result;
  }

  async function ingestEvent(input: IncomingEvent): Promise<IngestResult> {
    const { tenantId } = input;
    const now = clock.now();
    const type = toPlanEvent(input.type);
    const at = input.at === undefined ? now : instant(input.at, 'at');
    const work = newWork();
    const outcome = await store.transaction(tenantId, async (tx): Promise<{ result: IngestResult; campaignId: string | null; contactId: string | null; note?: string }> => {
      const message = input.providerMessageId
        ? await tx.findOutboundByProviderId(input.providerMessageId)
        : input.messageKey
          ? await tx.getOutbound(input.messageKey)
          : null;
      const fresh = await tx.insertEvent({
        tenantId,
        providerEventId: input.providerEventId,
        type,
        at,
        providerMessageId: input.providerMessageId ?? null,
        messageKey: message?.key ?? input.messageKey ?? (input.providerMessageId ? null : `${input.campaignId ?? ''}:${input.contactId ?? ''}`),
        receivedAt: now,
      });
      if (!fresh) return { result: 'duplicate', campaignId: message?.campaignId ?? input.campaignId ?? null, contactId: message?.contactId ?? input.contactId ?? null };
      // Opt-outs and opt-ins by address take effect even without a message.
      if (input.address && (type === 'unsubscribed' || type === 'resubscribed')) {
        if (type === 'unsubscribed') await tx.suppress({ tenantId, address: input.address, channel: input.channel ?? null, reason: `${input.type} received`, at: now });
        else await tx.unsuppress(input.address, input.channel ?? null);
      }
      if (input.providerMessageId && !message) return { result: 'orphan', campaignId: null, contactId: null };
      const enrollmentId = message?.enrollmentId ?? (input.campaignId && input.contactId ? `${input.campaignId}:${input.contactId}` : null);
      const rec = enrollmentId ? await tx.getEnrollment(enrollmentId) : null;
      if (!rec) return { result: input.address ? 'recorded' : 'unknown-enrollment', campaignId: input.campaignId ?? null, contactId: input.contactId ?? null };
      const r = await applyEventTo(tx, rec, { id: input.providerEventId, type, at, ...(message ? { messageKey: message.key } : {}) }, message, now, work);
      const moved = r.effects.length > 0;
      return { result: moved ? 'applied' : 'recorded', campaignId: rec.campaignId, contactId: rec.contactId, ...(r.note ? { note: r.note } : {}) };
    });
    await afterCommit(work);
    events.emit('event.received', {
      tenantId,
      campaignId: outcome.campaignId,
      contactId: outcome.contactId,
      type,
      note: outcome.result === 'orphan' || outcome.result === 'duplicate' ? outcome.result : (outcome.note as never),
    });
    return outcome.result;
  }

  async function suppress(tenantId: string, address: string, channel: Channel | null, reason: string) {
    await store.transaction(tenantId, (tx) => tx.suppress({ tenantId, address, channel, reason, at: clock.now() }));
  }

  // ---------------------------------------------------------------- plan versions

  async function updatePlan(caller: Caller, tenantId: string, campaignId: string, plan: unknown) {
    await authorize(caller, 'campaigns.create', tenantId, campaignId);
    return store.transaction(tenantId, async (tx) => {
      const c = await loadCampaign(tx, campaignId);
      if (['completed', 'stopped', 'canceled', 'failed'].includes(c.status))
        throw new DriplineError('ILLEGAL_STATE', `cannot change the plan of campaign "${campaignId}": it is ${c.status}`, { details: { campaignId, status: c.status } });
      const version = c.planVersion + 1;
      const compiled = compilePlan(plan, { version, key: campaignId });
      await tx.insertPlanVersion({ tenantId, campaignId, version, plan: compiled.plan as Plan, createdAt: clock.now() });
      await tx.updateCampaign(campaignId, { plan: compiled.plan as Plan, planVersion: version, updatedAt: clock.now() }, [c.status]);
      return { version };
    });
  }

  async function runMigration(caller: Caller, tenantId: string, campaignId: string, input: MigrationInput, apply: boolean): Promise<MigrationPreview> {
    await authorize(caller, apply ? 'campaigns.send' : 'campaigns.read', tenantId, campaignId);
    const campaign = await store.transaction(tenantId, (tx) => loadCampaign(tx, campaignId));
    const toVersion = input.toVersion ?? campaign.planVersion;
    const target = await store.transaction(tenantId, (tx) => planFor(tx, campaignId, toVersion));
    for (const [from, to] of Object.entries(input.map))
      if (to !== null && !target.nodes.has(to))
        throw new DriplineError('INVALID_INPUT', `migration map sends "${from}" to "${to}", which is not a node of plan version ${toVersion}`, { details: { from, to, toVersion } });
    const preview: MigrationPreview = { toVersion, moves: {}, staying: {}, moved: 0 };
    await forEachActiveEnrollment(tenantId, campaignId, async (tx, rec, work) => {
      const e = rec.enrollment;
      const mapped = Object.prototype.hasOwnProperty.call(input.map, e.nodeId);
      if (e.planVersion === toVersion || !mapped || (input.filter && !input.filter(e))) {
        preview.staying[e.nodeId] = (preview.staying[e.nodeId] ?? 0) + 1;
        return;
      }
      const to = input.map[e.nodeId] ?? null;
      const label = `${e.nodeId} → ${to ?? 'exit'}`;
      preview.moves[label] = (preview.moves[label] ?? 0) + 1;
      preview.moved += 1;
      if (apply) await stepIn(tx, rec, target, { type: 'migrate', to }, clock.now(), work);
    });
    return preview;
  }

  // ---------------------------------------------------------------- status

  async function getCampaignStatus(caller: Caller, tenantId: string, campaignId: string): Promise<CampaignStatusReport> {
    await authorize(caller, 'campaigns.read', tenantId, campaignId);
    return store.transaction(tenantId, async (tx) => {
      const c = await loadCampaign(tx, campaignId);
      // One after the other: a transaction is one connection, and pg queues (and will refuse)
      // overlapping queries on one client.
      const a = await tx.getAnalytics(campaignId);
      const actions = await tx.countActions(campaignId);
      const enrollments = await tx.countEnrollments(campaignId);
      const total = a['enrollments.total'] ?? 0;
      const failed = a['enrollments.failed'] ?? 0;
      const processed = a['enrollments.ended'] ?? 0;
      const deferred = Object.entries(a).filter(([k]) => k.startsWith('deferred.')).reduce((s, [, v]) => s + v, 0);
      return {
        campaignId,
        status: c.status,
        totalJobs: Object.values(actions).reduce((s, n) => s + n, 0),
        activeJobs: actions.running ?? 0,
        waitingJobs: actions.pending ?? 0,
        completedJobs: actions.done ?? 0,
        failedJobs: a['messages.failed'] ?? 0,
        progress: { processed, total, success: processed - failed, failed, percentage: total ? Math.round((processed / total) * 10_000) / 100 : 0 },
        metrics: {
          messagesSent: a['messages.sent'] ?? 0,
          messagesFailed: a['messages.failed'] ?? 0,
          messagesUnknown: a['messages.unknown'] ?? 0,
          deferred,
          enrollments: enrollments,
          planVersion: c.planVersion,
        },
      };
    });
  }

  function getSystemMetrics(): SystemMetrics {
    const circuits: Record<string, 'closed' | 'open' | 'half-open'> = {};
    const now = clock.now();
    for (const [name, b] of breakers) circuits[name] = b.state(now);
    const states = Object.values(circuits);
    return {
      campaignsProcessed: metrics.campaignsProcessed,
      messagesSent: metrics.messagesSent,
      messagesFailed: metrics.messagesFailed,
      averageProcessingTime: metrics.processed ? Math.round(metrics.processingMs / metrics.processed) : 0,
      activeWorkers: metrics.activeWorkers,
      circuitBreakerStatus: states.includes('open') ? 'open' : states.includes('half-open') ? 'half-open' : 'closed',
      circuits,
    };
  }

  return {
    events,
    clock,
    createCampaign,
    getCampaign: async (caller, tenantId, campaignId) => {
      await authorize(caller, 'campaigns.read', tenantId, campaignId);
      return store.transaction(tenantId, (tx) => loadCampaign(tx, campaignId));
    },
    scheduleCampaign: (caller, tenantId, campaignId, startAt) => transition(caller, tenantId, campaignId, 'schedule', 'campaigns.send', { startAt: instant(startAt, 'startAt') }),
    startCampaign,
    pauseCampaign: (caller, tenantId, campaignId) => transition(caller, tenantId, campaignId, 'pause', 'campaigns.send'),
    resumeCampaign,
    stopCampaign: (caller, tenantId, campaignId) => endAll(caller, tenantId, campaignId, 'stop'),
    cancelCampaign: (caller, tenantId, campaignId) => endAll(caller, tenantId, campaignId, 'cancel'),
    enroll,
    processAction,
    processClaimed,
    processClaimedBatch,
    processActions,
    processChunk,
    processDue,
    settleCampaigns,
    ingestEvent,
    activateDueCampaigns,
    updatePlan,
    previewMigration: (caller, tenantId, campaignId, input) => runMigration(caller, tenantId, campaignId, input, false),
    migrate: (caller, tenantId, campaignId, input) => runMigration(caller, tenantId, campaignId, input, true),
    getCampaignStatus,
    getSystemMetrics,
    suppress,
    haltSender(sender, reason) {
      haltedSenders.add(sender);
      events.emit('sender.halted', { transport: sender.split(':')[0] ?? sender, sender, reason });
    },
    resumeSender(sender) {
      haltedSenders.delete(sender);
    },
  };
}

export type { CampaignStatus };
