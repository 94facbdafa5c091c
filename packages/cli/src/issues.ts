/**
 * Plan issues for people: each of core's `{ code, path, message, severity }` issues, with the
 * value found at its JSON path, formatted one block per issue.
 */
import { validatePlan, type Plan, type PlanIssue } from '@dripline/core';

/** A plan issue together with the value at its path in the plan JSON. */
export interface LocatedIssue extends PlanIssue {
  /** Whether the path leads to a value (false for a required property that is missing). */
  found: boolean;
  /** The value at `path` (the whole plan for the root path `""`); absent when not found. */
  value?: unknown;
}

/** The result of {@link checkPlan}. */
export interface PlanCheck {
  /** True when the plan has no errors (it may still have warnings). */
  ok: boolean;
  /** The issues that refuse the plan. */
  errors: LocatedIssue[];
  /** The issues that do not (unreachable nodes, undeclared template variables...). */
  warnings: LocatedIssue[];
  /** The validated plan, with defaults applied, when `ok`. */
  plan?: Plan;
}

/** Splits `nodes[2].transitions[0].to` into `['nodes', 2, 'transitions', 0, 'to']`. */
export function parsePath(path: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const m of path.matchAll(/\[(\d+)\]|([^.[\]]+)/g)) out.push(m[1] !== undefined ? Number(m[1]) : m[2]!);
  return out;
}

/**
 * The value at a JSON path such as `nodes[2].transitions[0].to` (`""` is the root).
 *
 * @example
 * ```ts
 * valueAtPath({ nodes: [{ id: 'a' }] }, 'nodes[0].id'); // { found: true, value: 'a' }
 * valueAtPath({ nodes: [] }, 'nodes[0].id');            // { found: false }
 * ```
 */
export function valueAtPath(json: unknown, path: string): { found: boolean; value?: unknown } {
  let cur: unknown = json;
  for (const seg of parsePath(path)) {
    if (cur === null || typeof cur !== 'object') return { found: false };
    if (typeof seg === 'number') {
      if (!Array.isArray(cur) || seg >= cur.length) return { found: false };
      cur = cur[seg];
    } else {
      if (Array.isArray(cur) || !Object.prototype.hasOwnProperty.call(cur, seg)) return { found: false };
      cur = (cur as Record<string, unknown>)[seg];
    }
  }
  return cur === undefined ? { found: false } : { found: true, value: cur };
}

/** Adds to each issue the value found at its path in `json`. */
export function locateIssues(json: unknown, issues: readonly PlanIssue[]): LocatedIssue[] {
  return issues.map((issue) => ({ ...issue, ...valueAtPath(json, issue.path) }));
}

/**
 * Validates a parsed plan with core's `validatePlan` and locates every issue in it.
 *
 * @example
 * ```ts
 * const check = checkPlan(JSON.parse(text));
 * if (!check.ok) console.error(formatIssues(check.errors, { file: 'plan.json' }));
 * ```
 */
export function checkPlan(json: unknown): PlanCheck {
  // validatePlan takes a string as JSON text; here a string is a JSON value, and not a plan.
  if (typeof json === 'string') {
    const message = `the plan must be an object, got string ${formatValue(json, 60)}`;
    return { ok: false, errors: [{ code: 'invalid_type', path: '', message, severity: 'error', found: true, value: json }], warnings: [] };
  }
  const result = validatePlan(json);
  const warnings = locateIssues(json, result.warnings);
  if (result.ok) return { ok: true, errors: [], warnings, plan: result.plan };
  return { ok: false, errors: locateIssues(json, result.issues), warnings };
}

/** A value as shown next to its path: compact JSON, cut at `max` characters. */
export function formatValue(value: unknown, max = 70): string {
  const s = JSON.stringify(value) ?? String(value);
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

/** Options of {@link formatIssues}. */
export interface FormatIssuesOptions {
  /** Indentation of every line. Default two spaces. */
  indent?: string;
}

/**
 * Formats issues one block each: severity, code, path and the bad value on the first line,
 * the message below.
 *
 * @example
 * ```ts
 * formatIssues(checkPlan(json).errors);
 * //   error  unknown_target  nodes[0].transitions[0].to = "nowhere"
 * //          target "nowhere" is not the id of any node
 * ```
 */
export function formatIssues(issues: ReadonlyArray<PlanIssue | LocatedIssue>, options: FormatIssuesOptions = {}): string {
  const indent = options.indent ?? '  ';
  const sevWidth = issues.some((i) => i.severity === 'warning') ? 'warning'.length : 'error'.length;
  const lines: string[] = [];
  for (const issue of issues) {
    const where = issue.path === '' ? '(plan root)' : issue.path;
    let value = '';
    if ('found' in issue) value = issue.found ? (issue.path === '' ? '' : ` = ${formatValue(issue.value)}`) : ' (missing)';
    lines.push(`${indent}${issue.severity.padEnd(sevWidth)}  ${issue.code}  ${where}${value}`);
    lines.push(`${indent}${' '.repeat(sevWidth)}  ${issue.message}`);
  }
  return lines.join('\n');
}

/** `1 error`, `2 warnings`... */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
