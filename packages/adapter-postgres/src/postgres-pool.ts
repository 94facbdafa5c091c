/**
 * The subset of a PostgreSQL client this adapter needs, declared structurally (as Kysely
 * does) so that `pg` is never imported: the user's own `pg.Pool` fits, and {@link fromPglite}
 * makes a PGlite instance fit.
 */

/** What a query returns: rows (column name → value) and, for writes, how many rows changed. */
export interface PgQueryResult {
  rows: Array<Record<string, unknown>>;
  rowCount?: number | null;
}

/** One connection checked out of a pool (a `pg.PoolClient` fits). */
export interface PgClientLike {
  /** Runs one statement with `$1…` parameters, or (without values) a script of statements. */
  query(text: string, values?: unknown[]): Promise<PgQueryResult>;
  /** Runs a named prepared statement (pg's query config); used unless the store's `prepare` is false. */
  query(config: { name: string; text: string; values: unknown[] }): Promise<PgQueryResult>;
  /** Returns the connection; passing an error (or `true`) destroys it instead (pg semantics). */
  release(err?: Error | boolean): void;
  /** pg clients are event emitters: the store listens for `error` so a dropped connection cannot crash the process. */
  on?(event: 'error', listener: (err: Error) => void): unknown;
}

/** A pool of connections (a `pg.Pool` fits). */
export interface PgPoolLike {
  /** Checks a connection out of the pool. */
  connect(): Promise<PgClientLike>;
}

/** The subset of a PGlite instance used by {@link fromPglite} (`@electric-sql/pglite` fits). */
export interface PGliteLike {
  /** Runs one statement with parameters (extended protocol). */
  query(text: string, params?: unknown[]): Promise<{ rows: unknown[]; affectedRows?: number }>;
  /** Runs a script of statements without parameters. */
  exec(text: string): Promise<Array<{ rows: unknown[]; affectedRows?: number }>>;
  transaction: unknown;
}

/** Either a pool or a PGlite instance: what `migrate`, the store and the queue accept. */
export type PgDatabase = PgPoolLike | PGliteLike;

const pools = new WeakMap<object, PgPoolLike>();

/**
 * Wraps a PGlite instance as a one-connection pool. PGlite has a single session, so
 * `connect()` waits until the previous holder released it: transactions run one at a time,
 * as they must on one connection. Statements with parameters use PGlite's `query`
 * (extended protocol); statements without use `exec`, which accepts scripts.
 *
 * @example
 * ```ts
 * import { PGlite } from '@electric-sql/pglite';
 * const db = new PGlite();
 * await migrate(db);
 * const store = createPostgresStore({ pool: fromPglite(db) }); // or simply { pool: db }
 * ```
 */
export function fromPglite(db: PGliteLike): PgPoolLike {
  const known = pools.get(db);
  if (known) return known;
  let tail: Promise<void> = Promise.resolve();
  const client = {
    async query(text: string, values?: unknown[]): Promise<PgQueryResult> {
      if (values && values.length) {
        const r = await db.query(text, values);
        return { rows: r.rows as Array<Record<string, unknown>>, rowCount: r.affectedRows ?? r.rows.length };
      }
      const results = await db.exec(text);
      const last = results[results.length - 1];
      return { rows: (last?.rows ?? []) as Array<Record<string, unknown>>, rowCount: last?.affectedRows ?? last?.rows.length ?? 0 };
    },
  };
  const pool: PgPoolLike = {
    connect() {
      let release!: () => void;
      const mine = new Promise<void>((resolve) => (release = resolve));
      const ready = tail.then(
        (): PgClientLike => ({
          // A query config (from a store with `prepare` on) loses only its name here.
          query: ((a: string | { text: string; values: unknown[] }, v?: unknown[]) => (typeof a === 'string' ? client.query(a, v) : client.query(a.text, a.values))) as PgClientLike['query'],
          release: () => release(),
        }),
      );
      tail = tail.then(() => mine);
      return ready;
    },
  };
  pools.set(db, pool);
  return pool;
}

/** Returns a pool for a pool or a PGlite instance. */
export function toPool(db: PgDatabase): PgPoolLike {
  if (typeof (db as PgPoolLike).connect === 'function') {
    guardPool(db as PgPoolLike);
    return db as PgPoolLike;
  }
  if (typeof (db as PGliteLike).exec === 'function' && typeof (db as PGliteLike).query === 'function') return fromPglite(db as PGliteLike);
  throw new TypeError('expected a pg Pool (with connect()) or a PGlite instance (with query() and exec())');
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Validates a schema name and returns it quoted for SQL. Only letters, digits and `_`
 * (not starting with a digit, at most 63 bytes, PostgreSQL's identifier limit) are accepted:
 * the name is spliced into statements, so it is checked here rather than escaped creatively.
 */
export function quoteSchema(schema: string): string {
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema))
    throw new TypeError(`invalid schema name ${JSON.stringify(schema)}: use letters, digits and _ (not starting with a digit), at most 63 characters`);
  return `"${schema.replace(/"/g, '""')}"`;
}

/**
 * Guards every client a pg Pool hands out from the moment it does (its `acquire` event, which
 * pg-pool emits synchronously as it removes its own idle `error` listener). Guarding after
 * `await pool.connect()` alone leaves a gap: a new connection is handed out while pg parses
 * its ReadyForQuery message, and an error message that arrived in the same read (a backend
 * terminated right then, as `pg_terminate_backend` does) is emitted before the awaiting code
 * runs, on a client with no `error` listener, which would crash the process. Once per pool.
 */
const guardedPools = new WeakSet<object>();
function guardPool(pool: PgPoolLike): void {
  const p = pool as PgPoolLike & { on?: (event: string, listener: (client: PgClientLike) => void) => unknown };
  if (typeof p.on !== 'function' || guardedPools.has(pool)) return;
  guardedPools.add(pool);
  p.on('acquire', (client) => guardClient(client));
}

/** Listens for `error` on a pg client once, so a connection dropped while checked out is reported by its query, not as an uncaught event. */
const guarded = new WeakSet<object>();
export function guardClient(client: PgClientLike): void {
  if (typeof client.on !== 'function' || guarded.has(client)) return;
  guarded.add(client);
  client.on('error', () => {
    // The query in flight (or the next one) fails with the same error; the store then
    // releases the client with that error and the pool replaces it.
  });
}

/** int8 / numeric come back from pg as strings, from PGlite as bigint or number: all become numbers. */
export const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
/** Like {@link num}, keeping null. */
export const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
