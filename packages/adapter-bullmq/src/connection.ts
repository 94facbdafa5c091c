/**
 * How the adapter reaches Redis: a URL, ioredis options, or the user's own ioredis client
 * (a `Redis` or `Cluster`), exactly as BullMQ accepts them.
 */
import type { ConnectionOptions } from 'bullmq';

/** A `redis://` / `rediss://` URL, or anything BullMQ's `connection` option accepts. */
export type RedisConnection = string | ConnectionOptions;

/**
 * Turns a {@link RedisConnection} into BullMQ's `connection` option. A URL is parsed into
 * ioredis options (host, port, user, password, db, TLS) so this package needs no direct
 * import of ioredis; BullMQ creates and owns the client.
 */
export function toConnectionOptions(connection: RedisConnection): ConnectionOptions {
  if (typeof connection !== 'string') return connection;
  const url = new URL(connection);
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error(`unsupported Redis URL protocol "${url.protocol}" (use redis:// or rediss://)`);
  const db = url.pathname.replace(/^\//, '');
  return {
    host: url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: url.port ? Number(url.port) : 6379,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** The default key prefix: a Redis Cluster hash tag, so every key of a queue lands in one slot. */
export const DEFAULT_PREFIX = '{dripline}';

/** The default BullMQ queue name. */
export const DEFAULT_QUEUE_NAME = 'actions';
