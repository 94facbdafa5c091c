/**
 * `compilePlan`: turns a validated plan into an immutable, indexed form the state machine
 * reads on every step: a node map, transition tables keyed by event, durations parsed once.
 */
import { DriplineError } from '../errors.js';
import { compileQuietHours, parseDuration, parseLocalTime, type CompiledQuietHours, type Duration } from '../schedule/index.js';
import type { Channel, Condition, Plan } from './schema.js';
import { isTimeout, validatePlan } from './validate.js';

/** An event transition, ready to use. */
export interface CompiledEventTransition {
  readonly on: string;
  readonly to: string;
  /** Index in the node's `transitions`, for audit records. */
  readonly index: number;
  readonly within?: Duration;
}

/** A timeout (`no_*`) transition, ready to use. */
export interface CompiledTimeout {
  readonly on: string;
  readonly to: string;
  readonly index: number;
  readonly after: Duration;
}

interface CompiledWaiting {
  /** Event transitions by event name. */
  readonly onEvent: ReadonlyMap<string, CompiledEventTransition>;
  /** Timeout transitions, in plan order. */
  readonly timeouts: readonly CompiledTimeout[];
}

/** A compiled send node. */
export interface CompiledSendNode extends CompiledWaiting {
  readonly kind: 'send';
  readonly id: string;
  readonly channel: Channel;
  readonly subject?: string;
  readonly body: string;
  readonly delay: Duration;
  /** `schedule.at` as written (`HH:mm`), if any. */
  readonly at?: string;
  /** Whether the node has no transitions: the enrollment completes once it is sent. */
  readonly terminal: boolean;
}

/** A compiled wait node. */
export interface CompiledWaitNode extends CompiledWaiting {
  readonly kind: 'wait';
  readonly id: string;
}

/** A compiled branch node. */
export interface CompiledBranchNode {
  readonly kind: 'branch';
  readonly id: string;
  readonly cases: ReadonlyArray<{ readonly if: Condition; readonly to: string }>;
  readonly else: string;
}

/** A compiled split node; `cumulative[i]` is the upper bound (in [0,1]) of variant i. */
export interface CompiledSplitNode {
  readonly kind: 'split';
  readonly id: string;
  readonly variants: ReadonlyArray<{ readonly to: string; readonly weight: number; readonly name?: string }>;
  readonly cumulative: readonly number[];
}

/** A compiled exit node. */
export interface CompiledExitNode {
  readonly kind: 'exit';
  readonly id: string;
}

/** Any compiled node. */
export type CompiledNode = CompiledSendNode | CompiledWaitNode | CompiledBranchNode | CompiledSplitNode | CompiledExitNode;

/** The immutable, indexed form of a plan. Compile once per plan version, share everywhere. */
export interface CompiledPlan {
  /** The validated plan (frozen). */
  readonly plan: Plan;
  /** A stable identifier of the plan, used to seed A/B splits: `options.key`, else `plan.id`, else `plan.name`. */
  readonly key: string;
  /** The plan version (revision) enrollments record, from `compilePlan(plan, { version })`. Default 1. */
  readonly version: number;
  readonly startNodeId: string;
  /** The plan's default zone. */
  readonly timezone: string;
  readonly quietHours?: CompiledQuietHours;
  readonly exitOn: ReadonlySet<string>;
  readonly nodes: ReadonlyMap<string, CompiledNode>;
}

/** Options of {@link compilePlan}. */
export interface CompilePlanOptions {
  /** The plan version (a campaign's revision number). Default 1. */
  version?: number;
  /** Seed of A/B splits. Default: the plan's `id`, else its `name`, else `"plan"`. */
  key?: string;
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}

function waiting(transitions: ReadonlyArray<{ on: string; to: string; within?: string; after?: string }>): CompiledWaiting {
  const onEvent = new Map<string, CompiledEventTransition>();
  const timeouts: CompiledTimeout[] = [];
  transitions.forEach((t, index) => {
    if (isTimeout(t.on)) timeouts.push({ on: t.on, to: t.to, index, after: parseDuration(t.after!) });
    else onEvent.set(t.on, t.within === undefined ? { on: t.on, to: t.to, index } : { on: t.on, to: t.to, index, within: parseDuration(t.within) });
  });
  return { onEvent, timeouts };
}

/**
 * Compiles a plan into a {@link CompiledPlan}. The plan is validated first; an invalid plan
 * throws a `DriplineError` with code `INVALID_PLAN` whose `details.issues` lists every issue.
 *
 * @example
 * ```ts
 * const compiled = compilePlan(planJson, { version: 1 });
 * const { enrollment, effects } = start(compiled, { now: Date.parse('2026-01-05T17:00:00Z'), contact: { id: 'c1' } });
 * ```
 */
export function compilePlan(input: unknown, options: CompilePlanOptions = {}): CompiledPlan {
  const result = validatePlan(input);
  if (!result.ok) {
    const first = result.issues[0]!;
    throw new DriplineError(
      'INVALID_PLAN',
      `invalid plan: ${first.path ? `${first.path}: ` : ''}${first.message}${result.issues.length > 1 ? ` (and ${result.issues.length - 1} more issue(s))` : ''}`,
      { details: { issues: result.issues } },
    );
  }
  const plan = deepFreeze(result.plan);
  const nodes = new Map<string, CompiledNode>();
  for (const n of plan.nodes) {
    switch (n.action) {
      case 'send':
        if (n.schedule?.at !== undefined) parseLocalTime(n.schedule.at);
        nodes.set(n.id, {
          kind: 'send',
          id: n.id,
          channel: n.channel,
          ...(n.subject === undefined ? {} : { subject: n.subject }),
          body: n.body,
          delay: parseDuration(n.schedule?.delay ?? 'PT0S'),
          ...(n.schedule?.at === undefined ? {} : { at: n.schedule.at }),
          terminal: n.transitions.length === 0,
          ...waiting(n.transitions),
        });
        break;
      case 'wait':
        nodes.set(n.id, { kind: 'wait', id: n.id, ...waiting(n.transitions) });
        break;
      case 'branch':
        nodes.set(n.id, { kind: 'branch', id: n.id, cases: n.cases, else: n.else });
        break;
      case 'split': {
        const total = n.variants.reduce((s, v) => s + v.weight, 0);
        let acc = 0;
        const cumulative = n.variants.map((v) => (acc += v.weight / total));
        cumulative[cumulative.length - 1] = 1;
        nodes.set(n.id, { kind: 'split', id: n.id, variants: n.variants, cumulative });
        break;
      }
      case 'exit':
        nodes.set(n.id, { kind: 'exit', id: n.id });
        break;
    }
  }
  return Object.freeze({
    plan,
    key: options.key ?? plan.id ?? plan.name ?? 'plan',
    version: options.version ?? 1,
    startNodeId: plan.startNodeId,
    timezone: plan.timezone,
    ...(plan.quietHours ? { quietHours: compileQuietHours(plan.quietHours) } : {}),
    exitOn: new Set(plan.exitOn),
    nodes,
  });
}
