/**
 * How Twilio's answers become dripline's classified `TRANSPORT_ERROR`s. The table below is
 * the single source of the README's error-code table.
 */
import { DriplineError, type SendErrorKind } from '@dripline/core';

/**
 * dripline's reason codes for a failed send (in `error.details.reason`), shared by the Twilio
 * and SendGrid transports.
 */
export type SendFailureReason =
  /** The provider refused for rate (HTTP 429, Twilio 20429). Retryable; honour `retryAfterMs`. */
  | 'rate-limited'
  /** The request never reached the provider (connection refused, DNS). Retryable. */
  | 'provider-unreachable'
  /** The provider answered 5xx: it may or may not have accepted the message. Ambiguous. */
  | 'provider-error'
  /** No answer after the request left (timeout, connection reset). Ambiguous. */
  | 'no-answer'
  /** The recipient address is invalid or cannot receive this channel. Permanent. */
  | 'invalid-recipient'
  /** The recipient opted out at the provider (Twilio 21610). Permanent; suppresses the address. */
  | 'recipient-unsubscribed'
  /** The recipient is unreachable (landline, unreachable carrier). Permanent. */
  | 'unreachable-recipient'
  /** The carrier or provider filtered the content. Permanent. */
  | 'content-filtered'
  /** WhatsApp free-form message outside the 24 h customer-service window (63016). Permanent. */
  | 'whatsapp-window-closed'
  /** The sender is not registered (A2P 10DLC 30034, toll-free 30032). Permanent; halts the sender. */
  | 'sender-unregistered'
  /** Wrong credentials or a forbidden resource (401/403). Permanent. */
  | 'authentication-failed'
  /** Any other 4xx: the provider refused this request. Permanent. */
  | 'rejected';

/** One row of {@link TWILIO_ERROR_CODES}. */
export interface TwilioCodeRule {
  kind: SendErrorKind;
  reason: SendFailureReason;
  /** Suppress the recipient address. */
  suppress?: boolean;
  /** Halt the sender (no more sends from it until restarted) and raise `sender.halted`. */
  haltSender?: boolean;
  /** What the code means, for the README and logs. */
  meaning: string;
}

/** Twilio error codes with a classification of their own. */
export const TWILIO_ERROR_CODES: Readonly<Record<string, TwilioCodeRule>> = {
  '20429': { kind: 'retryable', reason: 'rate-limited', meaning: 'Too many requests' },
  '21211': { kind: 'permanent', reason: 'invalid-recipient', meaning: "Invalid 'To' phone number" },
  '21614': { kind: 'permanent', reason: 'invalid-recipient', meaning: "'To' number is not a valid mobile number" },
  '21635': { kind: 'permanent', reason: 'invalid-recipient', meaning: "'To' number cannot receive messages (not a messaging-capable number)" },
  '21610': { kind: 'permanent', reason: 'recipient-unsubscribed', suppress: true, meaning: 'Recipient replied STOP (unsubscribed)' },
  '30006': { kind: 'permanent', reason: 'unreachable-recipient', meaning: 'Landline or unreachable carrier' },
  '30007': { kind: 'permanent', reason: 'content-filtered', meaning: 'Message filtered by the carrier' },
  '63016': { kind: 'permanent', reason: 'whatsapp-window-closed', meaning: 'WhatsApp free-form message outside the 24 h window (use a template)' },
  '30034': { kind: 'permanent', reason: 'sender-unregistered', haltSender: true, meaning: 'US A2P 10DLC: message from an unregistered number' },
  '30032': { kind: 'permanent', reason: 'sender-unregistered', haltSender: true, meaning: 'Toll-free number not verified' },
  '20003': { kind: 'permanent', reason: 'authentication-failed', meaning: 'Authentication failed (wrong Account SID or auth token)' },
};

/** What is known about a failed provider call. */
export interface ProviderFailure {
  /** HTTP status, when an answer came. */
  status?: number;
  /** The provider's error code. */
  code?: string | number;
  /** The provider's message (never a message body). */
  message?: string;
  /** From `Retry-After`, in ms. */
  retryAfterMs?: number;
  /** When no answer came: whether the request ever left. */
  network?: 'not-sent' | 'no-answer';
  /** The low-level error code (`ECONNREFUSED`, `TIMEOUT`...). */
  networkCode?: string;
}

/** The classification of a failure: the `details` of the `TRANSPORT_ERROR`. */
export interface Classification {
  kind: SendErrorKind;
  reason: SendFailureReason;
  providerCode?: string;
  status?: number;
  retryAfterMs?: number;
  suppress?: boolean;
  haltSender?: boolean;
}

/** Classifies by HTTP status alone (shared with SendGrid). */
export function classifyByStatus(f: ProviderFailure): Classification {
  const base = {
    ...(f.code === undefined ? {} : { providerCode: String(f.code) }),
    ...(f.status === undefined ? {} : { status: f.status }),
    ...(f.retryAfterMs === undefined ? {} : { retryAfterMs: f.retryAfterMs }),
  };
  if (f.network === 'not-sent') return { kind: 'retryable', reason: 'provider-unreachable', ...base };
  if (f.network === 'no-answer' || f.status === undefined) return { kind: 'ambiguous', reason: 'no-answer', ...base };
  if (f.status === 429) return { kind: 'retryable', reason: 'rate-limited', ...base };
  if (f.status >= 500) return { kind: 'ambiguous', reason: 'provider-error', ...base };
  if (f.status === 401 || f.status === 403) return { kind: 'permanent', reason: 'authentication-failed', ...base };
  return { kind: 'permanent', reason: 'rejected', ...base };
}

/**
 * Classifies a failed Twilio Messages call: a known error code first (see
 * {@link TWILIO_ERROR_CODES}), then the HTTP status (429 retryable, 5xx ambiguous, other 4xx
 * permanent), then the network outcome (refused: retryable; timeout or reset: ambiguous).
 *
 * @example
 * ```ts
 * classifyTwilioFailure({ status: 400, code: 21610 }); // { kind: 'permanent', reason: 'recipient-unsubscribed', suppress: true, ... }
 * ```
 */
export function classifyTwilioFailure(f: ProviderFailure): Classification {
  const byStatus = classifyByStatus(f);
  const rule = f.code === undefined || f.network ? undefined : TWILIO_ERROR_CODES[String(f.code)];
  if (!rule) return byStatus;
  return {
    ...byStatus,
    kind: rule.kind,
    reason: rule.reason,
    ...(rule.suppress ? { suppress: true } : {}),
    ...(rule.haltSender ? { haltSender: true } : {}),
  };
}

/** Builds the `TRANSPORT_ERROR` for a classification (`retryable` iff the kind is `retryable`). */
export function toTransportError(provider: string, c: Classification, message: string, cause?: unknown): DriplineError {
  const text = `${provider}: ${c.reason}${c.providerCode ? ` (code ${c.providerCode})` : ''}${c.status ? ` [HTTP ${c.status}]` : ''}: ${message}`;
  return new DriplineError('TRANSPORT_ERROR', text, { retryable: c.kind === 'retryable', details: { ...c }, ...(cause === undefined ? {} : { cause }) });
}
