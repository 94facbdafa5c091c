// Bearer-token authentication and the Authorizer the engine calls.
//
// Tokens are configured as a JSON object, token → { tenant, permissions, name }:
//
//   { "s3cr3t-ops-token": { "tenant": "acme", "permissions": ["campaigns.read", "campaigns.send"], "name": "ops" } }
//
// A request's token picks its principal: the tenant it acts in (every call is made in that
// tenant, so a token never sees another tenant's campaigns) and the permissions it holds.
// Tokens are looked up by their SHA-256 digest, so no comparison leaks a prefix through
// timing, and a token is never logged: principals are named by `name` or a digest prefix.
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** The three permissions of seed 002's RBAC. */
export const PERMISSIONS = /** @type {const} */ (['campaigns.create', 'campaigns.send', 'campaigns.read']);

/**
 * Used when no tokens are configured and no DATABASE_URL is set (the demo): documented in
 * the README, printed on start. Never used with a real database.
 */
export const DEMO_TOKENS = Object.freeze({
  'demo-admin': { tenant: 'demo', permissions: [...PERMISSIONS], name: 'demo-admin' },
  'demo-operator': { tenant: 'demo', permissions: ['campaigns.send', 'campaigns.read'], name: 'demo-operator' },
  'demo-viewer': { tenant: 'demo', permissions: ['campaigns.read'], name: 'demo-viewer' },
});

const TENANT = /^[A-Za-z0-9_.-]{1,64}$/;

const TokensSchema = z.record(
  z.string().regex(/^[\x21-\x7e]+$/, 'a token is printable ASCII without spaces'),
  z.strictObject({
    tenant: z.string().regex(TENANT, 'a tenant id is 1-64 letters, digits, _ . -'),
    permissions: z.array(z.enum(PERMISSIONS)),
    name: z.string().min(1).max(100).optional(),
  }),
);

/**
 * Validates a token configuration (an object, or its JSON text).
 * @param {unknown} input
 * @param {string} [source] where it came from, for the error message
 * @returns {Record<string, { tenant: string, permissions: string[], name?: string }>}
 */
export function parseTokens(input, source = 'API_TOKENS') {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (e) {
      throw new Error(`${source} is not JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const r = TokensSchema.safeParse(value);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`);
    throw new Error(`${source} is not a valid token map (token → { tenant, permissions, name? }):\n${lines.join('\n')}`);
  }
  if (Object.keys(r.data).length === 0) throw new Error(`${source} holds no tokens`);
  return r.data;
}

const digest = (token) => createHash('sha256').update(token, 'utf8').digest('hex');

/**
 * @typedef {{ id: string, tenantId: string, permissions: readonly string[] }} ApiPrincipal
 */

/**
 * @param {Record<string, { tenant: string, permissions: string[], name?: string }>} tokens
 */
export function createTokenAuth(tokens) {
  /** @type {Map<string, ApiPrincipal>} */
  const byDigest = new Map();
  for (const [token, t] of Object.entries(tokens)) {
    const d = digest(token);
    byDigest.set(d, Object.freeze({ id: t.name ?? `token:${d.slice(0, 8)}`, tenantId: t.tenant, permissions: Object.freeze([...new Set(t.permissions)]) }));
  }
  const tenants = [...new Set([...byDigest.values()].map((p) => p.tenantId))].sort();

  return {
    /**
     * @param {string | undefined | null} header the Authorization header
     * @returns {{ ok: true, principal: ApiPrincipal } | { ok: false, reason: 'missing' | 'malformed' | 'invalid' }}
     */
    authenticate(header) {
      if (!header) return { ok: false, reason: 'missing' };
      const m = /^Bearer[ ]+([\x21-\x7e]+)\s*$/i.exec(header);
      if (!m) return { ok: false, reason: 'malformed' };
      const principal = byDigest.get(digest(m[1]));
      return principal ? { ok: true, principal } : { ok: false, reason: 'invalid' };
    },
    /** Every tenant some token acts in: the tenants the in-process worker serves. */
    tenants: () => tenants,
    /**
     * The engine's Authorizer port: a principal holds a permission if its token lists it.
     * (The engine itself refuses a principal acting outside its own tenant.)
     * @type {import('@dripline/core').Authorizer}
     */
    authorizer: {
      async authorize(principal, permission) {
        const perms = /** @type {ApiPrincipal} */ (/** @type {unknown} */ (principal)).permissions;
        return Array.isArray(perms) && perms.includes(permission);
      },
    },
  };
}
