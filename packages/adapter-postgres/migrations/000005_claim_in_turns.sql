-- dripline 000005: a claim of due actions takes the campaigns in turn.
--
-- Before, dripline_claim took the earliest due actions of all active campaigns, up to
-- p_per_campaign of one campaign. The engine's pipeline claims chunks of 10 and the worker's
-- per-campaign share defaults to a quarter of its batch (25), so the share never applied: a
-- campaign with a backlog of earlier actions filled every claim until its backlog was done, and
-- a campaign that became due meanwhile waited behind all of it. Now a claim takes every
-- campaign's earliest due action, then every campaign's second, and so on (each rank earliest
-- first), still at most p_per_campaign of one campaign: with one campaign due, the claim is the
-- same as before; with several, each gets an equal part of it. Only the order of `picked`
-- changed; the rest of the function is 000003's.

create or replace function :schema.dripline_claim(
  p_tenant text,
  p_now bigint,
  p_owner text,
  p_lease_ms bigint,
  p_limit int,
  p_per_campaign int,
  p_keys text[],
  p_rows boolean
) returns json
language plpgsql
set plan_cache_mode = force_generic_plan
as $$
declare
  v_actions json;
begin
  if p_keys is null then
    with pend as (
      select a.key, c.id as campaign_id, a.run_at as due_at
      from :schema.campaigns c
      cross join lateral :schema.dripline_due(p_tenant, c.id, p_now, least(p_per_campaign, p_limit)) a
      where c.tenant_id = p_tenant and c.status = 'active'
    ),
    expired as (
      select x.key, x.campaign_id, x.lease_expires_at as due_at
      from :schema.scheduled_actions x
      join :schema.campaigns c on c.tenant_id = x.tenant_id and c.id = x.campaign_id and c.status = 'active'
      where x.tenant_id = p_tenant and x.status = 'running' and x.lease_expires_at <= p_now
      order by x.lease_expires_at, x.key
      limit p_limit
      for update of x skip locked
    ),
    ranked as (
      select u.key, u.due_at, row_number() over (partition by u.campaign_id order by u.due_at, u.key) as rn
      from (select * from pend union all select * from expired) u
    ),
    picked as (
      -- Campaigns in turn: every campaign's earliest, then every campaign's second, and so on
      -- (each rank earliest first), up to p_per_campaign of one campaign.
      select r.key, r.due_at from ranked r where r.rn <= p_per_campaign order by r.rn, r.due_at, r.key limit p_limit
    ),
    claimed as (
      update :schema.scheduled_actions a
      set status = 'running', lease_owner = p_owner, lease_expires_at = p_now + p_lease_ms, attempts = a.attempts + 1
      from picked
        cross join lateral (select y.ctid as tid from :schema.scheduled_actions y where y.tenant_id = p_tenant and y.key = picked.key offset 0) y
      where a.ctid = y.tid
      returning a.*, picked.due_at as claim_order
    )
    select coalesce(json_agg(c order by c.claim_order, c.key), '[]') into v_actions from claimed c;
  else
    -- Under READ COMMITTED a second claimer of a key waits for the first, then re-checks the
    -- conditions on the row the first left (running, live lease) and claims nothing.
    with claimed as (
      update :schema.scheduled_actions a
      set status = 'running', lease_owner = p_owner, lease_expires_at = p_now + p_lease_ms, attempts = a.attempts + 1
      from unnest(p_keys) with ordinality as k(v, n)
        cross join lateral (select y.ctid as tid from :schema.scheduled_actions y where y.tenant_id = p_tenant and y.key = k.v offset 0) y
      where a.ctid = y.tid
        -- A CASE, so that no partial index (pending by run_at, running by lease) can match these
        -- conditions: written plainly, the planner drove the update from every due row of the
        -- schema and probed the keys inside that loop. The conditions are on the target row, so
        -- a concurrent claimer's update is re-checked against them.
        and (case a.status when 'pending' then a.run_at <= p_now when 'running' then a.lease_expires_at <= p_now else false end)
        and exists (select 1 from :schema.campaigns c where c.tenant_id = a.tenant_id and c.id = a.campaign_id and c.status = 'active')
      returning a.*, k.n as claim_order
    )
    select coalesce(json_agg(c order by c.claim_order), '[]') into v_actions from claimed c;
  end if;
  if not p_rows or json_array_length(v_actions) = 0 then
    return json_build_object('actions', v_actions, 'enrollments', '[]'::json, 'outbounds', '[]'::json, 'suppressions', '[]'::json, 'campaigns', '[]'::json);
  end if;
  -- A second statement: it sees the claim's updates. Rows are probed by key (see above).
  return (
    with acts as (
      select a->>'key' as key, a->>'kind' as kind, a->>'enrollment_id' as enrollment_id, a->>'campaign_id' as campaign_id
      from json_array_elements(v_actions) a
    ),
    enr as (
      select y.* from (select distinct enrollment_id as v from acts) k
      cross join lateral (select * from :schema.contact_campaigns y where y.tenant_id = p_tenant and y.id = k.v offset 0) y
    )
    select json_build_object(
      'actions', v_actions,
      'enrollments', coalesce((select json_agg(x) from enr x), '[]'),
      'outbounds', coalesce((
        select json_agg(y) from (select key as v from acts where kind = 'send') k
        cross join lateral (select * from :schema.outbound_messages y where y.tenant_id = p_tenant and y.key = k.v offset 0) y), '[]'),
      'suppressions', coalesce((
        select json_agg(y) from (
          select distinct a.v from enr, lateral (values (enr.contact->'address'->>'email'), (enr.contact->'address'->>'phone'), (enr.contact->'address'->>'whatsapp')) a(v)
          where a.v is not null) k
        cross join lateral (select * from :schema.suppressions y where y.tenant_id = p_tenant and y.address = k.v offset 0) y), '[]'),
      'campaigns', coalesce((
        select json_agg(y) from (select distinct campaign_id as v from acts) k
        cross join lateral (select * from :schema.campaigns y where y.tenant_id = p_tenant and y.id = k.v offset 0) y), '[]')
    )
  );
end
$$;
