/** The shared ActionQueue conformance suite against the Postgres queue (real time, LISTEN/NOTIFY), plus PGlite. */
import { PGlite } from '@electric-sql/pglite';
import type pg from 'pg';
import { runQueueConformance, type QueueHarness } from '@dripline/core/testing';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createPostgresQueue, migrate, type PgDatabase } from '../src/index.js';
import { freshDatabase, hasDatabase } from './helpers.js';

let db: Awaited<ReturnType<typeof freshDatabase>> | undefined;
beforeAll(async () => {
  if (hasDatabase) db = await freshDatabase('queue');
});
afterAll(async () => {
  await db?.drop();
});

/** A harness over one queue and one consumer; each test gets its own NOTIFY channel and clears the table. */
async function harness(pool: PgDatabase, schema: string, n: number): Promise<QueueHarness> {
  const queue = createPostgresQueue({ pool, schema, channel: `${schema}_${n}` });
  // A fresh table per test: the suite reuses keys across tests.
  if ('connect' in pool) await (pool as unknown as pg.Pool).query(`delete from "${schema}".wakeups`);
  else await (pool as PGlite).query(`delete from "${schema}".wakeups`);
  const delivered: string[] = [];
  const consumer = queue.consume((item) => void delivered.push(item.key), { maxSleepMs: 1_000 });
  await consumer.ready;
  return {
    queue,
    now: () => Date.now(),
    advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    delivered: async () => [...delivered],
    close: () => consumer.close(),
  };
}

let counter = 0;
if (hasDatabase) {
  runQueueConformance({ name: 'postgres (pg)', makeQueue: () => harness(db!.pool, db!.schema, ++counter) });
} else {
  describe.skip('ActionQueue conformance: postgres (pg) — no database', () => it('skipped', () => undefined));
}

// Created by the PGlite suite's first test, not at import: compiling PGlite's WebAssembly keeps
// the event loop busy for a second or more, which would land inside the timed tests of the
// suite above (a 400 ms sleep that must end well before an item due in 3 s).
let lite: PGlite | undefined;
let liteMigrated: Promise<unknown> | undefined;
afterAll(async () => {
  await lite?.close();
});
runQueueConformance({
  name: 'postgres (PGlite)',
  async makeQueue() {
    lite ??= new PGlite();
    liteMigrated ??= migrate(lite, { schema: 'dripline_lite_queue' });
    await liteMigrated;
    return harness(lite, 'dripline_lite_queue', ++counter);
  },
});
