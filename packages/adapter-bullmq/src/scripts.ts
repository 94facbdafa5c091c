/**
 * The adapter's own three small Lua scripts, registered on BullMQ's client abstraction
 * (`defineCommand` / `runCommand`). Each touches only keys it is given, all under the
 * queue's prefix, so they run unchanged on Redis Cluster with a hash-tagged prefix.
 */

/** The part of BullMQ's `IRedisClient` these scripts need. */
export interface ScriptClient {
  defineCommand(name: string, definition: { numberOfKeys: number; lua: string; readOnly?: boolean }): void;
  runCommand(name: string, args: unknown[]): Promise<unknown>;
}

/** What {@link PROBE} found for a job id. */
export const JobProbe = { absent: 0, finished: 1, running: 2, pending: 3 } as const;

/**
 * KEYS: job hash, job lock, wake-again mark. ARGV: runAt, mark TTL (ms).
 * Returns 0 no job, 1 finished (kept by retention), 2 running (and leaves the mark),
 * 3 waiting or delayed. Atomic, so a run cannot end between the look and the mark.
 */
export const PROBE = {
  name: 'driplineProbe',
  numberOfKeys: 3,
  lua: `
if redis.call('HEXISTS', KEYS[1], 'timestamp') == 0 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'finishedOn') == 1 then return 1 end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 3`,
};

/** KEYS: wake-again mark. Returns and deletes it (GETDEL, spelled out for Redis < 6.2). */
export const TAKE_MARK = {
  name: 'driplineTakeMark',
  numberOfKeys: 1,
  lua: `
local v = redis.call('GET', KEYS[1])
if v then redis.call('DEL', KEYS[1]) end
return v`,
};

/** KEYS: lock. ARGV: owner, TTL (ms). Returns 1 if this caller took the lock. */
export const TRY_LOCK = {
  name: 'driplineTryLock',
  numberOfKeys: 1,
  lua: `
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end
return 0`,
};

/**
 * KEYS: a sender's send schedule. ARGV: the reserved time a late sender got (as returned).
 * If nobody reserved after it, moves that last reservation to now and returns 1: the late
 * send may go now, and the next reservation is spaced from it. Else returns 0.
 */
export const SLIDE_SEND = {
  name: 'driplineSlideSend',
  numberOfKeys: 1,
  lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], tostring(math.max(now, tonumber(ARGV[1]))), 'PX', tonumber(ARGV[2]))
return 1`,
};

/** No keys. Returns Redis's clock (epoch ms), to estimate the offset to ours. */
export const CLOCK = {
  name: 'driplineClock',
  numberOfKeys: 0,
  lua: `
local t = redis.call('TIME')
return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`,
};

const defined = new WeakSet<object>();

/** Registers the scripts on a client once. */
export function withScripts<C extends ScriptClient>(client: C): C {
  if (!defined.has(client)) {
    for (const s of [PROBE, TAKE_MARK, TRY_LOCK, RESERVE_SEND, SLIDE_SEND, CLOCK]) client.defineCommand(s.name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
    defined.add(client);
  }
  return client;
}

/**
 * KEYS: a sender's send schedule. ARGV: spacing (ms).
 * Reserves the sender's next send time, `max(now, previous + spacing)`, with `now` read from
 * Redis (`TIME`), the one clock every process of the fleet shares. Returns `{at, now}` (epoch
 * ms, Redis's clock).
 */
export const RESERVE_SEND = {
  name: 'driplineReserveSend',
  numberOfKeys: 1,
  lua: `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local spacing = tonumber(ARGV[1])
local at = math.max(now, tonumber(redis.call('GET', KEYS[1]) or 0) + spacing)
redis.call('SET', KEYS[1], tostring(at), 'PX', math.ceil(at - now + spacing * 10))
return {tostring(at), now}`,
};
