/**
 * The handler of SendGrid's signed Event Webhook: verifies the ECDSA signature over the raw
 * body before parsing it, then turns each event into an engine event.
 */
import type { IncomingEvent, Logger } from '@dripline/core';
import { header, maskAddress, type HeadersLike, type WebhookResponse } from '../shared/http.js';
import type { EventSink } from '../twilio/twilio-webhooks.js';
import { KEY_PARAM, TENANT_PARAM } from '../twilio/twilio-transport.js';
import { loadSendgridPublicKey, SENDGRID_SIGNATURE_HEADER, SENDGRID_TIMESTAMP_HEADER, verifySendgridSignature, type SendgridPublicKey } from './sendgrid-signature.js';

/** Options of {@link createSendgridWebhooks}. */
export interface SendgridWebhooksOptions {
  /** The Event Webhook's verification key (base64 DER as SendGrid shows it, or PEM). */
  publicKey: SendgridPublicKey;
  /** The engine (or anything with `ingestEvent` and `suppress`). */
  engine: EventSink;
  /** A fixed tenant; else each event's `dl_tenant` custom argument. */
  tenantId?: string;
  /**
   * Refuse requests whose signed timestamp is older (or further in the future) than this.
   * Default 259200 s (3 days): longer than SendGrid keeps retrying a failed POST, so a late
   * retry is not lost; `0` disables the check. Replays inside the window are deduplicated by
   * `sg_event_id`.
   */
  maxAgeSeconds?: number;
  /** Source of "now" for the age check. Default the system clock. */
  clock?: {
    /** The current time in epoch milliseconds. */
    now(): number;
  };
  logger?: Logger;
}

/** The request the handler takes: the headers and the raw, unparsed body. */
export interface SendgridEventsRequest {
  headers: HeadersLike;
  /** The body exactly as received (do not let a JSON middleware parse it first). */
  rawBody: string | Uint8Array;
}

/** The handlers. */
export interface SendgridWebhooks {
  /** `POST` target of the Event Webhook. */
  handleSendgridEvents(request: SendgridEventsRequest): Promise<WebhookResponse>;
}

/** SendGrid event name → the name handed to the engine (mapped to plan events by core). */
const EVENT_TYPES: Readonly<Record<string, string>> = {
  delivered: 'delivered',
  open: 'open',
  click: 'click',
  bounce: 'bounce',
  dropped: 'dropped',
  unsubscribe: 'unsubscribe',
  group_unsubscribe: 'group_unsubscribe',
  spamreport: 'spamreport',
  group_resubscribe: 'group_resubscribe',
};
const ADDRESS_EVENTS = new Set(['unsubscribe', 'group_unsubscribe', 'spamreport', 'group_resubscribe']);

/**
 * Creates the SendGrid Event Webhook handler. open → opened, click → clicked, bounce /
 * dropped → bounced (a hard bounce also suppresses the address), unsubscribe /
 * group_unsubscribe / spamreport → unsubscribed (the address is suppressed), delivered →
 * delivered; `processed`, `deferred` and unknown events are ignored. The event id is
 * `sg_event_id`; the message is found by the `sg_message_id` prefix (the `X-Message-Id` of
 * the send).
 *
 * Answers 403 to a bad signature, 400 to a body that is not a JSON array, 500 when the store
 * fails (SendGrid retries; replays are deduplicated), else 200.
 *
 * @example
 * ```ts
 * const sg = createSendgridWebhooks({ publicKey: process.env.SENDGRID_WEBHOOK_KEY!, engine });
 * app.post('/sendgrid/events', express.raw({ type: '*\/*' }), async (req, res) => {
 *   const r = await sg.handleSendgridEvents({ headers: req.headers, rawBody: req.body });
 *   res.status(r.status).send(r.body ?? '');
 * });
 * ```
 */
export function createSendgridWebhooks(options: SendgridWebhooksOptions): SendgridWebhooks {
  const { engine, logger } = options;
  const key = loadSendgridPublicKey(options.publicKey);
  const maxAgeMs = (options.maxAgeSeconds ?? 259_200) * 1000;
  const clock = options.clock ?? { now: () => Date.now() };

  async function handleSendgridEvents(request: SendgridEventsRequest): Promise<WebhookResponse> {
    const signature = header(request.headers, SENDGRID_SIGNATURE_HEADER);
    const timestamp = header(request.headers, SENDGRID_TIMESTAMP_HEADER);
    if (typeof request.rawBody !== 'string' && !(request.rawBody instanceof Uint8Array)) {
      logger?.warn('sendgrid events: raw body missing (was it parsed by a JSON middleware?)');
      return { status: 400, body: 'raw body required' };
    }
    if (!verifySendgridSignature({ publicKey: key, payload: request.rawBody, signature, timestamp })) {
      logger?.warn('sendgrid events: signature rejected', { signed: Boolean(signature) });
      return { status: 403, body: 'invalid signature' };
    }
    if (maxAgeMs > 0 && !(Math.abs(clock.now() - Number(timestamp) * 1000) <= maxAgeMs)) {
      logger?.warn('sendgrid events: timestamp outside the allowed window', { timestamp });
      return { status: 403, body: 'stale timestamp' };
    }
    let events: unknown;
    try {
      events = JSON.parse(typeof request.rawBody === 'string' ? request.rawBody : new TextDecoder('utf-8', { fatal: true }).decode(request.rawBody));
    } catch {
      logger?.warn('sendgrid events: body is not JSON');
      return { status: 400, body: 'malformed body' };
    }
    if (!Array.isArray(events)) {
      logger?.warn('sendgrid events: body is not an array');
      return { status: 400, body: 'malformed body' };
    }
    let skipped = 0;
    try {
      for (const raw of events) {
        const e = raw as Record<string, unknown>;
        const name = typeof e?.event === 'string' ? e.event : '';
        const type = EVENT_TYPES[name];
        if (!type) continue;
        const eventId = typeof e.sg_event_id === 'string' ? e.sg_event_id : '';
        const tenantId = options.tenantId ?? (typeof e[TENANT_PARAM] === 'string' ? (e[TENANT_PARAM] as string) : '');
        const messageId = typeof e.sg_message_id === 'string' ? e.sg_message_id.split('.')[0] : '';
        const messageKey = typeof e[KEY_PARAM] === 'string' ? (e[KEY_PARAM] as string) : '';
        const email = typeof e.email === 'string' ? e.email : '';
        if (!eventId || !tenantId || (!messageId && !messageKey && !email)) {
          skipped += 1;
          continue;
        }
        const ts = typeof e.timestamp === 'number' ? e.timestamp * 1000 : undefined;
        const event: IncomingEvent = {
          tenantId,
          providerEventId: eventId,
          type,
          ...(ts === undefined ? {} : { at: ts }),
          ...(messageId ? { providerMessageId: messageId } : messageKey ? { messageKey } : {}),
          ...(ADDRESS_EVENTS.has(name) && email ? { address: email, channel: 'email' as const } : {}),
        };
        const result = await engine.ingestEvent(event);
        if (result !== 'duplicate' && name === 'bounce' && e.type !== 'blocked' && email)
          await engine.suppress(tenantId, email, 'email', `sendgrid bounce${typeof e.reason === 'string' ? `: ${e.reason}` : ''}`);
        logger?.debug('sendgrid event', { event: name, to: email ? maskAddress(email) : undefined, result });
      }
    } catch (err) {
      logger?.error('sendgrid events: could not record an event', { error: err instanceof Error ? err.message : String(err) });
      return { status: 500, body: 'could not record the events' };
    }
    if (skipped) logger?.warn('sendgrid events: events without id, tenant or message skipped', { skipped });
    return { status: 200 };
  }

  return { handleSendgridEvents };
}
