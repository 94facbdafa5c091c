-- dripline (optional): row-level security. Applied by migrate(..., { rowLevelSecurity: true }).
--
-- Every tenant table gets a policy that shows and accepts only the rows of the tenant named
-- by the transaction-local setting `dripline.tenant_id`, which the store sets with
-- set_config('dripline.tenant_id', $1, true) at the start of every transaction. A session
-- that never set it sees nothing (current_setting(..., true) is null, and null = x is not
-- true). FORCE applies the policies to the tables' owner too; superusers and roles with
-- BYPASSRLS still bypass them, so the application should connect as an ordinary role.
-- The wake-up table is not tenant data (keys and times only) and its consumer serves every
-- tenant, so it has no policy.
alter table :schema.campaigns enable row level security;
alter table :schema.campaigns force row level security;
create policy tenant_isolation on :schema.campaigns
  using (tenant_id = current_setting('dripline.tenant_id', true))
  with check (tenant_id = current_setting('dripline.tenant_id', true));

alter table :schema.plan_versions enable row level security;
alter table :schema.plan_versions force row level security;
create policy tenant_isolation on :schema.plan_versions
  using (tenant_id = current_setting('dripline.tenant_id', true))
  with check (tenant_id = current_setting('dripline.tenant_id', true));

alter table :schema.contact_campaigns enable row level security;
alter table :schema.contact_campaigns force row level security;
create policy tenant_isolation on :schema.contact_campaigns
  using (tenant_id = current_setting('dripline.tenant_id', true))
  with check (tenant_id = current_setting('dripline.tenant_id', true));

alter table :schema.scheduled_actions enable row level security;
alter table :schema.scheduled_actions force row level security;
create policy tenant_isolation on :schema.scheduled_actions
  using (tenant_id = current_setting('dripline.tenant_id', true))
  with check (tenant_id = current_setting('dripline.tenant_id', true));

alter table :schema.outbound_messages enable row level security;
alter table :schema.outbound_messages force row level security;
create policy tenant_isolation on :schema.outbound_messages
  using (tenant_id = current_setting('dripline.tenant_id', true))
  with check (tenant_id = current_setting('dripline.tenant_id', true));

alter table :schema.campaign_transitions enable row level security;
alter table :schema.campaign_transitions force row level security;
create policy tenant_isolation on :schema.campaign_transitions
  using (tenant_id = current_setting('dripline.tenant_id', true))
  with check (tenant_id = current_setting('dripline.tenant_id', true));

alter table :schema.message_events enable row level security;
alter table :schema.message_events force row level security;
create policy tenant_isolation on :schema.message_events
  using (tenant_id = current_setting('dripline.tenant_id', true))
  with check (tenant_id = current_setting('dripline.tenant_id', true));

alter table :schema.campaign_analytics enable row level security;
alter table :schema.campaign_analytics force row level security;
create policy tenant_isolation on :schema.campaign_analytics
  using (tenant_id = current_setting('dripline.tenant_id', true))
  with check (tenant_id = current_setting('dripline.tenant_id', true));

alter table :schema.suppressions enable row level security;
alter table :schema.suppressions force row level security;
create policy tenant_isolation on :schema.suppressions
  using (tenant_id = current_setting('dripline.tenant_id', true))
  with check (tenant_id = current_setting('dripline.tenant_id', true));

alter table :schema.outbound_provider_ids enable row level security;
alter table :schema.outbound_provider_ids force row level security;
create policy tenant_isolation on :schema.outbound_provider_ids
  using (tenant_id = current_setting('dripline.tenant_id', true))
  with check (tenant_id = current_setting('dripline.tenant_id', true));
