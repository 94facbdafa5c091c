/**
 * Small HTTP helpers shared by the transports and the webhook handlers: header lookup that
 * works for plain objects and `Headers`, form-body parsing, and a `fetch` wrapper that tells
 * "the request never left" apart from "the request left and no answer came".
 */

/** Request headers as frameworks hand them over: a plain object (Node, Express, Fastify) or a `Headers` (Fetch API, Hono). */
export type HeadersLike = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;

/** A form body as frameworks hand it over: the raw string/bytes, `URLSearchParams`, or an already-parsed object. */
export type FormBodyLike = string | Uint8Array | URLSearchParams | Readonly<Record<string, string | readonly string[] | undefined>>;

/** The framework-neutral request a webhook handler takes. */
export interface WebhookRequest {
  /** The request URL: absolute (`https://host/path?query`) or the path and query only (`req.originalUrl`). */
  url: string;
  headers: HeadersLike;
  /** The form body (raw, `URLSearchParams` or parsed). */
  body: FormBodyLike;
}

/** What a webhook handler answers; write it back as the HTTP response. */
export interface WebhookResponse {
  status: number;
  body?: string;
  headers?: Record<string, string>;
}

/** The value of header `name` (case-insensitive); the first one if repeated. */
export function header(headers: HeadersLike, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(headers as Record<string, string | readonly string[] | undefined>)) {
    if (k.toLowerCase() !== lower || v === undefined) continue;
    return typeof v === 'string' ? v : v[0];
  }
  return undefined;
}

/** Form parameters as ordered name/value pairs. Throws `TypeError` on a body it cannot read. */
export function formPairs(body: FormBodyLike): Array<[string, string]> {
  if (typeof body === 'string') return [...new URLSearchParams(body)];
  if (body instanceof Uint8Array) return [...new URLSearchParams(new TextDecoder('utf-8', { fatal: true }).decode(body))];
  if (body instanceof URLSearchParams) return [...body];
  if (body === null || typeof body !== 'object') throw new TypeError('form body is not a string, bytes, URLSearchParams or object');
  const pairs: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(body)) {
    if (v === undefined) continue;
    if (typeof v === 'string') pairs.push([k, v]);
    else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) for (const x of v) pairs.push([k, x as string]);
    else throw new TypeError(`form field "${k}" is not a string`);
  }
  return pairs;
}

/** The first value of each name. */
export function firstValues(pairs: ReadonlyArray<readonly [string, string]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of pairs) if (!(k in out)) out[k] = v;
  return out;
}

/** How an HTTP call ended when no HTTP answer came. */
export type NetworkFailure =
  /** The request never reached the provider (connection refused, DNS failure): safe to retry. */
  | 'not-sent'
  /** The request may have reached the provider (timeout, reset): outcome unknown. */
  | 'no-answer';

const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'ERR_INVALID_URL']);

/** Classifies an error thrown by `fetch` (undici): was the request ever sent? */
export function classifyNetworkError(error: unknown): { failure: NetworkFailure; code: string } {
  let e: unknown = error;
  for (let depth = 0; depth < 5 && e; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return { failure: NOT_SENT_CODES.has(code) ? 'not-sent' : 'no-answer', code };
    e = (e as { cause?: unknown }).cause;
  }
  const name = (error as { name?: unknown })?.name;
  return { failure: 'no-answer', code: name === 'TimeoutError' || name === 'AbortError' ? 'TIMEOUT' : 'UNKNOWN' };
}

/** A `fetch` with a timeout that also honours the caller's abort signal. */
export async function fetchWithTimeout(url: string, init: RequestInit, timeoutMs: number, signal?: AbortSignal): Promise<Response> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  return fetch(url, { ...init, signal: combined });
}

/** Milliseconds from a `Retry-After` header (seconds or an HTTP date), if present and sane. */
export function retryAfterMs(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const s = Number(value);
  if (Number.isFinite(s) && s >= 0) return Math.round(s * 1000);
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** Masks a phone number or email for logs: `+1555***0100`, `a***@example.test`. */
export function maskAddress(address: string): string {
  const at = address.indexOf('@');
  if (at > 0) return `${address[0]}***${address.slice(at)}`;
  return address.length > 8 ? `${address.slice(0, 5)}***${address.slice(-4)}` : '***';
}
