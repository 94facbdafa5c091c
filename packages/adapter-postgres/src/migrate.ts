/**
 * `migrate(db, { schema })`: applies the numbered SQL files of `migrations/` in order, in one
 * transaction, under an advisory lock, recording each in `<schema>.migrations`.
 */
import init from '../migrations/000001_init.sql?raw';
import wakeups from '../migrations/000002_wakeups.sql?raw';
import batchedWrites from '../migrations/000003_batched_writes.sql?raw';
import lookupIndexes from '../migrations/000004_lookup_indexes.sql?raw';
import claimInTurns from '../migrations/000005_claim_in_turns.sql?raw';
import claimFewerLocks from '../migrations/000006_claim_fewer_locks.sql?raw';
import providerIdLookup from '../migrations/000007_provider_id_lookup.sql?raw';
import rowLevelSecurity from '../migrations/optional/row_level_security.sql?raw';
import { guardClient, quoteSchema, toPool, type PgDatabase } from './postgres-pool.js';

/** One migration: a number, a name and its SQL (`:schema` stands for the quoted schema). */
export interface Migration {
  id: number;
  name: string;
  sql: string;
}

/** The numbered migrations, in order. The files in `migrations/` are the source; the build inlines them. */
export const migrations: readonly Migration[] = [
  { id: 1, name: '000001_init', sql: init },
  { id: 2, name: '000002_wakeups', sql: wakeups },
  { id: 3, name: '000003_batched_writes', sql: batchedWrites },
  { id: 4, name: '000004_lookup_indexes', sql: lookupIndexes },
  { id: 5, name: '000005_claim_in_turns', sql: claimInTurns },
  { id: 6, name: '000006_claim_fewer_locks', sql: claimFewerLocks },
  { id: 7, name: '000007_provider_id_lookup', sql: providerIdLookup },
];

/** The optional row-level-security migration, recorded under this id when applied. */
export const ROW_LEVEL_SECURITY_ID = 1_000_001;

/** Options of {@link migrate}. */
export interface MigrateOptions {
  /** The schema to create the tables in. Default `dripline`. Letters, digits and `_` only. */
  schema?: string;
  /**
   * Also enable row-level security on every tenant table (see
   * `migrations/optional/row_level_security.sql`). The store sets the tenant per
   * transaction, so the policies are transparent to it. Default false.
   */
  rowLevelSecurity?: boolean;
}

/** What {@link migrate} did. */
export interface MigrateResult {
  /** Names of the migrations applied by this call (empty when the schema was up to date). */
  applied: string[];
}

/** Renders a migration's SQL for a schema. */
export function renderMigration(sql: string, schema: string): string {
  return sql.replace(/:schema\b/g, quoteSchema(schema));
}

/**
 * Brings a schema up to date. Idempotent, and safe from several processes at once: the
 * whole run holds `pg_advisory_xact_lock` on a key derived from the schema name, so a second
 * process waits, then finds everything applied and does nothing. Either every pending
 * migration commits or none does.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { migrate } from '@dripline/adapter-postgres';
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * await migrate(pool, { schema: 'dripline' });
 * ```
 */
export async function migrate(db: PgDatabase, options: MigrateOptions = {}): Promise<MigrateResult> {
  const schemaName = options.schema ?? 'dripline';
  const schema = quoteSchema(schemaName);
  const client = await toPool(db).connect();
  guardClient(client);
  let broken: Error | undefined;
  try {
    await client.query('begin');
    try {
      // hashtext gives a stable int4 for the schema name; the lock ends with the transaction.
      await client.query(`select pg_advisory_xact_lock(hashtext($1))`, [`dripline.migrate:${schemaName}`]);
      await client.query(`create schema if not exists ${schema}`);
      await client.query(`create table if not exists ${schema}.migrations (id integer primary key, name text not null, applied_at bigint not null)`);
      const done = new Set((await client.query(`select id from ${schema}.migrations`)).rows.map((r) => Number(r.id)));
      const wanted = [...migrations, ...(options.rowLevelSecurity ? [{ id: ROW_LEVEL_SECURITY_ID, name: 'row_level_security', sql: rowLevelSecurity }] : [])];
      const applied: string[] = [];
      for (const m of wanted) {
        if (done.has(m.id)) continue;
        await client.query(renderMigration(m.sql, schemaName));
        // Bookkeeping time only; the engine's clock is not involved here.
        await client.query(`insert into ${schema}.migrations (id, name, applied_at) values ($1, $2, $3)`, [m.id, m.name, Date.now()]);
        applied.push(m.name);
      }
      await client.query('commit');
      return { applied };
    } catch (e) {
      try {
        await client.query('rollback');
      } catch (e2) {
        broken = e2 as Error;
      }
      throw e;
    }
  } finally {
    client.release(broken);
  }
}
