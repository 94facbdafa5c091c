/**
 * Spawns the built `dripline` binary (packages/cli/dist/bin.js) on real files in a temp
 * directory. The package must be built first (`pnpm -F @dripline/cli build`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const PKG = resolve(__dirname, '..');
export const BIN = join(PKG, 'dist/bin.js');
export const FIXTURES = resolve(__dirname, '../../core/test/fixtures/plans');

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build the package first (npx -y pnpm@10 -F @dripline/cli build)`);

/** Runs `node dist/bin.js ...args` in `cwd` and returns its exit code and output. */
export function dripline(args: string[], cwd: string, timeout = 60_000): RunResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout, env: { ...process.env, NO_COLOR: '1' } });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A fresh temp directory and a function that writes JSON (or raw text) files into it. */
export function tempDir(): { dir: string; write(name: string, content: unknown): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'dripline-cli-'));
  return {
    dir,
    write(name, content) {
      const file = join(dir, name);
      writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
      return file;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A small valid plan: an email; a click ends it, no click in 2 days sends an SMS. */
export function trialPlan(overrides: Record<string, unknown> = {}) {
  return {
    version: '1.0',
    name: 'Trial reminder',
    timezone: 'Europe/Berlin',
    quietHours: { start: '21:00', end: '08:00' },
    startNodeId: 'hello',
    exitOn: ['unsubscribed'],
    variables: ['name'],
    nodes: [
      {
        id: 'hello',
        action: 'send',
        channel: 'email',
        subject: 'Hi {{name}}',
        body: 'Your trial ends soon.',
        transitions: [
          { on: 'clicked', to: 'thanks' },
          { on: 'no_click', to: 'nudge', after: 'P2D' },
        ],
      },
      { id: 'nudge', action: 'send', channel: 'sms', body: '{{name}}, one tap to keep your data', transitions: [] },
      { id: 'thanks', action: 'exit' },
    ],
    ...overrides,
  };
}

/**
 * The value at a JSON path such as `nodes[2].transitions[0].to`, walked here independently
 * of the CLI's own implementation.
 */
export function walk(json: unknown, path: string): unknown {
  if (path === '') return json;
  let cur: any = json;
  for (const part of path.split('.')) {
    const m = /^([^[]*)((?:\[\d+\])*)$/.exec(part)!;
    if (m[1]) cur = cur?.[m[1]];
    for (const idx of m[2]!.match(/\d+/g) ?? []) cur = cur?.[Number(idx)];
  }
  return cur;
}
