// Shared by the api-server tests: start the app in-process, call it over real HTTP, wait
// for conditions (never fixed sleeps where a condition can be awaited).
import { startServer, type ServerOptions } from '../src/server.mjs';
import { silentLogger, createLogger } from '../src/logger.mjs';

export type Server = Awaited<ReturnType<typeof startServer>>;

/** Tokens for tests: one with every permission, one lacking each permission, and another tenant. */
export const TOKENS = {
  'tok-admin-0123456789': { tenant: 'acme', permissions: ['campaigns.create', 'campaigns.send', 'campaigns.read'], name: 'admin' },
  'tok-no-create-012345': { tenant: 'acme', permissions: ['campaigns.send', 'campaigns.read'], name: 'no-create' },
  'tok-no-send-01234567': { tenant: 'acme', permissions: ['campaigns.create', 'campaigns.read'], name: 'no-send' },
  'tok-no-read-01234567': { tenant: 'acme', permissions: ['campaigns.create', 'campaigns.send'], name: 'no-read' },
  'tok-other-tenant-012': { tenant: 'globex', permissions: ['campaigns.create', 'campaigns.send', 'campaigns.read'], name: 'globex-admin' },
} as const;
export const ADMIN = 'tok-admin-0123456789';
export const OTHER_TENANT = 'tok-other-tenant-012';
export const LACKING: Record<string, string> = {
  'campaigns.create': 'tok-no-create-012345',
  'campaigns.send': 'tok-no-send-01234567',
  'campaigns.read': 'tok-no-read-01234567',
};

export async function start(options: ServerOptions = {}): Promise<Server> {
  return startServer({
    port: 0,
    tokens: TOKENS as never,
    logger: process.env.API_SERVER_TEST_LOG ? createLogger({ level: process.env.API_SERVER_TEST_LOG }) : silentLogger,
    pollIntervalMs: 200,
    ...options,
  });
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

/** One HTTP request; `body` is JSON-encoded unless `raw` is given. */
export async function call(
  server: { url: string },
  method: string,
  path: string,
  options: { token?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const res = await fetch(server.url + path, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export const admin = (server: Server, method: string, path: string, body?: unknown) => call(server, method, path, { token: ADMIN, ...(body === undefined ? {} : { body }) });

/** Polls `fn` until it returns a truthy value; fails with `what` after `timeoutMs`. */
export async function until<T>(fn: () => Promise<T> | T, what: string, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Waits until `count()` has not changed for `quietMs`; returns the settled value. */
export async function settled(count: () => number | Promise<number>, quietMs = 1500, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let value = await count();
  let since = Date.now();
  while (Date.now() - since < quietMs) {
    if (Date.now() > deadline) throw new Error(`count did not settle within ${timeoutMs} ms (at ${value})`);
    await new Promise((r) => setTimeout(r, 100));
    const v = await count();
    if (v !== value) {
      value = v;
      since = Date.now();
    }
  }
  return value;
}

/** A one-step SMS plan (no quiet hours: it sends whatever the local time). */
export function smsPlan(name = 'Flash sale') {
  return {
    version: '1.0',
    name,
    timezone: 'UTC',
    startNodeId: 'announce',
    variables: ['name'],
    nodes: [{ id: 'announce', action: 'send', channel: 'sms', body: 'Hi {{name}}, 50% off today.', transitions: [] }],
  };
}

/** A one-step email plan. */
export function emailPlan(name = 'Newsletter') {
  return {
    version: '1.0',
    name,
    timezone: 'UTC',
    startNodeId: 'mail',
    variables: ['name'],
    nodes: [{ id: 'mail', action: 'send', channel: 'email', subject: 'News for {{name}}', body: 'Hello {{name}}', transitions: [] }],
  };
}

/** Phone numbers are handed out per prefix: the same prefix always gets the same numbers, different prefixes never share one. */
const phoneBase = new Map<string, number>();
let nextBase = 2_000_000;

/** `n` contacts with phone numbers (and emails) of their own, ids `<prefix>-1`... */
export function contacts(n: number, prefix = 'c') {
  let base = phoneBase.get(prefix);
  if (base === undefined) phoneBase.set(prefix, (base = nextBase));
  nextBase = Math.max(nextBase, base + n + 1000);
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${i + 1}`,
    timezone: 'Europe/Berlin',
    attributes: { name: `Person ${i + 1}` },
    address: { phone: `+1555${String(base + i).padStart(7, '0')}`, email: `${prefix}-${i + 1}@example.test` },
  }));
}

/** Creates and starts a campaign; returns its id. */
export async function createAndStart(server: Server, body: Record<string, unknown>): Promise<string> {
  const created = await admin(server, 'POST', '/api/campaigns', body);
  if (created.status !== 201) throw new Error(`create failed: ${created.status} ${created.text}`);
  const id = created.json.campaign.id as string;
  const started = await admin(server, 'POST', `/api/campaigns/${id}/start`);
  if (started.status !== 200) throw new Error(`start failed: ${started.status} ${started.text}`);
  return id;
}

export async function statusOf(server: Server, id: string) {
  const r = await admin(server, 'GET', `/api/campaigns/${id}/queue-status`);
  if (r.status !== 200) throw new Error(`queue-status: ${r.status} ${r.text}`);
  return r.json.status;
}

export const waitForStatus = (server: Server, id: string, status: string, timeoutMs = 45_000) =>
  until(async () => (await statusOf(server, id)).status === status, `campaign ${id} to be ${status}`, timeoutMs, 200);
