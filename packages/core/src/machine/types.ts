/**
 * The data the state machine reads and returns. Everything here is plain JSON: an
 * enrollment round-trips through `JSON.stringify` / `JSON.parse` unchanged, so it can live
 * in a database row, a BullMQ job or a Temporal workflow's state.
 */
import type { Channel } from '../plan/schema.js';

/** Where an enrollment is in its life. */
export type EnrollmentStatus = 'active' | 'completed' | 'exited' | 'failed' | 'stopped';

/** Where a send node's message is: waiting for its time, handed to a transport, or sent. */
export type SendState = 'scheduled' | 'sending' | 'sent';

/** The contact an enrollment is for, as the machine needs it. */
export interface Contact {
  /** The contact's id, unique within the tenant. Seeds A/B splits. */
  id: string;
  /** IANA zone; wins over the plan's `timezone`. Invalid or missing: the plan's zone is used. */
  timezone?: string;
  /** Attributes for branch conditions and templates. */
  attributes?: Record<string, unknown>;
}

/** An engagement or delivery event as it reaches the machine. */
export interface PlanEvent {
  /** The provider's event id; events are deduplicated by it. */
  id?: string;
  /** The event name: `opened`, `clicked`, `replied`, `delivered`, `bounced`, `failed`, `unsubscribed`, or a custom name. */
  type: string;
  /** When the event happened (epoch ms), as reported by the provider. */
  at: number;
  /** The action key of the message the event is about, if known. */
  messageKey?: string;
}

/** An event kept on the enrollment since its most recent message was sent. */
export interface InboxEvent extends PlanEvent {
  /** Whether this event already took a transition. */
  consumed: boolean;
}

/** The state of one contact in one campaign. Plain JSON. */
export interface Enrollment {
  /** Enrollment id; the prefix of every action key. */
  id: string;
  contactId: string;
  campaignId: string | null;
  /** The compiled plan's key and version the enrollment runs on. */
  planKey: string;
  planVersion: number;
  status: EnrollmentStatus;
  /** The current node. */
  nodeId: string;
  /** Incremented on every node entry; part of every action key, so stale timers are ignored. */
  visit: number;
  /** When the current node was entered (epoch ms). */
  enteredAt: number;
  /** When the current node's timeouts started counting: the send time on send nodes, entry on wait nodes. */
  anchorAt: number | null;
  /** Send nodes only: where the node's message is. */
  sendState: SendState | null;
  /** Send nodes only: the key of the node's send action (the outbound message's dedup key). */
  sendKey: string | null;
  /** When the most recent message was sent. */
  lastSentAt: number | null;
  /** The IANA zone used for this enrollment (the contact's, else the plan's). */
  zone: string;
  /** Keys of actions scheduled for the current visit that have not fired yet. */
  pending: string[];
  /** Events received since the most recent message was dispatched, in arrival order. */
  inbox: InboxEvent[];
  /** Provider event ids already seen (deduplication). */
  eventIds: string[];
  /** Event names the enrollment has ever seen (for `{ event }` branch conditions). */
  seen: string[];
  /** Number of messages sent. */
  sends: number;
  endedAt: number | null;
  endReason: string | null;
}

/** An action to run at a time: a send or a timeout. */
export interface ScheduledAction {
  /** Deterministic key `enrollment:node:visit:kind`; also the outbound message's dedup key. */
  key: string;
  enrollmentId: string;
  kind: 'send' | 'timeout';
  nodeId: string;
  visit: number;
  /** When it is due (epoch ms). */
  runAt: number;
  /** Timeouts: the `no_*` name. */
  on?: string;
  /** Sends: the time asked for before quiet hours moved it, when they did. */
  requestedAt?: number;
}

/** Why a transition happened. */
export interface TransitionCause {
  kind: 'start' | 'event' | 'timer' | 'sent' | 'failed' | 'branch' | 'split' | 'migration';
  /** The event or timeout name. */
  on?: string;
  /** The provider event id. */
  eventId?: string;
  /** The action key of the timer or send. */
  key?: string;
  /** Branch: index of the case taken (-1 for else). Split: index of the variant. */
  index?: number;
  /** Whether an early event was replayed on entering the node. */
  replayed?: boolean;
}

/** The audit record of one state change. */
export interface TransitionRecord {
  enrollmentId: string;
  from: string | null;
  to: string;
  /** The visit number of the node entered. */
  visit: number;
  at: number;
  cause: TransitionCause;
  planVersion: number;
  /** Keys of the actions scheduled on entering `to`. */
  scheduled: string[];
}

/** A message to send, as the machine decides it. Templates are rendered by the runtime. */
export interface SendEffect {
  type: 'send';
  key: string;
  enrollmentId: string;
  contactId: string;
  nodeId: string;
  visit: number;
  channel: Channel;
  subject?: string;
  body: string;
}

/** What a step asks the runtime to do. Plain data. */
export type Effect =
  | { type: 'schedule'; action: ScheduledAction }
  | { type: 'cancel'; keys: string[] }
  | SendEffect
  | { type: 'transition'; record: TransitionRecord }
  | { type: 'complete'; enrollmentId: string; at: number; reason: string }
  | { type: 'exit'; enrollmentId: string; at: number; reason: string; status: 'exited' | 'failed' | 'stopped' };

/** An input to {@link step}. */
export type MachineInput =
  | { type: 'event'; event: PlanEvent }
  | { type: 'timer'; key: string }
  | { type: 'sent'; key: string; at: number; providerMessageId?: string }
  | { type: 'sendFailed'; key: string; at: number; reason: string; permanent: boolean; code?: string }
  | { type: 'stop'; reason?: string }
  /**
   * Moves the enrollment onto the plan `step` is called with (a new version), entering node
   * `to`, or ending it (`to: null`). Pending actions of the old node are canceled.
   */
  | { type: 'migrate'; to: string | null };

/** Why a step changed nothing, or what it noticed. */
export type StepNote =
  | 'duplicate-event'
  | 'stale-timer'
  | 'late-event'
  | 'event-recorded'
  | 'already-ended'
  | 'stale-send-outcome'
  | 'zone-fallback';

/** What {@link step} and {@link start} return. */
export interface StepResult {
  enrollment: Enrollment;
  effects: Effect[];
  /** Set when the step was a no-op or noticed something worth reporting. */
  note?: StepNote;
}

/** The context of a step: the time is passed in, never read. */
export interface StepContext {
  /** The current time (epoch ms). */
  now: number;
  /** The contact, for branch conditions. Needed by `start`; optional for `step`. */
  contact?: Contact;
}

/** The context of {@link start}. */
export interface StartContext extends StepContext {
  contact: Contact;
  /** Default `${campaignId}:${contact.id}` or `contact.id`. */
  enrollmentId?: string;
  campaignId?: string;
}
