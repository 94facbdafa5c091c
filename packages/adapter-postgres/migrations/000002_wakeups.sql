-- dripline 000002: the wake-up table of the Postgres ActionQueue.
--
-- The store's scheduled_actions already say when work is due; this table only says "look at
-- action K at time T" (the ActionQueue port), so a queue wake-up and a store row are never
-- the same thing and a lost wake-up delays work but loses none (the sweeper re-enqueues).
-- Keyed by (key, tenant_id) because ActionQueue.remove() names keys only.
create table :schema.wakeups (
  key       text collate "C" not null,
  tenant_id text collate "C" not null,
  run_at    bigint not null,
  primary key (key, tenant_id)
);
create index wakeups_run_at on :schema.wakeups (run_at, key);
