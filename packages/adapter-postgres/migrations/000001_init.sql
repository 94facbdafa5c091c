-- dripline 000001: the data model of DESIGN.md. `:schema` is replaced by the quoted schema name.
--
-- Conventions kept by every table:
-- * every row carries tenant_id and every primary / unique key starts with it, so tenants never
--   collide and every query can use an index that starts with the tenant;
-- * ids, keys and anything listed "in id/key order" are `collate "C"`: code-point order, the
--   order the port promises (and the one JS string comparison gives);
-- * times are epoch milliseconds in bigint: exact, time-zone free, and the engine's clock is
--   the only authority for "now" (no SQL now() anywhere).

create table :schema.campaigns (
  tenant_id         text collate "C" not null,
  id                text collate "C" not null,
  name              text not null,
  status            text not null check (status in ('draft', 'scheduled', 'active', 'paused', 'completed', 'stopped', 'canceled', 'failed')),
  plan              jsonb not null,
  plan_version      integer not null,
  start_at          bigint,
  batch_size        integer not null,
  failure_threshold double precision not null,
  created_at        bigint not null,
  updated_at        bigint not null,
  -- Fields a caller adds beyond CampaignRecord (the engine stores `compliance` here).
  extra             jsonb not null default '{}'::jsonb,
  primary key (tenant_id, id)
);
-- Workers list `scheduled` campaigns every round (activateDueCampaigns).
create index campaigns_status on :schema.campaigns (tenant_id, status);

create table :schema.plan_versions (
  tenant_id   text collate "C" not null,
  campaign_id text collate "C" not null,
  version     integer not null,
  plan        jsonb not null,
  created_at  bigint not null,
  primary key (tenant_id, campaign_id, version)
);

-- One row per enrolled contact. The machine's state is one jsonb document (it round-trips
-- through JSON by design); status / node / visit are copied out for filters and counts.
create table :schema.contact_campaigns (
  tenant_id    text collate "C" not null,
  id           text collate "C" not null,
  campaign_id  text collate "C" not null,
  contact_id   text collate "C" not null,
  status       text not null,
  node_id      text not null,
  visit        integer not null,
  plan_version integer not null,
  enrollment   jsonb not null,
  contact      jsonb not null,
  row_version  integer not null,
  primary key (tenant_id, id),
  -- The enrolment lookup: (campaign, contact) is unique.
  unique (tenant_id, campaign_id, contact_id)
);
-- Paging a campaign's enrollments in id order (listEnrollments, stop / cancel / migrate).
create index contact_campaigns_campaign on :schema.contact_campaigns (tenant_id, campaign_id, id);

create table :schema.scheduled_actions (
  tenant_id        text collate "C" not null,
  key              text collate "C" not null,
  campaign_id      text collate "C" not null,
  enrollment_id    text collate "C" not null,
  kind             text not null,
  node_id          text not null,
  visit            integer not null,
  run_at           bigint not null,
  status           text not null check (status in ('pending', 'running', 'done', 'canceled')),
  attempts         integer not null,
  lease_owner      text,
  lease_expires_at bigint,
  last_error       text,
  -- The rest of ScheduledAction (`on`, `requestedAt`, future fields), verbatim.
  payload          jsonb not null default '{}'::jsonb,
  primary key (tenant_id, key)
);
-- The hot query: claiming due actions. Partial, so done / canceled rows (the vast majority
-- over time) cost the claim nothing. campaign_id is in it because the claim walks each active
-- campaign's earliest due actions (fair share); the second index serves the sweeper.
create index scheduled_actions_due on :schema.scheduled_actions (tenant_id, campaign_id, run_at, key) where status = 'pending';
create index scheduled_actions_pending_run_at on :schema.scheduled_actions (tenant_id, run_at) where status = 'pending';
-- Taking over actions of crashed workers: running rows by lease expiry.
create index scheduled_actions_lease on :schema.scheduled_actions (tenant_id, lease_expires_at) where status = 'running';
-- listActions / countActions per campaign in key order.
create index scheduled_actions_campaign on :schema.scheduled_actions (tenant_id, campaign_id, key);

-- The outbox and recipient log.
create table :schema.outbound_messages (
  tenant_id           text collate "C" not null,
  key                 text collate "C" not null,
  campaign_id         text collate "C" not null,
  contact_id          text collate "C" not null,
  enrollment_id       text collate "C" not null,
  node_id             text not null,
  channel             text not null,
  recipient           text not null,
  subject             text,
  body                text not null,
  status              text not null check (status in ('sending', 'sent', 'delivered', 'read', 'failed', 'undelivered', 'unknown')),
  provider_message_id text,
  failure_reason      text,
  attempts            integer not null,
  created_at          bigint not null,
  updated_at          bigint not null,
  primary key (tenant_id, key)
);
-- Webhooks find their message by the provider's id.
create index outbound_messages_provider_id on :schema.outbound_messages (tenant_id, provider_message_id) where provider_message_id is not null;
-- Frequency caps: a recipient's recent messages.
create index outbound_messages_recipient on :schema.outbound_messages (tenant_id, recipient, created_at);
create index outbound_messages_campaign on :schema.outbound_messages (tenant_id, campaign_id, key);

-- The audit trail; seq keeps the order rows were written in.
create table :schema.campaign_transitions (
  seq           bigserial primary key,
  tenant_id     text collate "C" not null,
  campaign_id   text collate "C" not null,
  enrollment_id text collate "C" not null,
  at            bigint not null,
  record        jsonb not null
);
create index campaign_transitions_enrollment on :schema.campaign_transitions (tenant_id, enrollment_id, seq);

create table :schema.message_events (
  tenant_id           text collate "C" not null,
  provider_event_id   text collate "C" not null,
  seq                 bigserial not null,
  type                text not null,
  at                  bigint not null,
  provider_message_id text,
  message_key         text collate "C",
  received_at         bigint not null,
  primary key (tenant_id, provider_event_id)
);
-- Orphans: events whose message was not known yet, looked up when its provider id is recorded.
create index message_events_orphans on :schema.message_events (tenant_id, provider_message_id, at, seq) where message_key is null;

-- Counters, sharded: every send transaction of a campaign bumps the same few counters, and
-- one row per counter would serialize all workers on its row lock until commit. Each
-- connection writes the shard of its backend pid; reads sum the shards.
create table :schema.campaign_analytics (
  tenant_id   text collate "C" not null,
  campaign_id text collate "C" not null,
  counter     text collate "C" not null,
  shard       smallint not null,
  value       double precision not null,
  primary key (tenant_id, campaign_id, counter, shard)
);

-- channel '*' is the all-channel suppression (a primary key cannot hold null).
create table :schema.suppressions (
  tenant_id text collate "C" not null,
  address   text collate "C" not null,
  channel   text collate "C" not null,
  reason    text not null,
  at        bigint not null,
  primary key (tenant_id, address, channel)
);
