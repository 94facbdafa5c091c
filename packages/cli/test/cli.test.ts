import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dripline, FIXTURES, PKG, tempDir, trialPlan } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const pkg = JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8'));

describe('dripline schema, --help, --version', () => {
  it('prints the plan JSON Schema as valid JSON with the plan\'s top-level properties', () => {
    const r = dripline(['schema'], tmp.dir);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout);
    expect(schema.$schema).toMatch(/json-schema\.org/);
    expect(schema.type).toBe('object');
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['version', 'name', 'timezone', 'quietHours', 'startNodeId', 'exitOn', 'nodes']));
    expect(schema.required).toEqual(expect.arrayContaining(['version', 'startNodeId', 'nodes']));
    expect(schema.additionalProperties).toBe(false);
  });

  it('prints the package version', () => {
    const r = dripline(['--version'], tmp.dir);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('has help for the program and every command, exit 0', () => {
    const top = dripline(['--help'], tmp.dir);
    expect(top.code).toBe(0);
    for (const cmd of ['validate', 'lint', 'graph', 'simulate', 'schema']) {
      expect(top.stdout).toMatch(new RegExp(`^\\s+${cmd}\\b`, 'm'));
      const r = dripline([cmd, '--help'], tmp.dir);
      expect(r.code, cmd).toBe(0);
      expect(r.stdout, cmd).toContain(`Usage: dripline ${cmd}`);
    }
    expect(dripline(['simulate', '--help'], tmp.dir).stdout).toContain('--events <file>');
  });

  it('exits 2 on an unknown command or option, and without a command', () => {
    expect(dripline(['frobnicate'], tmp.dir).code).toBe(2);
    expect(dripline(['validate', '--nope', 'x.json'], tmp.dir).code).toBe(2);
    const none = dripline([], tmp.dir);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: dripline');
  });

  it('stops quietly when its output pipe closes early', () => {
    const file = tmp.write('plan.json', trialPlan());
    const r = spawnSync('sh', ['-c', `node "${join(PKG, 'dist/bin.js')}" simulate "${file}" -n 1000 --show all --start 2026-03-02T16:00:00Z | head -n 1`], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/^Simulated "Trial reminder"/);
    expect(r.stderr).toBe(''); // no EPIPE stack trace, though ~1 MB of timelines found no reader
  });
});

describe('programmatic API (the built package)', () => {
  it('runCli returns the exit code and writes to the given streams', async () => {
    const { runCli, ExitCode } = await import(join(PKG, 'dist/index.js'));
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, cwd: join(FIXTURES, 'broken') };
    const code = await runCli(['validate', 'duplicate-node-id.json'], io);
    expect(code).toBe(ExitCode.Invalid);
    expect(out.join('')).toContain('duplicate_node_id  nodes[2].id = "done"');
    expect(await runCli(['validate', 'gone.json'], io)).toBe(ExitCode.Usage);
    expect(err.join('')).toContain('gone.json: no such file');
  });

  it('checkPlan and formatIssues show the bad value at each path', async () => {
    const { checkPlan, formatIssues } = await import(join(PKG, 'dist/index.js'));
    const plan = trialPlan({ startNodeId: 'nope' });
    const check = checkPlan(plan);
    expect(check.ok).toBe(false);
    expect(check.errors[0]).toMatchObject({ code: 'unknown_start_node', path: 'startNodeId', found: true, value: 'nope' });
    expect(formatIssues(check.errors)).toContain('unknown_start_node  startNodeId = "nope"');
  });

  it('renderPlanSvg and renderPlanHtml draw every node', async () => {
    const { renderPlanSvg, renderPlanHtml } = await import(join(PKG, 'dist/index.js'));
    const plan = trialPlan();
    const svg: string = await renderPlanSvg(plan);
    const html: string = await renderPlanHtml(plan);
    for (const n of plan.nodes) {
      expect(svg).toContain(`<title>${n.id}</title>`);
      expect(html).toContain(`<title>${n.id}</title>`);
    }
    expect(html).toContain(`<h1>${plan.name}</h1>`);
  });

  it('the CommonJS build exports the same names and works', async () => {
    const esm = await import(join(PKG, 'dist/index.js'));
    const cjs = createRequire(import.meta.url)(join(PKG, 'dist/index.cjs'));
    expect(Object.keys(cjs).sort()).toEqual(Object.keys(esm).filter((k) => k !== 'default').sort());
    const svg: string = await cjs.renderPlanSvg(trialPlan());
    expect(svg).toContain('<svg');
  });
});
