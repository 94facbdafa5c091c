/**
 * `validatePlan`: shape (zod) first, then the checks that need the whole plan. Every issue
 * says what is wrong (`code`), where (`path`, the JSON path of the offending value, e.g.
 * `nodes[2].transitions[0].to`) and, in `message`, the bad value itself.
 */
import type { core } from 'zod';
import Mustache from 'mustache';
import { parseDuration, quietHoursCoverWholeDay } from '../schedule/index.js';
import { PlanSchema, type Plan, type PlanNode, type Transition } from './schema.js';

/** The codes of plan issues. Errors refuse the plan; warnings do not. */
export type PlanIssueCode =
  // shape
  | 'invalid_json'
  | 'invalid_type'
  | 'required'
  | 'unknown_key'
  | 'invalid_value'
  | 'unsupported_version'
  | 'unknown_action'
  | 'invalid_condition'
  | 'too_small'
  | 'invalid_identifier'
  | 'invalid_duration'
  | 'invalid_time'
  | 'invalid_timezone'
  | 'invalid_date'
  // whole plan
  | 'duplicate_node_id'
  | 'unknown_start_node'
  | 'unknown_target'
  | 'unreachable_node'
  | 'zero_time_cycle'
  | 'timeout_without_after'
  | 'after_on_event'
  | 'within_on_timeout'
  | 'duplicate_transition'
  | 'timeout_in_exit_on'
  | 'wait_without_transitions'
  | 'wait_without_timeout'
  | 'missing_subject'
  | 'subject_on_non_email'
  | 'zero_total_weight'
  | 'quiet_hours_cover_day'
  | 'invalid_template'
  | 'undeclared_variable';

/** One problem found in a plan. */
export interface PlanIssue {
  /** What is wrong, from a closed set. */
  code: PlanIssueCode;
  /** JSON path of the offending value, e.g. `nodes[2].transitions[0].to`; `""` is the root. */
  path: string;
  /** A sentence naming the bad value. */
  message: string;
  /** `error` refuses the plan, `warning` does not. */
  severity: 'error' | 'warning';
}

/** The result of {@link validatePlan}. */
export type ValidatePlanResult =
  | { ok: true; plan: Plan; warnings: PlanIssue[] }
  | { ok: false; issues: PlanIssue[]; warnings: PlanIssue[] };

/** Variables every template may use without declaring them. */
export const BUILTIN_TEMPLATE_VARIABLES: readonly string[] = ['contact_id', 'unsubscribe_url'];

/** Formats a path array as `nodes[2].transitions[0].to`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  const s = JSON.stringify(v);
  return `${typeof v} ${s.length > 60 ? `${s.slice(0, 57)}...` : s}`;
}

function where(path: string): string {
  return path === '' ? 'the plan' : path;
}

function fromZod(issue: core.$ZodIssue): PlanIssue[] {
  const path = formatPath(issue.path);
  const err = (code: PlanIssueCode, message: string, p = path): PlanIssue => ({ code, path: p, message, severity: 'error' });
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'invalid_type':
      if (input === undefined) return [err('required', `${where(path)} is required (expected ${issue.expected})`)];
      return [err('invalid_type', `${where(path)} must be ${issue.expected}, got ${describe(input)}`)];
    case 'unrecognized_keys':
      return issue.keys.map((k) =>
        err('unknown_key', `unknown property "${k}" in ${where(path)}`, formatPath([...issue.path, k])),
      );
    case 'invalid_union': {
      if ('discriminator' in issue && issue.discriminator) {
        const value = (input as Record<string, unknown> | undefined)?.[issue.discriminator];
        if (value === undefined) return [err('required', `${where(path)} is required (one of send, wait, branch, split, exit)`)];
        return [err('unknown_action', `${JSON.stringify(value)} is not a node action; expected one of send, wait, branch, split, exit`)];
      }
      const s = JSON.stringify(input) ?? 'nothing';
      return [
        err(
          'invalid_condition',
          `${s.length > 80 ? `${s.slice(0, 77)}...` : s} is not a valid condition at ${where(path)}; expected {attr, eq|ne|in|exists|gt|gte|lt|lte}, {event}, {all}, {any} or {not}`,
        ),
      ];
    }
    case 'invalid_value': {
      const expected = issue.values.map((v) => JSON.stringify(v)).join(', ');
      // zod reports a missing literal or enum (`version`, `channel`...) as a bad value.
      if (input === undefined) return [err('required', `${where(path)} is required (expected one of ${expected})`)];
      if (path === 'version')
        return [err('unsupported_version', `plan version ${describe(input)} is not supported; expected ${expected}`)];
      return [err('invalid_value', `${where(path)} is ${describe(input)}; expected one of ${expected}`)];
    }
    case 'too_small':
      if (issue.origin === 'string') return [err('too_small', `${where(path)} must not be empty`)];
      if (issue.origin === 'array') return [err('too_small', `${where(path)} must have at least ${String(issue.minimum)} item(s)`)];
      return [err('too_small', `${where(path)} is ${describe(input)}; it must be at least ${String(issue.minimum)}`)];
    case 'custom': {
      const code = (issue.params as { code?: PlanIssueCode } | undefined)?.code ?? 'invalid_value';
      return [err(code, `${where(path)}: ${issue.message}`)];
    }
    default:
      return [err('invalid_value', `${where(path)}: ${issue.message}`)];
  }
}

/** Transitions whose `on` starts with `no_` are timeouts. */
export function isTimeout(on: string): boolean {
  return on.startsWith('no_');
}

/** Every edge of the plan graph, with whether taking it can take no time. */
interface Edge {
  from: string;
  to: string;
  path: string;
  instant: boolean;
}

function edgesOf(node: PlanNode, index: number): Edge[] {
  const at = `nodes[${index}]`;
  switch (node.action) {
    case 'send':
    case 'wait':
      return node.transitions.map((t, i) => ({
        from: node.id,
        to: t.to,
        path: `${at}.transitions[${i}].to`,
        // A wait node's zero-length timeout fires at once; every other transition waits for
        // a send or an event.
        instant: node.action === 'wait' && isTimeout(t.on) && t.after !== undefined && isZero(t.after),
      }));
    case 'branch':
      return [
        ...node.cases.map((c, i) => ({ from: node.id, to: c.to, path: `${at}.cases[${i}].to`, instant: true })),
        { from: node.id, to: node.else, path: `${at}.else`, instant: true },
      ];
    case 'split':
      return node.variants.map((v, i) => ({ from: node.id, to: v.to, path: `${at}.variants[${i}].to`, instant: true }));
    case 'exit':
      return [];
  }
}

/** Whether a duration adds no time at all: `PT0S`, but also `P0D` (zero calendar parts). */
function isZero(iso: string): boolean {
  const d = parseDuration(iso);
  return d.years === 0 && d.months === 0 && d.weeks === 0 && d.days === 0 && d.timeMs === 0;
}

function templateVariables(template: string): string[] | Error {
  try {
    const names: string[] = [];
    const walk = (tokens: unknown[]): void => {
      for (const t of tokens as Array<[string, string, number, number, unknown[]?]>) {
        const [type, value] = t;
        if (type === 'name' || type === '&' || type === '{' || type === '#' || type === '^') names.push(value);
        if ((type === '#' || type === '^') && Array.isArray(t[4])) walk(t[4]);
      }
    };
    walk(Mustache.parse(template));
    return names;
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

function checkPlan(plan: Plan): PlanIssue[] {
  const out: PlanIssue[] = [];
  const error = (code: PlanIssueCode, path: string, message: string) => out.push({ code, path, message, severity: 'error' });
  const warn = (code: PlanIssueCode, path: string, message: string) => out.push({ code, path, message, severity: 'warning' });

  const ids = new Map<string, number>();
  plan.nodes.forEach((n, i) => {
    const first = ids.get(n.id);
    if (first !== undefined) error('duplicate_node_id', `nodes[${i}].id`, `node id "${n.id}" is already used by nodes[${first}]`);
    else ids.set(n.id, i);
  });

  if (!ids.has(plan.startNodeId))
    error('unknown_start_node', 'startNodeId', `startNodeId "${plan.startNodeId}" is not the id of any node`);

  plan.exitOn.forEach((e, i) => {
    if (isTimeout(e)) error('timeout_in_exit_on', `exitOn[${i}]`, `exitOn "${e}" is a timeout name; exitOn takes events`);
  });

  if (plan.quietHours && quietHoursCoverWholeDay(plan.quietHours))
    error('quiet_hours_cover_day', 'quietHours', `quiet hours ${JSON.stringify(plan.quietHours)} leave no time at which a message may be sent`);

  const declared = new Set([...(plan.variables ?? []), ...BUILTIN_TEMPLATE_VARIABLES]);
  const edges: Edge[] = [];

  plan.nodes.forEach((node, i) => {
    const at = `nodes[${i}]`;
    for (const e of edgesOf(node, i)) {
      edges.push(e);
      if (!ids.has(e.to)) error('unknown_target', e.path, `target "${e.to}" is not the id of any node`);
    }
    if (node.action === 'send' || node.action === 'wait') {
      const seen = new Map<string, number>();
      node.transitions.forEach((t: Transition, j) => {
        const tp = `${at}.transitions[${j}]`;
        const prev = seen.get(t.on);
        if (prev !== undefined)
          error('duplicate_transition', `${tp}.on`, `transition on "${t.on}" repeats ${at}.transitions[${prev}]; the first would always win`);
        else seen.set(t.on, j);
        if (isTimeout(t.on)) {
          if (t.after === undefined) error('timeout_without_after', `${tp}.after`, `timeout "${t.on}" needs "after" (e.g. "PT72H")`);
          if (t.within !== undefined) error('within_on_timeout', `${tp}.within`, `timeout "${t.on}" takes "after", not "within" ("${t.within}")`);
        } else if (t.after !== undefined) {
          error('after_on_event', `${tp}.after`, `event transition "${t.on}" takes "within", not "after" ("${t.after}"); timeouts are named "no_<event>"`);
        }
      });
      if (node.action === 'wait') {
        if (node.transitions.length === 0)
          error('wait_without_transitions', `${at}.transitions`, `wait node "${node.id}" has no transitions and would wait forever`);
        else if (!node.transitions.some((t) => isTimeout(t.on)))
          warn('wait_without_timeout', `${at}.transitions`, `wait node "${node.id}" has no "no_*" timeout; a contact who never reacts waits forever`);
      }
    }
    if (node.action === 'send') {
      if (node.channel === 'email' && (node.subject === undefined || node.subject.trim() === ''))
        error('missing_subject', `${at}.subject`, `email node "${node.id}" needs a subject`);
      if (node.channel !== 'email' && node.subject !== undefined)
        warn('subject_on_non_email', `${at}.subject`, `${node.channel} node "${node.id}" has a subject, which ${node.channel} does not show`);
      for (const field of ['subject', 'body'] as const) {
        const tpl = node[field];
        if (tpl === undefined) continue;
        const vars = templateVariables(tpl);
        if (vars instanceof Error) {
          const shown = tpl.length > 60 ? `${tpl.slice(0, 57)}...` : tpl;
          error('invalid_template', `${at}.${field}`, `template ${JSON.stringify(shown)} of node "${node.id}" does not parse: ${vars.message}`);
          continue;
        }
        for (const v of new Set(vars)) {
          if (!declared.has(v) && !declared.has(v.split('.')[0] ?? v))
            warn('undeclared_variable', `${at}.${field}`, `template variable "{{${v}}}" is not declared in "variables"`);
        }
      }
    }
    if (node.action === 'split' && node.variants.reduce((s, v) => s + v.weight, 0) <= 0)
      error('zero_total_weight', `${at}.variants`, `split node "${node.id}" has weights that add up to 0`);
  });

  // Reachability from the start node, over every edge.
  if (ids.has(plan.startNodeId)) {
    const next = new Map<string, string[]>();
    for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
    const seen = new Set([plan.startNodeId]);
    const stack = [plan.startNodeId];
    while (stack.length) for (const to of next.get(stack.pop()!) ?? []) if (!seen.has(to) && ids.has(to)) (seen.add(to), stack.push(to));
    plan.nodes.forEach((n, i) => {
      if (!seen.has(n.id) && ids.get(n.id) === i)
        warn('unreachable_node', `nodes[${i}]`, `node "${n.id}" cannot be reached from startNodeId "${plan.startNodeId}"`);
    });
  }

  // Cycles made only of instant edges (branch, split, zero timeouts) would loop without end.
  const instant = new Map<string, Edge[]>();
  for (const e of edges) if (e.instant && ids.has(e.to)) instant.set(e.from, [...(instant.get(e.from) ?? []), e]);
  const state = new Map<string, 1 | 2>();
  const reported = new Set<string>();
  const visit = (id: string, trail: Edge[]): void => {
    state.set(id, 1);
    for (const e of instant.get(id) ?? []) {
      const s = state.get(e.to);
      if (s === 1) {
        const start = trail.findIndex((t) => t.from === e.to);
        const cycle = [...trail.slice(start === -1 ? trail.length : start), e];
        const key = cycle.map((c) => c.from).sort().join('>');
        if (!reported.has(key)) {
          reported.add(key);
          error('zero_time_cycle', e.path, `nodes ${cycle.map((c) => `"${c.from}"`).join(' → ')} → "${e.to}" form a loop that takes no time`);
        }
      } else if (s === undefined) visit(e.to, [...trail, e]);
    }
    state.set(id, 2);
  };
  for (const id of ids.keys()) if (!state.has(id)) visit(id, []);

  return out;
}

/**
 * Validates a plan: its JSON shape, then every whole-plan check (duplicate ids, unknown
 * targets, unreachable nodes, loops that take no time, timeouts without `after`, quiet
 * hours that leave no time, undeclared template variables...).
 *
 * @param json The plan as parsed JSON, or as a JSON string.
 * @returns `{ ok: true, plan, warnings }` with defaults applied, or `{ ok: false, issues, warnings }`.
 *
 * @example
 * ```ts
 * const result = validatePlan(JSON.parse(text));
 * if (!result.ok) for (const i of result.issues) console.error(`${i.path}: ${i.message} [${i.code}]`);
 * ```
 */
export function validatePlan(json: unknown): ValidatePlanResult {
  let value = json;
  if (typeof json === 'string') {
    try {
      value = JSON.parse(json);
    } catch (e) {
      const message = `the plan is not valid JSON: ${e instanceof Error ? e.message : String(e)}`;
      return { ok: false, issues: [{ code: 'invalid_json', path: '', message, severity: 'error' }], warnings: [] };
    }
  }
  const parsed = PlanSchema.safeParse(value, { reportInput: true });
  if (!parsed.success) return { ok: false, issues: parsed.error.issues.flatMap(fromZod), warnings: [] };
  const all = checkPlan(parsed.data);
  const issues = all.filter((i) => i.severity === 'error');
  const warnings = all.filter((i) => i.severity === 'warning');
  return issues.length ? { ok: false, issues, warnings } : { ok: true, plan: parsed.data, warnings };
}
