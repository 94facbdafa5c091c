/**
 * Framework-neutral handlers for Twilio's status callbacks and inbound messages. Each one
 * verifies `X-Twilio-Signature` (constant-time) before it looks at any field, answers 403 to
 * a request that is unsigned or not signed by the account, 400 to a malformed one, and never
 * throws.
 */
import type { Channel, IncomingEvent, IngestResult, Logger } from '@dripline/core';
import { firstValues, formPairs, header, maskAddress, type WebhookRequest, type WebhookResponse } from '../shared/http.js';
import { verifyTwilioSignature } from './twilio-signature.js';
import { KEY_PARAM, TENANT_PARAM } from './twilio-transport.js';
import { TWILIO_ERROR_CODES } from './twilio-errors.js';

/** What the handlers need of the engine. */
export interface EventSink {
  /** Applies a mapped event (dripline's `engine.ingestEvent`). */
  ingestEvent(event: IncomingEvent): Promise<IngestResult>;
  /** Suppresses an address (dripline's `engine.suppress`). */
  suppress(tenantId: string, address: string, channel: Channel | null, reason: string): Promise<void>;
  /** Halts a sender, `twilio:<channel>` (dripline's `engine.haltSender`); called for 30034 / 30032 callbacks when present. */
  haltSender?(sender: string, reason: string): void;
}

/** Standard opt-out keywords (Twilio's default list), matched trimmed and case-insensitively. */
export const OPT_OUT_KEYWORDS: readonly string[] = ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT'];
/** Standard opt-in keywords. */
export const OPT_IN_KEYWORDS: readonly string[] = ['START', 'YES', 'UNSTOP'];

/** A sender-level problem reported in a status callback (e.g. 30034 unregistered sender). */
export interface SenderAlert {
  tenantId: string;
  providerMessageId: string;
  /** The sender address (`From`), if Twilio sent it. */
  from?: string;
  code: string;
  meaning: string;
}

/** Options of {@link createTwilioWebhooks}. */
export interface TwilioWebhooksOptions {
  /** The auth token Twilio signs with. */
  authToken: string;
  /** The engine (or anything with `ingestEvent` and `suppress`). */
  engine: EventSink;
  /** A fixed tenant. Else `tenantFromRequest`, else the signed URL's `dl_tenant` query parameter. */
  tenantId?: string;
  /** Picks the tenant of a verified request (e.g. from the path). */
  tenantFromRequest?: (request: WebhookRequest, params: Readonly<Record<string, string>>) => string | undefined | Promise<string | undefined>;
  /**
   * The public origin Twilio calls (and path prefix, if a proxy strips one), e.g.
   * `https://hooks.example.com`. The signed URL is this plus the request's path and query.
   * Safest behind proxies; without it the URL is rebuilt from the request (see `trustProxy`).
   */
  publicUrl?: string;
  /** Use `X-Forwarded-Proto` / `X-Forwarded-Host` to rebuild the URL. Default `true`. */
  trustProxy?: boolean;
  /** Attributes an inbound reply to an enrollment (replies carry no message id). */
  resolveReply?: (reply: { tenantId: string; from: string; to: string; channel: Channel }) => Promise<{ campaignId: string; contactId: string } | null | undefined>;
  /** Called for 30034 / 30032 (and other halt-sender codes) in a status callback. */
  onSenderAlert?: (alert: SenderAlert) => void;
  logger?: Logger;
}

/** The two handlers. */
export interface TwilioWebhooks {
  /** `POST` target of every message's `StatusCallback`. */
  handleStatusCallback(request: WebhookRequest): Promise<WebhookResponse>;
  /** `POST` target of the number's (or Messaging Service's) inbound-message webhook. Answers empty TwiML. */
  handleInbound(request: WebhookRequest): Promise<WebhookResponse>;
}

const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';

/**
 * Rebuilds the URL Twilio requested (and signed): from `publicUrl`, or from an absolute
 * request URL, or from the path plus `Host`; with `trustProxy`, `X-Forwarded-Proto` and
 * `X-Forwarded-Host` win over what the application sees.
 */
export function requestUrl(request: Pick<WebhookRequest, 'url' | 'headers'>, options: { publicUrl?: string; trustProxy?: boolean } = {}): string {
  const trustProxy = options.trustProxy ?? true;
  const raw = request.url;
  const absolute = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(raw);
  const pathAndQuery = absolute ? raw.replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/, '') || '/' : raw.startsWith('/') ? raw : `/${raw}`;
  if (options.publicUrl) return options.publicUrl.replace(/\/+$/, '') + pathAndQuery;
  const first = (v: string | undefined) => v?.split(',')[0]?.trim() || undefined;
  const fwdProto = trustProxy ? first(header(request.headers, 'x-forwarded-proto')) : undefined;
  const fwdHost = trustProxy ? first(header(request.headers, 'x-forwarded-host')) : undefined;
  if (absolute) {
    if (!fwdProto && !fwdHost) return raw;
    const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)/.exec(raw)!;
    return `${fwdProto ?? m[1]}://${fwdHost ?? m[2]}${pathAndQuery}`;
  }
  const host = fwdHost ?? header(request.headers, 'host');
  if (!host) throw new TypeError('cannot rebuild the request URL: no Host header (configure publicUrl)');
  return `${fwdProto ?? 'http'}://${host}${pathAndQuery}`;
}

const channelOf = (address: string): Channel => (address.startsWith('whatsapp:') ? 'whatsapp' : 'sms');
const bare = (address: string) => address.replace(/^whatsapp:/, '');

/**
 * Creates the Twilio webhook handlers.
 *
 * Status callbacks become events with provider event id `MessageSid:MessageStatus`, so a
 * replayed callback is a duplicate: `delivered` → delivered, `read` → opened, `failed` /
 * `undelivered` → failed (with `ErrorCode`); `queued`, `sent` and the like are acknowledged
 * and ignored (the engine recorded the send itself). Inbound messages become `replied`
 * (event id: the inbound `MessageSid`); opt-out keywords → `unsubscribed` (the sender is
 * suppressed), opt-in keywords → `resubscribed`.
 *
 * @example
 * ```ts
 * const hooks = createTwilioWebhooks({ authToken: process.env.TWILIO_AUTH_TOKEN!, engine, publicUrl: 'https://hooks.example.com' });
 * app.post('/twilio/status', express.urlencoded({ extended: false }), async (req, res) => {
 *   const r = await hooks.handleStatusCallback({ url: req.originalUrl, headers: req.headers, body: req.body });
 *   res.status(r.status).set(r.headers ?? {}).send(r.body ?? '');
 * });
 * ```
 */
export function createTwilioWebhooks(options: TwilioWebhooksOptions): TwilioWebhooks {
  const { authToken, engine, logger } = options;
  if (!authToken) throw new TypeError('createTwilioWebhooks: authToken is required');

  /** Parses and verifies; returns the verified params or the response to give. */
  async function verified(request: WebhookRequest, what: string): Promise<{ params: Record<string, string>; url: string; tenantId: string } | WebhookResponse> {
    let pairs: Array<[string, string]>;
    let url: string;
    try {
      pairs = formPairs(request.body);
      url = requestUrl(request, options);
    } catch (e) {
      logger?.warn(`twilio ${what}: malformed request`, { error: e instanceof Error ? e.message : String(e) });
      return { status: 400, body: 'malformed request' };
    }
    const signature = header(request.headers, 'x-twilio-signature');
    if (!verifyTwilioSignature({ authToken, url, params: pairs, signature })) {
      logger?.warn(`twilio ${what}: signature rejected`, { signed: Boolean(signature) });
      return { status: 403, body: 'invalid signature' };
    }
    const params = firstValues(pairs);
    let tenantId: string | undefined = options.tenantId;
    try {
      if (!tenantId && options.tenantFromRequest) tenantId = await options.tenantFromRequest(request, params);
      if (!tenantId) tenantId = new URL(url).searchParams.get(TENANT_PARAM) ?? undefined;
    } catch (e) {
      logger?.warn(`twilio ${what}: no tenant`, { error: e instanceof Error ? e.message : String(e) });
      return { status: 400, body: 'no tenant' };
    }
    if (!tenantId) {
      logger?.warn(`twilio ${what}: no tenant`);
      return { status: 400, body: 'no tenant' };
    }
    return { params, url, tenantId };
  }

  const failed = (what: string, e: unknown): WebhookResponse => {
    logger?.error(`twilio ${what}: could not record the event`, { error: e instanceof Error ? e.message : String(e) });
    return { status: 500, body: 'could not record the event' };
  };

  async function handleStatusCallback(request: WebhookRequest): Promise<WebhookResponse> {
    const v = await verified(request, 'status callback');
    if ('status' in v) return v;
    const { params, tenantId } = v;
    const sid = params.MessageSid ?? params.SmsSid;
    const status = (params.MessageStatus ?? params.SmsStatus)?.toLowerCase();
    if (!sid || !status) {
      logger?.warn('twilio status callback: malformed (no MessageSid or MessageStatus)');
      return { status: 400, body: 'malformed status callback' };
    }
    const type = status === 'delivered' ? 'delivered' : status === 'read' ? 'read' : status === 'failed' ? 'failed' : status === 'undelivered' ? 'undelivered' : null;
    if (!type) return { status: 200 };
    const errorCode = params.ErrorCode || undefined;
    const to = params.To ?? '';
    try {
      const result = await engine.ingestEvent({
        tenantId,
        providerEventId: `${sid}:${status}`,
        type,
        providerMessageId: sid,
        ...(to ? { channel: channelOf(to) } : {}),
        ...(errorCode ? { errorCode } : {}),
      });
      if (result !== 'duplicate' && errorCode) {
        const rule = TWILIO_ERROR_CODES[errorCode];
        if (rule?.suppress && to) await engine.suppress(tenantId, bare(to), channelOf(to), `twilio ${errorCode}: ${rule.meaning}`);
        if (rule?.haltSender) {
          logger?.error('twilio: sender must halt', { code: errorCode, meaning: rule.meaning, key: new URL(v.url).searchParams.get(KEY_PARAM) });
          engine.haltSender?.(`twilio:${to ? channelOf(to) : 'sms'}`, `twilio ${errorCode}: ${rule.meaning}`);
          options.onSenderAlert?.({ tenantId, providerMessageId: sid, ...(params.From ? { from: params.From } : {}), code: errorCode, meaning: rule.meaning });
        }
      }
      logger?.debug('twilio status callback', { sid, status, result });
      return { status: 200 };
    } catch (e) {
      return failed('status callback', e);
    }
  }

  async function handleInbound(request: WebhookRequest): Promise<WebhookResponse> {
    const v = await verified(request, 'inbound');
    if ('status' in v) return v;
    const { params, tenantId } = v;
    const sid = params.MessageSid ?? params.SmsMessageSid ?? params.SmsSid;
    const fromRaw = params.From;
    if (!sid || !fromRaw) {
      logger?.warn('twilio inbound: malformed (no MessageSid or From)');
      return { status: 400, body: 'malformed inbound message' };
    }
    const channel = channelOf(fromRaw);
    const from = bare(fromRaw);
    const keyword = (params.Body ?? '').trim().toUpperCase();
    const optOutType = params.OptOutType?.toUpperCase();
    const type =
      optOutType === 'STOP' || OPT_OUT_KEYWORDS.includes(keyword) ? 'unsubscribed' : optOutType === 'START' || OPT_IN_KEYWORDS.includes(keyword) ? 'resubscribed' : 'replied';
    try {
      const who = await options.resolveReply?.({ tenantId, from, to: bare(params.To ?? ''), channel });
      const result = await engine.ingestEvent({
        tenantId,
        providerEventId: sid,
        type,
        address: from,
        channel,
        ...(who ? { campaignId: who.campaignId, contactId: who.contactId } : {}),
      });
      logger?.info('twilio inbound', { from: maskAddress(from), type, result });
      return { status: 200, body: EMPTY_TWIML, headers: { 'content-type': 'text/xml' } };
    } catch (e) {
      return failed('inbound', e);
    }
  }

  return { handleStatusCallback, handleInbound };
}
