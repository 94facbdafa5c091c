// The database: a PostgreSQL server (`DATABASE_URL`, through a `pg` Pool) or an embedded
// PGlite (in memory, or in a data directory). Either way dripline's migrations run first,
// then this app's one table: the audience given when a campaign is created, kept until it
// starts (in the same schema, so one backup holds everything).
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { fromPglite, migrate, quoteSchema } from '@dripline/adapter-postgres';

/**
 * @typedef {object} Database
 * @property {'postgres' | 'pglite'} kind
 * @property {unknown} db what the store and queue take (the pg Pool, or the PGlite instance itself so the queue can LISTEN on it)
 * @property {string} schema
 * @property {string} description for the start-up log (no password)
 * @property {(text: string, params?: unknown[]) => Promise<Array<Record<string, any>>>} query one statement, outside any store transaction
 * @property {() => Promise<void>} close
 */

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db`. */
export function redactUrl(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable DATABASE_URL)';
  }
}

/**
 * @param {{ url?: string, schema?: string, pgliteDataDir?: string, logger?: import('@dripline/core').Logger }} options
 * @returns {Promise<Database>}
 */
export async function openDatabase(options = {}) {
  const schema = options.schema ?? 'dripline';
  const q = quoteSchema(schema); // validates the name before anything is created
  /** @type {Database} */
  let database;
  if (options.url) {
    const pool = new pg.Pool({ connectionString: options.url, max: 10 });
    // An idle client whose connection drops emits `error` on the pool; without a listener
    // that would crash the process. The next query gets a fresh connection.
    pool.on('error', (e) => options.logger?.warn('postgres: idle connection error', { error: e.message }));
    database = {
      kind: 'postgres',
      db: pool,
      schema,
      description: `PostgreSQL ${redactUrl(options.url)} (schema ${schema})`,
      query: async (text, params) => (await pool.query(text, params)).rows,
      close: () => pool.end(),
    };
  } else {
    const pglite = options.pgliteDataDir ? new PGlite(options.pgliteDataDir) : new PGlite();
    await pglite.waitReady;
    // PGlite has one session: every statement goes through the same serialising pool the
    // store uses, so nothing of ours runs inside one of its transactions.
    const pool = fromPglite(pglite);
    database = {
      kind: 'pglite',
      db: pglite,
      schema,
      description: `embedded PGlite (${options.pgliteDataDir ? `data in ${options.pgliteDataDir}` : 'in memory: gone when the process exits'}, schema ${schema})`,
      query: async (text, params) => {
        const client = await pool.connect();
        try {
          return (await client.query(text, params)).rows;
        } finally {
          client.release();
        }
      },
      close: () => pglite.close(),
    };
  }
  try {
    await migrate(/** @type {any} */ (database.db), { schema });
    await database.query(
      `create table if not exists ${q}.api_audiences (
         tenant_id text collate "C" not null,
         campaign_id text collate "C" not null,
         contacts jsonb not null,          -- the contacts given in the request, as validated
         generated integer not null default 0, -- plus this many generated demo contacts
         created_at bigint not null,
         primary key (tenant_id, campaign_id)
       )`,
    );
  } catch (e) {
    await database.close().catch(() => undefined);
    throw e;
  }
  return database;
}

/**
 * The audiences of campaigns created through the API.
 * @param {Database} database
 */
export function createAudienceStore(database) {
  const table = `${quoteSchema(database.schema)}.api_audiences`;
  return {
    /** @param {string} tenantId @param {string} campaignId @param {unknown[]} contacts @param {number} generated */
    async save(tenantId, campaignId, contacts, generated) {
      await database.query(`insert into ${table} (tenant_id, campaign_id, contacts, generated, created_at) values ($1, $2, $3::jsonb, $4, $5)`, [
        tenantId,
        campaignId,
        JSON.stringify(contacts),
        generated,
        Date.now(),
      ]);
    },
    /** @returns {Promise<{ contacts: import('@dripline/core').AudienceContact[], generated: number } | null>} */
    async load(tenantId, campaignId) {
      const rows = await database.query(`select contacts, generated from ${table} where tenant_id = $1 and campaign_id = $2`, [tenantId, campaignId]);
      if (!rows.length) return null;
      const contacts = typeof rows[0].contacts === 'string' ? JSON.parse(rows[0].contacts) : rows[0].contacts;
      return { contacts, generated: Number(rows[0].generated) };
    },
    /** Sizes of many audiences at once. @returns {Promise<Map<string, number>>} */
    async sizes(tenantId, campaignIds) {
      if (!campaignIds.length) return new Map();
      const rows = await database.query(
        `select campaign_id, jsonb_array_length(contacts) + generated as n from ${table} where tenant_id = $1 and campaign_id = any($2::text[])`,
        [tenantId, campaignIds],
      );
      return new Map(rows.map((r) => [r.campaign_id, Number(r.n)]));
    },
    async remove(tenantId, campaignId) {
      await database.query(`delete from ${table} where tenant_id = $1 and campaign_id = $2`, [tenantId, campaignId]);
    },
  };
}
