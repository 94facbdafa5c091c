/**
 * The deterministic core must stay pure: nothing in plan/, schedule/, machine/ or policy/
 * reads the clock, draws random numbers, starts timers or touches I/O. This walks the
 * TypeScript syntax tree of every source file there (comments and strings do not count).
 */
import { builtinModules } from 'node:module';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const PURE_DIRS = ['plan', 'schedule', 'machine', 'policy'];
const SRC = join(__dirname, '../src');
const TIMERS = new Set(['setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask', 'clearTimeout', 'clearInterval']);
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Returns a line per hazard found in `source`. */
export function hazards(fileName: string, source: string): string[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.ES2022, true);
  const found: string[] = [];
  const at = (n: ts.Node) => `${fileName}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}`;
  const visit = (n: ts.Node): void => {
    if (ts.isPropertyAccessExpression(n)) {
      const text = `${n.expression.getText(sf)}.${n.name.text}`;
      if (text === 'Date.now' || text === 'Math.random' || text === 'performance.now' || text === 'crypto.randomUUID' || text === 'crypto.getRandomValues' || text === 'process.hrtime')
        found.push(`${at(n)} uses ${text}`);
    }
    if (ts.isNewExpression(n) && n.expression.getText(sf) === 'Date' && (!n.arguments || n.arguments.length === 0))
      found.push(`${at(n)} uses new Date() without arguments`);
    if (ts.isCallExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'Date')
      found.push(`${at(n)} calls Date() (the current time as a string)`);
    if (ts.isIdentifier(n) && TIMERS.has(n.text) && !(ts.isPropertyAccessExpression(n.parent) && n.parent.name === n))
      found.push(`${at(n)} uses ${n.text}`);
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier) && BUILTINS.has(n.moduleSpecifier.text))
      found.push(`${at(n)} imports ${n.moduleSpecifier.text}`);
    if (ts.isCallExpression(n) && (n.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(n.expression) && n.expression.text === 'require'))) {
      const arg = n.arguments[0];
      if (arg && ts.isStringLiteral(arg) && BUILTINS.has(arg.text)) found.push(`${at(n)} loads ${arg.text}`);
    }
    if (ts.isIdentifier(n) && n.text === 'process' && !(ts.isPropertyAccessExpression(n.parent) && n.parent.name === n))
      found.push(`${at(n)} uses process`);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return found;
}

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? files(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : [],
  );
}

describe('purity of the deterministic core', () => {
  it('the checker catches every kind of hazard', () => {
    const bad = `
      import { readFileSync } from 'node:fs';
      import net from 'net';
      const a = Date.now();
      const b = new Date();
      const c = Math.random();
      setTimeout(() => {}, 1);
      const d = process.env.X;
      const e = await import('node:http');
    `;
    expect(hazards('bad.ts', bad).map((h) => h.replace(/^bad\.ts:\d+ /, ''))).toEqual([
      'imports node:fs',
      'imports net',
      'uses Date.now',
      'uses new Date() without arguments',
      'uses Math.random',
      'uses setTimeout',
      'uses process',
      'loads node:http',
    ]);
    const fine = `const t = new Date(ms); const s = '// Date.now() in a string'; // Math.random() in a comment`;
    expect(hazards('fine.ts', fine)).toEqual([]);
  });

  it.each(PURE_DIRS)('src/%s uses no clock, randomness, timers or I/O', (dir) => {
    const all = files(join(SRC, dir)).flatMap((f) => hazards(f.slice(SRC.length + 1), readFileSync(f, 'utf8')));
    expect(all).toEqual([]);
  });

  it('the pure folders exist and are not empty', () => {
    for (const dir of ['plan', 'schedule', 'machine']) expect(files(join(SRC, dir)).length).toBeGreaterThan(0);
  });
});
