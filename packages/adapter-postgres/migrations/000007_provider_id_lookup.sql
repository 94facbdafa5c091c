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
-- and its update touches no index. Measured with bench/postgres/profile.mjs at one worker,
-- alternated with the schema before (medians of two sets of five and six pairs): 8% and 3%
-- more steps per second, 7% and 4% less PostgreSQL CPU per step.
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

-- dripline_write also records the provider ids its outbox inserts and patches set, and checks
-- that no message it inserts as "sending" goes to a suppressed recipient. 000003's function
-- stays as it is, renamed (its body unchanged, so not copied here); the new dripline_write
-- calls it, then checks and writes the ids: two statements more per call. A patch of a key
-- that has no outbox row still gets an id row: the lookup finds no message for it.
alter function :schema.dripline_write(text, jsonb, text[], jsonb, text[], jsonb, text[], jsonb, text[], jsonb, jsonb, text[], jsonb, jsonb, text[], text[], jsonb)
  rename to dripline_write_000003;

create function :schema.dripline_write(
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
  result json;
  suppressed text[];
begin
  result := :schema.dripline_write_000003(p_tenant, p_actions, p_cancels, p_finishes, p_finish_keys, p_leases, p_lease_keys,
    p_enrollments, p_enrollment_ids, p_outbox, p_patches, p_patch_keys, p_audit, p_counters, p_no_orphans, p_read, p_claim);
  -- A message about to go out ("sending") must not go to a suppressed recipient. The engine
  -- checked the suppressions it read with the claim, a turn before this commit; a STOP or an
  -- unsubscribe committed since then fails the whole call here (SQLSTATE DL409, a CONFLICT),
  -- and the engine decides those actions again, one by one, from fresh reads.
  if jsonb_array_length(p_outbox) > 0 then
    select array_agg(r.key order by r.key) into suppressed
    from jsonb_to_recordset(p_outbox) as r(key text, recipient text, channel text, status text)
    where r.status = 'sending'
      and exists (select 1 from :schema.suppressions s where s.tenant_id = p_tenant and s.address = r.recipient and s.channel in (r.channel, '*'));
    if suppressed is not null then
      perform :schema.dripline_conflict(jsonb_build_object('suppressed', suppressed));
    end if;
  end if;
  if jsonb_array_length(p_outbox) > 0 or cardinality(p_patch_keys) > 0 then
    insert into :schema.outbound_provider_ids (provider_message_id, tenant_id, message_key)
    select x.id, p_tenant, x.key from (
      select r.key, r.provider_message_id as id from jsonb_to_recordset(p_outbox) as r(key text, provider_message_id text)
      union all
      select k.v, p_patches -> (k.n::int - 1) ->> 'providerMessageId' from unnest(p_patch_keys) with ordinality as k(v, n)
    ) x
    where x.id is not null
    order by x.id, x.key
    on conflict do nothing;
  end if;
  return result;
end
$$;

-- Room on each new outbox page for its rows' next versions (existing pages are not rewritten).
alter table :schema.outbound_messages set (fillfactor = 70);
drop index :schema.outbound_messages_by_provider_id;
