/**
 * `simulatePlan`: core's `simulate` over generated contacts, run in chunks of contacts so
 * that progress can be reported (core's `onProgress` counts steps, and the number of steps a
 * run will take is not known up front) and memory stays flat for large audiences.
 *
 * Chunking does not change the outcome: without rate limits, frequency caps or failures, as
 * here, contacts of a simulation never affect each other (splits hash the contact id, every
 * action and event belongs to one enrollment), so the summary of the chunks added up is the
 * summary of one run over everybody. A test checks this against a single-chunk run.
 */
import {
  hashToUnit,
  isValidDuration,
  isValidTimeZone,
  simulate,
  type AudienceContact,
  type Plan,
  type SimulatedMessage,
  type SimulationSummary,
  type TimelineEntry,
} from '@dripline/core';
import { CliError } from './errors.js';
import type { MessageReaction, ParsedEvents } from './events-file.js';

/** A rule of `--respond`: recipients react to a share of the messages. */
export interface ReactionRule {
  /** Only messages of this send node; every message when absent. */
  node?: string;
  /** The event the recipient sends back. */
  event: string;
  /** Share of the messages that get the reaction, 0..1. */
  probability: number;
  /** ISO-8601 duration after the send. */
  after: string;
}

/** Default delay of a `--respond` rule without `@delay`. */
export const DEFAULT_REACTION_DELAY = 'PT1H';

/**
 * Parses `--respond` rules: comma-separated `[node:]event=share[@delay]`, where `share` is a
 * fraction (`0.4`) or a percentage (`40%`) and `delay` an ISO-8601 duration (default `PT1H`).
 *
 * @throws CliError `INVALID_OPTION` naming the bad rule.
 *
 * @example
 * ```ts
 * parseReactionRules('opened=0.5@PT2H,email_intro:clicked=20%@PT3H', plan);
 * // [{ event: 'opened', probability: 0.5, after: 'PT2H' },
 * //  { node: 'email_intro', event: 'clicked', probability: 0.2, after: 'PT3H' }]
 * ```
 */
export function parseReactionRules(spec: string, plan?: Plan): ReactionRule[] {
  const rules: ReactionRule[] = [];
  const sendNodes = plan ? new Set(plan.nodes.filter((n) => n.action === 'send').map((n) => n.id)) : undefined;
  for (const raw of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(?:([A-Za-z][A-Za-z0-9_.-]*):)?([A-Za-z][A-Za-z0-9_.-]*)=([0-9.]+)(%?)(?:@(\S+))?$/.exec(raw);
    const fail = (why: string): never => {
      throw new CliError('INVALID_OPTION', `--respond: ${JSON.stringify(raw)} ${why}`, { details: { option: 'respond', value: raw } });
    };
    if (!m) return fail('is not a rule; write [node:]event=share[@delay], e.g. "opened=0.4@PT2H" or "email_intro:clicked=10%"');
    const [, node, event, num, pct, after] = m;
    const share = Number(num) / (pct ? 100 : 1);
    if (!Number.isFinite(share) || share < 0 || share > 1) fail('has a share outside 0..1 (or 0%..100%)');
    if (event!.startsWith('no_')) fail('names a timeout; recipients send events such as "opened" or "clicked"');
    if (after !== undefined && !isValidDuration(after)) fail(`has a delay ${JSON.stringify(after)} that is not an ISO-8601 duration (e.g. "PT2H")`);
    if (node !== undefined && sendNodes && !sendNodes.has(node)) fail(`names node ${JSON.stringify(node)}, which is not a send node of the plan`);
    rules.push({ ...(node ? { node } : {}), event: event!, probability: share, after: after ?? DEFAULT_REACTION_DELAY });
  }
  return rules;
}

/**
 * The `i`-th generated contact (1-based): id `contact-<i>`, an email address, a phone number
 * for SMS and WhatsApp, and, given `zones`, the zone `zones[(i - 1) % zones.length]`.
 */
export function simulatedContact(i: number, zones: readonly string[] = []): AudienceContact {
  const id = `contact-${i}`;
  const phone = `+1555${String(i).padStart(7, '0')}`;
  const zone = zones.length ? zones[(i - 1) % zones.length] : undefined;
  return {
    id,
    ...(zone ? { timezone: zone } : {}),
    attributes: { name: `Contact ${i}` },
    address: { email: `${id}@example.test`, phone, whatsapp: phone },
  };
}

/** Progress of {@link simulatePlan}, reported after each chunk of contacts. */
export interface SimulateProgress {
  /** Contacts simulated so far. */
  done: number;
  /** Contacts in all. */
  total: number;
  /** Messages sent so far. */
  sent: number;
}

/** Options of {@link simulatePlan}. */
export interface SimulatePlanOptions {
  /** How many contacts to generate (`contact-1` … `contact-N`, see {@link simulatedContact}). */
  contacts: number;
  /** The start, epoch ms. */
  start: number;
  /** The end: epoch ms, or an ISO-8601 duration after `start` in the plan's zone. */
  until: number | string;
  /** Time zones given to the contacts in turn; none: the plan's zone. */
  zones?: readonly string[];
  /** Events from an events file (see `parseEventsFile`). */
  events?: ParsedEvents;
  /** `--respond` rules. */
  reactions?: readonly ReactionRule[];
  /** Seed of the `reactions` draws. Same seed, same run. Default 1. */
  seed?: number;
  /** Whose timeline to keep: a set of contact ids, or `'all'`. Default: nobody's. */
  timelineOf?: ReadonlySet<string> | 'all';
  /** Contacts per call of core's `simulate`. Default 1000. */
  chunkSize?: number;
  /** Called after each chunk. */
  onProgress?: (progress: SimulateProgress) => void;
}

/** What {@link simulatePlan} returns. */
export interface SimulatePlanResult {
  /** Core's summary, added up over every chunk. */
  summary: SimulationSummary;
  /** The timeline of each kept contact, in order. */
  timelines: Map<string, TimelineEntry[]>;
  /** The kept contacts, in id order. */
  contacts: AudienceContact[];
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

/** Checks `--zones`: each must be an IANA zone. */
export function checkZones(zones: readonly string[]): void {
  const bad = zones.filter((z) => !isValidTimeZone(z));
  if (bad.length)
    throw new CliError('INVALID_OPTION', `--zones: ${bad.map((z) => JSON.stringify(z)).join(', ')} ${bad.length === 1 ? 'is not an IANA time zone' : 'are not IANA time zones'} (e.g. "Europe/Berlin")`, {
      details: { option: 'zones', value: bad },
    });
}

/**
 * Dry-runs a validated plan over `contacts` generated contacts with core's `simulate`, in
 * chunks, with events from an events file and seeded `--respond` reactions.
 *
 * @example
 * ```ts
 * const { summary } = await simulatePlan(plan, {
 *   contacts: 5000, start: Date.parse('2026-03-02T16:00:00Z'), until: 'P14D',
 *   reactions: parseReactionRules('opened=0.4@PT2H'),
 *   onProgress: ({ done, total }) => console.error(`${done}/${total}`),
 * });
 * ```
 */
export async function simulatePlan(plan: Plan, options: SimulatePlanOptions): Promise<SimulatePlanResult> {
  const total = options.contacts;
  const chunkSize = Math.max(1, Math.floor(options.chunkSize ?? 1000));
  const zones = options.zones ?? [];
  checkZones(zones);
  const seed = options.seed ?? 1;
  const rules = options.reactions ?? [];
  const keep = options.timelineOf ?? new Set<string>();
  const fixedByContact = new Map<string, NonNullable<ParsedEvents['fixed']>>();
  for (const e of options.events?.fixed ?? []) fixedByContact.set(e.contactId, [...(fixedByContact.get(e.contactId) ?? []), e]);
  const reactionsOf = new Map<string, MessageReaction[]>();
  for (const r of options.events?.reactions ?? []) {
    const k = `${r.contactId}\u0000${r.nodeId}`;
    reactionsOf.set(k, [...(reactionsOf.get(k) ?? []), r]);
  }
  const respond = (m: SimulatedMessage) => {
    const out: Array<{ type: string; after: string }> = [];
    for (const r of reactionsOf.get(`${m.contactId}\u0000${m.nodeId}`) ?? []) out.push({ type: r.type, after: r.after });
    rules.forEach((rule, i) => {
      if (rule.node !== undefined && rule.node !== m.nodeId) return;
      if (hashToUnit(`${seed}|${i}|${rule.event}|${m.key}`) < rule.probability) out.push({ type: rule.event, after: rule.after });
    });
    return out;
  };

  const summary: SimulationSummary = {
    contacts: 0,
    sentByNode: {},
    transitions: {},
    byStatus: {},
    movedByQuietHours: 0,
    events: {},
    replayed: 0,
    failedSends: 0,
    startedAt: options.start,
    endedAt: options.start,
  };
  const timelines = new Map<string, TimelineEntry[]>();
  const kept: AudienceContact[] = [];
  let sent = 0;
  for (let from = 1; from <= total; from += chunkSize) {
    const to = Math.min(total, from + chunkSize - 1);
    const contacts: AudienceContact[] = [];
    for (let i = from; i <= to; i++) contacts.push(simulatedContact(i, zones));
    const keepHere = contacts.filter((c) => keep === 'all' || keep.has(c.id));
    const r = await simulate(plan, {
      contacts,
      start: options.start,
      until: options.until,
      events: contacts.flatMap((c) => fixedByContact.get(c.id) ?? []),
      respond,
      keepTimeline: keepHere.length > 0,
    });
    const s = r.summary;
    summary.contacts += s.contacts;
    addCounts(summary.sentByNode, s.sentByNode);
    addCounts(summary.transitions, s.transitions);
    addCounts(summary.byStatus, s.byStatus);
    addCounts(summary.events, s.events);
    summary.movedByQuietHours += s.movedByQuietHours;
    summary.replayed += s.replayed;
    summary.failedSends += s.failedSends;
    summary.endedAt = Math.max(summary.endedAt, s.endedAt);
    sent += Object.values(s.sentByNode).reduce((a, b) => a + b, 0);
    if (keepHere.length) {
      const ids = new Set(keepHere.map((c) => c.id));
      for (const c of keepHere) timelines.set(c.id, []);
      for (const e of r.timeline) if (ids.has(e.contactId)) timelines.get(e.contactId)!.push(e);
      kept.push(...keepHere);
    }
    options.onProgress?.({ done: to, total, sent });
    // Let timers (the progress bar's redraws) and I/O run between chunks.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return { summary, timelines, contacts: kept };
}
