// Runs the quickstart as a user would (`node index.mjs` in examples/quickstart) and checks
// what it prints. Needs @dripline/core built first: the root `pnpm test` builds before vitest.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const cwd = fileURLToPath(new URL('..', import.meta.url));

describe('examples/quickstart', () => {
  let run: SpawnSyncReturns<string>;
  let stdout = '';
  let excerpt = '';
  let summary = '';

  beforeAll(() => {
    run = spawnSync(process.execPath, ['index.mjs'], { cwd, encoding: 'utf8', timeout: 50_000 });
    stdout = run.stdout ?? '';
    [excerpt = '', summary = ''] = stdout.split(/^Summary /m);
  });

  it('exits with code 0', () => {
    expect(run.error).toBeUndefined();
    expect(run.stderr).not.toMatch(/Error/);
    expect(run.status).toBe(0);
  });

  it('sends the intro email to all 1,000 contacts', () => {
    expect(summary).toMatch(/^\(1000 contacts/);
    expect(summary).toMatch(/sent per node\n {2}email_intro\s+1000\n/);
    expect(summary).toMatch(/\(start\) → email_intro\s+1000\n/);
  });

  it('moves some sends by quiet hours', () => {
    const moved = /sends moved by quiet hours\s+(\d+)/.exec(summary);
    expect(moved).not.toBeNull();
    expect(Number(moved![1])).toBeGreaterThan(0);
    expect(excerpt).toMatch(/send moved by quiet hours from \d\d:\d\d to 07:30 local/);
  });

  it('shows a replayed early event in the timeline excerpt', () => {
    expect(excerpt).toMatch(/clicked arrived early: recorded/);
    expect(excerpt).toMatch(/clicked replayed \(it arrived early, at \d\d:\d\d\) → done/);
    expect(Number(/replayed early events\s+(\d+)/.exec(summary)?.[1])).toBeGreaterThan(0);
  });

  it('stays short', () => {
    expect(stdout.trim().split('\n').length).toBeLessThanOrEqual(80);
  });
});
