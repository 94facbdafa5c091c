-- dripline 000003: the store's one-round-trip commit.
--
-- The engine's chunk transactions are mostly buffered writes: new actions, cancels, fenced
-- finishes, lease checks, enrollment updates at their expected row versions, outbox inserts
-- and updates, audit rows, counter increments, plus two reads that belong with the commit (the
-- "no orphan events" expectation and the counters the completion check needs). As separate
-- statements they cost BEGIN, a round trip per kind and COMMIT. The store sends them all to
-- dripline_write in one call; outside an explicit transaction that call is the whole
-- transaction (PostgreSQL runs a lone statement atomically), so a chunk's decision or its
-- outcomes cost one round trip and one commit.
--
-- Why a function rather than one statement of data-modifying CTEs (tried first): the plan
-- cache kept choosing custom plans for that statement (with most of its lists empty, a custom
-- plan always looks cheaper), so it was planned again on every call, about 1.1 ms of CPU per
-- call on this machine against 0.2 ms for its generic plan. The SET clause below pins generic
-- plans, planned once per connection; kinds with nothing to write are skipped; and the kinds
-- run one after another, so each sees the ones before (CTEs all see one snapshot).
--
-- Rows are found by key with primary-key probes whatever the statistics say: a LATERAL lookup
-- per key that `offset 0` keeps from being flattened into a join, then the row by ctid (a TID
-- scan). Without that, on a table not analyzed yet or for a tenant new since the last ANALYZE,
-- the planner believes the tenant has a handful of rows and scans all of them for every lookup
-- (see src/sql/probe.ts). Under READ COMMITTED an UPDATE by ctid follows a row changed
-- concurrently to its newest version and re-checks its other conditions, as any UPDATE does.
-- Key lists arrive sorted, so two workers lock the rows they share in the same order.
--
-- Checked writes: when a finish, a lease check, an enrollment update or an outbox insert does
-- not apply, or an orphan event exists, dripline_conflict raises SQLSTATE DL409 with a JSON
-- detail of what did not apply; the exception aborts the call, so nothing of the transaction
-- is written, and the store turns it into a CONFLICT error.

create or replace function :schema.dripline_conflict(detail jsonb) returns boolean
language plpgsql as $$
begin
  raise exception 'dripline: a checked write did not apply' using errcode = 'DL409', detail = detail::text;
end
$$;

-- dripline_due: the due pending actions of one campaign, earliest first (run_at, key), at most
-- p_limit, locked (`for update skip locked`: concurrent claimers skip each other's
-- candidates). They must be read from scheduled_actions_due_by_campaign in that order, stopping
-- after p_limit: without statistics (a table not analyzed yet) every plan is estimated at one
-- row, and the planner was seen reading all of a tenant's pending rows through another index
-- and sorting them, on every claim, which is quadratic over a campaign. That index is the only
-- one that returns the rows in order without a sort, so this function, and only it, discourages
-- sorts (in the claim as a whole that sent the other joins astray).
create or replace function :schema.dripline_due(p_tenant text, p_campaign text, p_now bigint, p_limit int)
returns table (key text, run_at bigint)
language plpgsql
rows 10
set plan_cache_mode = force_generic_plan
set enable_sort = off
as $$
begin
  return query
    select x.key::text, x.run_at from :schema.scheduled_actions x
    where x.campaign_id = p_campaign and x.tenant_id = p_tenant and x.status = 'pending' and x.run_at <= p_now
    order by x.run_at, x.key
    limit p_limit
    for update of x skip locked;
end
$$;

-- dripline_claim: claims actions, and with p_rows also reads every row the engine needs to run
-- them (one call instead of a claim transaction and a read per kind of row).
--   p_limit, p_per_campaign   due actions: most claimed in all, and per campaign (fair share)
--   p_keys                    instead, these keys (each as claimAction would), in this order
-- Due actions: pending with run_at <= p_now, or running with an expired lease, of active
-- campaigns, earliest first; `for update skip locked` so concurrent claimers skip each other's
-- candidates. dripline_due walks each active campaign's earliest due actions, so one huge
-- campaign never fills the claim and inactive campaigns cost nothing; row_number() applies the
-- per-campaign limit across both sets (window functions cannot sit beside FOR UPDATE, hence the
-- CTEs). The lease is p_now + p_lease_ms: the
-- engine's clock is the one authority for time.
-- Returns json { actions (claim order), and with p_rows: enrollments, outbounds (of the send
-- actions' keys), suppressions (of the enrollments' contacts' addresses), campaigns }, rows with
-- their column names.
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
      select r.key, r.due_at from ranked r where r.rn <= p_per_campaign order by r.due_at, r.key limit p_limit
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

-- dripline_check: raises the conflict of a checked write of `kind` when the keys it `done` are
-- not all those it `wanted`, naming the ones that did not apply.
create or replace function :schema.dripline_check(kind text, wanted text[], done text[]) returns void
language plpgsql as $$
begin
  if coalesce(cardinality(done), 0) <> coalesce(cardinality(wanted), 0) then
    perform :schema.dripline_conflict(jsonb_build_object(kind,
      (select array_agg(k.v order by k.v) from unnest(wanted) as k(v) where k.v <> all(coalesce(done, '{}')))));
  end if;
end
$$;

-- Parameters (lists of keys and the rows for them are in the same order):
--   p_actions      jsonb array of scheduled actions to insert (an existing key is left alone)
--   p_cancels      text[] keys of actions to cancel (pending or running ones)
--   p_finishes     jsonb array of { owner, now, status, run_at, last_error }, p_finish_keys text[]
--   p_leases       jsonb array of { owner, now }, p_lease_keys text[]: leases that must be live
--   p_enrollments  jsonb array of { status, node_id, visit, plan_version, enrollment, contact,
--                  expected, next }, p_enrollment_ids text[]
--   p_outbox       jsonb array of outbox rows to insert (each key must be new)
--   p_patches      jsonb array of outbox patches (a field present is set), p_patch_keys text[]
--   p_audit        jsonb array of transition records
--   p_counters     jsonb array of { campaign_id, counter, delta }
--   p_no_orphans   text[] provider message ids that must have no orphan events
--   p_read         text[] campaigns whose counters to return
--   p_claim        jsonb { now, owner, lease_ms, limit, per_campaign } or { ..., keys }: a claim
--                  (dripline_claim with its rows) made last, so it commits with the writes
-- Returns json { analytics: campaign id → counter → value, for p_read, after this call's
-- increments; chunk: the claim's result }.
create or replace function :schema.dripline_write(
  p_tenant text,
  p_actions jsonb,
  p_cancels text[],
  p_finishes jsonb, p_finish_keys text[],
  p_leases jsonb, p_lease_keys text[],
  p_enrollments jsonb, p_enrollment_ids text[],
  p_outbox jsonb,
  p_patches jsonb, p_patch_keys text[],
  p_audit jsonb,
  p_counters jsonb,
  p_no_orphans text[],
  p_read text[],
  p_claim jsonb
) returns json
language plpgsql
set plan_cache_mode = force_generic_plan
as $$
declare
  done text[];
  missing text[];
begin
  if jsonb_array_length(p_actions) > 0 then
    insert into :schema.scheduled_actions (tenant_id, key, campaign_id, enrollment_id, kind, node_id, visit, run_at, status, attempts, lease_owner, lease_expires_at, last_error, payload)
    select p_tenant, r.key, r.campaign_id, r.enrollment_id, r.kind, r.node_id, r.visit, r.run_at, r.status, r.attempts, r.lease_owner, r.lease_expires_at, r.last_error, r.payload
    from jsonb_to_recordset(p_actions) as r(key text, campaign_id text, enrollment_id text, kind text, node_id text, visit int, run_at bigint, status text,
      attempts int, lease_owner text, lease_expires_at bigint, last_error text, payload jsonb)
    on conflict do nothing;
  end if;

  if cardinality(p_cancels) > 0 then
    update :schema.scheduled_actions a set status = 'canceled', lease_owner = null, lease_expires_at = null
    from unnest(p_cancels) as k(v)
      cross join lateral (select y.ctid as tid from :schema.scheduled_actions y where y.tenant_id = p_tenant and y.key = k.v offset 0) y
    -- A CASE, so that no partial index can match (see dripline_claim).
    where a.ctid = y.tid and (case a.status when 'pending' then true when 'running' then true else false end);
  end if;

  if cardinality(p_finish_keys) > 0 then
    with f as (
      update :schema.scheduled_actions a
      set status = b.status, lease_owner = null, lease_expires_at = null,
          run_at = coalesce(b.run_at, a.run_at), last_error = coalesce(b.last_error, a.last_error)
      from unnest(p_finish_keys) with ordinality as k(v, n)
        cross join lateral (select y.ctid as tid from :schema.scheduled_actions y where y.tenant_id = p_tenant and y.key = k.v offset 0) y
        cross join lateral jsonb_to_record(p_finishes -> (k.n::int - 1)) as b(owner text, now bigint, status text, run_at bigint, last_error text)
      -- A CASE, so that no partial index can match (see dripline_claim).
      where a.ctid = y.tid and (case a.status when 'running' then a.lease_owner = b.owner and a.lease_expires_at > b.now else false end)
      returning a.key
    )
    select array_agg(f.key) into done from f;
    perform :schema.dripline_check('finishes', p_finish_keys, done);
  end if;

  if cardinality(p_lease_keys) > 0 then
    -- Read by key (the primary key), then checked. No row lock: the check is that the lease
    -- was live and ours when the decision committed (a worker that stalled past its lease
    -- fails it), and a second worker that took an action over could not send it again anyway:
    -- its outbox insert of the same key fails, and with it its whole decision.
    with l as (
      select y.key from unnest(p_lease_keys) with ordinality as k(v, n)
        cross join lateral jsonb_to_record(p_leases -> (k.n::int - 1)) as b(owner text, now bigint)
        cross join lateral (
          select y.key, y.status, y.lease_owner, y.lease_expires_at from :schema.scheduled_actions y
          where y.tenant_id = p_tenant and y.key = k.v
          offset 0
        ) y
      where y.status = 'running' and y.lease_owner = b.owner and y.lease_expires_at > b.now
    )
    select array_agg(l.key) into done from l;
    perform :schema.dripline_check('leases', p_lease_keys, done);
  end if;

  if cardinality(p_enrollment_ids) > 0 then
    with u as (
      update :schema.contact_campaigns c
      set status = b.status, node_id = b.node_id, visit = b.visit, plan_version = b.plan_version, enrollment = b.enrollment, contact = b.contact, row_version = b.next
      from unnest(p_enrollment_ids) with ordinality as k(v, n)
        cross join lateral (select y.ctid as tid from :schema.contact_campaigns y where y.tenant_id = p_tenant and y.id = k.v offset 0) y
        cross join lateral jsonb_to_record(p_enrollments -> (k.n::int - 1)) as b(status text, node_id text, visit int, plan_version int, enrollment jsonb, contact jsonb, expected int, next int)
      where c.ctid = y.tid and c.row_version = b.expected
      returning c.id
    )
    select array_agg(u.id) into done from u;
    perform :schema.dripline_check('enrollments', p_enrollment_ids, done);
  end if;

  if jsonb_array_length(p_outbox) > 0 then
    with i as (
      insert into :schema.outbound_messages (tenant_id, key, campaign_id, contact_id, enrollment_id, node_id, channel, recipient, subject, body, status, provider_message_id, failure_reason, attempts, created_at, updated_at)
      select p_tenant, r.key, r.campaign_id, r.contact_id, r.enrollment_id, r.node_id, r.channel, r.recipient, r.subject, r.body, r.status, r.provider_message_id, r.failure_reason, r.attempts, r.created_at, r.updated_at
      from jsonb_to_recordset(p_outbox) as r(key text, campaign_id text, contact_id text, enrollment_id text, node_id text, channel text, recipient text, subject text,
        body text, status text, provider_message_id text, failure_reason text, attempts int, created_at bigint, updated_at bigint)
      order by r.key
      on conflict do nothing
      returning key
    )
    select array_agg(i.key) into done from i;
    perform :schema.dripline_check('outbox', array(select r.key from jsonb_to_recordset(p_outbox) as r(key text)), done);
  end if;

  if cardinality(p_patch_keys) > 0 then
    update :schema.outbound_messages o
    set status = case when b.p ? 'status' then b.p->>'status' else o.status end,
        provider_message_id = case when b.p ? 'providerMessageId' then b.p->>'providerMessageId' else o.provider_message_id end,
        failure_reason = case when b.p ? 'failureReason' then b.p->>'failureReason' else o.failure_reason end,
        attempts = case when b.p ? 'attempts' then (b.p->>'attempts')::int else o.attempts end,
        updated_at = case when b.p ? 'updatedAt' then (b.p->>'updatedAt')::bigint else o.updated_at end
    from unnest(p_patch_keys) with ordinality as k(v, n)
      cross join lateral (select y.ctid as tid from :schema.outbound_messages y where y.tenant_id = p_tenant and y.key = k.v offset 0) y
      cross join lateral (select p_patches -> (k.n::int - 1) as p) b
    where o.ctid = y.tid;
  end if;

  if jsonb_array_length(p_audit) > 0 then
    insert into :schema.campaign_transitions (tenant_id, campaign_id, enrollment_id, at, record)
    select p_tenant, r.value->>'campaignId', r.value->>'enrollmentId', (r.value->>'at')::bigint, r.value
    from jsonb_array_elements(p_audit) with ordinality as r(value, n)
    order by r.n;
  end if;

  if jsonb_array_length(p_counters) > 0 then
    -- The shard is the backend pid's, see migration 000001.
    insert into :schema.campaign_analytics as t (tenant_id, campaign_id, counter, shard, value)
    select p_tenant, r.campaign_id, r.counter, pg_backend_pid() % 16, r.delta
    from jsonb_to_recordset(p_counters) as r(campaign_id text, counter text, delta double precision)
    order by r.campaign_id, r.counter
    on conflict (tenant_id, campaign_id, counter, shard) do update set value = t.value + excluded.value;
  end if;

  if cardinality(p_no_orphans) > 0 then
    select array_agg(k.v order by k.v) into missing from unnest(p_no_orphans) as k(v)
    where exists (select 1 from :schema.message_events e where e.tenant_id = p_tenant and e.provider_message_id = k.v and e.message_key is null);
    if missing is not null then
      perform :schema.dripline_conflict(jsonb_build_object('orphans', missing));
    end if;
  end if;

  return json_build_object(
    'analytics', case when cardinality(p_read) > 0 then (
      select json_object_agg(k.v, coalesce((
        select json_object_agg(c.counter, c.value) from (
          select a.counter, sum(a.value) as value from :schema.campaign_analytics a
          where a.tenant_id = p_tenant and a.campaign_id = k.v group by a.counter) c), '{}'))
      from unnest(p_read) as k(v)) end,
    'chunk', case when p_claim is not null then :schema.dripline_claim(
      p_tenant, (p_claim->>'now')::bigint, p_claim->>'owner', (p_claim->>'lease_ms')::bigint,
      coalesce((p_claim->>'limit')::int, 10), coalesce((p_claim->>'per_campaign')::int, coalesce((p_claim->>'limit')::int, 10)),
      case when p_claim ? 'keys' then array(select jsonb_array_elements_text(p_claim->'keys')) end, true) end);
end
$$;
