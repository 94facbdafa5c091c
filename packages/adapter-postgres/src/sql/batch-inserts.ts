/**
 * Set-based batch writes: each takes the whole batch as one jsonb parameter and writes it
 * with one INSERT … SELECT FROM jsonb_to_recordset, so enrolling a page of N contacts is one
 * round trip, not N (Graphile Worker's `json_array_elements` batching).
 */

/** $1 tenant, $2 jsonb array of enrollments. Returns the ids inserted; ON CONFLICT DO NOTHING covers both the id and the (campaign, contact) key. */
export const insertEnrollmentsSql = (s: string) => `
insert into ${s}.contact_campaigns (tenant_id, id, campaign_id, contact_id, status, node_id, visit, plan_version, enrollment, contact, row_version)
select $1, r.id, r.campaign_id, r.contact_id, r.enrollment->>'status', r.enrollment->>'nodeId', (r.enrollment->>'visit')::int,
       (r.enrollment->>'planVersion')::int, r.enrollment, r.contact, r.row_version
from jsonb_to_recordset($2::jsonb) as r(id text, campaign_id text, contact_id text, enrollment jsonb, contact jsonb, row_version int)
on conflict do nothing
returning id`;

/** $1 tenant, $2 jsonb array of actions. An existing key is left alone. */
export const insertActionsSql = (s: string) => `
insert into ${s}.scheduled_actions (tenant_id, key, campaign_id, enrollment_id, kind, node_id, visit, run_at, status, attempts, lease_owner, lease_expires_at, last_error, payload)
select $1, r.key, r.campaign_id, r.enrollment_id, r.kind, r.node_id, r.visit, r.run_at, r.status, r.attempts, r.lease_owner, r.lease_expires_at, r.last_error, r.payload
from jsonb_to_recordset($2::jsonb) as r(key text, campaign_id text, enrollment_id text, kind text, node_id text, visit int, run_at bigint, status text,
  attempts int, lease_owner text, lease_expires_at bigint, last_error text, payload jsonb)
on conflict do nothing`;

/** $1 tenant, $2 jsonb array of transition records; `with ordinality` keeps their order in seq. */
export const appendTransitionsSql = (s: string) => `
insert into ${s}.campaign_transitions (tenant_id, campaign_id, enrollment_id, at, record)
select $1, r.value->>'campaignId', r.value->>'enrollmentId', (r.value->>'at')::bigint, r.value
from jsonb_array_elements($2::jsonb) with ordinality as r(value, n)
order by r.n`;

/** $1 tenant, $2 campaign, $3 jsonb object counter → delta. The shard is the backend pid's, see migration 000001. */
export const incrementAnalyticsSql = (s: string) => `
insert into ${s}.campaign_analytics as t (tenant_id, campaign_id, counter, shard, value)
select $1, $2, d.key, pg_backend_pid() % 16, d.value::double precision
from jsonb_each_text($3::jsonb) d
on conflict (tenant_id, campaign_id, counter, shard) do update set value = t.value + excluded.value`;
