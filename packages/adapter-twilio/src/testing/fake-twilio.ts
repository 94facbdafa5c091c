/**
 * A local fake of Twilio's Messages API on `node:http` (127.0.0.1, an ephemeral port): it
 * checks Basic auth, records requests and accepted messages, answers like Twilio (201 with a
 * Message resource, errors as `{ code, message, more_info, status }`), fails on demand,
 * enforces a sliding one-second rate limit with 429 / 20429, and can POST correctly signed
 * status callbacks.
 */
import { postSignedTwilioWebhook } from './sign.js';
import { FailureQueue, listen, readBody, sendJson, SlidingWindow, type FailSpec } from './fake-server.js';

/** Options of {@link startFakeTwilio}. */
export interface FakeTwilioOptions {
  /** Default `AC` followed by 32 zeros-and-ones. */
  accountSid?: string;
  /** Default `fake-auth-token`. */
  authToken?: string;
  /** Sliding-1-second-window limit; requests over it get 429 with Twilio error code 20429. */
  messagesPerSecond?: number;
  /** Length of the sliding window `messagesPerSecond` counts over, in ms. Default 1000 (tests may widen it to stay deterministic under load). */
  windowMs?: number;
  /** If set, POSTs correctly signed status callbacks (queued→sent→delivered) to each message's StatusCallback URL. */
  sendStatusCallbacks?: boolean;
  /** The statuses `sendStatusCallbacks` posts, in order. Default `['queued', 'sent', 'delivered']`. */
  callbackStatuses?: readonly string[];
}

/** An accepted message. */
export interface FakeTwilioMessage {
  sid: string;
  /** `To` as sent (with `whatsapp:` for WhatsApp). */
  to: string;
  /** `From`, or the `MessagingServiceSid` when no `From` was given. */
  from: string;
  body: string;
  statusCallback?: string;
  /** `ValidityPeriod` as sent, if any. */
  validityPeriod?: number;
  /** Wall-clock ms when it was accepted. */
  receivedAt: number;
}

/** A status callback the fake posted. */
export interface FakeTwilioCallback {
  sid: string;
  status: string;
  url: string;
  /** What the application answered (0 if the POST failed). */
  responseStatus: number;
}

/** A running fake. */
export interface FakeTwilio {
  /** Origin to pass as `baseUrl`. */
  url: string;
  accountSid: string;
  authToken: string;
  /** Accepted messages in order. */
  messages(): FakeTwilioMessage[];
  /** Every Messages request with the status answered (0: not answered, timeout or reset). */
  requests(): Array<{ at: number; status: number }>;
  /** Makes the next request(s) fail. Queued specs apply in order. */
  failNext(spec: FailSpec): void;
  /** Signs and POSTs one status callback for an accepted message (e.g. `read`, or `failed` with `{ ErrorCode: '30007' }`). */
  sendStatus(sid: string, status: string, extra?: Readonly<Record<string, string>>): Promise<FakeTwilioCallback>;
  /** Signs and POSTs an inbound message to `url`, as Twilio does for a reply. */
  sendInbound(url: string, message: { from: string; to: string; body: string; sid?: string }): Promise<{ status: number; body: string }>;
  /** The status callbacks posted so far. */
  callbacks(): FakeTwilioCallback[];
  /** Resolves when every automatic status callback started so far has been answered. */
  idle(): Promise<void>;
  /** Stops the server, dropping open connections. */
  close(): Promise<void>;
}

const hex32 = (n: number) => n.toString(16).padStart(32, '0');

/**
 * Starts a fake Twilio Messages API.
 *
 * @example
 * ```ts
 * const fake = await startFakeTwilio({ messagesPerSecond: 10 });
 * const transport = createTwilioTransport({ accountSid: fake.accountSid, authToken: fake.authToken, from: '+15005550006', statusCallback: 'http://127.0.0.1:8080/twilio/status', baseUrl: fake.url });
 * fake.failNext({ status: 429, code: 20429, retryAfterSeconds: 2 });
 * ```
 */
export async function startFakeTwilio(options: FakeTwilioOptions = {}): Promise<FakeTwilio> {
  const accountSid = options.accountSid ?? `AC${'01'.repeat(16)}`;
  const authToken = options.authToken ?? 'fake-auth-token';
  const statuses = options.callbackStatuses ?? ['queued', 'sent', 'delivered'];
  const messages: FakeTwilioMessage[] = [];
  const bySid = new Map<string, FakeTwilioMessage>();
  const requests: Array<{ at: number; status: number }> = [];
  const callbacks: FakeTwilioCallback[] = [];
  const failures = new FailureQueue();
  const window = new SlidingWindow(options.messagesPerSecond, options.windowMs);
  const pending = new Set<Promise<unknown>>();
  const expectedAuth = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;
  const path = `/2010-04-01/Accounts/${accountSid}/Messages.json`;
  let counter = 0;
  let inboundCounter = 0;
  let closed = false;

  const error = (status: number, code: number, message: string) => ({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });

  async function sendStatus(sid: string, status: string, extra: Readonly<Record<string, string>> = {}): Promise<FakeTwilioCallback> {
    const m = bySid.get(sid);
    if (!m) throw new Error(`fake twilio: no message ${sid}`);
    if (!m.statusCallback) throw new Error(`fake twilio: message ${sid} has no StatusCallback`);
    const params: Record<string, string> = {
      AccountSid: accountSid,
      ApiVersion: '2010-04-01',
      From: m.from,
      MessageSid: sid,
      MessageStatus: status,
      SmsSid: sid,
      SmsStatus: status,
      To: m.to,
      ...extra,
    };
    let responseStatus = 0;
    try {
      responseStatus = (await postSignedTwilioWebhook({ authToken, url: m.statusCallback, params })).status;
    } catch {
      responseStatus = 0;
    }
    const cb = { sid, status, url: m.statusCallback, responseStatus };
    callbacks.push(cb);
    return cb;
  }

  const server = await listen(async (req, res) => {
    if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== path) {
      await readBody(req);
      return sendJson(res, 404, error(404, 20404, 'The requested resource was not found'));
    }
    const at = Date.now();
    const text = await readBody(req);
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      requests.push({ at, status });
      sendJson(res, status, body, headers);
    };
    if (req.headers.authorization !== expectedAuth) return answer(401, error(401, 20003, 'Authenticate'));
    const fail = failures.take();
    if (fail) {
      if ('kind' in fail) {
        requests.push({ at, status: 0 });
        if (fail.kind === 'reset') req.socket.destroy();
        return; // timeout: never answered; close() drops the connection
      }
      return answer(fail.status, error(fail.status, fail.code ?? (fail.status === 429 ? 20429 : fail.status >= 500 ? 20500 : 21211), `injected failure (HTTP ${fail.status})`), fail.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fail.retryAfterSeconds) });
    }
    const form = new URLSearchParams(text);
    const to = form.get('To');
    const body = form.get('Body');
    const from = form.get('From') ?? form.get('MessagingServiceSid');
    if (!to) return answer(400, error(400, 21604, "A 'To' phone number is required."));
    if (body === null) return answer(400, error(400, 21602, 'Message body is required.'));
    if (!from) return answer(400, error(400, 21603, "A 'From' phone number is required."));
    const vp = form.get('ValidityPeriod');
    if (vp !== null && !(Number.isInteger(Number(vp)) && Number(vp) >= 1 && Number(vp) <= 36_000)) return answer(400, error(400, 21624, 'Invalid validity period value'));
    if (!window.tryTake(at)) return answer(429, error(429, 20429, 'Too Many Requests'), { 'retry-after': String(Math.max(1, Math.ceil((window.freeAt(at) - at) / 1000))) });
    const sid = `SM${hex32(++counter)}`;
    const statusCallback = form.get('StatusCallback') ?? undefined;
    const m: FakeTwilioMessage = { sid, to, from, body, ...(statusCallback ? { statusCallback } : {}), ...(vp === null ? {} : { validityPeriod: Number(vp) }), receivedAt: at };
    messages.push(m);
    bySid.set(sid, m);
    answer(201, {
      sid,
      account_sid: accountSid,
      api_version: '2010-04-01',
      to,
      from: form.get('From'),
      messaging_service_sid: form.get('MessagingServiceSid'),
      body,
      status: 'queued',
      num_segments: '1',
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      date_created: new Date(at).toUTCString(),
      uri: `${path.replace('.json', '')}/${sid}.json`,
    });
    if (options.sendStatusCallbacks && statusCallback) {
      const chain = (async () => {
        for (const s of statuses) {
          if (closed) return;
          await sendStatus(sid, s);
        }
      })().catch(() => undefined);
      pending.add(chain);
      void chain.finally(() => pending.delete(chain));
    }
  });

  return {
    url: server.url,
    accountSid,
    authToken,
    messages: () => messages.map((m) => ({ ...m })),
    requests: () => requests.map((r) => ({ ...r })),
    failNext: (spec) => failures.push(spec),
    sendStatus,
    async sendInbound(url, message) {
      const sid = message.sid ?? `SM${'f'.repeat(8)}${hex32(++inboundCounter).slice(8)}`;
      return postSignedTwilioWebhook({
        authToken,
        url,
        params: { AccountSid: accountSid, ApiVersion: '2010-04-01', Body: message.body, From: message.from, MessageSid: sid, NumMedia: '0', SmsMessageSid: sid, SmsSid: sid, To: message.to },
      });
    },
    callbacks: () => callbacks.map((c) => ({ ...c })),
    async idle() {
      while (pending.size) await Promise.all([...pending]);
    },
    async close() {
      closed = true;
      await Promise.all([...pending]);
      await server.close();
    },
  };
}
