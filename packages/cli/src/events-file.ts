/**
 * The events file of `dripline simulate --events events.json`: a JSON array of engagement
 * events to inject into the dry run, each naming a contact, an event and when it happens.
 *
 * ```json
 * [
 *   { "contact": "contact-2", "event": "clicked", "node": "email_intro", "after": "PT3H" },
 *   { "contact": "contact-3", "event": "unsubscribed", "after": "P1D" },
 *   { "contact": "contact-4", "event": "replied", "at": "2026-03-03T09:30:00Z" }
 * ]
 * ```
 *
 * - `contact` — a simulated contact's id: `contact-1` … `contact-N`.
 * - `event` — `opened`, `clicked`, `replied`, `delivered`, `bounced`, `failed`,
 *   `unsubscribed` or a custom name (letters, digits, `_ - .`; not `no_*`, which are timeouts).
 * - exactly one of `at` (an ISO-8601 instant with `Z` or an offset) or `after` (an ISO-8601
 *   duration). `after` counts from the simulation start, or, with `node`, from each time that
 *   send node's message is sent to the contact: the way to say "clicked the intro email
 *   three hours after getting it", whenever quiet hours let it go out.
 * - `node` (optional, with `after` only) — the id of a send node of the plan.
 * - `id` (optional, not with `node`) — the provider event id; two entries with the same id
 *   are one event (core deduplicates by it). With `node`, each send gets its own event id.
 */
import { isValidDuration, type Plan, type SimulatedEvent } from '@dripline/core';
import { CliError } from './errors.js';
import { formatValue } from './issues.js';

/** One entry of an events file, as written. */
export interface EventsFileEntry {
  /** The contact's id (`contact-1` … `contact-N`). */
  contact: string;
  /** The event name. */
  event: string;
  /** An ISO-8601 instant with `Z` or an offset. Exclusive with `after`. */
  at?: string;
  /** An ISO-8601 duration after the simulation start, or after `node`'s send. Exclusive with `at`. */
  after?: string;
  /** A send node of the plan: `after` counts from each send of its message to the contact. */
  node?: string;
  /** Provider event id; entries with the same id are one event. Not with `node`. */
  id?: string;
}

/** A reaction to a message: `event` happens `after` each send of `nodeId` to `contactId`. */
export interface MessageReaction {
  /** The contact who reacts. */
  contactId: string;
  /** The send node whose message they react to. */
  nodeId: string;
  /** The event name. */
  type: string;
  /** ISO-8601 duration after the send. */
  after: string;
}

/** An events file turned into what `simulate` takes. */
export interface ParsedEvents {
  /** Events at fixed times (`at`, or `after` without `node`), for core's `events` option. */
  fixed: SimulatedEvent[];
  /** Events relative to a send (`after` with `node`), answered through core's `respond`. */
  reactions: MessageReaction[];
}

/** One bad entry of an events file. */
export interface EventsFileIssue {
  /** JSON path of the bad value in the file: `[2].after`. */
  path: string;
  /** What is wrong, naming the value. */
  message: string;
}

/** What {@link parseEventsFile} checks entries against. */
export interface EventsFileContext {
  /** The file name, used in the error message. */
  file: string;
  /** How many contacts are simulated: ids `contact-1` … `contact-<contacts>` exist. */
  contacts: number;
  /** The validated plan: `node` must be one of its send nodes. */
  plan: Plan;
  /** The simulation start (epoch ms): `at` may not be before it. */
  start: number;
}

const KEYS = ['contact', 'event', 'at', 'after', 'node', 'id'] as const;
const IDENT = /^[A-Za-z][A-Za-z0-9_.-]*$/;
/** An ISO-8601 instant with a date, a time and a zone designator. */
export const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** Parses an ISO-8601 instant that carries its zone (`Z` or an offset); `undefined` otherwise. */
export function parseInstant(value: string): number | undefined {
  if (!ISO_INSTANT.test(value)) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

/**
 * Checks an events file (already parsed JSON) and splits it into fixed-time events and
 * reactions to sends. Every bad entry is reported, each with its path (`[2].after`).
 *
 * @throws CliError `INVALID_EVENTS` listing every issue; `details.issues` holds them.
 *
 * @example
 * ```ts
 * const { fixed, reactions } = parseEventsFile(json, { file: 'events.json', contacts: 20, plan, start });
 * ```
 */
export function parseEventsFile(json: unknown, context: EventsFileContext): ParsedEvents {
  const issues: EventsFileIssue[] = [];
  const bad = (path: string, message: string) => void issues.push({ path, message });
  const fixed: SimulatedEvent[] = [];
  const reactions: MessageReaction[] = [];
  if (!Array.isArray(json)) {
    const got = json === null ? 'null' : Array.isArray(json) ? 'an array' : typeof json === 'object' ? 'an object' : `${typeof json} ${formatValue(json)}`;
    throw new CliError('INVALID_EVENTS', `${context.file}: must hold a JSON array of events such as [{"contact": "contact-1", "event": "clicked", "after": "PT1H"}], got ${got}`, {
      details: { file: context.file, issues: [{ path: '', message: `expected an array, got ${got}` }] },
    });
  }
  const sendNodes = new Set(context.plan.nodes.filter((n) => n.action === 'send').map((n) => n.id));
  const allNodes = new Set(context.plan.nodes.map((n) => n.id));
  json.forEach((entry: unknown, i) => {
    const at = `[${i}]`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      bad(at, `must be an object like {"contact": "contact-1", "event": "clicked", "after": "PT1H"}, got ${formatValue(entry)}`);
      return;
    }
    const e = entry as Record<string, unknown>;
    const before = issues.length;
    for (const k of Object.keys(e))
      if (!(KEYS as readonly string[]).includes(k)) bad(`${at}.${k}`, `unknown property "${k}"; expected ${KEYS.join(', ')}`);
    const str = (k: (typeof KEYS)[number]): string | undefined => {
      const v = e[k];
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || v === '') {
        bad(`${at}.${k}`, `"${k}" must be a non-empty string, got ${formatValue(v)}`);
        return undefined;
      }
      return v;
    };
    const contact = str('contact');
    const event = str('event');
    const when = str('at');
    const after = str('after');
    const node = str('node');
    const id = str('id');

    if (e.contact === undefined) bad(`${at}.contact`, `"contact" is required (a contact id such as "contact-1")`);
    else if (contact !== undefined) {
      const n = /^contact-([1-9]\d*)$/.exec(contact);
      if (!n || Number(n[1]) > context.contacts)
        bad(`${at}.contact`, `${formatValue(contact)} is not one of the ${context.contacts} simulated contacts (contact-1 … contact-${context.contacts})`);
    }
    if (e.event === undefined) bad(`${at}.event`, `"event" is required (opened, clicked, replied, unsubscribed... or a custom name)`);
    else if (event !== undefined) {
      if (event.startsWith('no_')) bad(`${at}.event`, `${formatValue(event)} is a timeout name; timeouts fire by themselves, give the event instead (e.g. "clicked")`);
      else if (!IDENT.test(event)) bad(`${at}.event`, `${formatValue(event)} is not an event name: use letters, digits, "_", "-" or "." and start with a letter`);
    }
    if (e.at !== undefined && e.after !== undefined) bad(at, `give "at" or "after", not both`);
    else if (e.at === undefined && e.after === undefined)
      bad(at, `needs "at" (an ISO-8601 instant such as "2026-03-02T18:00:00Z") or "after" (an ISO-8601 duration such as "PT3H")`);
    let instant: number | undefined;
    if (when !== undefined) {
      instant = parseInstant(when);
      if (instant === undefined) bad(`${at}.at`, `${formatValue(when)} is not an ISO-8601 instant with a zone (e.g. "2026-03-02T18:00:00Z")`);
      else if (instant < context.start)
        bad(`${at}.at`, `${formatValue(when)} is before the simulation start ${new Date(context.start).toISOString()}`);
    }
    if (after !== undefined && !isValidDuration(after)) bad(`${at}.after`, `${formatValue(after)} is not an ISO-8601 duration (e.g. "PT3H", "P2D")`);
    if (node !== undefined) {
      if (e.at !== undefined) bad(`${at}.node`, `"node" makes "after" count from that node's send; use it with "after", not "at"`);
      else if (!sendNodes.has(node))
        bad(
          `${at}.node`,
          allNodes.has(node)
            ? `${formatValue(node)} is not a send node; "after" counts from a message being sent`
            : `${formatValue(node)} is not the id of any node of the plan`,
        );
    }
    if (node !== undefined && id !== undefined)
      bad(`${at}.id`, `"id" applies to fixed-time events; with "node" each send of the message gets its own event id`);
    if (issues.length > before || contact === undefined || event === undefined) return;
    if (node !== undefined && after !== undefined) reactions.push({ contactId: contact, nodeId: node, type: event, after });
    else fixed.push({ contactId: contact, type: event, at: instant ?? after!, ...(id ? { id } : {}) });
  });
  if (issues.length) {
    const shown = issues.slice(0, 50).map((x) => `  ${x.path}: ${x.message}`);
    if (issues.length > 50) shown.push(`  ... and ${issues.length - 50} more`);
    throw new CliError(
      'INVALID_EVENTS',
      `${context.file}: ${issues.length} bad entr${issues.length === 1 ? 'y' : 'ies'}:\n${shown.join('\n')}`,
      { details: { file: context.file, issues } },
    );
  }
  return { fixed, reactions };
}
