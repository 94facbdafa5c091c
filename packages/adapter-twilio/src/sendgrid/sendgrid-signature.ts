/**
 * SendGrid's Signed Event Webhook: ECDSA (P-256, SHA-256) over the
 * `X-Twilio-Email-Event-Webhook-Timestamp` value followed by the raw request body, the
 * DER signature base64-encoded in `X-Twilio-Email-Event-Webhook-Signature`. The verification
 * key SendGrid shows is the base64 of the DER `SubjectPublicKeyInfo`.
 */
import { createPublicKey, createSign, createVerify, type KeyObject } from 'node:crypto';

/** Header carrying the signature. */
export const SENDGRID_SIGNATURE_HEADER = 'X-Twilio-Email-Event-Webhook-Signature';
/** Header carrying the timestamp (Unix seconds) that is signed with the body. */
export const SENDGRID_TIMESTAMP_HEADER = 'X-Twilio-Email-Event-Webhook-Timestamp';

/** A verification key: SendGrid's base64 DER (as shown in its settings), a PEM, or a `KeyObject`. */
export type SendgridPublicKey = string | KeyObject;

/** Loads a verification key. Throws `TypeError` on a key it cannot read. */
export function loadSendgridPublicKey(key: SendgridPublicKey): KeyObject {
  if (typeof key !== 'string') return key;
  const k = key.trim();
  if (k.includes('-----BEGIN')) return createPublicKey(k);
  return createPublicKey({ key: Buffer.from(k, 'base64'), format: 'der', type: 'spki' });
}

const bytes = (v: string | Uint8Array) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength));

/**
 * Whether `signature` is SendGrid's signature of `timestamp + payload` under `publicKey`.
 * False (never a throw) for a missing, malformed or wrong signature.
 *
 * @example
 * ```ts
 * verifySendgridSignature({ publicKey: process.env.SENDGRID_WEBHOOK_KEY!, payload: rawBody, signature, timestamp });
 * ```
 */
export function verifySendgridSignature(input: { publicKey: SendgridPublicKey; payload: string | Uint8Array; signature: string | undefined; timestamp: string | undefined }): boolean {
  const { signature, timestamp } = input;
  if (!signature || !timestamp) return false;
  try {
    const key = loadSendgridPublicKey(input.publicKey);
    const v = createVerify('sha256');
    v.update(Buffer.concat([Buffer.from(timestamp, 'utf8'), bytes(input.payload)]));
    return v.verify(key, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/** Signs `timestamp + payload` as SendGrid does (for tests and fakes). */
export function signSendgridPayload(privateKey: KeyObject | string, payload: string | Uint8Array, timestamp: string): string {
  const s = createSign('sha256');
  s.update(Buffer.concat([Buffer.from(timestamp, 'utf8'), bytes(payload)]));
  return s.sign(privateKey).toString('base64');
}
