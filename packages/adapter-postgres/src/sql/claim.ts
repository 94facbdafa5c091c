/**
 * Claiming actions. Claims of several actions (due ones, or a list of keys) are calls of
 * `dripline_claim` (migration 000003_batched_writes.sql, where the statement and the reasons
 * for its shape are; 000005_claim_in_turns.sql made the campaigns take turns), which can also
 * return every row the engine needs to run them.
 */

/**
 * `dripline_claim`. $1 tenant, $2 now, $3 owner, $4 leaseMs, $5 limit, $6 perCampaignLimit,
 * $7 keys (text[], or null for due actions), $8 whether to read the rows too. Returns one row:
 * `chunk`, json `{ actions, enrollments, outbounds, suppressions, campaigns }`.
 */
export const claimSql = (s: string) => `select ${s}.dripline_claim($1, $2::bigint, $3, $4::bigint, $5::int, $6::int, $7::text[], $8::boolean) as chunk`;

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
