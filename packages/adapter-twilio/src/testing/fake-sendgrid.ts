/**
 * A local fake of SendGrid's Mail Send API and a signer of Event Webhook requests: it checks
 * the bearer key, records accepted mail, answers 202 with `X-Message-Id`, fails on demand,
 * enforces a sliding one-second limit, and signs event batches with its own P-256 key (pass
 * `publicKey` to the webhook handler).
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { signSendgridPayload, SENDGRID_SIGNATURE_HEADER, SENDGRID_TIMESTAMP_HEADER } from '../sendgrid/sendgrid-signature.js';
import { FailureQueue, listen, readBody, sendJson, SlidingWindow, type FailSpec } from './fake-server.js';

/** Options of {@link startFakeSendgrid}. */
export interface FakeSendgridOptions {
  /** Default `SG.fake-api-key`. */
  apiKey?: string;
  /** Sliding-1-second-window limit; requests over it get 429. */
  messagesPerSecond?: number;
  /** Length of the sliding window `messagesPerSecond` counts over, in ms. Default 1000 (tests may widen it to stay deterministic under load). */
  windowMs?: number;
}

/** An accepted email. */
export interface FakeSendgridMessage {
  /** The `X-Message-Id` answered. */
  messageId: string;
  to: string;
  from: string;
  subject: string;
  /** The first content's value. */
  body: string;
  contentType: string;
  /** Personalization and top-level `custom_args`, merged. */
  customArgs: Record<string, string>;
  /** The `headers` object of the request (List-Unsubscribe...). */
  headers: Record<string, string>;
  receivedAt: number;
}

/** A SendGrid event as the Event Webhook posts it. */
export type SendgridEvent = Record<string, unknown> & { event: string; email: string; timestamp: number; sg_event_id: string; sg_message_id: string };

/** A signed Event Webhook request. */
export interface SignedSendgridRequest {
  headers: Record<string, string>;
  rawBody: string;
}

/** A running fake. */
export interface FakeSendgrid {
  /** Origin to pass as `baseUrl`. */
  url: string;
  apiKey: string;
  /** The verification key (base64 DER SPKI, as SendGrid shows it). */
  publicKey: string;
  /** The signing key, for tests that forge with another key. */
  privateKey: KeyObject;
  /** Accepted mail in order. */
  messages(): FakeSendgridMessage[];
  /** Every Mail Send request with the status answered (0: not answered). */
  requests(): Array<{ at: number; status: number }>;
  /** Makes the next request(s) fail. */
  failNext(spec: FailSpec): void;
  /**
   * Builds one event about an accepted message: `sg_message_id` starts with its
   * `X-Message-Id`, its custom args are copied, `sg_event_id` is unique.
   */
  event(message: FakeSendgridMessage | string, type: string, extra?: Record<string, unknown> & { at?: number }): SendgridEvent;
  /** Signs a batch (or a raw body) with a timestamp (Unix seconds; default now). */
  signEvents(events: readonly SendgridEvent[] | string, timestamp?: number): SignedSendgridRequest;
  /** Signs a batch and POSTs it to `url`. */
  postEvents(url: string, events: readonly SendgridEvent[], timestamp?: number): Promise<{ status: number; body: string }>;
  /** Stops the server, dropping open connections. */
  close(): Promise<void>;
}

/**
 * Starts a fake SendGrid Mail Send API.
 *
 * @example
 * ```ts
 * const sg = await startFakeSendgrid();
 * const transport = createSendgridTransport({ apiKey: sg.apiKey, from: 'hi@example.test', baseUrl: sg.url, unsubscribeUrl: () => 'https://example.test/u' });
 * const hooks = createSendgridWebhooks({ publicKey: sg.publicKey, engine });
 * await hooks.handleSendgridEvents(sg.signEvents([sg.event(sg.messages()[0]!, 'open')]));
 * ```
 */
export async function startFakeSendgrid(options: FakeSendgridOptions = {}): Promise<FakeSendgrid> {
  const apiKey = options.apiKey ?? 'SG.fake-api-key';
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKeyB64 = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  const messages: FakeSendgridMessage[] = [];
  const byId = new Map<string, FakeSendgridMessage>();
  const requests: Array<{ at: number; status: number }> = [];
  const failures = new FailureQueue();
  const window = new SlidingWindow(options.messagesPerSecond, options.windowMs);
  let counter = 0;
  let eventCounter = 0;
  const errors = (message: string, field?: string) => ({ errors: [{ message, field: field ?? null, help: null }] });

  const server = await listen(async (req, res) => {
    if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== '/v3/mail/send') {
      await readBody(req);
      return sendJson(res, 404, errors('not found'));
    }
    const at = Date.now();
    const text = await readBody(req);
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      requests.push({ at, status });
      if (body === undefined) {
        res.writeHead(status, headers);
        res.end();
      } else sendJson(res, status, body, headers);
    };
    if (req.headers.authorization !== `Bearer ${apiKey}`) return answer(401, errors('The provided authorization grant is invalid, expired, or revoked'));
    const fail = failures.take();
    if (fail) {
      if ('kind' in fail) {
        requests.push({ at, status: 0 });
        if (fail.kind === 'reset') req.socket.destroy();
        return;
      }
      return answer(fail.status, errors(`injected failure (HTTP ${fail.status})`), fail.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fail.retryAfterSeconds) });
    }
    let mail: {
      personalizations?: Array<{ to?: Array<{ email?: string }>; custom_args?: Record<string, string> }>;
      from?: { email?: string };
      subject?: string;
      content?: Array<{ type?: string; value?: string }>;
      headers?: Record<string, string>;
      custom_args?: Record<string, string>;
    };
    try {
      mail = JSON.parse(text);
    } catch {
      return answer(400, errors('Bad Request', 'body'));
    }
    const p = mail.personalizations?.[0];
    const to = p?.to?.[0]?.email;
    if (!to) return answer(400, errors('The to array is required for all personalization objects, and must have at least one email object with a valid email address.', 'personalizations.0.to'));
    if (!mail.from?.email) return answer(400, errors('The from object must be provided for every email send.', 'from'));
    if (!mail.subject) return answer(400, errors('The subject is required.', 'subject'));
    const content = mail.content?.[0];
    if (!content?.value) return answer(400, errors('The content value must be a string at least one character in length.', 'content.0.value'));
    if (!window.tryTake(at)) return answer(429, errors('too many requests'), { 'x-ratelimit-reset': String(Math.ceil(window.freeAt(at) / 1000)) });
    const messageId = `fakeSg${String(++counter).padStart(16, '0')}`;
    const m: FakeSendgridMessage = {
      messageId,
      to,
      from: mail.from.email,
      subject: mail.subject,
      body: content.value,
      contentType: content.type ?? 'text/plain',
      customArgs: { ...(mail.custom_args ?? {}), ...(p?.custom_args ?? {}) },
      headers: { ...(mail.headers ?? {}) },
      receivedAt: at,
    };
    messages.push(m);
    byId.set(messageId, m);
    answer(202, undefined, { 'x-message-id': messageId });
  });

  function signEvents(events: readonly SendgridEvent[] | string, timestamp = Math.floor(Date.now() / 1000)): SignedSendgridRequest {
    const rawBody = typeof events === 'string' ? events : JSON.stringify(events);
    const ts = String(timestamp);
    return {
      headers: {
        'content-type': 'application/json',
        [SENDGRID_SIGNATURE_HEADER]: signSendgridPayload(privateKey, rawBody, ts),
        [SENDGRID_TIMESTAMP_HEADER]: ts,
      },
      rawBody,
    };
  }

  return {
    url: server.url,
    apiKey,
    publicKey: publicKeyB64,
    privateKey,
    messages: () => messages.map((m) => ({ ...m, customArgs: { ...m.customArgs }, headers: { ...m.headers } })),
    requests: () => requests.map((r) => ({ ...r })),
    failNext: (spec) => failures.push(spec),
    event(message, type, extra = {}) {
      const m = typeof message === 'string' ? byId.get(message) : message;
      if (!m) throw new Error(`fake sendgrid: no message ${String(message)}`);
      const { at, ...rest } = extra;
      const n = ++eventCounter;
      return {
        email: m.to,
        timestamp: Math.floor((at ?? Date.now()) / 1000),
        event: type,
        sg_event_id: `fakeEvt${String(n).padStart(12, '0')}`,
        sg_message_id: `${m.messageId}.filterdrecv-fake-${n}`,
        ...m.customArgs,
        ...rest,
      };
    },
    signEvents,
    async postEvents(url, events, timestamp) {
      const r = signEvents(events, timestamp);
      const res = await fetch(url, { method: 'POST', headers: r.headers, body: r.rawBody });
      return { status: res.status, body: await res.text() };
    },
    close: () => server.close(),
  };
}
