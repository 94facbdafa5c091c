/**
 * Row builders shared by the conformance suites. Internal: not exported from
 * `@dripline/core/testing`. Every row is realistic (enrollments come from the real state
 * machine) and references rows that exist, so stores with foreign keys pass too.
 */
import { start } from '../machine/machine.js';
import type { ScheduledAction } from '../machine/types.js';
import { compilePlan, type CompiledPlan } from '../plan/compile.js';
import type {
  ActionRecord,
  CampaignRecord,
  EnrollmentRecord,
  MessageEventRecord,
  OutboundRecord,
  TransitionAuditRecord,
} from '../ports/campaign-store.js';
import type { AudienceContact } from '../ports/contact-source.js';

/** The suites' epoch: Monday 2026-03-02 17:00 UTC. */
export const T0 = Date.parse('2026-03-02T17:00:00Z');

/** Strings that break naive SQL, JSON or encoding: they must round-trip verbatim. */
export const NASTY = {
  injection: "Robert'); DROP TABLE x;--",
  quotes: `"double" 'single' \`back\` \\backslash\\`,
  wildcards: '100% _match_ [a-z]* $1 $$dollar$$ ?',
  emoji: '😀 👩‍👩‍👧‍👦 🇪🇸',
  unicode: 'Ünïcödé 中文 العربية ½ – “curly”',
  whitespace: 'line 1\nline 2\r\n\ttabbed  ',
} as const;

const planCache = new Map<string, CompiledPlan>();

/** A small valid plan: an email, then either an open or a one-hour timeout ends it. */
export function conformancePlan(name = 'Conformance plan'): CompiledPlan {
  let cp = planCache.get(name);
  if (!cp) {
    cp = compilePlan({
      version: '1.0',
      name,
      timezone: 'UTC',
      startNodeId: 'hello',
      nodes: [
        {
          id: 'hello',
          action: 'send',
          channel: 'email',
          subject: 'Hello',
          body: 'Hi {{name}}',
          schedule: { delay: 'PT0S' },
          transitions: [
            { on: 'opened', to: 'done' },
            { on: 'no_open', to: 'done', after: 'PT1H' },
          ],
        },
        { id: 'done', action: 'exit' },
      ],
    });
    planCache.set(name, cp);
  }
  return cp;
}

/** A campaign row (status `active` unless overridden). */
export function campaignRecord(tenantId: string, id: string, overrides: Partial<CampaignRecord> = {}): CampaignRecord {
  return {
    tenantId,
    id,
    name: `Campaign ${id}`,
    status: 'active',
    plan: conformancePlan().plan,
    planVersion: 1,
    startAt: null,
    batchSize: 500,
    failureThreshold: 0.25,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

/** A contact with an email address, a zone and a few attributes. */
export function audienceContact(id: string, overrides: Partial<AudienceContact> = {}): AudienceContact {
  return {
    id,
    timezone: 'Europe/Madrid',
    attributes: { name: `Person ${id}`, tier: 'gold', score: 7.5, tags: ['a', 'b'], optIn: true, nothing: null },
    address: { email: `${id}@example.test`, phone: '+15555550100' },
    ...overrides,
  };
}

/**
 * An enrollment row built by the real state machine (`start`), with `rowVersion` 0. Its id
 * is `${campaignId}:${contact.id}` unless `enrollmentId` is given.
 */
export function enrollmentRecord(
  tenantId: string,
  campaignId: string,
  contact: AudienceContact | string,
  options: { enrollmentId?: string; now?: number } = {},
): EnrollmentRecord {
  const c = typeof contact === 'string' ? audienceContact(contact) : contact;
  const { enrollment } = start(conformancePlan(), {
    now: options.now ?? T0,
    contact: c,
    campaignId,
    ...(options.enrollmentId === undefined ? {} : { enrollmentId: options.enrollmentId }),
  });
  return { tenantId, campaignId, contactId: c.id, enrollment, contact: c, rowVersion: 0 };
}

/** The first `schedule` effect's action of a fresh enrollment (its send), for realistic keys. */
export function firstScheduledAction(record: EnrollmentRecord): ScheduledAction {
  const { effects } = start(conformancePlan(), { now: record.enrollment.enteredAt, contact: record.contact, campaignId: record.campaignId, enrollmentId: record.enrollment.id });
  const s = effects.find((e) => e.type === 'schedule');
  if (!s || s.type !== 'schedule') throw new Error('the conformance plan schedules no action');
  return s.action;
}

/** A pending timeout action of an enrollment. */
export function actionRecord(
  tenantId: string,
  enrollment: EnrollmentRecord,
  key: string,
  runAt: number,
  overrides: Partial<ActionRecord> = {},
): ActionRecord {
  return {
    key,
    enrollmentId: enrollment.enrollment.id,
    kind: 'timeout',
    nodeId: 'hello',
    visit: 1,
    runAt,
    on: 'no_open',
    tenantId,
    campaignId: enrollment.campaignId,
    status: 'pending',
    attempts: 0,
    leaseOwner: null,
    leaseExpiresAt: null,
    lastError: null,
    ...overrides,
  };
}

/** An outbox row of an enrollment, as `sending`. */
export function outboundRecord(
  tenantId: string,
  enrollment: EnrollmentRecord,
  key: string,
  overrides: Partial<OutboundRecord> = {},
): OutboundRecord {
  return {
    tenantId,
    key,
    campaignId: enrollment.campaignId,
    contactId: enrollment.contactId,
    enrollmentId: enrollment.enrollment.id,
    nodeId: 'hello',
    channel: 'email',
    to: enrollment.contact.address.email ?? 'nobody@example.test',
    subject: 'Hello',
    body: `Hi ${enrollment.contactId}`,
    status: 'sending',
    providerMessageId: null,
    failureReason: null,
    attempts: 1,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

/** An engagement event row (an orphan unless `messageKey` is given). */
export function eventRecord(tenantId: string, providerEventId: string, overrides: Partial<MessageEventRecord> = {}): MessageEventRecord {
  return {
    tenantId,
    providerEventId,
    type: 'opened',
    at: T0,
    providerMessageId: null,
    messageKey: null,
    receivedAt: T0,
    ...overrides,
  };
}

/** An audit row of an enrollment's start. */
export function transitionRecord(tenantId: string, enrollment: EnrollmentRecord): TransitionAuditRecord {
  return {
    tenantId,
    campaignId: enrollment.campaignId,
    enrollmentId: enrollment.enrollment.id,
    from: null,
    to: 'hello',
    visit: 1,
    at: T0,
    cause: { kind: 'start' },
    planVersion: 1,
    scheduled: [],
  };
}

/** Sorts copies of strings in code-unit order. */
export const sorted = (xs: readonly string[]): string[] => [...xs].sort();

/** Sorts rows by a string key. */
export function sortBy<T>(rows: readonly T[], key: (r: T) => string): T[] {
  return [...rows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
