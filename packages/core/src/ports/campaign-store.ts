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
}

/**
 * The work of one transaction. Every method is scoped to the transaction's tenant: no call
 * with tenant A ever reads or changes tenant B's rows.
 */
export interface StoreTransaction {
  readonly tenantId: string;
  insertCampaign(campaign: CampaignRecord): Promise<void>;
  getCampaign(id: string): Promise<CampaignRecord | null>;
  /** Applies `patch` if the campaign is in one of `expectStatus` (when given). Returns whether it did. */
  updateCampaign(id: string, patch: Partial<Omit<CampaignRecord, 'tenantId' | 'id'>>, expectStatus?: readonly CampaignStatus[]): Promise<boolean>;
  /** Inserts enrollments; an existing (campaign, contact) pair is left alone. Returns the ids inserted. */
  insertEnrollments(records: readonly EnrollmentRecord[]): Promise<string[]>;
  getEnrollment(enrollmentId: string): Promise<EnrollmentRecord | null>;
  /** Writes the record if its stored `rowVersion` is `expectedRowVersion` (it stores `expectedRowVersion + 1`). */
  updateEnrollment(record: EnrollmentRecord, expectedRowVersion: number): Promise<boolean>;
  /** Inserts actions as `pending`; an existing key is left alone. */
  insertActions(actions: readonly ActionRecord[]): Promise<void>;
  /** Marks pending (or running) actions canceled. */
  cancelActions(keys: readonly string[]): Promise<void>;
  getAction(key: string): Promise<ActionRecord | null>;
  /**
   * Claims due actions: `pending` with `runAt <= now`, or `running` with an expired lease.
   * Sets `running`, the owner and the lease, and increments `attempts`.
   */
  claimDueActions(options: ClaimOptions): Promise<ActionRecord[]>;
  /**
   * Claims one action by key, as a queue wake-up does: only if it is `pending` and due, or
   * `running` with an expired lease. Returns `null` otherwise (already done, canceled, not yet
   * due, or held by a live lease).
   */
  claimAction(key: string, options: Omit<ClaimOptions, 'limit'>): Promise<ActionRecord | null>;
  /**
   * Finishes a claimed action, fenced: only if it is still `running` under `owner` and the
   * lease has not expired at `now`. Returns whether it did; on `false` the caller must roll back.
   */
  finishAction(key: string, owner: string, now: number, status: 'done' | 'canceled' | 'pending', patch?: { runAt?: number; lastError?: string }): Promise<boolean>;
  /** Inserts an outbox row; returns `false` if the key exists. */
  insertOutbound(message: OutboundRecord): Promise<boolean>;
  updateOutbound(key: string, patch: Partial<Pick<OutboundRecord, 'status' | 'providerMessageId' | 'failureReason' | 'attempts' | 'updatedAt'>>): Promise<void>;
  getOutbound(key: string): Promise<OutboundRecord | null>;
  appendTransitions(records: readonly TransitionAuditRecord[]): Promise<void>;
  /** Inserts an event; returns `false` if its provider event id was seen. */
  insertEvent(event: MessageEventRecord): Promise<boolean>;
  incrementAnalytics(campaignId: string, deltas: Readonly<Record<string, number>>): Promise<void>;
  getAnalytics(campaignId: string): Promise<Record<string, number>>;
}

/** The transactional source of truth. */
export interface CampaignStore {
  /**
   * Runs `fn` in one transaction for one tenant: everything it wrote commits together, or,
   * if it throws, nothing does.
   */
  transaction<T>(tenantId: string, fn: (tx: StoreTransaction) => Promise<T>): Promise<T>;
}
