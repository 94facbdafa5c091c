/** Public types of the engine: options, inputs, results and the typed events it emits. */
import type { Channel, PlanInput } from '../plan/schema.js';
import type { StepNote, TransitionRecord } from '../machine/types.js';
import type { ActionQueue } from '../ports/action-queue.js';
import type { Authorizer, Principal } from '../ports/authorizer.js';
import type { CampaignRecord, CampaignStatus, CampaignStore } from '../ports/campaign-store.js';
import type { Clock } from '../ports/clock.js';
import type { AudienceContact, ContactSource } from '../ports/contact-source.js';
import type { Logger } from '../ports/logger.js';
import type { Transport } from '../ports/transport.js';
import type { CircuitBreakerInput, LimiterTreeConfig, RetryPolicyInput } from '../policy/index.js';

/** What to do with a message whose send outcome is unknown (a timeout or 5xx after the request left, or a crash). */
export type SendPolicy = 'at-most-once' | 'at-least-once';

/** Options of {@link createEngine}. */
export interface EngineOptions {
  /** The source of truth. */
  store: CampaignStore;
  /** Wakes workers up; optional (workers also poll the store). */
  queue?: ActionQueue;
  /** One transport for every channel, a list (each serves its `channels`), or one per channel. */
  transports: Transport | readonly Transport[] | Partial<Record<Channel, Transport>>;
  /** Default: the system clock. Tests pass a virtual clock. */
  clock?: Clock;
  /** Checks `campaigns.create`, `campaigns.send` and `campaigns.read`. Default: allow everything. */
  authorizer?: Authorizer;
  logger?: Logger;
  /** Source of jitter, in [0, 1). Default `Math.random`; tests pass a seeded one. */
  random?: () => number;
  /** Default `at-most-once`: never message a person twice. */
  sendPolicy?: SendPolicy;
  /** Retries of retryable send errors. Default: 5 attempts, 1 s doubling, ±20% jitter. */
  retry?: RetryPolicyInput;
  /** Nested rate limits. Default: 10 messages per second per sender (Twilio's limit). */
  rateLimits?: LimiterTreeConfig;
  /** Per transport. Default: opens after 10 consecutive failures, half-opens after 60 s. */
  circuitBreaker?: CircuitBreakerInput;
  /** Compliance presets for every campaign (e.g. `['us-tcpa']`), on top of each plan's quiet hours. */
  compliance?: readonly string[];
  /** A per-recipient cap across campaigns, e.g. `{ max: 3, window: 'PT24H' }`. */
  frequencyCap?: { max: number; window: number | string };
  /** Extra template variables per message (e.g. an unsubscribe URL). */
  templateVariables?: (contact: AudienceContact, campaign: CampaignRecord) => Record<string, unknown>;
  /** Lease on a claimed action; must outlast a transport call. Default 60 s. */
  leaseMs?: number;
  /** Resolves the audience of a campaign that starts by schedule (see `CampaignInput.audience`). */
  resolveAudience?: (campaign: CampaignRecord) => ContactSource | readonly AudienceContact[] | undefined;
}

/** Input of `createCampaign`. */
export interface CampaignInput {
  /** Default: a generated id. */
  id?: string;
  name?: string;
  plan: PlanInput | unknown;
  /** Contacts per enrolment page (default 1000). */
  batchSize?: number;
  /** Failure rate (0–1) past which the campaign moves to `failed`; checked after 20 sends. Default 0.5. */
  failureThreshold?: number;
  /** Start at this time (epoch ms or ISO): the campaign is `scheduled`, else `draft`. */
  startAt?: number | string;
  /** Compliance presets for this campaign. */
  compliance?: readonly string[];
}

/** Seed 004's campaign status shape. */
export interface CampaignStatusReport {
  campaignId: string;
  status: CampaignStatus;
  totalJobs: number;
  activeJobs: number;
  waitingJobs: number;
  completedJobs: number;
  failedJobs: number;
  progress: { processed: number; total: number; success: number; failed: number; percentage: number };
  metrics: {
    messagesSent: number;
    messagesFailed: number;
    messagesUnknown: number;
    deferred: number;
    enrollments: Record<string, number>;
    planVersion: number;
  };
}

/** System-wide metrics, as seed 004's dashboard shows them. */
export interface SystemMetrics {
  campaignsProcessed: number;
  messagesSent: number;
  messagesFailed: number;
  /** Mean time from claim to recorded outcome, ms. */
  averageProcessingTime: number;
  activeWorkers: number;
  circuitBreakerStatus: 'closed' | 'open' | 'half-open';
  circuits: Record<string, 'closed' | 'open' | 'half-open'>;
}

/** Why a send was put off, and until when. */
export interface Deferral {
  tenantId: string;
  campaignId: string;
  key: string;
  until: number;
  reason: 'rate-limit' | 'circuit-open' | 'quiet-hours' | 'frequency-cap';
  /** The compliance preset and rule, or the limiter level, that deferred it. */
  rule?: string;
}

/** The events the engine emits, with their payloads. */
export interface EngineEvents {
  'message.sent': [{ tenantId: string; campaignId: string; key: string; contactId: string; nodeId: string; channel: Channel; to: string; providerMessageId: string | null; uncertain: boolean; at: number }];
  'message.failed': [{ tenantId: string; campaignId: string; key: string; contactId: string; nodeId: string; channel: Channel; reason: string; kind: string; willRetry: boolean; at: number }];
  'message.deferred': [Deferral];
  transition: [{ tenantId: string; campaignId: string; contactId: string; record: TransitionRecord }];
  /** A send was scheduled; `requestedAt` is set when quiet hours moved it. */
  'send.scheduled': [{ tenantId: string; campaignId: string; contactId: string; key: string; nodeId: string; runAt: number; requestedAt?: number }];
  'enrollment.ended': [{ tenantId: string; campaignId: string; contactId: string; status: string; reason: string }];
  'event.received': [{ tenantId: string; campaignId: string | null; contactId: string | null; type: string; note: StepNote | 'orphan' | 'duplicate' | undefined }];
  'campaign.status': [{ tenantId: string; campaignId: string; from: CampaignStatus; to: CampaignStatus; reason?: string }];
  'circuit.open': [{ transport: string; at: number }];
  'circuit.close': [{ transport: string; at: number }];
  'sender.halted': [{ transport: string; sender: string; reason: string }];
}

/** An incoming engagement or delivery event. */
export interface IncomingEvent {
  tenantId: string;
  /** The provider's event id (deduplication). */
  providerEventId: string;
  /** Provider or plan event name: `open`, `opened`, `click`, `delivered`, `read`, `bounce`, `STOP`... */
  type: string;
  /** When it happened (epoch ms or ISO). Default: now. */
  at?: number | string;
  /** The message it is about, by provider id (events may arrive before the id is saved: they wait as orphans). */
  providerMessageId?: string;
  /** Or by action key. */
  messageKey?: string;
  /** Or, for events not about a message (`converted`), the enrollment. */
  campaignId?: string;
  contactId?: string;
  /** For unsubscribes that name only an address. */
  address?: string;
  channel?: Channel;
  /** Provider error code (failed / undelivered). */
  errorCode?: string;
}

/** What happened to an incoming event. */
export type IngestResult = 'applied' | 'recorded' | 'duplicate' | 'orphan' | 'unknown-enrollment';

/** An authenticated caller, or the system itself (`null`: no authorization check). */
export type Caller = Principal | null;
