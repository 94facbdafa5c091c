/**
 * The store's `bulk` reads (core's BulkStoreOperations): a chunk's rows read with one
 * statement per kind. Its claims are `dripline_claim` calls (claim.ts) and its writes are
 * buffered and go in the one-call commit (commit-writes.ts).
 */
import { probe } from './probe.js';

/** $1 tenant, $2 text[] of keys. Lookups by key list probe the primary key (see probe.ts). */
export const getActionsSql = (s: string) => `select y.* from ${probe(s, 'scheduled_actions', 'key', '$2')}`;

/** $1 tenant, $2 text[] of enrollment ids. */
export const getEnrollmentsSql = (s: string) => `select y.* from ${probe(s, 'contact_campaigns', 'id', '$2')}`;

/** $1 tenant, $2 text[] of keys. */
export const getOutboundsSql = (s: string) => `select y.* from ${probe(s, 'outbound_messages', 'key', '$2')}`;

/** $1 tenant, $2 text[] of addresses. */
export const listSuppressionsSql = (s: string) => `select y.* from ${probe(s, 'suppressions', 'address', '$2')}`;

/** $1 tenant, $2 text[] of provider message ids; each id's orphans in listOrphanEvents' order. */
export const listOrphanEventsSql = (s: string) => `
select y.* from unnest($2::text[]) as k(v)
cross join lateral (select * from ${s}.message_events y where y.tenant_id = $1 and y.provider_message_id = k.v and y.message_key is null offset 0) y
order by y.provider_message_id, y.at, y.seq`;
