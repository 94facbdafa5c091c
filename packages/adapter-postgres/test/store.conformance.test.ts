/** The shared CampaignStore conformance suite against a real PostgreSQL server and against PGlite. */
import { PGlite } from '@electric-sql/pglite';
import { runStoreConformance } from '@dripline/core/testing';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createPostgresStore, migrate } from '../src/index.js';
import { freshDatabase, hasDatabase } from './helpers.js';

let db: Awaited<ReturnType<typeof freshDatabase>> | undefined;
beforeAll(async () => {
  if (hasDatabase) db = await freshDatabase('conformance');
});
afterAll(async () => {
  await db?.drop();
});

if (hasDatabase) {
  runStoreConformance({
    name: 'postgres (pg)',
    async makeStore() {
      return { store: createPostgresStore({ pool: db!.pool, schema: db!.schema }) };
    },
  });
} else {
  describe.skip('CampaignStore conformance: postgres (pg) — no database (see the warning above)', () => it('skipped', () => undefined));
}

// Created by the PGlite suite's first test, not at import (compiling PGlite's WebAssembly keeps
// the event loop busy meanwhile; see queue.conformance.test.ts).
let lite: PGlite | undefined;
let liteMigrated: Promise<unknown> | undefined;
afterAll(async () => {
  await lite?.close();
});
runStoreConformance({
  name: 'postgres (PGlite)',
  async makeStore() {
    lite ??= new PGlite();
    liteMigrated ??= migrate(lite, { schema: 'dripline_lite' });
    await liteMigrated;
    return { store: createPostgresStore({ pool: lite, schema: 'dripline_lite' }) };
  },
  skip: { concurrency: 'PGlite has a single connection: transactions run one at a time' },
});
