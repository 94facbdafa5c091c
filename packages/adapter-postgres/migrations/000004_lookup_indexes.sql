-- dripline 000004: secondary indexes lead with the column their queries look up by.
--
-- Every row is found by primary key (tenant_id, key / id) far more often than any other way:
-- the engine reads and writes each chunk's actions, enrollments and outbox rows by key. With
-- the secondary indexes of 000001 also starting with tenant_id, `tenant_id = $1 and key = $2`
-- could be served by any of them: a scan of the tenant's entries filtered by key. The planner
-- does exactly that whenever it believes the tenant is small: on tables not analyzed yet (a new
-- schema, a large enrolment autovacuum has not looked at) and for a tenant new since the last
-- ANALYZE. Measured on 6,000 outbox rows: ten lookups through (tenant_id, campaign_id, key)
-- read 230-460 buffers, through the primary key 30; the cost grows with the tenant.
--
-- Led by campaign_id (or recipient, provider message id), these indexes serve their own queries
-- exactly as before (each has an equality on that column and on tenant_id), and cannot serve a
-- lookup by key at all, so the primary key is the only plan left for one.
create index contact_campaigns_by_campaign on :schema.contact_campaigns (campaign_id, tenant_id, id);
drop index :schema.contact_campaigns_campaign;
alter table :schema.contact_campaigns add constraint contact_campaigns_campaign_contact unique (campaign_id, tenant_id, contact_id);
alter table :schema.contact_campaigns drop constraint contact_campaigns_tenant_id_campaign_id_contact_id_key;

create index scheduled_actions_by_campaign on :schema.scheduled_actions (campaign_id, tenant_id, key);
drop index :schema.scheduled_actions_campaign;
create index scheduled_actions_due_by_campaign on :schema.scheduled_actions (campaign_id, tenant_id, run_at, key) where status = 'pending';
drop index :schema.scheduled_actions_due;

create index outbound_messages_by_campaign on :schema.outbound_messages (campaign_id, tenant_id, key);
drop index :schema.outbound_messages_campaign;
create index outbound_messages_by_provider_id on :schema.outbound_messages (provider_message_id, tenant_id) where provider_message_id is not null;
drop index :schema.outbound_messages_provider_id;
create index outbound_messages_by_recipient on :schema.outbound_messages (recipient, tenant_id, created_at);
drop index :schema.outbound_messages_recipient;

-- The two time-ordered partial indexes lead with their time: the queue's sweeper ("pending,
-- due by now, earliest first") and the claim's take-over of expired leases scan a range of
-- times either way, and neither index can then be taken for a lookup by key or by campaign
-- (the claim walked the tenant's whole due range here instead of one campaign's).
create index scheduled_actions_pending_by_run_at on :schema.scheduled_actions (run_at, tenant_id) where status = 'pending';
drop index :schema.scheduled_actions_pending_run_at;
create index scheduled_actions_running_by_lease on :schema.scheduled_actions (lease_expires_at, tenant_id) where status = 'running';
drop index :schema.scheduled_actions_lease;

-- Room for HOT updates. An enrollment is updated twice per send (the decision, then the
-- outcome) and never in an indexed column, so its new version can stay on its page without
-- touching any index, if the page has room. Rows inserted in bulk fill their pages, so every
-- first update moved the row and added an entry to each of the table's three indexes. New pages
-- keep a fifth free from now on (existing ones are not rewritten).
alter table :schema.contact_campaigns set (fillfactor = 80);
