/**
 * Release readiness: every publishable package (non-private, under packages/) must pack,
 * lint and type-resolve cleanly, document every export, and work when installed from its
 * tarball into a fresh project outside the workspace — from ESM, from CommonJS and from
 * TypeScript — including the example in its README, run unchanged.
 *
 * The packages must be built first (the root `test` script builds before running vitest).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
const BIN = join(ROOT, 'node_modules/.bin');

interface Pkg {
  dir: string;
  json: Record<string, any>;
}

const packages: Pkg[] = readdirSync(join(ROOT, 'packages'))
  .map((d) => ({ dir: join(ROOT, 'packages', d), json: JSON.parse(readFileSync(join(ROOT, 'packages', d, 'package.json'), 'utf8')) }))
  .filter((p) => !p.json.private);

function run(cmd: string, args: string[], cwd: string, timeout = 180_000): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${err.stdout ?? ''}\n${err.stderr ?? ''}\n${err.message}`);
  }
}

/** The first ```js block after a "## Example" heading. */
function readmeExample(readme: string): string | null {
  const at = readme.search(/^## Example\s*$/m);
  if (at === -1) return null;
  const m = /```js\n([\s\S]*?)```/.exec(readme.slice(at));
  return m ? m[1]! : null;
}

describe('release readiness', () => {
  it('there is at least one publishable package', () => {
    expect(packages.map((p) => p.json.name)).toContain('@dripline/core');
  });

  describe.each(packages.map((p) => [p.json.name as string, p] as const))('%s', (_name, pkg) => {
    it('has a publishable package.json', () => {
      const j = pkg.json;
      for (const field of ['name', 'version', 'description', 'license']) expect(j[field], field).toBeTruthy();
      expect(j.engines?.node).toBe('>=20');
      expect(j.sideEffects).toBe(false);
      expect(j.files).toEqual(expect.arrayContaining(['dist', 'README.md']));
      for (const [sub, target] of Object.entries<any>(j.exports)) {
        if (typeof target === 'string') continue;
        for (const cond of ['import', 'require']) {
          expect(Object.keys(target[cond] ?? {})[0], `exports["${sub}"].${cond}: "types" comes first`).toBe('types');
        }
      }
      for (const dep of Object.keys(j.dependencies ?? {})) expect(j.dependencies[dep], dep).not.toMatch(/^(file|link):/);
    });

    it('has a README with install, example, options and errors', () => {
      const readme = readFileSync(join(pkg.dir, 'README.md'), 'utf8');
      expect(readme).toMatch(new RegExp(`npm install ${pkg.json.name.replace('/', '\\/')}`));
      expect(readmeExample(readme), 'a "## Example" section with a ```js program').not.toBeNull();
      expect(readme).toMatch(/^## .*(Options|options|API)/m);
      expect(readme).toMatch(/^## .*(Errors|error codes)/m);
    });

    it('passes publint', () => {
      const out = run(join(BIN, 'publint'), ['--pack', 'npm', '--strict'], pkg.dir);
      expect(out).toContain('All good!');
    });

    it('has types that resolve under node16 (CJS and ESM) and bundlers (attw)', () => {
      // attw exits non-zero on any problem (node10 resolution is ignored: engines need Node >= 20).
      const out = run(join(BIN, 'attw'), ['--pack', '.', '--profile', 'node16', '--format', 'ascii'], pkg.dir);
      const problems = out.split('\n').filter((l) => /💀|❌|🥴|🐛/u.test(l) && !/ignored/.test(l));
      expect(problems).toEqual([]);
    });

    it('documents every exported symbol (TypeDoc, warnings are errors)', () => {
      expect(existsSync(join(pkg.dir, 'typedoc.json')), 'typedoc.json').toBe(true);
      const out = run(join(BIN, 'typedoc'), ['--emit', 'none'], pkg.dir);
      expect(out).not.toMatch(/\[warning\]|\[error\]/);
    });
  });

  describe('installed from tarballs outside the workspace', () => {
    let project = '';
    beforeAll(() => {
      project = mkdtempSync(join(tmpdir(), 'dripline-consumer-'));
      const tarballs = packages.map((p) => {
        // pnpm pack rewrites workspace: dependencies to real versions, as publishing does.
        const out = run('npx', ['-y', 'pnpm@10', 'pack', '--pack-destination', project], p.dir);
        const file = out.trim().split('\n').pop()!.trim();
        return file.startsWith('/') ? file : join(project, file.split('/').pop()!);
      });
      // What each README tells a new user to install besides the dripline packages (pg, PGlite,
      // bullmq...), exactly as its `npm install` line names them.
      const ours = new Set(packages.map((p) => p.json.name as string));
      const extras = new Set<string>();
      for (const p of packages) {
        const line = /^npm install (.+)$/m.exec(readFileSync(join(p.dir, 'README.md'), 'utf8'));
        for (const dep of line?.[1]!.trim().split(/\s+/) ?? []) if (!dep.startsWith('-') && !ours.has(dep)) extras.add(dep);
      }
      writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2));
      run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs, ...extras, 'typescript@~5.9.3', '@types/node@^20'], project, 300_000);
    }, 400_000);
    afterAll(() => {
      if (project) rmSync(project, { recursive: true, force: true });
    });

    it.each(packages.map((p) => [p.json.name as string, p] as const))('%s: the README example runs unchanged', (_name, pkg) => {
      const example = readmeExample(readFileSync(join(pkg.dir, 'README.md'), 'utf8'))!;
      const file = join(project, `example-${pkg.json.name.replace(/\W/g, '_')}.mjs`);
      writeFileSync(file, example);
      const out = run('node', [file], project, 120_000);
      expect(out.length).toBeGreaterThan(0);
    });

    it.each(packages.map((p) => [p.json.name as string, p] as const))('%s: loads from ESM and CommonJS with the same exports', (_name, pkg) => {
      const name = pkg.json.name as string;
      writeFileSync(join(project, 'esm.mjs'), `const m = await import(${JSON.stringify(name)}); console.log(JSON.stringify(Object.keys(m).filter((k) => k !== 'default').sort()));`);
      writeFileSync(join(project, 'cjs.cjs'), `const m = require(${JSON.stringify(name)}); console.log(JSON.stringify(Object.keys(m).sort()));`);
      const esm = JSON.parse(run('node', ['esm.mjs'], project));
      const cjs = JSON.parse(run('node', ['cjs.cjs'], project));
      expect(esm.length).toBeGreaterThan(0);
      expect(cjs).toEqual(esm);
    });

    it('type-checks a TypeScript consumer (tsc --noEmit, NodeNext)', () => {
      const lines = packages.map((p, i) => `import * as m${i} from ${JSON.stringify(p.json.name)};\nvoid m${i};`);
      lines.push(`import { compilePlan, start, type Enrollment } from '@dripline/core';
const plan = compilePlan({ version: '1.0', startNodeId: 'x', nodes: [{ id: 'x', action: 'exit' }] });
const r: { enrollment: Enrollment } = start(plan, { now: 0, contact: { id: 'c' } });
console.log(r.enrollment.status);`);
      if (packages.some((p) => p.json.exports?.['./testing'])) lines.push(`import { runStoreConformance } from '@dripline/core/testing';\nvoid runStoreConformance;`);
      writeFileSync(join(project, 'consumer.ts'), lines.join('\n'));
      writeFileSync(
        join(project, 'tsconfig.json'),
        JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] }, files: ['consumer.ts'] }),
      );
      run(join(project, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], project);
    });
  });

  it('a changeset version dry run works in a scratch clone', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'dripline-changeset-'));
    try {
      run('git', ['clone', '--quiet', '--no-hardlinks', ROOT, scratch], ROOT);
      if (!readdirSync(join(scratch, '.changeset')).some((f) => f.endsWith('.md') && f !== 'README.md')) return; // nothing to release
      run('npx', ['-y', 'pnpm@10', 'install', '--frozen-lockfile', '--ignore-scripts', '--prefer-offline'], scratch, 300_000);
      run(join(scratch, 'node_modules/.bin/changeset'), ['version'], scratch);
      const changelog = readFileSync(join(scratch, 'packages/core/CHANGELOG.md'), 'utf8');
      expect(changelog).toMatch(/^# @dripline\/core/m);
      expect(JSON.parse(readFileSync(join(scratch, 'packages/core/package.json'), 'utf8')).version).not.toBe(
        JSON.parse(readFileSync(join(ROOT, 'packages/core/package.json'), 'utf8')).version,
      );
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }, 400_000);
});
