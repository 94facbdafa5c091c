import type { Enrollment, ScheduledAction, TransitionRecord } from '../machine/types.js';
import type { Channel, Plan } from '../plan/schema.js';
import type { AudienceContact } from './contact-source.js';

/** A campaign's status. */
export type CampaignStatus = 'draft' | 'scheduled' | 'active' | 'paused' | 'completed' | 'stopped' | 'canceled' | 'failed';

/** A campaign row. */
export interface CampaignRecord {
  tenantId: string;
  id: string;
  name: string;
  status: CampaignStatus;
  plan: Plan;
  planVersion: number;
  startAt: number | null;
  /** Contacts enrolled per page. */
  batchSize: number;
  /** Failure rate (0–1) past which the campaign moves to `failed`. */
  failureThreshold: number;
  /** Compliance presets of this campaign (on top of the engine's), e.g. `['us-tcpa']`. */
  compliance?: string[];
  createdAt: number;
  updatedAt: number;
}

/** One contact in one campaign (`contact_campaigns`). */
export interface EnrollmentRecord {
  tenantId: string;
  campaignId: string;
  contactId: string;
  /** The machine's state. `enrollment.id` is the record's id. */
  enrollment: Enrollment;
  /** The contact as enrolled (address, attributes, zone). */
  contact: AudienceContact;
  /** Optimistic-concurrency version, incremented by every update. */
  rowVersion: number;
}

/** The status of a scheduled action. */
export type ActionStatus = 'pending' | 'running' | 'done' | 'canceled';

/** A scheduled action row. */
export interface ActionRecord extends ScheduledAction {
  tenantId: string;
  campaignId: string;
  status: ActionStatus;
  attempts: number;
  /** Who holds the lease while `running`, and until when. */
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  lastError: string | null;
}

/** The status of an outbound message. */
export type OutboundStatus = 'sending' | 'sent' | 'delivered' | 'read' | 'failed' | 'undelivered' | 'unknown';

/** An outbox row: one message, at most once per key. */
export interface OutboundRecord {
  tenantId: string;
  /** The action key. Unique: the same send can never be recorded twice. */
  key: string;
  campaignId: string;
  contactId: string;
  enrollmentId: string;
  nodeId: string;
  channel: Channel;
  to: string;
  subject?: string;
  body: string;
  status: OutboundStatus;
  providerMessageId: string | null;
  failureReason: string | null;
  attempts: number;
  createdAt: number;
  updatedAt: number;
}

/** An engagement event row (`message_events`). */
export interface MessageEventRecord {
  tenantId: string;
  /** The provider's event id. Unique per tenant. */
  providerEventId: string;
  type: string;
  at: number;
  providerMessageId: string | null;
  /** The message (action key) it was matched to; `null` while it is an orphan. */
  messageKey: string | null;
  receivedAt: number;
}

/** A suppressed address: no message goes to it on that channel (or any, when `channel` is null). */
export interface SuppressionRecord {
  tenantId: string;
  address: string;
  /** `null` suppresses the address on every channel. */
  channel: Channel | null;
  reason: string;
  at: number;
}

/** A stored version of a campaign's plan. */
export interface PlanVersionRecord {
  tenantId: string;
  campaignId: string;
  version: number;
  plan: Plan;
  createdAt: number;
}

/** Paging through rows in key order: rows after `after`, at most `limit`. */
export interface PageOptions {
  after?: string;
  limit: number;
}

/** An audit row (`campaign_transitions`). */
export interface TransitionAuditRecord extends TransitionRecord {
  tenantId: string;
  campaignId: string;
}

/** Arguments of {@link StoreTransaction.claimDueActions}. */
export interface ClaimOptions {
  /** The time (epoch ms) to compare `runAt` and leases with. */
  now: number;
  limit: number;
  /** Who claims. */
  owner: string;
  /** Lease length in ms; past it another worker may take the action over. */
  leaseMs: number;
  /**
   * Fair share: at most this many actions of any one campaign in one claim (the campaigns
   * take turns within a claim either way, see {@link StoreTransaction.claimDueActions}).
   * Default: no per-campaign limit.
   */
  perCampaignLimit?: number;
}

/**
 * The work of one transaction. Every method is scoped to the transaction's tenant: no call
 * with tenant A ever reads or changes tenant B's rows.
 *
 * Conventions every implementation keeps (the conformance suite checks them):
 * - Uniqueness is per tenant: campaign ids, (campaign, contact) enrollments, enrollment ids,
 *   action keys, outbox keys and provider event ids.
 * - A lease is live while `now < leaseExpiresAt`: at `now >= leaseExpiresAt` the action may be
 *   claimed by another worker and its owner may no longer finish it.
 * - Optional fields that were not set come back absent (not `null`); numbers and epoch
 *   milliseconds come back as JS numbers.
 * - Ordering: "id order" and "key order" are code-point order (`COLLATE "C"` in PostgreSQL).
 * - An empty `status` filter array matches nothing; an absent one matches everything.
 */
export interface StoreTransaction {
  readonly tenantId: string;
  /** Inserts a campaign; an existing id (in this tenant) is an error. */
  insertCampaign(campaign: CampaignRecord): Promise<void>;
  /** The campaign, or `null`. */
  getCampaign(id: string): Promise<CampaignRecord | null>;
  /** Applies `patch` if the campaign is in one of `expectStatus` (when given). Returns whether it did. */
  updateCampaign(id: string, patch: Partial<Omit<CampaignRecord, 'tenantId' | 'id'>>, expectStatus?: readonly CampaignStatus[]): Promise<boolean>;
  /** Inserts enrollments; an existing (campaign, contact) pair is left alone. Returns the ids inserted. */
  insertEnrollments(records: readonly EnrollmentRecord[]): Promise<string[]>;
  /** The enrollment, or `null`. */
  getEnrollment(enrollmentId: string): Promise<EnrollmentRecord | null>;
  /** Writes the record if its stored `rowVersion` is `expectedRowVersion` (it stores `expectedRowVersion + 1`). */
  updateEnrollment(record: EnrollmentRecord, expectedRowVersion: number): Promise<boolean>;
  /** Inserts actions (as given, normally `pending`); an existing key is left alone. */
  insertActions(actions: readonly ActionRecord[]): Promise<void>;
  /** Marks pending (or running) actions canceled. */
  cancelActions(keys: readonly string[]): Promise<void>;
  /** The action, or `null`. */
  getAction(key: string): Promise<ActionRecord | null>;
  /**
   * Claims due actions of `active` campaigns: `pending` with `runAt <= now`, or `running`
   * with an expired lease. The campaigns take turns: every campaign's earliest due action,
   * then every campaign's second, and so on (within a turn earliest first; due means `runAt`,
   * or lease expiry for taken-over actions; ties by key), at most `perCampaignLimit` of one
   * campaign, until `limit`. So a campaign with a backlog of earlier actions cannot hold back
   * another's, even in a small claim. Returned earliest first. Sets `running`, the owner and
   * the lease, and increments `attempts`. Actions of paused (or otherwise inactive) campaigns
   * stay put.
   */
  claimDueActions(options: ClaimOptions): Promise<ActionRecord[]>;
  /**
   * Claims one action by key, as a queue wake-up does: only if its campaign is `active` and
   * it is `pending` and due, or `running` with an expired lease. Returns `null` otherwise
   * (already done, canceled, not yet due, held by a live lease, campaign not active).
   */
  claimAction(key: string, options: Omit<ClaimOptions, 'limit'>): Promise<ActionRecord | null>;
  /**
   * Finishes a claimed action, fenced: only if it is still `running` under `owner` and the
   * lease is live at `now` (`now < leaseExpiresAt`). Returns whether it did; on `false` the
   * caller must roll back. `status: 'pending'` releases it, optionally at a new `runAt`.
   */
  finishAction(key: string, owner: string, now: number, status: 'done' | 'canceled' | 'pending', patch?: { runAt?: number; lastError?: string }): Promise<boolean>;
  /** Inserts an outbox row; returns `false` if the key exists. */
  insertOutbound(message: OutboundRecord): Promise<boolean>;
  /** Updates an outbox row's status, provider id, failure reason, attempts or time; a missing key is a no-op. */
  updateOutbound(key: string, patch: Partial<Pick<OutboundRecord, 'status' | 'providerMessageId' | 'failureReason' | 'attempts' | 'updatedAt'>>): Promise<void>;
  /** The outbox row, or `null`. */
  getOutbound(key: string): Promise<OutboundRecord | null>;
  /** Appends audit rows, in order. */
  appendTransitions(records: readonly TransitionAuditRecord[]): Promise<void>;
  /** The audit trail of one enrollment, in the order it was written. */
  listTransitions(enrollmentId: string): Promise<TransitionAuditRecord[]>;
  /** Inserts an event; returns `false` if its provider event id was seen. */
  insertEvent(event: MessageEventRecord): Promise<boolean>;
  /** Adds `deltas` to the campaign's named counters (missing counters start at 0). */
  incrementAnalytics(campaignId: string, deltas: Readonly<Record<string, number>>): Promise<void>;
  /** The campaign's counters (`messages.sent`, `enrollments.total`, ...). */
  getAnalytics(campaignId: string): Promise<Record<string, number>>;

  /** Campaigns of the tenant, optionally only those in `status`. */
  listCampaigns(status?: readonly CampaignStatus[]): Promise<CampaignRecord[]>;
  /** Stores a plan version; an existing (campaign, version) is an error. */
  insertPlanVersion(record: PlanVersionRecord): Promise<void>;
  /** A stored plan version, or `null`. */
  getPlanVersion(campaignId: string, version: number): Promise<PlanVersionRecord | null>;
  /** Enrollments of a campaign in enrollment-id order, optionally filtered by status. */
  listEnrollments(campaignId: string, page: PageOptions & { status?: readonly string[] }): Promise<EnrollmentRecord[]>;
  /** Counts enrollments of a campaign by status (`active`, `completed`, ...). */
  countEnrollments(campaignId: string): Promise<Record<string, number>>;
  /** Actions of a campaign in key order, optionally filtered by status and enrollment. */
  listActions(campaignId: string, page: PageOptions & { status?: readonly ActionStatus[]; enrollmentId?: string }): Promise<ActionRecord[]>;
  /** Counts actions of a campaign by status. */
  countActions(campaignId: string): Promise<Record<string, number>>;
  /** The outbox row of a provider message id, if any. */
  findOutboundByProviderId(providerMessageId: string): Promise<OutboundRecord | null>;
  /** Outbox rows of a campaign in key order. */
  listOutbound(campaignId: string, page: PageOptions): Promise<OutboundRecord[]>;
  /**
   * Creation times of the messages to `to` (any campaign of the tenant) created at or after
   * `since`, ascending; failed and undelivered ones excluded. Feeds frequency caps.
   */
  listRecentOutboundTimes(to: string, since: number): Promise<number[]>;
  /** Events received for a provider message id before its message was known (`messageKey` null). */
  listOrphanEvents(providerMessageId: string): Promise<MessageEventRecord[]>;
  /** Sets the message an event belongs to. */
  attachEvent(providerEventId: string, messageKey: string): Promise<void>;
  /** Adds or replaces the suppression of (`address`, `channel`). */
  suppress(record: SuppressionRecord): Promise<void>;
  /**
   * Lifts exactly the suppression of (`address`, `channel`) — `null` is the all-channel one —
   * e.g. START after STOP. Returns whether there was one.
   */
  unsuppress(address: string, channel: Channel | null): Promise<boolean>;
  /**
   * The suppression that applies to `address` on `channel`: the channel's own if there is
   * one, else the all-channel one, else `null`.
   */
  getSuppression(address: string, channel: Channel): Promise<SuppressionRecord | null>;
  /**
   * Optional set-based operations (see {@link BulkStoreOperations}). The engine uses them for
   * a batch of actions; without them it makes the single-row calls. Use
   * {@link bulkOperations} to get either.
   */
  readonly bulk?: BulkStoreOperations;
}

/**
 * Set-based operations a store may offer on its transactions (`tx.bulk`), so a batch of
 * actions costs one statement per kind instead of one per action. Each method means exactly
 * what the single-row methods it stands for mean (same tenant scoping, same conventions);
 * rows come back in no particular order, and keys that match nothing are simply absent.
 */
export interface BulkStoreOperations {
  /** {@link StoreTransaction.getAction} for each key. */
  getActions(keys: readonly string[]): Promise<ActionRecord[]>;
  /** {@link StoreTransaction.getEnrollment} for each id. */
  getEnrollments(enrollmentIds: readonly string[]): Promise<EnrollmentRecord[]>;
  /** {@link StoreTransaction.getOutbound} for each key. */
  getOutbounds(keys: readonly string[]): Promise<OutboundRecord[]>;
  /** Every suppression of these addresses: each channel's and the all-channel one (`channel: null`). */
  listSuppressions(addresses: readonly string[]): Promise<SuppressionRecord[]>;
  /** {@link StoreTransaction.listOrphanEvents} for each provider message id (each id's events in that order). */
  listOrphanEvents(providerMessageIds: readonly string[]): Promise<MessageEventRecord[]>;
  /** {@link StoreTransaction.claimAction} for each key; returns the actions it claimed. */
  claimActions(keys: readonly string[], options: Omit<ClaimOptions, 'limit'>): Promise<ActionRecord[]>;
  /**
   * {@link StoreTransaction.updateEnrollment} for a caller to which "did not apply" is fatal.
   * The store may hold the write back and run it with others of its kind before its next
   * statement on that table, or before commit. If the write does not apply (a stale row
   * version), that statement or the commit fails with a retryable `CONFLICT`
   * `DriplineError`, so the transaction rolls back: nothing of it is written.
   */
  updateEnrollmentOrFail(record: EnrollmentRecord, expectedRowVersion: number): Promise<void>;
  /** {@link StoreTransaction.finishAction}, fenced, with the failure rule of {@link updateEnrollmentOrFail}. */
  finishActionOrFail(key: string, owner: string, now: number, status: 'done' | 'canceled' | 'pending', patch?: { runAt?: number; lastError?: string }): Promise<void>;
  /** {@link StoreTransaction.insertOutbound} (an existing key does not apply), with the failure rule of {@link updateEnrollmentOrFail}. */
  insertOutboundOrFail(message: OutboundRecord): Promise<void>;
  /**
   * A fence without a write: each action is still `running` under `owner` with a lease live
   * at `now` (what {@link StoreTransaction.finishAction} checks), and stays so until the
   * transaction ends. With the failure rule of {@link updateEnrollmentOrFail}. The engine
   * calls it for the sends a batch decided, whose actions it finishes only later.
   *
   * Optional: {@link bulkOperations} stands in with one `getAction` per key.
   */
  assertLeasesOrFail?(keys: readonly string[], owner: string, now: number): Promise<void>;
  /**
   * An expectation, with the failure rule of {@link updateEnrollmentOrFail}: none of these
   * provider message ids has orphan events ({@link StoreTransaction.listOrphanEvents} would
   * return nothing for each). Lets the engine record a batch of outcomes without reading
   * orphans first; in the rare case there are some, the batch fails and the engine records
   * each outcome in its own transaction, where the orphans are read and applied.
   *
   * Optional: {@link bulkOperations} stands in with one `listOrphanEvents` per id.
   */
  expectNoOrphanEventsOrFail?(providerMessageIds: readonly string[]): Promise<void>;
  /**
   * The counters of these campaigns ({@link StoreTransaction.getAnalytics}) as this
   * transaction leaves them, this transaction's increments included, read as it commits. Call
   * it after the transaction's last `incrementAnalytics`. The returned promise resolves as
   * soon as the read is arranged; its `value` settles after the transaction has committed (it
   * rejects if the transaction rolls back), so await `value` only after `transaction()` has
   * returned. Lets a store answer the read in the same round trip as the commit.
   *
   * Optional: {@link bulkOperations} stands in with `getAnalytics` reads made at the call.
   */
  readAnalyticsAtCommit?(campaignIds: readonly string[]): Promise<{ readonly value: Promise<Record<string, Record<string, number>>> }>;
  /**
   * A claim ({@link CampaignStore.claimChunk}'s, with its rows) made as this transaction
   * commits, after its writes (whose rows it sees): it commits, or rolls back, with them. Call
   * it after the transaction's last write. As with {@link readAnalyticsAtCommit}, the promise
   * resolves once the claim is arranged and `value` settles after the commit. Lets a store
   * claim the next chunk of work in the same round trip that commits this one.
   *
   * Optional: {@link bulkOperations} stands in with the claim and reads made at the call.
   */
  claimAtCommit?(request: ChunkClaimRequest): Promise<{ readonly value: Promise<ClaimedChunk> }>;
}

/**
 * What {@link CampaignStore.claimChunk} claims: the due actions, as
 * {@link StoreTransaction.claimDueActions} does, or the given keys, each as
 * {@link StoreTransaction.claimAction} does (a queue's wake-ups).
 */
export interface ChunkClaimRequest {
  /** The time (epoch ms) to compare `runAt` and leases with. */
  now: number;
  /** Who claims. */
  owner: string;
  /** Lease length in ms. */
  leaseMs: number;
  /** Claim these keys; without them, claim due actions. */
  keys?: readonly string[];
  /** Due actions: most claimed. Default 10. */
  limit?: number;
  /** Due actions: fair share per campaign (see {@link ClaimOptions.perCampaignLimit}). */
  perCampaignLimit?: number;
}

/**
 * Claimed actions together with every row the engine reads to run them, so a chunk of work
 * starts with one store call. Rows that do not exist are simply absent: an enrollment
 * missing here does not exist.
 */
export interface ClaimedChunk {
  /** The actions claimed (status `running`, this owner's lease), earliest first for due claims. */
  actions: ActionRecord[];
  /** The enrollments of those actions. */
  enrollments: EnrollmentRecord[];
  /** The outbox rows that exist for the keys of the claimed `send` actions (a retry, or a crash before the outcome). */
  outbounds: OutboundRecord[];
  /** Every suppression of every address (email, phone, whatsapp) of those enrollments' contacts. */
  suppressions: SuppressionRecord[];
  /** The campaigns of those actions. */
  campaigns: CampaignRecord[];
}

/** The transactional source of truth. */
export interface CampaignStore {
  /**
   * Runs `fn` in one transaction for one tenant: everything it wrote commits together, or,
   * if it throws, nothing does.
   */
  transaction<T>(tenantId: string, fn: (tx: StoreTransaction) => Promise<T>): Promise<T>;
  /**
   * Optional: claims actions and reads the rows needed to run them, in one transaction of
   * its own (one statement on PostgreSQL). The claim means exactly what
   * `claimDueActions` / `claimAction` mean; the rows are what the single-row reads would
   * return right after the claim. Without it, use {@link claimChunk}, which does the same
   * with `transaction`, the claim and the bulk reads.
   */
  claimChunk?(tenantId: string, request: ChunkClaimRequest): Promise<ClaimedChunk>;
}
