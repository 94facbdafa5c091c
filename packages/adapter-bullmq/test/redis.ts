/**
 * Test helpers: is Redis there (`REDIS_URL`, default local)? In CI a missing Redis fails the
 * run loudly; elsewhere the Redis tests are skipped with a message.
 */
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';

/** The Redis the tests use. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Sends PING over a raw socket; resolves true on +PONG within `timeoutMs`. */
export function ping(url = REDIS_URL, timeoutMs = 1_000): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: u.hostname || '127.0.0.1', port: Number(u.port || 6379) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('error', () => (clearTimeout(timer), done(false)));
    socket.on('connect', () => socket.write(u.password ? `AUTH ${decodeURIComponent(u.password)}\r\nPING\r\n` : 'PING\r\n'));
    socket.on('data', (d) => {
      if (d.toString().includes('PONG')) (clearTimeout(timer), done(true));
    });
  });
}

/**
 * Whether the Redis tests run. Throws in CI (`CI` set) when Redis is unreachable, so a broken
 * CI setup cannot pass by skipping; prints why elsewhere.
 */
export async function redisOrSkip(what: string): Promise<boolean> {
  if (await ping()) return true;
  const message = `${what}: Redis is not reachable at ${REDIS_URL}`;
  if (process.env.CI) throw new Error(`${message} (CI is set: failing instead of skipping)`);
  console.warn(`${message}; skipping (set REDIS_URL, or start redis-server)`);
  return false;
}

/** A fresh hash-tagged prefix for one test file. */
export function testPrefix(): string {
  return `{dripline-test-${randomUUID().slice(0, 8)}}`;
}

/** Polls `check` every `stepMs` until it returns a truthy value; fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 30_000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
