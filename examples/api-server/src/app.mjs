// The HTTP API (Hono): seed 004's campaign-queue endpoints over dripline's engine, the
// provider webhooks, Prometheus metrics and the dashboard's static files.
//
// Every /api route authenticates the bearer token (401), checks the route's permission
// before reading the body (403), validates the body with zod (400), then calls the engine
// with the token's principal, so the engine's Authorizer checks the permission again and
// every call stays inside the token's tenant. Engine errors map to statuses in one place
// (`errorResponse`).
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { isDriplineError, planGraph, planToMermaid, validatePlan } from '@dripline/core';
import { CreateCampaignSchema, ListCampaignsQuery, ListMessagesQuery, StartCampaignSchema, formatIssues } from './schemas.mjs';
import { renderPlanSvg } from './plan-svg.mjs';
import { demoContacts } from './demo.mjs';

const PUBLIC_DIR = new URL('../public/', import.meta.url);
const STATIC_FILES = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/assets/dashboard.js': ['dashboard.js', 'text/javascript; charset=utf-8'],
  '/assets/dashboard.css': ['dashboard.css', 'text/css; charset=utf-8'],
};

/** An error with its HTTP answer. */
export class HttpError extends Error {
  /** @param {number} status @param {string} error @param {string} message @param {Record<string, unknown>} [extra] */
  constructor(status, error, message, extra = {}) {
    super(message);
    this.status = status;
    this.body = { success: false, error, message, ...extra };
  }
}

const iso = (ms) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/** A campaign as the API shows it (the plan has its own endpoint). */
export function campaignJson(c, audienceSize) {
  return {
    id: c.id,
    name: c.name,
    status: c.status,
    planVersion: c.planVersion,
    batchSize: c.batchSize,
    failureThreshold: c.failureThreshold,
    startAt: iso(c.startAt),
    createdAt: iso(c.createdAt),
    updatedAt: iso(c.updatedAt),
    ...(c.compliance?.length ? { compliance: c.compliance } : {}),
    ...(audienceSize === undefined ? {} : { audienceSize }),
  };
}

/** `+15550100123` → `+1555***0123`; `ana@example.test` → `a***@example.test`. */
export function maskAddress(address) {
  if (!address) return address;
  const at = address.indexOf('@');
  if (at > 0) return `${address[0]}***${address.slice(at)}`;
  return address.length > 8 ? `${address.slice(0, 5)}***${address.slice(-4)}` : '***';
}

/** Maps engine errors to HTTP answers; anything else is a 500 (logged, not shown). */
function errorResponse(e, logger) {
  if (e instanceof HttpError) return { status: e.status, body: e.body };
  if (isDriplineError(e)) {
    const d = e.details ?? {};
    switch (e.code) {
      case 'NOT_FOUND':
        return { status: 404, body: { success: false, error: 'not_found', message: e.message } };
      case 'ILLEGAL_STATE':
        return { status: 409, body: { success: false, error: 'illegal_state', message: e.message, ...(d.status ? { currentStatus: d.status } : {}), ...(d.operation ? { operation: d.operation } : {}) } };
      case 'CONFLICT':
        return { status: 409, body: { success: false, error: 'conflict', message: e.message } };
      case 'FORBIDDEN':
        return { status: 403, body: { success: false, error: 'forbidden', message: e.message, ...(d.permission ? { permission: d.permission } : {}) } };
      case 'INVALID_PLAN':
        return { status: 400, body: { success: false, error: 'invalid_plan', message: e.message, issues: planIssues(/** @type {any[]} */ (d.issues ?? [])) } };
      case 'INVALID_INPUT':
      case 'INVALID_DURATION':
      case 'INVALID_TIMEZONE':
      case 'INVALID_TIME':
      case 'QUIET_HOURS_COVER_ALL':
        return { status: 400, body: { success: false, error: 'invalid_request', message: e.message } };
      default:
        break;
    }
  }
  logger?.error('request failed', { error: e instanceof Error ? e.message : String(e), stack: e instanceof Error ? e.stack : undefined });
  return { status: 500, body: { success: false, error: 'internal_error', message: 'internal error (see the server log)' } };
}

/** Core's plan issues, with their path also given relative to the request body. */
function planIssues(issues) {
  return issues.map((i) => ({
    code: i.code,
    severity: i.severity ?? 'error',
    path: i.path ? `plan.${i.path}`.replace(/^plan\.\[/, 'plan[') : 'plan',
    planPath: i.path ?? '',
    message: i.message,
  }));
}

/** Reads a JSON body; an empty body is `undefined` when `optional`. */
async function readJson(c, { optional = false } = {}) {
  const text = await c.req.text();
  if (optional && text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, 'invalid_json', `the request body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function parse(schema, value, prefix) {
  const r = schema.safeParse(value);
  if (!r.success) throw new HttpError(400, 'invalid_request', 'the request is not valid; see issues', { issues: formatIssues(r.error, prefix) });
  return r.data;
}

/** The send channels a plan uses, with the JSON path of each node. */
function planChannels(plan) {
  const out = [];
  (plan.nodes ?? []).forEach((n, i) => {
    if (n.action === 'send') out.push({ channel: n.channel ?? 'email', path: `plan.nodes[${i}].channel` });
  });
  return out;
}

/** The saved audience of a campaign as a ContactSource: the listed contacts, then the generated ones. */
export function audienceSource(saved) {
  return {
    async *pages({ pageSize }) {
      for (let i = 0; i < saved.contacts.length; i += pageSize) yield saved.contacts.slice(i, i + pageSize);
      if (saved.generated > 0) yield* demoContacts(saved.generated).pages({ pageSize });
    },
  };
}

/**
 * @param {object} ctx
 * @param {import('@dripline/core').Engine} ctx.engine
 * @param {import('@dripline/core').CampaignStore} ctx.store
 * @param {ReturnType<typeof import('./database.mjs').createAudienceStore>} ctx.audiences
 * @param {ReturnType<typeof import('./auth.mjs').createTokenAuth>} ctx.auth
 * @param {ReturnType<typeof import('./metrics.mjs').createMetrics>} ctx.metrics
 * @param {import('@dripline/adapter-twilio').TwilioWebhooks | null} ctx.twilioHooks
 * @param {import('@dripline/adapter-twilio').SendgridWebhooks | null} ctx.sendgridHooks
 * @param {ReadonlySet<string>} ctx.channels channels with a transport
 * @param {number} ctx.ratePerSecond the sender rate limit (for estimates)
 * @param {string} [ctx.metricsToken] bearer token /metrics requires, if set
 * @param {import('@dripline/core').Logger} ctx.logger
 */
export function createApp(ctx) {
  const { engine, store, audiences, auth, metrics, logger } = ctx;
  const app = new Hono();

  app.onError((e, c) => {
    const r = errorResponse(e, logger);
    return c.json(r.body, /** @type {any} */ (r.status));
  });

  // ------------------------------------------------------------------ auth

  app.use('/api/*', bodyLimit({ maxSize: 8 * 1024 * 1024, onError: (c) => c.json({ success: false, error: 'body_too_large', message: 'the request body is over 8 MiB' }, 413) }));
  app.use('/api/*', async (c, next) => {
    const r = auth.authenticate(c.req.header('authorization'));
    if (!r.ok) {
      const missing = r.reason === 'missing';
      c.header('WWW-Authenticate', missing ? 'Bearer realm="dripline"' : 'Bearer realm="dripline", error="invalid_token", error_description="the token is not valid"');
      return c.json(
        {
          success: false,
          error: 'unauthorized',
          message: missing ? 'an Authorization: Bearer <token> header is required' : r.reason === 'malformed' ? 'the Authorization header must be "Bearer <token>"' : 'the bearer token is not valid',
        },
        401,
      );
    }
    c.set('principal', r.principal);
    await next();
  });

  /** Route guard: the same Authorizer the engine uses, before the body is read. */
  const need = (permission) => async (c, next) => {
    const principal = c.get('principal');
    const campaignId = c.req.param('id');
    const ok = await auth.authorizer.authorize(principal, permission, { tenantId: principal.tenantId, ...(campaignId ? { campaignId } : {}) });
    if (!ok)
      return c.json({ success: false, error: 'forbidden', message: `the token of "${principal.id}" lacks the permission "${permission}"`, permission }, 403);
    await next();
  };
  /**
   * The campaign as stored now. The lifecycle calls (start, pause, resume, stop) resolve
   * with the record as it was read plus the new status, so its `updatedAt` is the previous
   * write's; the caller's permission was checked by the call itself.
   */
  const freshCampaign = (tenantId, id) => engine.getCampaign(null, tenantId, id);
  const who = (c) => {
    const principal = c.get('principal');
    return { principal, tenantId: principal.tenantId };
  };

  app.get('/api/me', (c) => {
    const { principal } = who(c);
    return c.json({ success: true, principal: { id: principal.id, tenantId: principal.tenantId, permissions: principal.permissions } });
  });

  // ------------------------------------------------------------------ campaigns

  app.post('/api/campaigns', need('campaigns.create'), async (c) => {
    const { principal, tenantId } = who(c);
    const body = parse(CreateCampaignSchema, await readJson(c));
    const checked = validatePlan(body.plan);
    if (!checked.ok)
      throw new HttpError(400, 'invalid_plan', `the plan has ${checked.issues.length} error(s); see issues`, { issues: planIssues([...checked.issues, ...checked.warnings]) });
    const unavailable = planChannels(checked.plan).filter((x) => !ctx.channels.has(x.channel));
    if (unavailable.length)
      throw new HttpError(400, 'channel_unavailable', `no transport is configured for ${[...new Set(unavailable.map((x) => x.channel))].join(', ')}`, {
        issues: unavailable.map((x) => ({ path: x.path, code: 'channel_unavailable', message: `no transport is configured for channel "${x.channel}" (configured: ${[...ctx.channels].join(', ') || 'none'})` })),
      });

    const id = body.id ?? `cmp_${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
    const contacts = body.contacts ?? [];
    const generated = body.generateContacts ?? 0;
    // The audience first: the campaign's id is ours, so a failed create leaves no campaign
    // without its audience (and the audience row of a failed create is removed).
    try {
      await audiences.save(tenantId, id, contacts, generated);
    } catch (e) {
      if (/duplicate key|unique/i.test(e instanceof Error ? e.message : '')) throw new HttpError(409, 'conflict', `campaign "${id}" already exists in tenant "${tenantId}"`);
      throw e;
    }
    let record;
    try {
      record = await engine.createCampaign(principal, tenantId, {
        id,
        plan: checked.plan,
        ...(body.name ? { name: body.name } : {}),
        ...(body.batchSize ? { batchSize: body.batchSize } : {}),
        ...(body.failureThreshold !== undefined ? { failureThreshold: body.failureThreshold } : {}),
        ...(body.startAt ? { startAt: body.startAt } : {}),
        ...(body.compliance ? { compliance: body.compliance } : {}),
      });
    } catch (e) {
      await audiences.remove(tenantId, id).catch(() => undefined);
      if (isDriplineError(e, 'CONFLICT')) throw new HttpError(409, 'conflict', `campaign "${id}" already exists in tenant "${tenantId}"`);
      throw e;
    }
    logger.info('campaign created', { tenantId, campaignId: id, by: principal.id, contacts: contacts.length, generated });
    return c.json({ success: true, campaign: campaignJson(record, contacts.length + generated), warnings: planIssues(checked.warnings) }, 201);
  });

  app.get('/api/campaigns', need('campaigns.read'), async (c) => {
    const { principal, tenantId } = who(c);
    const q = parse(ListCampaignsQuery, c.req.query(), 'query');
    const all = await store.transaction(tenantId, (tx) => tx.listCampaigns(q.status));
    all.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1));
    const page = all.slice(0, q.limit);
    const sizes = await audiences.sizes(tenantId, page.map((x) => x.id));
    const now = engine.clock.now();
    const campaigns = [];
    for (const record of page) {
      const s = await engine.getCampaignStatus(principal, tenantId, record.id);
      campaigns.push({
        ...campaignJson(record, sizes.get(record.id)),
        progress: s.progress,
        jobs: { total: s.totalJobs, active: s.activeJobs, waiting: s.waitingJobs, completed: s.completedJobs, failed: s.failedJobs },
        messages: { sent: s.metrics.messagesSent, failed: s.metrics.messagesFailed, unknown: s.metrics.messagesUnknown, deferred: s.metrics.deferred },
        enrollments: s.metrics.enrollments,
        sendRate: metrics.sendRate(tenantId, record.id, now),
      });
    }
    return c.json({ success: true, total: all.length, campaigns });
  });

  app.get('/api/campaigns/:id', need('campaigns.read'), async (c) => {
    const { principal, tenantId } = who(c);
    const id = c.req.param('id');
    const record = await engine.getCampaign(principal, tenantId, id);
    const sizes = await audiences.sizes(tenantId, [id]);
    return c.json({ success: true, campaign: campaignJson(record, sizes.get(id)) });
  });

  app.post('/api/campaigns/:id/start', need('campaigns.send'), async (c) => {
    const { principal, tenantId } = who(c);
    const id = c.req.param('id');
    parse(StartCampaignSchema, (await readJson(c, { optional: true })) ?? {});
    const saved = (await audiences.load(tenantId, id)) ?? { contacts: [], generated: 0 };
    const size = saved.contacts.length + saved.generated;
    // Activates the campaign (ILLEGAL_STATE → 409 unless draft or scheduled), then enrolls
    // the audience in pages of the campaign's batch size, one transaction per page. The
    // worker starts sending as soon as the first page is committed.
    await engine.startCampaign(principal, tenantId, id, { audience: audienceSource(saved) });
    // Read back rather than use the record startCampaign returns: that one carries the
    // updatedAt of the previous write (see freshCampaign).
    const record = await freshCampaign(tenantId, id);
    const now = engine.clock.now();
    logger.info('campaign started', { tenantId, campaignId: id, by: principal.id, contacts: size });
    return c.json({
      success: true,
      message: 'Campaign queued for sending',
      jobId: `${id}:start:${now}`,
      estimatedContacts: size,
      // A lower bound: one message per contact at the sender's rate limit.
      estimatedTime: Math.ceil((size / ctx.ratePerSecond) * 1000),
      campaign: campaignJson(record, size),
    });
  });

  app.get('/api/campaigns/:id/queue-status', need('campaigns.read'), async (c) => {
    const { principal, tenantId } = who(c);
    const status = await engine.getCampaignStatus(principal, tenantId, c.req.param('id'));
    return c.json({ success: true, status: { ...status, sendRate: metrics.sendRate(tenantId, status.campaignId) } });
  });

  const control = (op, verb, message) =>
    app.post(`/api/campaigns/:id/queue-${verb}`, need('campaigns.send'), async (c) => {
      const { principal, tenantId } = who(c);
      const id = c.req.param('id');
      parse(StartCampaignSchema, (await readJson(c, { optional: true })) ?? {});
      await engine[op](principal, tenantId, id);
      const record = await freshCampaign(tenantId, id);
      logger.info(`campaign ${verb}`, { tenantId, campaignId: id, by: principal.id });
      return c.json({ success: true, message, campaign: campaignJson(record) });
    });
  control('pauseCampaign', 'pause', 'Campaign paused');
  control('resumeCampaign', 'resume', 'Campaign resumed');
  control('stopCampaign', 'stop', 'Campaign stopped');

  app.get('/api/campaigns/:id/plan', need('campaigns.read'), async (c) => {
    const { principal, tenantId } = who(c);
    const record = await engine.getCampaign(principal, tenantId, c.req.param('id'));
    const graph = planGraph(record.plan);
    return c.json({
      success: true,
      campaignId: record.id,
      planVersion: record.planVersion,
      plan: record.plan,
      graph,
      mermaid: planToMermaid(record.plan),
      svg: renderPlanSvg(graph, { title: record.plan.name ?? record.name }),
    });
  });

  app.get('/api/campaigns/:id/plan.svg', need('campaigns.read'), async (c) => {
    const { principal, tenantId } = who(c);
    const record = await engine.getCampaign(principal, tenantId, c.req.param('id'));
    return c.body(renderPlanSvg(planGraph(record.plan), { title: record.plan.name ?? record.name }), 200, { 'content-type': 'image/svg+xml; charset=utf-8' });
  });

  app.get('/api/campaigns/:id/messages', need('campaigns.read'), async (c) => {
    const { principal, tenantId } = who(c);
    const id = c.req.param('id');
    const q = parse(ListMessagesQuery, c.req.query(), 'query');
    await engine.getCampaign(principal, tenantId, id); // 404 for an unknown campaign
    const rows = await store.transaction(tenantId, (tx) => tx.listOutbound(id, { limit: q.limit, ...(q.after ? { after: q.after } : {}) }));
    return c.json({
      success: true,
      messages: rows.map((m) => ({
        key: m.key,
        contactId: m.contactId,
        nodeId: m.nodeId,
        channel: m.channel,
        to: maskAddress(m.to), // bodies and full addresses stay out of API answers, as out of logs
        status: m.status,
        providerMessageId: m.providerMessageId,
        failureReason: m.failureReason,
        attempts: m.attempts,
        createdAt: iso(m.createdAt),
        updatedAt: iso(m.updatedAt),
      })),
      next: rows.length === q.limit ? rows[rows.length - 1].key : null,
    });
  });

  app.get('/api/dashboard/campaign-queue-metrics', need('campaigns.read'), async (c) => {
    const { tenantId } = who(c);
    const campaigns = await store.transaction(tenantId, (tx) => tx.listCampaigns());
    const byStatus = {};
    for (const x of campaigns) byStatus[x.status] = (byStatus[x.status] ?? 0) + 1;
    const n = (...s) => s.reduce((sum, k) => sum + (byStatus[k] ?? 0), 0);
    // The processing queue: the scheduled actions of running and paused campaigns (finished
    // campaigns' actions are history, counted in `completed` and `failed` of the campaigns).
    const processing = { waiting: 0, active: 0, completed: 0, failed: 0, delayed: 0 };
    const live = campaigns.filter((x) => x.status === 'active' || x.status === 'paused');
    await store.transaction(tenantId, async (tx) => {
      for (const x of live) {
        // One after the other: a transaction is one connection, which runs one query at a time.
        const actions = await tx.countActions(x.id);
        const analytics = await tx.getAnalytics(x.id);
        if (x.status === 'active') processing.waiting += actions.pending ?? 0;
        else processing.delayed += actions.pending ?? 0;
        processing.active += actions.running ?? 0;
        processing.completed += actions.done ?? 0;
        processing.failed += analytics['messages.failed'] ?? 0;
      }
    });
    const system = engine.getSystemMetrics();
    return c.json({
      success: true,
      metrics: {
        campaignQueue: { waiting: n('draft', 'scheduled'), active: n('active'), completed: n('completed'), failed: n('failed'), delayed: n('paused'), byStatus },
        processingQueue: processing,
        system: { ...system, sendRate: metrics.sendRate(tenantId, '*') },
      },
    });
  });

  app.all('/api/*', (c) => c.json({ success: false, error: 'not_found', message: `no route ${c.req.method} ${new URL(c.req.url).pathname}` }, 404));

  // ------------------------------------------------------------------ webhooks

  // Signed by the provider, not by our bearer tokens: each handler verifies the signature
  // before it reads anything (403 otherwise).
  const twilioRoute = (handler) => async (c) => {
    if (!ctx.twilioHooks) return c.json({ success: false, error: 'not_configured', message: 'Twilio is not configured' }, 404);
    const r = await ctx.twilioHooks[handler]({ url: c.req.url, headers: c.req.raw.headers, body: await c.req.text() });
    return c.body(r.body ?? '', /** @type {any} */ (r.status), r.headers ?? {});
  };
  app.post('/webhooks/twilio/status', twilioRoute('handleStatusCallback'));
  app.post('/webhooks/twilio/inbound', twilioRoute('handleInbound'));
  app.post('/webhooks/sendgrid/events', async (c) => {
    if (!ctx.sendgridHooks) return c.json({ success: false, error: 'not_configured', message: 'SendGrid event webhook is not configured' }, 404);
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const r = await ctx.sendgridHooks.handleSendgridEvents({ headers: c.req.raw.headers, rawBody: raw });
    return c.body(r.body ?? '', /** @type {any} */ (r.status), r.headers ?? {});
  });

  // ------------------------------------------------------------------ metrics, health, dashboard

  app.get('/metrics', async (c) => {
    if (ctx.metricsToken && c.req.header('authorization') !== `Bearer ${ctx.metricsToken}`) {
      c.header('WWW-Authenticate', 'Bearer realm="metrics"');
      return c.text('unauthorized\n', 401);
    }
    const { contentType, body } = await metrics.render();
    return c.body(body, 200, { 'content-type': contentType });
  });

  app.get('/healthz', async (c) => {
    try {
      await store.transaction(ctx.auth.tenants()[0] ?? 'health', (tx) => tx.getCampaign('\u0001healthz'));
      return c.json({ ok: true });
    } catch (e) {
      logger.warn('health check failed', { error: e instanceof Error ? e.message : String(e) });
      return c.json({ ok: false }, 503);
    }
  });

  const cache = new Map();
  for (const [path, [file, type]] of Object.entries(STATIC_FILES)) {
    app.get(path, async (c) => {
      let text = cache.get(file);
      if (text === undefined) cache.set(file, (text = await readFile(new URL(file, PUBLIC_DIR), 'utf8')));
      return c.body(text, 200, {
        'content-type': type,
        'cache-control': 'no-cache',
        // Everything is served from here: no inline scripts, no third-party origins.
        'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      });
    });
  }

  app.get('/favicon.ico', (c) => c.body(null, 204));
  app.notFound((c) => c.text('not found\n', 404));
  return app;
}
