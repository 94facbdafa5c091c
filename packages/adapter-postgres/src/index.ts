/**
 * @dripline/adapter-postgres — the CampaignStore and ActionQueue ports of `@dripline/core`
 * on PostgreSQL: the user's own `pg` Pool, or PGlite for an embedded database.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { createEngine } from '@dripline/core';
 * import { createPostgresQueue, createPostgresStore, createPostgresWorker, migrate } from '@dripline/adapter-postgres';
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * await migrate(pool);
 * const store = createPostgresStore({ pool });
 * const queue = createPostgresQueue({ pool });
 * const engine = createEngine({ store, queue, transports });
 * const worker = createPostgresWorker(engine, { store, queue, tenants: ['acme'] });
 * await worker.start();
 * ```
 * @packageDocumentation
 */
export { migrate, migrations, renderMigration, ROW_LEVEL_SECURITY_ID, type Migration, type MigrateOptions, type MigrateResult } from './migrate.js';
export { createPostgresStore, type PostgresStore, type PostgresStoreOptions } from './postgres-store.js';
export { createPostgresQueue, type PostgresQueue, type PostgresQueueOptions, type ConsumeOptions, type QueueConsumer } from './postgres-queue.js';
export { createPostgresWorker, type PostgresWorker, type PostgresWorkerOptions } from './postgres-worker.js';
export { fromPglite, quoteSchema, toPool, type PgClientLike, type PgDatabase, type PgPoolLike, type PgQueryResult, type PGliteLike } from './postgres-pool.js';
