/**
 * The Twilio Messaging transport for SMS and WhatsApp: one `POST
 * /2010-04-01/Accounts/{AccountSid}/Messages.json` per message, with a `ValidityPeriod` and a
 * `StatusCallback` URL carrying the tenant and the outbox key.
 */
import type { Channel, Logger, OutboundMessage, SendReceipt, Transport } from '@dripline/core';
import { classifyNetworkError, fetchWithTimeout, maskAddress, retryAfterMs } from '../shared/http.js';
import { classifyTwilioFailure, toTransportError, type ProviderFailure } from './twilio-errors.js';

/** Query parameter of the status-callback URL naming the tenant. */
export const TENANT_PARAM = 'dl_tenant';
/** Query parameter of the status-callback URL naming the outbox key. */
export const KEY_PARAM = 'dl_key';

/**
 * The subset of the official `twilio` client this transport uses (`client.messages.create`),
 * so the `twilio` package stays optional: pass `twilio(accountSid, authToken)` as `client`.
 */
export interface TwilioClientLike {
  messages: {
    /** Creates (sends) one message; resolves with its `SM...` sid. */
    create(params: {
      to: string;
      body: string;
      from?: string;
      messagingServiceSid?: string;
      statusCallback?: string;
      validityPeriod?: number;
    }): Promise<{ sid: string }>;
  };
}

/** Options of {@link createTwilioTransport}. */
export interface TwilioTransportOptions {
  /** `AC...`. */
  accountSid: string;
  /** The auth token (or an API key secret with `apiKeySid`). Needed unless `client` is given. */
  authToken?: string;
  /** Use an API key instead of the account's auth token for Basic auth. */
  apiKeySid?: string;
  /** The official client (or anything with `messages.create`); used instead of HTTP calls. */
  client?: TwilioClientLike;
  /** The sender: one number for both channels, or one per channel. `whatsapp:` is added for WhatsApp. */
  from?: string | { sms?: string; whatsapp?: string };
  /** A Messaging Service (`MG...`) instead of `from`. */
  messagingServiceSid?: string;
  /** Public URL of the status-callback handler; the tenant and outbox key are added as query parameters. */
  statusCallback: string;
  /** API origin. Default `https://api.twilio.com`; tests pass the fake's URL. */
  baseUrl?: string;
  /** Seconds a message may wait in Twilio's queue before it is dropped (1–36000). Default 3600. */
  validityPeriod?: number;
  /** Per-request timeout; a timeout is an ambiguous failure. Default 15000 ms. */
  timeoutMs?: number;
  /** Channels served. Default `['sms', 'whatsapp']`. */
  channels?: ReadonlyArray<'sms' | 'whatsapp'>;
  /** Transport name in logs, metrics and circuit breakers. Default `twilio`. */
  name?: string;
  logger?: Logger;
}

/** Adds the `whatsapp:` prefix unless present. */
export function whatsappAddress(address: string): string {
  return address.startsWith('whatsapp:') ? address : `whatsapp:${address}`;
}

/** The status-callback URL of one message: `statusCallback` plus the tenant and outbox key. */
export function statusCallbackUrl(statusCallback: string, tenantId: string, key: string): string {
  const u = new URL(statusCallback);
  u.searchParams.set(TENANT_PARAM, tenantId);
  u.searchParams.set(KEY_PARAM, key);
  return u.toString();
}

/**
 * Creates the Twilio transport (channels `sms` and `whatsapp`).
 *
 * Errors are classified (see the README's table): 429 / 20429 and connection refusals are
 * `retryable` with `retryAfterMs` from `Retry-After`; 5xx and timeouts after the request left
 * are `ambiguous`; invalid numbers, 21610 (also `suppress`), 30006, 30007, 63016 are
 * `permanent`; 30034 / 30032 are `permanent` with `haltSender`.
 *
 * @example
 * ```ts
 * const twilio = createTwilioTransport({
 *   accountSid: process.env.TWILIO_ACCOUNT_SID!,
 *   authToken: process.env.TWILIO_AUTH_TOKEN!,
 *   messagingServiceSid: 'MG0123456789abcdef0123456789abcdef',
 *   statusCallback: 'https://hooks.example.com/twilio/status',
 * });
 * const engine = createEngine({ store, transports: [twilio, sendgrid] });
 * ```
 */
export function createTwilioTransport(options: TwilioTransportOptions): Transport {
  const { accountSid, client, messagingServiceSid, logger } = options;
  if (!accountSid) throw new TypeError('createTwilioTransport: accountSid is required');
  if (!client && !options.authToken) throw new TypeError('createTwilioTransport: authToken or client is required');
  if (!options.from && !messagingServiceSid) throw new TypeError('createTwilioTransport: from or messagingServiceSid is required');
  if (!options.statusCallback) throw new TypeError('createTwilioTransport: statusCallback is required');
  new URL(options.statusCallback); // throws on a bad URL, at construction rather than at the first send
  const validityPeriod = options.validityPeriod ?? 3600;
  if (!Number.isInteger(validityPeriod) || validityPeriod < 1 || validityPeriod > 36_000)
    throw new RangeError(`createTwilioTransport: validityPeriod must be an integer from 1 to 36000 seconds, got ${validityPeriod}`);
  const timeoutMs = options.timeoutMs ?? 15_000;
  const baseUrl = (options.baseUrl ?? 'https://api.twilio.com').replace(/\/+$/, '');
  const endpoint = `${baseUrl}/2010-04-01/Accounts/${encodeURIComponent(accountSid)}/Messages.json`;
  const authorization = `Basic ${Buffer.from(`${options.apiKeySid ?? accountSid}:${options.authToken ?? ''}`).toString('base64')}`;
  const name = options.name ?? 'twilio';
  const channels: readonly Channel[] = options.channels ?? ['sms', 'whatsapp'];

  const senderFor = (channel: Channel, override?: string): string | undefined => {
    const f = override ?? (typeof options.from === 'string' ? options.from : channel === 'whatsapp' ? (options.from?.whatsapp ?? options.from?.sms) : options.from?.sms);
    if (!f) return undefined;
    return channel === 'whatsapp' ? whatsappAddress(f) : f;
  };

  const fail = (f: ProviderFailure, message: string, cause?: unknown, m?: OutboundMessage) => {
    const c = classifyTwilioFailure(f);
    logger?.warn('twilio send failed', { key: m?.key, to: m ? maskAddress(m.to) : undefined, kind: c.kind, reason: c.reason, code: c.providerCode, status: c.status });
    return toTransportError(name, c, message, cause);
  };

  async function sendWithClient(c: TwilioClientLike, m: OutboundMessage, to: string, from: string | undefined, callback: string): Promise<SendReceipt> {
    try {
      const res = await c.messages.create({
        to,
        body: m.body,
        ...(messagingServiceSid && !m.from ? { messagingServiceSid } : from ? { from } : {}),
        statusCallback: callback,
        validityPeriod,
      });
      return { providerMessageId: res.sid };
    } catch (e) {
      const err = e as { status?: unknown; code?: unknown; message?: unknown };
      if (typeof err.status === 'number') {
        throw fail({ status: err.status, ...(err.code === undefined ? {} : { code: err.code as string | number }) }, String(err.message ?? 'request failed'), e, m);
      }
      const n = classifyNetworkError(e);
      throw fail({ network: n.failure, networkCode: n.code }, `${n.code}: ${String(err.message ?? e)}`, e, m);
    }
  }

  return {
    name,
    channels,
    async send(m, sendOptions) {
      if (m.channel !== 'sms' && m.channel !== 'whatsapp')
        throw toTransportError(name, { kind: 'permanent', reason: 'rejected' }, `channel "${m.channel}" is not served by this transport`);
      const to = m.channel === 'whatsapp' ? whatsappAddress(m.to) : m.to;
      const from = senderFor(m.channel, m.from);
      const callback = statusCallbackUrl(options.statusCallback, m.tenantId, m.key);
      if (client) return sendWithClient(client, m, to, from, callback);

      const form = new URLSearchParams();
      form.set('To', to);
      if (messagingServiceSid && !m.from) form.set('MessagingServiceSid', messagingServiceSid);
      else if (from) form.set('From', from);
      form.set('Body', m.body);
      form.set('StatusCallback', callback);
      form.set('ValidityPeriod', String(validityPeriod));

      let res: Response;
      try {
        res = await fetchWithTimeout(
          endpoint,
          { method: 'POST', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: form.toString() },
          timeoutMs,
          sendOptions?.signal,
        );
      } catch (e) {
        const n = classifyNetworkError(e);
        throw fail({ network: n.failure, networkCode: n.code }, n.code === 'TIMEOUT' ? `no answer within ${timeoutMs} ms` : `connection failed (${n.code})`, e, m);
      }
      let text: string;
      try {
        text = await res.text();
      } catch (e) {
        // The status line came back but the body was cut: accepted or not is unknown.
        throw fail({ status: res.status, network: 'no-answer', networkCode: 'BODY' }, 'response body was cut off', e, m);
      }
      let json: Record<string, unknown> = {};
      try {
        json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      } catch {
        json = {};
      }
      if (res.ok) {
        if (typeof json.sid !== 'string' || !json.sid)
          // Accepted or not is unknown: treat like a lost answer.
          throw fail({ status: res.status, network: 'no-answer', networkCode: 'NO_SID' }, `HTTP ${res.status} without a message sid`, undefined, m);
        return { providerMessageId: json.sid };
      }
      const code = typeof json.code === 'number' || typeof json.code === 'string' ? json.code : undefined;
      const ra = retryAfterMs(res.headers.get('retry-after'));
      throw fail(
        { status: res.status, ...(code === undefined ? {} : { code }), ...(ra === undefined ? {} : { retryAfterMs: ra }) },
        typeof json.message === 'string' ? json.message : `HTTP ${res.status}`,
        undefined,
        m,
      );
    },
  };
}
