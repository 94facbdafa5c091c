/**
 * claimDueActions in one statement.
 *
 * - Fair share: a LATERAL subquery walks each *active* campaign's earliest due pending
 *   actions (index `scheduled_actions_due`), at most `perCampaignLimit` each, so one huge
 *   campaign never fills the claim and inactive campaigns cost nothing.
 * - Take-over: running actions whose lease expired (index `scheduled_actions_lease`).
 * - `for update skip locked` inside both: concurrent workers skip each other's candidates
 *   instead of waiting for them, and never claim one action twice.
 * - `row_number() over (partition by campaign_id …)` applies the per-campaign limit across
 *   both sets (window functions cannot sit beside FOR UPDATE, hence the CTEs).
 * - The UPDATE sets the lease from the engine's `now` ($2): one authority for time.
 *
 * Parameters: $1 tenant, $2 now, $3 owner, $4 leaseMs, $5 limit, $6 perCampaignLimit.
 */
export const claimDueActionsSql = (s: string) => `
with pend as (
  select a.key, a.campaign_id, a.run_at as due_at
  from ${s}.campaigns c
  cross join lateral (
    select x.key, x.campaign_id, x.run_at
    from ${s}.scheduled_actions x
    where x.tenant_id = $1 and x.campaign_id = c.id and x.status = 'pending' and x.run_at <= $2
    order by x.run_at, x.key
    limit least($6::int, $5::int)
    for update of x skip locked
  ) a
  where c.tenant_id = $1 and c.status = 'active'
),
expired as (
  select x.key, x.campaign_id, x.lease_expires_at as due_at
  from ${s}.scheduled_actions x
  join ${s}.campaigns c on c.tenant_id = x.tenant_id and c.id = x.campaign_id and c.status = 'active'
  where x.tenant_id = $1 and x.status = 'running' and x.lease_expires_at <= $2
  order by x.lease_expires_at, x.key
  limit $5::int
  for update of x skip locked
),
ranked as (
  select key, due_at, row_number() over (partition by campaign_id order by due_at, key) as rn
  from (select * from pend union all select * from expired) u
),
picked as (
  select key, due_at from ranked where rn <= $6::int order by due_at, key limit $5::int
)
update ${s}.scheduled_actions a
set status = 'running', lease_owner = $3, lease_expires_at = $2::bigint + $4::bigint, attempts = a.attempts + 1
from picked
where a.tenant_id = $1 and a.key = picked.key
returning a.*, picked.due_at as claim_order`;

/**
 * claimAction: one action by key, as a queue wake-up does. Under READ COMMITTED a second
 * claimer of the same row waits for the first, then re-checks the WHERE clause against the
 * committed row (now running under a live lease) and claims nothing.
 *
 * Parameters: $1 tenant, $2 now, $3 owner, $4 leaseMs, $5 key.
 */
export const claimActionSql = (s: string) => `
update ${s}.scheduled_actions a
set status = 'running', lease_owner = $3, lease_expires_at = $2::bigint + $4::bigint, attempts = a.attempts + 1
where a.tenant_id = $1 and a.key = $5
  and ((a.status = 'pending' and a.run_at <= $2) or (a.status = 'running' and a.lease_expires_at <= $2))
  and exists (select 1 from ${s}.campaigns c where c.tenant_id = a.tenant_id and c.id = a.campaign_id and c.status = 'active')
returning a.*`;

/**
 * finishAction, fenced: only the lease owner, only while its lease is live at the engine's
 * `now`. A worker paused past its lease matches no row and writes nothing.
 *
 * Parameters: $1 tenant, $2 key, $3 owner, $4 now, $5 status, $6 runAt or null, $7 lastError or null.
 */
export const finishActionSql = (s: string) => `
update ${s}.scheduled_actions
set status = $5, lease_owner = null, lease_expires_at = null,
    run_at = coalesce($6::bigint, run_at), last_error = coalesce($7::text, last_error)
where tenant_id = $1 and key = $2 and status = 'running' and lease_owner = $3 and lease_expires_at > $4`;
