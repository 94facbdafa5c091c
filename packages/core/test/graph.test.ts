import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planGraph, planToDot, planToMermaid, validatePlan } from '../src/index.js';

const onboarding = JSON.parse(readFileSync(join(__dirname, '../../../examples/quickstart/onboarding.plan.json'), 'utf8'));

describe('plan graph', () => {
  it('has one node per plan node and one edge per transition, case and variant', () => {
    const plan = {
      version: '1.0' as const,
      startNodeId: 'split',
      nodes: [
        { id: 'split', action: 'split' as const, variants: [{ weight: 1, to: 'a', name: 'A' }, { weight: 3, to: 'b' }] },
        { id: 'a', action: 'send' as const, channel: 'sms' as const, body: 'hi', transitions: [{ on: 'replied', to: 'done', within: 'P1D' }, { on: 'no_reply', to: 'b', after: 'P1D' }] },
        { id: 'b', action: 'branch' as const, cases: [{ if: { attr: 'plan', in: ['pro', 'team'] }, to: 'done' }], else: 'done' },
        { id: 'done', action: 'exit' as const },
      ],
    };
    expect(validatePlan(plan).ok).toBe(true);
    const g = planGraph(plan);
    expect(g.nodes.map((n) => [n.id, n.start])).toEqual([['split', true], ['a', false], ['b', false], ['done', false]]);
    expect(g.edges).toEqual([
      { from: 'split', to: 'a', label: 'A 25%', kind: 'variant' },
      { from: 'split', to: 'b', label: '75%', kind: 'variant' },
      { from: 'a', to: 'done', label: 'replied within P1D', kind: 'event' },
      { from: 'a', to: 'b', label: 'no_reply after P1D', kind: 'timeout' },
      { from: 'b', to: 'done', label: 'plan in ["pro", "team"]', kind: 'case' },
      { from: 'b', to: 'done', label: 'else', kind: 'else' },
    ]);
    const mermaid = planToMermaid(plan);
    expect(mermaid).toContain('n_split{"split"}:::start');
    expect(mermaid).toContain('n_a -. "no_reply after P1D" .-> n_b');
    expect(mermaid).toContain('n_b -- "plan in [#quot;pro#quot;, #quot;team#quot;]" --> n_done');
    const dot = planToDot(plan);
    expect(dot).toContain('"a" -> "b" [label="no_reply after P1D", style=dashed];');
    expect(dot).toContain('"b" -> "done" [label="plan in [\\"pro\\", \\"team\\"]"];');
  });

  it('ids with dashes and dots make valid Mermaid ids, and every node of the onboarding plan is drawn', () => {
    const m = planToMermaid({ version: '1.0', startNodeId: 'x-1.a', nodes: [{ id: 'x-1.a', action: 'exit' }] });
    expect(m).toContain('n_x_2d_1_2e_a(("exit")):::start');
    const onboardingMermaid = planToMermaid(onboarding);
    for (const node of onboarding.nodes) expect(onboardingMermaid).toMatch(new RegExp(`^  n_${node.id.replace(/[^A-Za-z0-9_]/g, (c: string) => `_${c.charCodeAt(0).toString(16)}_`)}[[({]`, 'm'));
  });
});
