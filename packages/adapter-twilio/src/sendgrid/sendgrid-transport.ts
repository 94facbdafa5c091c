/**
 * The SendGrid email transport: one `POST /v3/mail/send` per message, with `custom_args`
 * carrying the tenant and outbox key (so events map back) and one-click List-Unsubscribe
 * headers (RFC 8058).
 */
import type { Logger, OutboundMessage, Transport } from '@dripline/core';
import { classifyNetworkError, fetchWithTimeout, maskAddress, retryAfterMs } from '../shared/http.js';
import { classifyByStatus, toTransportError, type ProviderFailure } from '../twilio/twilio-errors.js';
import { KEY_PARAM, TENANT_PARAM } from '../twilio/twilio-transport.js';

/** Options of {@link createSendgridTransport}. */
export interface SendgridTransportOptions {
  /** A SendGrid API key with Mail Send permission. */
  apiKey: string;
  /** The sender: an address, or an address and a display name. */
  from: string | { email: string; name?: string };
  /** API origin. Default `https://api.sendgrid.com`; tests pass the fake's URL. */
  baseUrl?: string;
  /**
   * The one-click unsubscribe URL of a message (an HTTPS endpoint accepting `POST`,
   * RFC 8058). Sent as `List-Unsubscribe` with `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
   */
  unsubscribeUrl: (message: OutboundMessage) => string;
  /** An optional `mailto:` alternative added to `List-Unsubscribe`. */
  unsubscribeMailto?: (message: OutboundMessage) => string | undefined;
  /** MIME type of the body. Default `text/html` (dripline escapes HTML in email templates). */
  contentType?: 'text/html' | 'text/plain';
  /** SendGrid categories added to every message. */
  categories?: readonly string[];
  /** Per-request timeout; a timeout is an ambiguous failure. Default 15000 ms. */
  timeoutMs?: number;
  /** Transport name. Default `sendgrid`. */
  name?: string;
  logger?: Logger;
}

/**
 * SendGrid's `X-RateLimit-Reset` (Unix seconds) as a delay, when `Retry-After` is absent.
 */
function rateLimitResetMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const s = Number(value);
  return Number.isFinite(s) && s > 0 ? Math.max(0, s * 1000 - now) : undefined;
}

/**
 * Creates the SendGrid transport (channel `email`). 202 → the `X-Message-Id` header is the
 * provider message id (event `sg_message_id`s start with it). 429 is retryable (delay from
 * `Retry-After` or `X-RateLimit-Reset`), 5xx and timeouts ambiguous, 400 / 401 / 403 / 413
 * permanent, connection refusals retryable.
 *
 * @example
 * ```ts
 * const sendgrid = createSendgridTransport({
 *   apiKey: process.env.SENDGRID_API_KEY!,
 *   from: { email: 'hello@example.com', name: 'Example' },
 *   unsubscribeUrl: (m) => `https://example.com/unsubscribe?t=${signToken(m.tenantId, m.contactId)}`,
 * });
 * ```
 */
export function createSendgridTransport(options: SendgridTransportOptions): Transport {
  const { apiKey, logger } = options;
  if (!apiKey) throw new TypeError('createSendgridTransport: apiKey is required');
  if (!options.from) throw new TypeError('createSendgridTransport: from is required');
  if (typeof options.unsubscribeUrl !== 'function') throw new TypeError('createSendgridTransport: unsubscribeUrl(message) is required');
  const from = typeof options.from === 'string' ? { email: options.from } : options.from;
  const endpoint = `${(options.baseUrl ?? 'https://api.sendgrid.com').replace(/\/+$/, '')}/v3/mail/send`;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const name = options.name ?? 'sendgrid';
  const contentType = options.contentType ?? 'text/html';

  const fail = (f: ProviderFailure, message: string, m: OutboundMessage, cause?: unknown) => {
    const c = classifyByStatus(f);
    logger?.warn('sendgrid send failed', { key: m.key, to: maskAddress(m.to), kind: c.kind, reason: c.reason, status: c.status });
    return toTransportError(name, c, message, cause);
  };

  return {
    name,
    channels: ['email'],
    async send(m, sendOptions) {
      if (m.channel !== 'email') throw toTransportError(name, { kind: 'permanent', reason: 'rejected' }, `channel "${m.channel}" is not served by this transport`);
      const unsubscribe = options.unsubscribeUrl(m);
      const mailto = options.unsubscribeMailto?.(m);
      const payload = {
        personalizations: [{ to: [{ email: m.to }], custom_args: { [TENANT_PARAM]: m.tenantId, [KEY_PARAM]: m.key } }],
        from: m.from ? { email: m.from } : from,
        subject: m.subject ?? '',
        content: [{ type: contentType, value: m.body }],
        headers: {
          'List-Unsubscribe': mailto ? `<${unsubscribe}>, <${mailto}>` : `<${unsubscribe}>`,
          'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
        },
        ...(options.categories?.length ? { categories: [...options.categories] } : {}),
      };
      let res: Response;
      try {
        res = await fetchWithTimeout(
          endpoint,
          { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(payload) },
          timeoutMs,
          sendOptions?.signal,
        );
      } catch (e) {
        const n = classifyNetworkError(e);
        throw fail({ network: n.failure, networkCode: n.code }, n.code === 'TIMEOUT' ? `no answer within ${timeoutMs} ms` : `connection failed (${n.code})`, m, e);
      }
      let text = '';
      try {
        text = await res.text();
      } catch {
        text = '';
      }
      if (res.status >= 200 && res.status < 300) {
        const id = res.headers.get('x-message-id');
        // Accepted, but events could not be matched to it: report it as an unknown outcome.
        if (!id) throw fail({ status: res.status, network: 'no-answer', networkCode: 'NO_MESSAGE_ID' }, `HTTP ${res.status} without X-Message-Id`, m);
        return { providerMessageId: id };
      }
      let detail = `HTTP ${res.status}`;
      try {
        const errors = (JSON.parse(text) as { errors?: Array<{ message?: string; field?: string }> }).errors;
        if (errors?.length) detail = errors.map((x) => (x.field ? `${x.field}: ${x.message}` : String(x.message))).join('; ');
      } catch {
        // not JSON: keep the status
      }
      const ra = retryAfterMs(res.headers.get('retry-after')) ?? (res.status === 429 ? rateLimitResetMs(res.headers.get('x-ratelimit-reset')) : undefined);
      throw fail({ status: res.status, ...(ra === undefined ? {} : { retryAfterMs: ra }) }, detail, m);
    },
  };
}
