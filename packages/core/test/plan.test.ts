/**
 * The plan layer: validatePlan (a corpus of broken plans, one problem each), warnings,
 * compilePlan, the JSON Schema export, message rendering and path formatting.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  compilePlan,
  formatPath,
  isDriplineError,
  parseDuration,
  planJsonSchema,
  renderMessage,
  validatePlan,
  type CompiledSendNode,
  type CompiledSplitNode,
  type CompiledWaitNode,
  type PlanIssue,
  type PlanIssueCode,
  type ValidatePlanResult,
} from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const plansDir = join(here, 'fixtures', 'plans');
const brokenDir = join(plansDir, 'broken');
const onboardingPath = join(here, '..', '..', '..', 'examples', 'quickstart', 'onboarding.plan.json');

const readText = (path: string): string => readFileSync(path, 'utf8');
const readJson = (path: string): unknown => JSON.parse(readText(path)) as unknown;
const onboarding = (): Record<string, unknown> => readJson(onboardingPath) as Record<string, unknown>;

interface Expected {
  code: PlanIssueCode;
  path: string;
  messageIncludes: string;
}
const manifest = readJson(join(brokenDir, 'expected.json')) as Record<string, Expected>;
const corpus = Object.entries(manifest).map(([file, expected]) => ({ file, ...expected }));

function issuesOf(result: ValidatePlanResult): PlanIssue[] {
  if (result.ok) throw new Error(`expected the plan to be refused; it was accepted with warnings ${JSON.stringify(result.warnings)}`);
  return result.issues;
}

/** Every code of PlanIssueCode that refuses a plan (the warnings are tested further down). */
const ERROR_CODES: PlanIssueCode[] = [
  'invalid_json', 'invalid_type', 'required', 'unknown_key', 'invalid_value', 'unsupported_version',
  'unknown_action', 'invalid_condition', 'too_small', 'invalid_identifier', 'invalid_duration',
  'invalid_time', 'invalid_timezone', 'invalid_date', 'duplicate_node_id', 'unknown_start_node',
  'unknown_target', 'zero_time_cycle', 'timeout_without_after', 'after_on_event', 'within_on_timeout',
  'duplicate_transition', 'timeout_in_exit_on', 'wait_without_transitions', 'missing_subject',
  'zero_total_weight', 'quiet_hours_cover_day', 'invalid_template',
];

/** A small valid plan: an SMS that waits for a click or a day, then exits. */
function smallPlan(): Record<string, any> {
  return {
    version: '1.0',
    startNodeId: 'intro',
    nodes: [
      {
        id: 'intro',
        action: 'send',
        channel: 'sms',
        body: 'Your trial ends soon.',
        transitions: [
          { on: 'clicked', to: 'done' },
          { on: 'no_click', to: 'done', after: 'P1D' },
        ],
      },
      { id: 'done', action: 'exit' },
    ],
  };
}

describe('validatePlan: the corpus of broken plans', () => {
  it('has at least 35 plans, one manifest entry per file, and covers every error code', () => {
    const files = readdirSync(brokenDir).filter((f) => f.endsWith('.json') && f !== 'expected.json').sort();
    expect(files.length).toBeGreaterThanOrEqual(35);
    expect(Object.keys(manifest).sort()).toEqual(files);
    const covered = new Set(corpus.map((c) => c.code));
    expect(ERROR_CODES.filter((code) => !covered.has(code))).toEqual([]);
  });

  it.each(corpus)('$file is refused with $code at "$path"', ({ file, code, path, messageIncludes }) => {
    const text = readText(join(brokenDir, file));
    const input = code === 'invalid_json' ? text : (JSON.parse(text) as unknown);
    const issues = issuesOf(validatePlan(input));
    const match = issues.find((i) => i.code === code && i.path === path);
    expect(match, `issues were ${JSON.stringify(issues, null, 1)}`).toBeDefined();
    expect(match!.message).toContain(messageIncludes);
    expect(match!.severity).toBe('error');
    // Each file is valid except for exactly one problem.
    expect(issues).toHaveLength(1);
  });

  it.each(corpus.filter((c) => c.code !== 'invalid_json'))('$file gives the same issues as text and as parsed JSON', ({ file }) => {
    const text = readText(join(brokenDir, file));
    expect(validatePlan(text)).toEqual(validatePlan(JSON.parse(text)));
  });

  it('accepts each corpus plan once its one problem is repaired (the base plans are valid)', () => {
    const repaired = smallPlan();
    expect(validatePlan(repaired)).toMatchObject({ ok: true, warnings: [] });
    const typo = readJson(join(brokenDir, 'unknown-key.json')) as Record<string, any>;
    typo.nodes[0].transitions = typo.nodes[0].transitons;
    delete typo.nodes[0].transitons;
    expect(validatePlan(typo)).toMatchObject({ ok: true, warnings: [] });
    const cycle = readJson(join(brokenDir, 'zero-time-cycle-zero-timeout.json')) as Record<string, any>;
    cycle.nodes[0].transitions[1].after = 'PT1M';
    expect(validatePlan(cycle)).toMatchObject({ ok: true, warnings: [] });
  });

  it('reports every issue of a plan with several problems, not only the first', () => {
    const plan = smallPlan();
    plan.timezone = 'Mars/Olympus';
    plan.nodes[0].transitions[1].after = '72H';
    const issues = issuesOf(validatePlan(plan));
    expect(issues.map((i) => [i.code, i.path])).toEqual(
      expect.arrayContaining([
        ['invalid_timezone', 'timezone'],
        ['invalid_duration', 'nodes[0].transitions[1].after'],
      ]),
    );
  });
});

describe('validatePlan: real plans', () => {
  it('accepts the complete onboarding plan with no warnings and applies defaults', () => {
    const result = validatePlan(onboarding());
    expect(result).toMatchObject({ ok: true, warnings: [] });
    if (!result.ok) return;
    expect(result.plan.startNodeId).toBe('email_intro');
    expect(result.plan.nodes.map((n) => n.id)).toEqual(['email_intro', 'email_bump_1', 'wait_click', 'sms_nudge', 'done']);
  });

  it('refuses the seed-003 fragment only because its transitions point at nodes it does not include', () => {
    const result = validatePlan(readJson(join(plansDir, 'seed-003-fragment.json')));
    const issues = issuesOf(result);
    expect(issues.map((i) => [i.code, i.path]).sort()).toEqual([
      ['unknown_target', 'nodes[0].transitions[0].to'],
      ['unknown_target', 'nodes[0].transitions[1].to'],
    ]);
    expect(issues[0]!.message).toContain('"wait_click"');
    expect(issues[1]!.message).toContain('"email_bump_1"');
  });

  it('treats a send node without a channel (the seed-003 shape) as email', () => {
    const fragment = readJson(join(plansDir, 'seed-003-fragment.json')) as Record<string, any>;
    fragment.nodes[0].transitions = [];
    const result = validatePlan(fragment);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.plan.nodes[0]).toMatchObject({ action: 'send', channel: 'email' });
  });

  it('refuses the DESIGN.md full-contract example only for its unknown targets', () => {
    const issues = issuesOf(validatePlan(readJson(join(plansDir, 'design-contract.json'))));
    expect(issues.map((i) => [i.code, i.path]).sort()).toEqual([
      ['unknown_target', 'nodes[0].transitions[1].to'],
      ['unknown_target', 'nodes[3].variants[0].to'],
      ['unknown_target', 'nodes[3].variants[1].to'],
      ['unknown_target', 'nodes[4].cases[0].to'],
      ['unknown_target', 'nodes[4].else'],
    ]);
  });
});

describe('validatePlan: warnings', () => {
  it('warns about an unreachable node and still accepts the plan', () => {
    const plan = smallPlan();
    plan.nodes.push({ id: 'orphan', action: 'exit' });
    const result = validatePlan(plan);
    expect(result.ok).toBe(true);
    expect(result.warnings).toEqual([
      expect.objectContaining({ code: 'unreachable_node', path: 'nodes[2]', severity: 'warning', message: expect.stringContaining('"orphan"') }),
    ]);
  });

  it('warns about a template variable that is not declared, naming it', () => {
    const plan = smallPlan();
    plan.variables = ['link'];
    plan.nodes[0].body = 'Hi {{name}}, tap {{link}} or {{unsubscribe_url}}';
    const result = validatePlan(plan);
    expect(result.ok).toBe(true);
    // `link` is declared and `unsubscribe_url` is built in: only `name` is warned about.
    expect(result.warnings).toEqual([
      expect.objectContaining({ code: 'undeclared_variable', path: 'nodes[0].body', severity: 'warning', message: expect.stringContaining('{{name}}') }),
    ]);
  });

  it('warns about a wait node without a no_* timeout', () => {
    const plan = smallPlan();
    plan.nodes[0].transitions = [{ on: 'delivered', to: 'hold' }];
    plan.nodes.splice(1, 0, { id: 'hold', action: 'wait', transitions: [{ on: 'clicked', to: 'done' }] });
    const result = validatePlan(plan);
    expect(result.ok).toBe(true);
    expect(result.warnings).toEqual([
      expect.objectContaining({ code: 'wait_without_timeout', path: 'nodes[1].transitions', severity: 'warning', message: expect.stringContaining('"hold"') }),
    ]);
  });

  it('warns about a subject on a non-email node', () => {
    const plan = smallPlan();
    plan.nodes[0].subject = 'Trial ending';
    const result = validatePlan(plan);
    expect(result.ok).toBe(true);
    expect(result.warnings).toEqual([
      expect.objectContaining({ code: 'subject_on_non_email', path: 'nodes[0].subject', severity: 'warning', message: expect.stringContaining('sms') }),
    ]);
  });

  it('returns the warnings of a refused plan too', () => {
    const plan = smallPlan();
    plan.nodes[0].transitions[0].to = 'nowhere';
    plan.nodes.push({ id: 'orphan', action: 'exit' });
    const result = validatePlan(plan);
    expect(result.ok).toBe(false);
    expect(result.warnings.map((w) => w.code)).toContain('unreachable_node');
  });
});

describe('compilePlan', () => {
  it('throws DriplineError INVALID_PLAN with every issue in details.issues', () => {
    const broken = readJson(join(brokenDir, 'unknown-target-send.json'));
    let caught: unknown;
    try {
      compilePlan(broken);
    } catch (e) {
      caught = e;
    }
    expect(isDriplineError(caught, 'INVALID_PLAN')).toBe(true);
    if (!isDriplineError(caught)) return;
    expect(caught.message).toContain('nodes[0].transitions[0].to');
    const issues = caught.details.issues as PlanIssue[];
    expect(issues).toEqual([expect.objectContaining({ code: 'unknown_target', path: 'nodes[0].transitions[0].to' })]);
  });

  it('freezes the compiled plan and does not freeze the caller\'s input', () => {
    const input = onboarding();
    const compiled = compilePlan(input);
    expect(Object.isFrozen(compiled)).toBe(true);
    expect(Object.isFrozen(compiled.plan)).toBe(true);
    expect(Object.isFrozen(compiled.plan.nodes)).toBe(true);
    expect(Object.isFrozen(compiled.plan.nodes[0])).toBe(true);
    expect(Object.isFrozen((compiled.plan.nodes[0] as { transitions: unknown[] }).transitions[0])).toBe(true);
    expect(Object.isFrozen(input)).toBe(false);
    expect(Object.isFrozen((input.nodes as unknown[])[0])).toBe(false);
  });

  it('parses durations once, into the compiled nodes', () => {
    const compiled = compilePlan(onboarding());
    const sms = compiled.nodes.get('sms_nudge') as CompiledSendNode;
    expect(sms.kind).toBe('send');
    expect(sms.delay.timeMs).toBe(3_600_000);
    expect(sms.delay).toBe(parseDuration('PT1H'));
    expect(sms.at).toBe('10:00');
    expect(sms.terminal).toBe(true);
    const intro = compiled.nodes.get('email_intro') as CompiledSendNode;
    expect(intro.delay.timeMs).toBe(0);
    expect(intro.terminal).toBe(false);
    expect(intro.at).toBeUndefined();
  });

  it('indexes event transitions by event in onEvent and timeouts in timeouts', () => {
    const compiled = compilePlan(onboarding());
    const intro = compiled.nodes.get('email_intro') as CompiledSendNode;
    expect([...intro.onEvent.keys()]).toEqual(['opened']);
    expect(intro.onEvent.get('opened')).toMatchObject({ on: 'opened', to: 'wait_click', index: 0 });
    expect(intro.onEvent.get('opened')!.within!.timeMs).toBe(72 * 3_600_000);
    expect(intro.timeouts).toHaveLength(1);
    expect(intro.timeouts[0]).toMatchObject({ on: 'no_open', to: 'email_bump_1', index: 1 });
    expect(intro.timeouts[0]!.after.timeMs).toBe(72 * 3_600_000);

    const wait = compiled.nodes.get('wait_click') as CompiledWaitNode;
    expect(wait.kind).toBe('wait');
    expect(wait.onEvent.get('clicked')).toEqual({ on: 'clicked', to: 'done', index: 0 });
    expect(wait.onEvent.has('no_click')).toBe(false);
    expect(wait.timeouts.map((t) => [t.on, t.to, t.index, t.after.days, t.after.calendar])).toEqual([['no_click', 'sms_nudge', 1, 2, true]]);
  });

  it('gives split nodes cumulative weights that end at exactly 1', () => {
    // Seven equal weights: adding 1/7 seven times gives 0.9999999999999998 in floating point.
    const plan = {
      version: '1.0',
      startNodeId: 'ab',
      nodes: [
        { id: 'ab', action: 'split', variants: Array.from({ length: 7 }, () => ({ weight: 1, to: 'done' })) },
        { id: 'done', action: 'exit' },
      ],
    };
    const split = compilePlan(plan).nodes.get('ab') as CompiledSplitNode;
    expect(split.kind).toBe('split');
    expect(split.cumulative).toHaveLength(7);
    expect(split.cumulative[0]).toBeCloseTo(1 / 7, 12);
    expect(split.cumulative[3]).toBeCloseTo(4 / 7, 12);
    expect(split.cumulative[6]).toBe(1);
    for (let i = 1; i < 7; i++) expect(split.cumulative[i]!).toBeGreaterThan(split.cumulative[i - 1]!);

    const uneven = compilePlan({ ...plan, nodes: [{ id: 'ab', action: 'split', variants: [{ weight: 30, to: 'done' }, { weight: 0, to: 'done' }, { weight: 10, to: 'done' }] }, plan.nodes[1]] });
    expect((uneven.nodes.get('ab') as CompiledSplitNode).cumulative).toEqual([0.75, 0.75, 1]);
  });

  it('applies defaults: timezone UTC, no exitOn, no transitions', () => {
    const compiled = compilePlan({ version: '1.0', startNodeId: 'only', nodes: [{ id: 'only', action: 'send', channel: 'sms', body: 'hi' }] });
    expect(compiled.timezone).toBe('UTC');
    expect(compiled.plan.timezone).toBe('UTC');
    expect(compiled.plan.exitOn).toEqual([]);
    expect(compiled.exitOn.size).toBe(0);
    expect(compiled.plan.nodes[0]).toMatchObject({ transitions: [] });
    expect(compiled.quietHours).toBeUndefined();
    expect(compiled.key).toBe('plan');
    expect(compiled.version).toBe(1);
    const only = compiled.nodes.get('only') as CompiledSendNode;
    expect(only.terminal).toBe(true);
    expect(only.onEvent.size).toBe(0);
    expect(only.timeouts).toEqual([]);
    expect(only.delay.timeMs).toBe(0);
  });

  it('keeps the plan settings: zone, exitOn, quiet hours, key and version', () => {
    const compiled = compilePlan(onboarding(), { version: 3 });
    expect(compiled.timezone).toBe('America/Los_Angeles');
    expect([...compiled.exitOn]).toEqual(['unsubscribed']);
    expect(compiled.quietHours).toMatchObject({ startMinute: 21 * 60, endMinute: 7 * 60 + 30 });
    expect(compiled.key).toBe('Onboarding');
    expect(compiled.version).toBe(3);
    expect(compiled.startNodeId).toBe('email_intro');
    expect([...compiled.nodes.keys()]).toEqual(['email_intro', 'email_bump_1', 'wait_click', 'sms_nudge', 'done']);
  });
});

describe('planJsonSchema', () => {
  const schema = planJsonSchema() as {
    $schema?: string;
    type?: string;
    required?: string[];
    additionalProperties?: unknown;
    properties?: Record<string, any>;
  };

  it('is a draft 2020-12 schema of an object with nodes', () => {
    expect(schema.$schema).toContain('2020-12');
    expect(schema.type).toBe('object');
    expect(schema.properties?.nodes).toMatchObject({ type: 'array', minItems: 1 });
    expect(schema.required).toEqual(expect.arrayContaining(['version', 'startNodeId', 'nodes']));
    expect(schema.required).not.toContain('timezone');
    expect(schema.additionalProperties).toBe(false);
  });

  it('describes every key of the onboarding plan (a structural check)', () => {
    const plan = onboarding();
    const props = schema.properties!;
    expect(Object.keys(plan).filter((k) => !(k in props))).toEqual([]);
    for (const key of (schema.required ?? [])) expect(plan).toHaveProperty(key);
    expect(props.version).toMatchObject({ const: '1.0' });

    const variants = props.nodes.items.oneOf ?? props.nodes.items.anyOf;
    expect(Array.isArray(variants)).toBe(true);
    const byAction = new Map<string, any>(variants.map((v: any) => [v.properties.action.const, v]));
    expect([...byAction.keys()].sort()).toEqual(['branch', 'exit', 'send', 'split', 'wait']);
    for (const node of plan.nodes as Array<Record<string, unknown>>) {
      const variant = byAction.get(node.action as string);
      expect(variant, `no schema for action ${String(node.action)}`).toBeDefined();
      expect(Object.keys(node).filter((k) => !(k in variant.properties))).toEqual([]);
      for (const key of variant.required as string[]) expect(node).toHaveProperty(key);
    }
  });
});

describe('renderMessage', () => {
  const vars = { name: '<b>Ann</b> & co' };

  it('HTML-escapes variables in email bodies but never in the subject', () => {
    const out = renderMessage({ channel: 'email', subject: 'Hi {{name}}', body: '<p>Hi {{name}}</p>' }, vars);
    expect(out.body).toBe('<p>Hi &lt;b&gt;Ann&lt;&#x2F;b&gt; &amp; co</p>');
    expect(out.subject).toBe('Hi <b>Ann</b> & co');
  });

  it('does not escape SMS or WhatsApp bodies', () => {
    expect(renderMessage({ channel: 'sms', body: 'Hi {{name}}' }, vars)).toEqual({ body: 'Hi <b>Ann</b> & co' });
    expect(renderMessage({ channel: 'whatsapp', body: 'Hi {{name}}' }, vars).body).toBe('Hi <b>Ann</b> & co');
  });

  it('renders a missing or null variable as empty', () => {
    expect(renderMessage({ channel: 'sms', body: 'Hi {{name}}!' }, {}).body).toBe('Hi !');
    expect(renderMessage({ channel: 'sms', body: 'Hi {{name}}!' }, { name: null }).body).toBe('Hi !');
    expect(renderMessage({ channel: 'email', subject: '[{{missing}}]', body: '<p>{{missing}}</p>' }, {})).toEqual({ subject: '[]', body: '<p></p>' });
  });

  it('follows escapeHtml when given', () => {
    expect(renderMessage({ channel: 'email', body: '{{name}}' }, vars, { escapeHtml: false }).body).toBe('<b>Ann</b> & co');
    expect(renderMessage({ channel: 'sms', body: '{{name}}' }, vars, { escapeHtml: true }).body).toContain('&lt;b&gt;');
  });
});

describe('formatPath', () => {
  it('formats indexes in brackets and keys with dots', () => {
    expect(formatPath(['nodes', 2, 'transitions', 0, 'to'])).toBe('nodes[2].transitions[0].to');
    expect(formatPath(['quietHours', 'dates', 1])).toBe('quietHours.dates[1]');
    expect(formatPath([])).toBe('');
    expect(formatPath([0, 'id'])).toBe('[0].id');
  });
});
