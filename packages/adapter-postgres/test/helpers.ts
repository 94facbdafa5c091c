/** Test helpers: a pg Pool on DATABASE_URL and a fresh schema per test file, dropped afterwards. */
import pg from 'pg';
import { migrate, type MigrateOptions } from '../src/index.js';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A schema name no other test file (or run) uses. */
export const freshSchema = (label: string) => `dripline_test_${label}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;

/**
 * Whether the database answers. In CI an unreachable database is an error (the suite must
 * never pass by skipping); locally the Postgres tests are skipped with a message.
 */
export async function databaseAvailable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch (e) {
    if (process.env.CI) throw new Error(`PostgreSQL at ${DATABASE_URL} is unreachable and CI is set: refusing to skip the adapter-postgres tests`, { cause: e });
    console.warn(`[adapter-postgres] PostgreSQL at ${DATABASE_URL} is unreachable (${(e as Error).message}); skipping the tests that need it. Set DATABASE_URL to run them.`);
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Top-level await in each test file decides whether its Postgres suites run. */
export const hasDatabase = await databaseAvailable();

/** A pool on a fresh, migrated schema; `drop()` ends the pool and drops the schema. */
export async function freshDatabase(label: string, options: Omit<MigrateOptions, 'schema'> & { max?: number } = {}) {
  const schema = freshSchema(label);
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: options.max ?? 10 });
  pool.on('error', () => undefined);
  await migrate(pool, { schema, ...(options.rowLevelSecurity ? { rowLevelSecurity: true } : {}) });
  return {
    schema,
    pool,
    async drop() {
      await pool.query(`drop schema if exists "${schema}" cascade`);
      await pool.end();
    },
  };
}

/** Polls `check` until it returns a truthy value, or fails after `timeoutMs` with `what`. */
export async function until<T>(what: string, check: () => Promise<T> | T, timeoutMs = 30_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Makes the statistics views (`pg_stat_user_tables`, `pg_stat_user_indexes`) show what this
 * pool's connection did so far. Use it on a pool of one connection: each backend reports its
 * own counts, at most once a second unless told to.
 */
export async function flushStats(pool: pg.Pool): Promise<void> {
  await pool.query('select pg_stat_force_next_flush()');
  await pool.query('select 1');
}
