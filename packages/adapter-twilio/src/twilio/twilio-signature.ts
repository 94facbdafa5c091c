/**
 * `X-Twilio-Signature`: HMAC-SHA1, keyed with the account's auth token, over the full URL
 * Twilio requested followed by every POST parameter sorted by name (each name immediately
 * followed by its value), base64-encoded. JSON-bodied webhooks instead carry a `bodySHA256`
 * query parameter and sign the URL alone.
 *
 * Like Twilio's own helper libraries, verification accepts the URL with or without the
 * scheme's default port (`:443` / `:80`), because proxies add or strip it.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Form parameters: name/value pairs (repeated names allowed) or a record. */
export type SignedParams = ReadonlyArray<readonly [string, string]> | Readonly<Record<string, string | readonly string[]>>;

function toPairs(params: SignedParams): Array<[string, string]> {
  if (Array.isArray(params)) return (params as ReadonlyArray<readonly [string, string]>).map(([k, v]) => [k, v]);
  const pairs: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(params as Record<string, string | readonly string[]>)) {
    if (typeof v === 'string') pairs.push([k, v]);
    else for (const x of v) pairs.push([k, x]);
  }
  return pairs;
}

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The string Twilio signs: the URL, then for each parameter name in sorted order its distinct
 * values in sorted order, each as `name + value`.
 */
export function twilioSignatureBase(url: string, params: SignedParams = []): string {
  const byName = new Map<string, Set<string>>();
  for (const [k, v] of toPairs(params)) {
    let s = byName.get(k);
    if (!s) byName.set(k, (s = new Set()));
    s.add(v);
  }
  let base = url;
  for (const name of [...byName.keys()].sort(byCodeUnit)) for (const value of [...byName.get(name)!].sort(byCodeUnit)) base += name + value;
  return base;
}

/**
 * Computes the `X-Twilio-Signature` of a request, exactly as Twilio sends it.
 *
 * @example
 * ```ts
 * computeTwilioSignature('12345', 'https://mycompany.com/myapp.php?foo=1&bar=2', { CallSid: 'CA1234567890ABCDE', Digits: '1234' });
 * ```
 */
export function computeTwilioSignature(authToken: string, url: string, params: SignedParams = []): string {
  return createHmac('sha1', authToken).update(twilioSignatureBase(url, params), 'utf8').digest('base64');
}

/** Constant-time comparison of two strings (false when lengths differ). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  if (x.length !== y.length) {
    // Still spend the time of one comparison, so length is the only thing timing can tell.
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}

/**
 * The URL as given, plus: without its port if it has one, or with the scheme's default port
 * if it has none. This is what Twilio's helper libraries check: Twilio signs the URL as it was
 * configured, while a proxy may add, strip or rewrite the port the application sees.
 */
export function urlVariants(url: string): string[] {
  const out = [url];
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return out;
  }
  const defaultPort = u.protocol === 'https:' ? '443' : u.protocol === 'http:' ? '80' : '';
  if (!defaultPort) return out;
  // Rebuild around the authority so everything else (path, query spelling) stays byte-exact.
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^/?#]*)(.*)$/s.exec(url);
  if (!m) return out;
  const [, scheme, authority, rest] = m as unknown as [string, string, string, string];
  const hostPort = /^(.*?)(?::(\d+))?$/.exec(authority)!;
  const host = hostPort[1]!;
  const port = hostPort[2];
  if (port === undefined) out.push(`${scheme}${host}:${defaultPort}${rest}`);
  else out.push(`${scheme}${host}${rest}`);
  return out;
}

/** Input of {@link verifyTwilioSignature}. */
export interface VerifyTwilioSignatureInput {
  authToken: string;
  /** The full URL Twilio requested, query string included. */
  url: string;
  /** The form parameters (ignored when the URL carries `bodySHA256`). */
  params?: SignedParams;
  /** For JSON-bodied webhooks: the raw body, checked against the URL's `bodySHA256`. */
  rawBody?: string;
  /** The `X-Twilio-Signature` header value. */
  signature: string | undefined;
}

/**
 * Whether `signature` is Twilio's signature of this request. Constant-time; accepts the URL
 * with or without its port (see {@link urlVariants}); false for a missing or empty signature.
 *
 * @example
 * ```ts
 * verifyTwilioSignature({ authToken, url: 'https://hooks.example.com/twilio/status?k=1', params: form, signature: req.headers['x-twilio-signature'] });
 * ```
 */
export function verifyTwilioSignature(input: VerifyTwilioSignatureInput): boolean {
  const { authToken, url, signature } = input;
  if (!signature || !authToken) return false;
  let bodyHash: string | null = null;
  try {
    bodyHash = new URL(url).searchParams.get('bodySHA256');
  } catch {
    bodyHash = null;
  }
  let params: SignedParams = input.params ?? [];
  if (bodyHash !== null) {
    if (input.rawBody === undefined) return false;
    const actual = createHash('sha256').update(input.rawBody, 'utf8').digest('hex');
    if (!safeEqual(actual, bodyHash.toLowerCase())) return false;
    params = [];
  }
  let ok = false;
  // Check every variant (no early exit), so timing does not reveal which one matched.
  for (const variant of urlVariants(url)) ok = safeEqual(computeTwilioSignature(authToken, variant, params), signature) || ok;
  return ok;
}
