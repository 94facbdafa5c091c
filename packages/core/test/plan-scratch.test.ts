import { it } from 'vitest';
import { readFileSync } from 'node:fs';
import { validatePlan } from '../src/index.js';
const base = (nodes: unknown[], extra: Record<string, unknown> = {}) => ({ version: '1.0', startNodeId: 'a', nodes, ...extra });
const show = (label: string, v: unknown) => { try { console.log(label, JSON.stringify(validatePlan(v), (k, v) => k === 'plan' ? '[plan]' : v, 1)); } catch (e) { console.log(label, 'THREW', e); } };
it('scratch', () => {
  show('P0D cycle', base([{ id: 'a', action: 'wait', transitions: [{ on: 'no_x', to: 'b', after: 'P0D' }] }, { id: 'b', action: 'branch', cases: [{ if: { event: 'opened' }, to: 'c' }], else: 'a' }, { id: 'c', action: 'exit' }]));
  show('tpl', base([{ id: 'a', action: 'send', channel: 'sms', body: 'Hi {{#x}} there' }]));
  show('trans str', base([{ id: 'a', action: 'send', channel: 'sms', body: 'Hi', transitions: 'opened' }]));
  show('body num', base([{ id: 'a', action: 'send', channel: 'sms', body: 42 }]));
  show('allquiet', base([{ id: 'a', action: 'exit' }], { quietHours: { start: '21:00', end: '07:00', days: ['mon','tue','wed','thu','fri','sat','sun'] } }));
  show('onboarding', JSON.parse(readFileSync('examples/quickstart/onboarding.plan.json', 'utf8')));
  show('undefined', undefined);
  show('null', null);
  show('nochannel', base([{ id: 'a', action: 'send', body: 'x' }]));
});
