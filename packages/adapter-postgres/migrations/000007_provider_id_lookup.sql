-- dripline 000007: webhooks find a message's provider id in a table of its own, so the outbox
-- row's update when a send returns is a HOT update.
--
-- The outcome of a send sets outbound_messages.provider_message_id, which the partial index
-- outbound_messages_by_provider_id (000004) indexed. PostgreSQL can update a row in place (a
-- HOT update: no new entry in any index, a smaller WAL record) only when no indexed column
-- changes, so every send's outcome added a new entry to all four of the outbox's indexes:
-- 4 of the 14 index entries a one-SMS step wrote. Now the id goes to outbound_provider_ids
-- (one row and one index entry, written only when a provider id is set), the outbox keeps
-- room on its pages for the new version (fillfactor 70, like contact_campaigns' 80 in 000004)
-- and its update touches no index. Measured with bench/postgres/profile.mjs at one worker
-- (the index dropped and the fillfactor set, alternated with the schema before): 3-13% more
-- steps per second, 4-12% less PostgreSQL CPU per step.
--
-- outbound_provider_ids maps (provider id, tenant) to the message's key. A message whose
-- provider id changes (a retry's new id) keeps its old row here; the lookup joins the message
-- and checks its current provider id, so an old id finds nothing, as it did before.
--
-- Upgrading: the backfill reads the whole outbox, and dropping the old index (done last)
-- blocks writes to outbound_messages until migrate's transaction commits. Run migrate with
-- the workers stopped.

create table :schema.outbound_provider_ids (
  provider_message_id text collate "C" not null,
  tenant_id           text collate "C" not null,
  message_key         text collate "C" not null,
  -- Led by the provider id, like the index it replaces (see 000004).
  primary key (provider_message_id, tenant_id, message_key)
);

insert into :schema.outbound_provider_ids (provider_message_id, tenant_id, message_key)
select o.provider_message_id, o.tenant_id, o.key from :schema.outbound_messages o where o.provider_message_id is not null;

-- A schema that already has row-level security (optional/row_level_security.sql, applied
-- before this migration existed) gets the same policy on the new table; on any other schema
-- that file adds it when it is applied.
do $$
begin
  if (select c.relrowsecurity from pg_class c where c.oid = ':schema.outbound_messages'::regclass) then
    alter table :schema.outbound_provider_ids enable row level security;
    alter table :schema.outbound_provider_ids force row level security;
    create policy tenant_isolation on :schema.outbound_provider_ids
      using (tenant_id = current_setting('dripline.tenant_id', true))
      with check (tenant_id = current_setting('dripline.tenant_id', true));
  end if;
end
$$;

-- dripline_write as in 000003, except the outbox insert and the outbox patches, which also
-- write the provider ids they set to outbound_provider_ids (marked "New in 000007" below).
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
      returning key, provider_message_id
    ),
    -- New in 000007: a row inserted with its provider id already known is findable by it.
    ids as (
      insert into :schema.outbound_provider_ids (provider_message_id, tenant_id, message_key)
      select i.provider_message_id, p_tenant, i.key from i where i.provider_message_id is not null
      on conflict do nothing
    )
    select array_agg(i.key) into done from i;
    perform :schema.dripline_check('outbox', array(select r.key from jsonb_to_recordset(p_outbox) as r(key text)), done);
  end if;

  if cardinality(p_patch_keys) > 0 then
    with u as (
      update :schema.outbound_messages o
      set status = case when b.p ? 'status' then b.p->>'status' else o.status end,
          provider_message_id = case when b.p ? 'providerMessageId' then b.p->>'providerMessageId' else o.provider_message_id end,
          failure_reason = case when b.p ? 'failureReason' then b.p->>'failureReason' else o.failure_reason end,
          attempts = case when b.p ? 'attempts' then (b.p->>'attempts')::int else o.attempts end,
          updated_at = case when b.p ? 'updatedAt' then (b.p->>'updatedAt')::bigint else o.updated_at end
      from unnest(p_patch_keys) with ordinality as k(v, n)
        cross join lateral (select y.ctid as tid from :schema.outbound_messages y where y.tenant_id = p_tenant and y.key = k.v offset 0) y
        cross join lateral (select p_patches -> (k.n::int - 1) as p) b
      where o.ctid = y.tid
      returning o.key, o.provider_message_id, b.p ? 'providerMessageId' as sets_id
    )
    -- New in 000007: the provider ids this patch set, for webhooks to find their message by.
    insert into :schema.outbound_provider_ids (provider_message_id, tenant_id, message_key)
    select u.provider_message_id, p_tenant, u.key from u where u.sets_id and u.provider_message_id is not null
    on conflict do nothing;
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

-- Room on each new outbox page for its rows' next versions (existing pages are not rewritten).
alter table :schema.outbound_messages set (fillfactor = 70);
drop index :schema.outbound_messages_by_provider_id;
