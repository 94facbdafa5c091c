/** Helpers to sign and send webhook requests the way Twilio does (tests, fakes, other packages). */
import { computeTwilioSignature, type SignedParams } from '../twilio/twilio-signature.js';

/** A signed Twilio webhook request, ready to hand to a handler or to `fetch`. */
export interface SignedTwilioRequest {
  url: string;
  headers: Record<string, string>;
  /** The form-encoded body. */
  body: string;
}

/**
 * Signs a webhook request as Twilio would: form-encodes `params` and computes
 * `X-Twilio-Signature` over `url` (exactly as given) and the params.
 *
 * @example
 * ```ts
 * const req = signTwilioRequest({ authToken, url: 'https://hooks.example.com/twilio/status?dl_tenant=t1', params: { MessageSid: 'SM1', MessageStatus: 'delivered' } });
 * await hooks.handleStatusCallback(req); // { status: 200 }
 * ```
 */
export function signTwilioRequest(input: { authToken: string; url: string; params: Readonly<Record<string, string>> | ReadonlyArray<readonly [string, string]> }): SignedTwilioRequest {
  const pairs: Array<[string, string]> = Array.isArray(input.params)
    ? (input.params as ReadonlyArray<readonly [string, string]>).map(([k, v]) => [k, v])
    : Object.entries(input.params as Record<string, string>);
  return {
    url: input.url,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': computeTwilioSignature(input.authToken, input.url, pairs as SignedParams),
    },
    body: new URLSearchParams(pairs).toString(),
  };
}

/** Signs and POSTs a Twilio webhook to `url`; resolves with the answer's status and body. */
export async function postSignedTwilioWebhook(input: { authToken: string; url: string; params: Readonly<Record<string, string>> | ReadonlyArray<readonly [string, string]> }): Promise<{ status: number; body: string }> {
  const req = signTwilioRequest(input);
  const res = await fetch(req.url, { method: 'POST', headers: req.headers, body: req.body });
  return { status: res.status, body: await res.text() };
}
