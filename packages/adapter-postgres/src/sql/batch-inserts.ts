/**
 * Set-based batch writes: each takes the whole batch as one jsonb parameter and writes it
 * with one INSERT … SELECT FROM jsonb_to_recordset, so enrolling a page of N contacts is one
 * round trip, not N (Graphile Worker's `json_array_elements` batching). The other kinds of
 * batched writes (actions, audit rows, counters, outbox rows...) go in the store's
 * one-statement commit, commit-writes.ts.
 */

/** $1 tenant, $2 jsonb array of enrollments. Returns the ids inserted; ON CONFLICT DO NOTHING covers both the id and the (campaign, contact) key. */
export const insertEnrollmentsSql = (s: string) => `
insert into ${s}.contact_campaigns (tenant_id, id, campaign_id, contact_id, status, node_id, visit, plan_version, enrollment, contact, row_version)
select $1, r.id, r.campaign_id, r.contact_id, r.enrollment->>'status', r.enrollment->>'nodeId', (r.enrollment->>'visit')::int,
       (r.enrollment->>'planVersion')::int, r.enrollment, r.contact, r.row_version
from jsonb_to_recordset($2::jsonb) as r(id text, campaign_id text, contact_id text, enrollment jsonb, contact jsonb, row_version int)
on conflict do nothing
returning id`;
