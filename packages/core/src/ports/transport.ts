import type { Channel } from '../plan/schema.js';

/** One rendered message to send. */
export interface OutboundMessage {
  /** The action key: the message's dedup key (idempotency key at the provider when it has one). */
  key: string;
  tenantId: string;
  campaignId: string;
  contactId: string;
  channel: Channel;
  /** Recipient address (email, E.164 number). */
  to: string;
  subject?: string;
  body: string;
  /** Sender override (a number, an email address, a messaging service). */
  from?: string;
}

/** What a transport reports for an accepted message. */
export interface SendReceipt {
  /** The provider's id of the message; events are matched to the message by it. */
  providerMessageId: string;
}

/**
 * How a failed send is to be treated:
 * - `retryable`: the provider did not process the request (429, connection refused): try again;
 * - `ambiguous`: the request left and may have been processed (timeout, 5xx): the send policy decides;
 * - `permanent`: it will never work (invalid number, unsubscribed recipient): do not retry.
 */
export type SendErrorKind = 'retryable' | 'ambiguous' | 'permanent';

/**
 * Sends one message on one or more channels. A transport throws a `DriplineError` with code
 * `TRANSPORT_ERROR` whose `details` is a {@link SendErrorDetails} (use `transportError()`).
 */
export interface Transport {
  /** A name for logs and metrics, e.g. `twilio`. */
  readonly name: string;
  /** The channels it can send on. */
  readonly channels: readonly Channel[];
  /** Sends the message; resolves with the provider's receipt or throws a classified error. */
  send(message: OutboundMessage, options?: { signal?: AbortSignal }): Promise<SendReceipt>;
}

/** The `details` of a transport's `TRANSPORT_ERROR`. */
export interface SendErrorDetails {
  kind: SendErrorKind;
  /** The provider's error code, e.g. `21610`. */
  providerCode?: string;
  /** HTTP status, if any. */
  status?: number;
  /** Provider's retry-after, in ms. */
  retryAfterMs?: number;
  /** Whether the recipient must be suppressed (e.g. unsubscribed at the provider). */
  suppress?: boolean;
  /** Whether the sender must halt (e.g. unregistered sender). */
  haltSender?: boolean;
}
