/**
 * The zod schema of the campaign plan JSON (format version "1.0"). The schema checks shape
 * and the values that can be checked one at a time (durations, `HH:mm`, time zones); the
 * checks that need the whole plan (targets, reachability, cycles) live in `validate.ts`.
 */
import { z } from 'zod';
import { isValidDuration, isValidTimeZone } from '../schedule/index.js';
import { parseIsoDate } from '../schedule/calendar.js';

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;
/** Node ids and event names: letters, digits, `_`, `-`, `.`; starting with a letter. */
const IDENT = /^[A-Za-z][A-Za-z0-9_.-]*$/;

/** The engagement and delivery events a plan can react to. Other names are custom events. */
export const STANDARD_EVENTS = [
  'delivered',
  'opened',
  'clicked',
  'replied',
  'bounced',
  'failed',
  'unsubscribed',
] as const;
/** One of {@link STANDARD_EVENTS}. */
export type StandardEvent = (typeof STANDARD_EVENTS)[number];

/** The channels a send node can use. */
export const CHANNELS = ['email', 'sms', 'whatsapp'] as const;
/** One of {@link CHANNELS}. */
export type Channel = (typeof CHANNELS)[number];

/** Weekday names used by quiet hours. */
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

/** A string checked by `ok`; a failure is a custom issue carrying its plan issue code. */
function checked(schema: z.ZodString, ok: (v: string) => boolean, code: string, message: (v: string) => string) {
  return schema.superRefine((v, ctx) => {
    if (!ok(v)) ctx.addIssue({ code: 'custom', message: message(v), params: { code }, input: v });
  });
}

const duration = checked(z.string(), isValidDuration, 'invalid_duration', (v) => `"${v}" is not a valid ISO-8601 duration (e.g. "PT72H", "P2D")`);

const localTime = checked(z.string(), (v) => HHMM.test(v), 'invalid_time', (v) => `"${v}" is not a local time in HH:mm (00:00–23:59)`);

const timeZone = checked(z.string(), isValidTimeZone, 'invalid_timezone', (v) => `"${v}" is not an IANA time zone (e.g. "America/Los_Angeles")`);

const ident = (what: string) =>
  checked(z.string(), (v) => IDENT.test(v), 'invalid_identifier', (v) =>
    v === '' ? `${what} must not be empty` : `"${v}" is not a valid ${what}: use letters, digits, "_", "-" or "." and start with a letter`,
  );

/** Quiet hours: a daily local window, whole weekdays and dates when nothing is sent. */
export const QuietHoursSchema = z.strictObject({
  /** Local time when quiet starts, `HH:mm`. */
  start: localTime,
  /** Local time when quiet ends, `HH:mm`; before `start` means the window wraps midnight. */
  end: localTime,
  /** Whole local weekdays that are quiet. */
  days: z.array(z.enum(WEEKDAYS)).optional(),
  /** Local dates (`YYYY-MM-DD`) that are quiet, e.g. holidays. */
  dates: z
    .array(
      // A real calendar date: "2026-02-30" is refused here, not thrown later by the quiet-hours code.
      checked(z.string(), (v) => parseIsoDate(v) !== undefined, 'invalid_date', (v) => `"${v}" is not a date in YYYY-MM-DD`),
    )
    .optional(),
});

/** A transition: on an event (optionally `within` a time) or on a `no_*` timeout `after` a time. */
export const TransitionSchema = z.strictObject({
  /** An event name (`opened`, `clicked`, a custom name) or a timeout `no_<event>`. */
  on: ident('event name'),
  /** The id of the node to move to. */
  to: ident('node id'),
  /** Events only: how long after the node's anchor the event may still take this transition. */
  within: duration.optional(),
  /** Timeouts (`no_*`) only: how long after the node's anchor the timeout fires. */
  after: duration.optional(),
});

/** When a send node's message goes out, relative to entering the node. */
export const SendScheduleSchema = z.strictObject({
  /** How long after entering the node to send. Default `PT0S`. */
  delay: duration.optional(),
  /** Local time of day (`HH:mm`): the first occurrence at or after `entered + delay`. */
  at: localTime.optional(),
});

const base = { id: ident('node id'), name: z.string().optional(), description: z.string().optional() };

/** Sends one message, then waits for its transitions. */
export const SendNodeSchema = z.strictObject({
  ...base,
  action: z.literal('send'),
  /** The channel. Default `email`: plans in the shape of seed 003 name no channel. */
  channel: z.enum(CHANNELS).default('email'),
  /** Email subject (a template). Required for email. */
  subject: z.string().optional(),
  /** Message body (a Mustache template; HTML-escaped in email). */
  body: z.string(),
  schedule: SendScheduleSchema.optional(),
  transitions: z.array(TransitionSchema).default([]),
});

/** Waits for events or timeouts; the anchor of its timeouts is the moment it is entered. */
export const WaitNodeSchema = z.strictObject({
  ...base,
  action: z.literal('wait'),
  transitions: z.array(TransitionSchema),
});

/** A condition on the contact's attributes or on the events the enrollment has seen. */
export type Condition =
  | { attr: string; eq: string | number | boolean | null }
  | { attr: string; ne: string | number | boolean | null }
  | { attr: string; in: Array<string | number | boolean> }
  | { attr: string; exists: boolean }
  | { attr: string; gt: number }
  | { attr: string; gte: number }
  | { attr: string; lt: number }
  | { attr: string; lte: number }
  | { event: string }
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition };

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const attr = z.string().min(1);

/** The zod schema of {@link Condition}. */
export const ConditionSchema: z.ZodType<Condition> = z.lazy(() =>
  z.union([
    z.strictObject({ attr, eq: scalar }),
    z.strictObject({ attr, ne: scalar }),
    z.strictObject({ attr, in: z.array(z.union([z.string(), z.number(), z.boolean()])) }),
    z.strictObject({ attr, exists: z.boolean() }),
    z.strictObject({ attr, gt: z.number() }),
    z.strictObject({ attr, gte: z.number() }),
    z.strictObject({ attr, lt: z.number() }),
    z.strictObject({ attr, lte: z.number() }),
    z.strictObject({ event: ident('event name') }),
    z.strictObject({ all: z.array(ConditionSchema).min(1) }),
    z.strictObject({ any: z.array(ConditionSchema).min(1) }),
    z.strictObject({ not: ConditionSchema }),
  ]),
);

/** Moves at once to the first case whose condition holds, else to `else`. */
export const BranchNodeSchema = z.strictObject({
  ...base,
  action: z.literal('branch'),
  cases: z.array(z.strictObject({ if: ConditionSchema, to: ident('node id') })).min(1),
  else: ident('node id'),
});

/** Moves at once to one variant, chosen by a seeded hash of the contact id and weights. */
export const SplitNodeSchema = z.strictObject({
  ...base,
  action: z.literal('split'),
  variants: z
    .array(z.strictObject({ weight: z.number().nonnegative(), to: ident('node id'), name: z.string().optional() }))
    .min(1),
});

/** Ends the enrollment as completed. */
export const ExitNodeSchema = z.strictObject({ ...base, action: z.literal('exit') });

/** Any plan node, told apart by `action`. */
export const NodeSchema = z.discriminatedUnion('action', [
  SendNodeSchema,
  WaitNodeSchema,
  BranchNodeSchema,
  SplitNodeSchema,
  ExitNodeSchema,
]);

/** The whole plan JSON, format version "1.0". */
export const PlanSchema = z.strictObject({
  /** JSON Schema reference for editors; ignored. */
  $schema: z.string().optional(),
  /** The plan format version. Only "1.0" exists. */
  version: z.literal('1.0'),
  id: z.string().optional(),
  name: z.string().optional(),
  description: z.string().optional(),
  /** The default IANA zone; a contact's own zone wins. Default "UTC". */
  timezone: timeZone.default('UTC'),
  quietHours: QuietHoursSchema.optional(),
  startNodeId: ident('node id'),
  /** Events that end the enrollment from any node (e.g. "unsubscribed", "converted"). */
  exitOn: z.array(ident('event name')).default([]),
  /** Template variables the plan expects in contact attributes; others are warned about. */
  variables: z.array(z.string().min(1)).optional(),
  nodes: z.array(NodeSchema).min(1),
});

/** A plan as written (input type: defaults not yet applied). */
export type PlanInput = z.input<typeof PlanSchema>;
/** A plan after validation, with defaults applied. */
export type Plan = z.output<typeof PlanSchema>;
/** Any node of a {@link Plan}. */
export type PlanNode = Plan['nodes'][number];
/** A send node. */
export type SendNode = z.output<typeof SendNodeSchema>;
/** A wait node. */
export type WaitNode = z.output<typeof WaitNodeSchema>;
/** A branch node. */
export type BranchNode = z.output<typeof BranchNodeSchema>;
/** A split node. */
export type SplitNode = z.output<typeof SplitNodeSchema>;
/** An exit node. */
export type ExitNode = z.output<typeof ExitNodeSchema>;
/** A transition of a send or wait node. */
export type Transition = z.output<typeof TransitionSchema>;
/** Quiet hours as written in a plan. */
export type PlanQuietHours = z.output<typeof QuietHoursSchema>;

/**
 * The JSON Schema (draft 2020-12) of the plan, for editors and other languages. The build
 * also writes it to `@dripline/core/plan.schema.json`.
 */
export function planJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(PlanSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
