// Runs the service the way the README says, as a child process on a free port (PORT=0),
// and talks to it over HTTP: the demo set-up (embedded PGlite, local provider fakes, demo
// tokens), a campaign run, graceful shutdown; then API_TOKENS, and configuration errors.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { call, until } from './helpers.js';

const cwd = fileURLToPath(new URL('..', import.meta.url));
const smsPlan = { version: '1.0', name: 'From the README', timezone: 'UTC', startNodeId: 'hi', variables: ['name'], nodes: [{ id: 'hi', action: 'send', channel: 'sms', body: 'Hi {{name}}', transitions: [] }] };

/** The environment of a bare machine: none of the variables that switch to real services. */
function bareEnv(extra: Record<string, string> = {}) {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (/^(DATABASE_URL|DATABASE_SCHEMA|PGLITE_DATA_DIR|API_TOKENS|API_TOKENS_FILE|TWILIO_|SENDGRID_|PUBLIC_URL|PORT|HOST|METRICS_TOKEN|RATE_LIMIT_PER_SECOND|USE_FAKE_PROVIDERS)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, PORT: '0', ...extra };
}

interface Running {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function launch(command: string, args: string[], env: Record<string, string>): Promise<Running> {
  // Its own process group: `npm start` does not pass signals on to the node process, so
  // the test signals the whole group, as a terminal's Ctrl-C does.
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  // 'close', not 'exit': npm may exit before the node process it started, which holds the pipes until it is done.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  const url = await Promise.race([
    until(() => /listening on (http:\/\/\S+)/.exec(out)?.[1], 'the "listening on" line', 60_000, 50),
    exited.then((e) => {
      throw new Error(`exited before listening (${JSON.stringify(e)}):\n${out}\n${err}`);
    }),
  ]);
  return { child, url: url!, stdout: () => out, stderr: () => err, exited };
}

const started: Running[] = [];
afterAll(() => {
  for (const r of started) if (r.child.exitCode === null && r.child.signalCode === null) process.kill(-r.child.pid!, 'SIGKILL');
});

describe('npm start (the README command, on a bare machine)', () => {
  let app: Running;

  it('starts, and prints its URL, the demo tokens and the dashboard link', async () => {
    app = await launch('npm', ['start', '--silent'], bareEnv());
    started.push(app);
    expect(app.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(app.stdout()).toContain('embedded PGlite');
    expect(app.stdout()).toMatch(/twilio: +local fake at http:\/\/127\.0\.0\.1:\d+/);
    expect(app.stdout()).toContain('demo-admin (create, send, read), demo-operator (send, read), demo-viewer (read)');
    expect(app.stdout()).toContain(`dashboard: ${app.url}/?token=demo-admin`);
  });

  it('answers over HTTP with the demo tokens and runs a campaign', async () => {
    expect((await call(app, 'GET', '/healthz')).json).toEqual({ ok: true });
    expect((await call(app, 'GET', '/')).text).toContain('<title>dripline · campaigns</title>');
    expect((await call(app, 'GET', '/api/campaigns')).status).toBe(401);

    const created = await call(app, 'POST', '/api/campaigns', { token: 'demo-admin', body: { plan: smsPlan, generateContacts: 12 } });
    expect(created.status).toBe(201);
    const id = created.json.campaign.id;
    const viewer = await call(app, 'POST', `/api/campaigns/${id}/start`, { token: 'demo-viewer' });
    expect(viewer.status).toBe(403);
    expect(viewer.json.permission).toBe('campaigns.send');
    const startedRun = await call(app, 'POST', `/api/campaigns/${id}/start`, { token: 'demo-operator' });
    expect(startedRun.status).toBe(200);
    const done = await until(
      async () => {
        const s = (await call(app, 'GET', `/api/campaigns/${id}/queue-status`, { token: 'demo-viewer' })).json.status;
        return s.status === 'completed' && s;
      },
      'the campaign to complete',
      45_000,
      200,
    );
    expect(done.progress).toEqual({ processed: 12, total: 12, success: 12, failed: 0, percentage: 100 });
    const metrics = await call(app, 'GET', '/metrics');
    expect(metrics.text).toMatch(/^dripline_messages_sent_total\{tenant="demo",channel="sms",uncertain="false"\} 12$/m);
  });

  it('shuts down cleanly on SIGTERM', async () => {
    process.kill(-app.child.pid!, 'SIGTERM');
    const exit = await Promise.race([app.exited, new Promise((r) => setTimeout(() => r('still running after 30 s'), 30_000))]);
    expect(exit).not.toBe('still running after 30 s');
    expect(app.stderr()).toMatch(/SIGTERM: shutting down/);
    expect(app.stderr()).toMatch(/INFO {2}stopped/);
    expect(app.stderr()).not.toMatch(/ERROR|Unhandled|uncaught/i);
  });
});

describe('node src/main.mjs with API_TOKENS', () => {
  it('uses the configured tokens only, and exits 0 on SIGINT', async () => {
    const tokens = { 'ops-token-7f3a9c': { tenant: 'acme', permissions: ['campaigns.read'], name: 'ops' } };
    const app = await launch(process.execPath, ['src/main.mjs'], bareEnv({ API_TOKENS: JSON.stringify(tokens), LOG_LEVEL: 'warn' }));
    started.push(app);
    expect(app.stdout()).toContain('1 configured, tenants acme');
    expect(app.stdout()).not.toContain('demo-admin');
    expect((await call(app, 'GET', '/api/campaigns', { token: 'demo-admin' })).status).toBe(401);
    const me = await call(app, 'GET', '/api/me', { token: 'ops-token-7f3a9c' });
    expect(me.json.principal).toEqual({ id: 'ops', tenantId: 'acme', permissions: ['campaigns.read'] });
    const create = await call(app, 'POST', '/api/campaigns', { token: 'ops-token-7f3a9c', body: { plan: smsPlan, generateContacts: 1 } });
    expect(create.status).toBe(403);
    process.kill(-app.child.pid!, 'SIGINT');
    expect(await app.exited).toEqual({ code: 0, signal: null });
  });
});

describe('configuration errors', () => {
  const run = (env: Record<string, string>) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['src/main.mjs'], { cwd, env: bareEnv(env), stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      child.on('exit', (code) => resolve({ code, stderr }));
    });

  it('a database URL without API tokens is refused (the demo tokens never guard real data)', async () => {
    const r = await run({ DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('configuration error: DATABASE_URL is set but no API tokens are');
  });

  it('a malformed API_TOKENS names the bad entry', async () => {
    const r = await run({ API_TOKENS: JSON.stringify({ 'some-token-1234': { tenant: 'acme', permissions: ['campaigns.delete'] } }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('API_TOKENS is not a valid token map');
    expect(r.stderr).toContain('some-token-1234.permissions.0');
  });

  it('Twilio credentials without a sender are refused', async () => {
    const r = await run({ TWILIO_ACCOUNT_SID: 'AC123', TWILIO_AUTH_TOKEN: 'x' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('set TWILIO_FROM (a number) or TWILIO_MESSAGING_SERVICE_SID');
  });
});
