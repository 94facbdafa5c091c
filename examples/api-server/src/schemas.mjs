// Request bodies and query strings, validated with zod. Every issue becomes
// `{ path, code, message }` with a dotted path into the request (`contacts.3.timezone`), so a
// client can point at the bad field. The plan itself is validated by core's `validatePlan`
// (its own codes and JSON paths); here it only has to be an object.
import { z } from 'zod';

/** Upper bounds that keep one request's work bounded. */
export const LIMITS = Object.freeze({ contacts: 10_000, generatedContacts: 50_000, listLimit: 200 });

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;
// E.164: a plus, a country code that does not start with 0, at most 15 digits in all.
const E164 = /^\+[1-9][0-9]{6,14}$/;

const zoneCache = new Map();
/** Whether `zone` is an IANA time zone this runtime knows. */
export function isTimeZone(zone) {
  let ok = zoneCache.get(zone);
  if (ok === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      ok = zone.length > 0;
    } catch {
      ok = false;
    }
    if (zoneCache.size < 1000) zoneCache.set(zone, ok);
  }
  return ok;
}

const AttributeValue = z.union([z.string().max(2000), z.number(), z.boolean(), z.null()]);

export const ContactSchema = z.strictObject({
  id: z.string().regex(ID, 'a contact id is 1-128 letters, digits, _ . : -'),
  timezone: z
    .string()
    .refine(isTimeZone, { message: 'not an IANA time zone (e.g. "Europe/Berlin")' })
    .optional(),
  attributes: z.record(z.string().max(100), AttributeValue).optional(),
  address: z
    .strictObject({
      email: z.email('not an email address').optional(),
      phone: z.string().regex(E164, 'not an E.164 phone number (e.g. "+15551234567")').optional(),
      whatsapp: z.string().regex(E164, 'not an E.164 phone number (e.g. "+15551234567")').optional(),
    })
    .refine((a) => a.email !== undefined || a.phone !== undefined || a.whatsapp !== undefined, {
      message: 'give at least one of email, phone, whatsapp',
    }),
});

export const CreateCampaignSchema = z
  .strictObject({
    id: z.string().regex(ID, 'a campaign id is 1-128 letters, digits, _ . : -').optional(),
    name: z.string().min(1).max(200).optional(),
    plan: z.record(z.string(), z.unknown(), 'the plan must be a JSON object (see the plan format in @dripline/core)'),
    contacts: z.array(ContactSchema).max(LIMITS.contacts).optional(),
    generateContacts: z.int().min(1).max(LIMITS.generatedContacts).optional(),
    batchSize: z.int().min(1).max(10_000).optional(),
    failureThreshold: z.number().min(0).max(1).optional(),
    startAt: z.iso.datetime({ offset: true, message: 'an ISO-8601 instant, e.g. "2026-03-02T16:00:00Z"' }).optional(),
    compliance: z.array(z.string().min(1).max(50)).max(10).optional(),
  })
  .superRefine((body, ctx) => {
    if (body.contacts === undefined && body.generateContacts === undefined)
      ctx.addIssue({ code: 'custom', path: ['contacts'], message: 'give the audience: contacts (a list), generateContacts (a count of demo contacts), or both' });
    if (body.contacts) {
      const seen = new Map();
      body.contacts.forEach((c, i) => {
        if (seen.has(c.id)) ctx.addIssue({ code: 'custom', path: ['contacts', i, 'id'], message: `duplicate contact id "${c.id}" (also contacts.${seen.get(c.id)}.id)` });
        else seen.set(c.id, i);
      });
    }
  });

/** `POST /api/campaigns/:id/start` takes no fields; an empty body or `{}` is fine. */
export const StartCampaignSchema = z.strictObject({});

const intParam = (min, max, fallback) =>
  z
    .string()
    .regex(/^[0-9]+$/, 'a whole number')
    .transform(Number)
    .pipe(z.int().min(min).max(max))
    .optional()
    .transform((v) => v ?? fallback);

export const ListCampaignsQuery = z.strictObject({
  status: z
    .string()
    .transform((s) => s.split(',').filter(Boolean))
    .pipe(z.array(z.enum(['draft', 'scheduled', 'active', 'paused', 'completed', 'stopped', 'canceled', 'failed'])))
    .optional(),
  limit: intParam(1, LIMITS.listLimit, 50),
});

export const ListMessagesQuery = z.strictObject({
  limit: intParam(1, 500, 100),
  after: z.string().min(1).max(500).optional(),
});

/**
 * zod issues as the API reports them: one entry per bad field (an unknown key is reported
 * at its own path), with a dotted path into the request.
 * @param {import('zod').ZodError} error
 * @param {string} [prefix] e.g. `query` for query strings
 */
export function formatIssues(error, prefix) {
  const out = [];
  for (const issue of error.issues) {
    const base = prefix ? [prefix, ...issue.path] : [...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: [...base, key].map(String).join('.'), code: 'unknown_key', message: `unknown field "${key}"` });
    } else {
      out.push({ path: base.map(String).join('.') || '(body)', code: issue.code, message: issue.message });
    }
  }
  return out;
}
