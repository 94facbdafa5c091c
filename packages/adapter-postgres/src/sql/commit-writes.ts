/**
 * The store's one-round-trip commit: a call of `dripline_write` (migration
 * 000003_batched_writes.sql, where the statements and the reasons for their shape are; since
 * 000007_provider_id_lookup.sql it runs that function, renamed, and then records the provider
 * ids it set), with everything a transaction buffered. Outside an explicit transaction the call is the whole
 * transaction.
 *
 * Parameters: $1 tenant, $2 actions (jsonb), $3 cancels (text[]), $4 finishes (jsonb) and $5
 * their keys, $6 lease checks (jsonb) and $7 their keys, $8 enrollment updates (jsonb) and $9
 * their ids, $10 outbox rows (jsonb), $11 outbox patches (jsonb) and $12 their keys, $13 audit
 * rows (jsonb), $14 counter increments (jsonb), $15 provider message ids that must have no
 * orphan events, $16 campaigns whose counters to return, $17 a claim to make last (jsonb, or
 * null). Returns one row, `result`: json `{ analytics, chunk }`.
 */
export const commitWritesSql = (s: string) =>
  `select ${s}.dripline_write($1, $2::jsonb, $3::text[], $4::jsonb, $5::text[], $6::jsonb, $7::text[], $8::jsonb, $9::text[], $10::jsonb, $11::jsonb, $12::text[], $13::jsonb, $14::jsonb, $15::text[], $16::text[], $17::jsonb) as result`;
