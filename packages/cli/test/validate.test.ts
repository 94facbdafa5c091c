import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dripline, FIXTURES, tempDir, trialPlan, walk } from './helpers.js';

const BROKEN = join(FIXTURES, 'broken');
const expected: Record<string, { code: string; path: string; messageIncludes: string }> = JSON.parse(readFileSync(join(BROKEN, 'expected.json'), 'utf8'));
/** Broken plans that are JSON (invalid-json.json is an I/O-level error, tested apart). */
const brokenPlans = readdirSync(BROKEN).filter((f) => f.endsWith('.json') && f !== 'expected.json' && f !== 'invalid-json.json').sort();

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('dripline validate', () => {
  it('accepts a valid plan with exit code 0 and names it', () => {
    const file = tmp.write('ok.json', trialPlan());
    const r = dripline(['validate', file], tmp.dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('valid plan "Trial reminder"');
    expect(r.stdout).toContain(`${trialPlan().nodes.length} nodes`);
  });

  it('prints code, path and bad value of an error, a count, and exits 1', () => {
    const file = join(BROKEN, 'unknown-target-send.json');
    const json = JSON.parse(readFileSync(file, 'utf8'));
    const { code, path } = expected['unknown-target-send.json']!;
    const r = dripline(['validate', file], tmp.dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`${code}  ${path} = ${JSON.stringify(walk(json, path))}`);
    expect(r.stdout).toMatch(/✖ 1 error in /);
  });

  it('counts every error of a plan with several', () => {
    const plan = trialPlan();
    plan.nodes[0]!.transitions![0]!.to = 'nowhere';
    plan.exitOn = ['no_click'];
    const file = tmp.write('two-errors.json', plan);
    const r = dripline(['validate', '--json', file], tmp.dir);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.errors).toBe(report.files[0].errors.length);
    expect(report.errors).toBeGreaterThanOrEqual(2);
    expect(report.files[0].errors.map((i: { path: string }) => i.path)).toEqual(expect.arrayContaining(['nodes[0].transitions[0].to', 'exitOn[0]']));
    const text = dripline(['validate', file], tmp.dir);
    expect(text.stdout).toContain(`✖ ${report.errors} errors in`);
  });

  it('reports every broken fixture with its expected code, path and value (lint --json over all of them)', () => {
    const r = dripline(['lint', '--json', ...brokenPlans.map((f) => join(BROKEN, f))], tmp.dir);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { files: Array<{ file: string; ok: boolean; errors: Array<{ code: string; path: string; message: string; value?: unknown }> }> };
    expect(report.files).toHaveLength(brokenPlans.length);
    for (const f of report.files) {
      const name = f.file.split('/').pop()!;
      const want = expected[name];
      expect(want, `expected.json has ${name}`).toBeDefined();
      expect(f.ok, name).toBe(false);
      const issue = f.errors.find((i) => i.code === want!.code && i.path === want!.path);
      expect(issue, `${name}: ${want!.code} at ${want!.path} in ${JSON.stringify(f.errors)}`).toBeDefined();
      expect(issue!.message).toContain(want!.messageIncludes);
      const json = JSON.parse(readFileSync(join(BROKEN, name), 'utf8'));
      expect(issue!.value, `${name}: value at ${want!.path}`).toEqual(walk(json, want!.path));
    }
  });

  it('prints the same issues as text, path by path', () => {
    const sample = brokenPlans.slice(0, 12);
    const r = dripline(['lint', ...sample.map((f) => join(BROKEN, f))], tmp.dir);
    expect(r.code).toBe(1);
    for (const name of sample) {
      const { code, path } = expected[name]!;
      expect(r.stdout, name).toContain(`${code}  ${path === '' ? '(plan root)' : path}`);
    }
  });

  it('treats a file holding a JSON string as a string, not as plan text to parse again', () => {
    const inner = JSON.stringify(trialPlan());
    const file = tmp.write('string.json', JSON.stringify(inner));
    const r = dripline(['validate', '--json', file], tmp.dir);
    expect(r.code).toBe(1);
    const issue = JSON.parse(r.stdout).files[0].errors[0];
    expect(issue).toMatchObject({ code: 'invalid_type', path: '', value: inner });
  });

  it('names a missing file and exits 2', () => {
    const r = dripline(['validate', 'no-such-plan.json'], tmp.dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no-such-plan.json: no such file');
    expect(r.stdout).toBe('');
  });

  it('names a file that is not JSON with the line and column, and exits 2', () => {
    const r = dripline(['validate', join(BROKEN, 'invalid-json.json')], tmp.dir);
    expect(r.code).toBe(2);
    // The missing comma after `"version": "1.0"` is found at the next property: line 3, column 3.
    expect(r.stderr).toMatch(/invalid-json\.json:3:3: not valid JSON/);
    const other = tmp.write('cut.json', '{\n  "version": "1.0",\n  "nodes": [\n    { "id": "a",');
    const cut = dripline(['validate', other], tmp.dir);
    expect(cut.code).toBe(2);
    expect(cut.stderr).toMatch(/cut\.json:4:\d+: not valid JSON/);
  });

  it('exits 2 on a directory and on a missing argument', () => {
    expect(dripline(['validate', tmp.dir], tmp.dir).code).toBe(2);
    const r = dripline(['validate'], tmp.dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("missing required argument 'plan.json'");
  });
});

describe('dripline lint', () => {
  const withWarnings = () => {
    const plan = trialPlan({ variables: [] }); // {{name}} is now undeclared
    plan.nodes.push({ id: 'orphan', action: 'exit' } as never); // unreachable
    return plan;
  };

  it('prints warnings that validate hides, and passes without --strict', () => {
    const file = tmp.write('warn.json', withWarnings());
    const v = dripline(['validate', file], tmp.dir);
    expect(v.code).toBe(0);
    expect(v.stdout).not.toContain('unreachable_node');
    expect(v.stdout).toContain('3 warnings'); // {{name}} in the subject and the SMS body, and the orphan
    const r = dripline(['lint', file], tmp.dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('unreachable_node  nodes[3] = {"id":"orphan","action":"exit"}');
    expect(r.stdout).toContain('undeclared_variable  nodes[0].subject = "Hi {{name}}"');
    expect(r.stdout).toContain('0 errors, 3 warnings');
  });

  it('fails on warnings with --strict', () => {
    const file = tmp.write('warn2.json', withWarnings());
    const r = dripline(['lint', '--strict', file], tmp.dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('warnings fail under --strict');
    const clean = tmp.write('clean.json', trialPlan());
    expect(dripline(['lint', '--strict', clean], tmp.dir).code).toBe(0);
  });

  it('checks several files and reports each', () => {
    const a = tmp.write('a.json', trialPlan());
    const b = tmp.write('b.json', withWarnings());
    const c = join(BROKEN, 'duplicate-node-id.json');
    const r = dripline(['lint', '--json', a, b, c], tmp.dir);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.files.map((f: { ok: boolean }) => f.ok)).toEqual([true, true, false]);
    expect(report.warnings).toBe(report.files[1].warnings.length);
    expect(report.files[1].warnings.length).toBeGreaterThan(0);
  });

  it('exits 2 when one of the files cannot be read, and still reports the others', () => {
    const a = tmp.write('fine.json', trialPlan());
    const r = dripline(['lint', a, 'gone.json', join(BROKEN, 'invalid-json.json')], tmp.dir);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('✔ ');
    expect(r.stderr).toContain('gone.json: no such file');
    expect(r.stderr).toMatch(/invalid-json\.json:3:3/);
    expect(r.stdout).toContain('2 unreadable');
  });
});
