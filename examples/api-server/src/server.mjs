// Wires the pieces together and listens: database (PostgreSQL or PGlite), transports
// (Twilio / SendGrid, or their local fakes), the engine, the in-process worker, metrics, the
// HTTP app. `startServer(options)` is what `main.mjs` and the tests call; it resolves once
// everything is ready and returns `{ url, close, ... }`.
import { createAdaptorServer } from '@hono/node-server';
import { createEngine, createWorker } from '@dripline/core';
import { createPostgresQueue, createPostgresStore, createPostgresWorker } from '@dripline/adapter-postgres';
import { createSendgridTransport, createSendgridWebhooks, createTwilioTransport, createTwilioWebhooks } from '@dripline/adapter-twilio';
import { startFakeSendgrid, startFakeTwilio } from '@dripline/adapter-twilio/testing';
import { createApp, audienceSource } from './app.mjs';
import { createAudienceStore, openDatabase } from './database.mjs';
import { createTokenAuth, DEMO_TOKENS } from './auth.mjs';
import { createMetrics } from './metrics.mjs';
import { createLogger } from './logger.mjs';

/**
 * @typedef {object} ServerOptions
 * @property {number} [port] default 3000; 0 picks a free port
 * @property {string} [host] default 127.0.0.1
 * @property {string} [publicUrl] the origin providers call back (webhooks); default the listening URL
 * @property {{ url?: string, schema?: string, pgliteDataDir?: string }} [database] no `url`: embedded PGlite
 * @property {Record<string, { tenant: string, permissions: string[], name?: string }>} [tokens] default: the demo tokens (refused with a database URL)
 * @property {{ accountSid: string, authToken: string, from?: string, messagingServiceSid?: string } | { fake: import('@dripline/adapter-twilio/testing').FakeTwilioOptions } | null} [twilio] default: a local fake
 * @property {{ apiKey: string, from: string, webhookPublicKey?: string, unsubscribeUrl?: string } | { fake: import('@dripline/adapter-twilio/testing').FakeSendgridOptions } | null} [sendgrid] default: a local fake
 * @property {number} [ratePerSecond] messages per second per sender (default 10, Twilio's limit)
 * @property {number} [concurrency] sends in flight at once (default 10)
 * @property {number} [pollIntervalMs] worker poll interval (default 500)
 * @property {string} [metricsToken] if set, /metrics needs `Authorization: Bearer <it>`
 * @property {boolean} [useQueue] also use the Postgres queue on PGlite (default: only on PostgreSQL)
 * @property {number} [completionSweepMs] how often the worker settles finished-but-active campaigns (default 2000)
 * @property {import('@dripline/core').Logger} [logger]
 * @property {Partial<import('@dripline/core').EngineOptions>} [engine] extra engine options (retry, circuitBreaker, compliance...)
 */

const isFake = (x) => x && typeof x === 'object' && 'fake' in x;

/**
 * Starts the service. On any start-up error everything started so far is closed again.
 * @param {ServerOptions} [options]
 */
export async function startServer(options = {}) {
  const logger = options.logger ?? createLogger();
  const host = options.host ?? '127.0.0.1';
  const ratePerSecond = options.ratePerSecond ?? 10;
  if (!options.tokens && options.database?.url)
    throw new Error('API tokens are required with a database URL: set API_TOKENS (or API_TOKENS_FILE); the demo tokens are only used with the embedded database');
  const tokens = options.tokens ?? DEMO_TOKENS;
  const auth = createTokenAuth(tokens);

  /**
   * Things to close, in this order: the worker (its in-flight sends finish), the provider
   * fakes, the HTTP server (in-flight requests finish), the database.
   * @type {Array<{ order: number, fn: () => Promise<unknown> }>}
   */
  const closers = [];
  const ORDER = { worker: 1, fake: 2, server: 3, database: 4 };
  const closeAll = async () => {
    for (const { fn } of closers.splice(0).sort((a, b) => a.order - b.order)) {
      try {
        await fn();
      } catch (e) {
        logger.warn('shutdown step failed', { error: e instanceof Error ? e.message : String(e) });
      }
    }
  };

  try {
    // The HTTP server listens first: the Twilio transport needs the public URL of its status
    // callback, which with port 0 is only known once listening. Requests that arrive before
    // the app is ready get 503.
    /** @type {((req: Request) => Response | Promise<Response>) | null} */
    let handler = null;
    const server = createAdaptorServer({
      fetch: (req, env) => (handler ? handler(req, env) : new Response('starting\n', { status: 503, headers: { 'retry-after': '1' } })),
    });
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 3000, host, () => {
        server.off('error', reject);
        resolve(undefined);
      });
    });
    closers.push({
      order: ORDER.server,
      fn: () =>
        new Promise((resolve) => {
          server.close(() => resolve(undefined));
          // Keep-alive connections (the dashboard's polling) would hold close() open.
          /** @type {any} */ (server).closeIdleConnections?.();
          setTimeout(() => /** @type {any} */ (server).closeAllConnections?.(), 2000).unref();
        }),
    });
    const address = /** @type {import('node:net').AddressInfo} */ (server.address());
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
    const publicUrl = (options.publicUrl ?? url).replace(/\/+$/, '');

    const database = await openDatabase({ ...(options.database ?? {}), logger });
    closers.push({ order: ORDER.database, fn: () => database.close() });
    const store = createPostgresStore({ pool: /** @type {any} */ (database.db), schema: database.schema });
    // The queue (a wake-up table + LISTEN/NOTIFY) runs an action the moment it is due, each in
    // its own transactions. On PostgreSQL that is what you want. On PGlite, with its one
    // connection, those per-action transactions queue up in front of the API's: a 200-contact
    // run at 10/s made a status request wait 14 s. So on PGlite there is no queue: the
    // worker's poll loop claims due actions in batches (two transactions per round).
    const queue = database.kind === 'postgres' || options.useQueue ? createPostgresQueue({ pool: /** @type {any} */ (database.db), schema: database.schema }) : null;
    const audiences = createAudienceStore(database);

    // Transports: the real providers when configured, else local fakes (the demo).
    /** @type {import('@dripline/core').Transport[]} */
    const transports = [];
    let twilioFake = null;
    let sendgridFake = null;
    let twilioAuthToken = null;
    const twilioOpt = options.twilio === undefined ? { fake: {} } : options.twilio;
    const descriptions = { twilio: 'not configured (no SMS / WhatsApp)', sendgrid: 'not configured (no email)' };
    if (twilioOpt) {
      let cfg;
      if (isFake(twilioOpt)) {
        twilioFake = await startFakeTwilio({ sendStatusCallbacks: true, ...twilioOpt.fake });
        closers.push({ order: ORDER.fake, fn: () => twilioFake.close() });
        cfg = { accountSid: twilioFake.accountSid, authToken: twilioFake.authToken, from: '+15005550006', baseUrl: twilioFake.url };
        descriptions.twilio = `local fake at ${twilioFake.url} (nothing leaves this machine)`;
      } else {
        cfg = { accountSid: twilioOpt.accountSid, authToken: twilioOpt.authToken, ...(twilioOpt.messagingServiceSid ? { messagingServiceSid: twilioOpt.messagingServiceSid } : { from: twilioOpt.from }) };
        descriptions.twilio = `Twilio account ${twilioOpt.accountSid.slice(0, 6)}…, status callbacks to ${publicUrl}/webhooks/twilio/status`;
      }
      twilioAuthToken = cfg.authToken;
      transports.push(createTwilioTransport({ ...cfg, statusCallback: `${publicUrl}/webhooks/twilio/status`, logger }));
    }
    const sendgridOpt = options.sendgrid === undefined ? { fake: {} } : options.sendgrid;
    let sendgridKey = null;
    if (sendgridOpt) {
      let cfg;
      if (isFake(sendgridOpt)) {
        sendgridFake = await startFakeSendgrid(sendgridOpt.fake);
        closers.push({ order: ORDER.fake, fn: () => sendgridFake.close() });
        cfg = { apiKey: sendgridFake.apiKey, from: { email: 'campaigns@example.test', name: 'dripline demo' }, baseUrl: sendgridFake.url };
        sendgridKey = sendgridFake.publicKey;
        descriptions.sendgrid = `local fake at ${sendgridFake.url}`;
      } else {
        cfg = { apiKey: sendgridOpt.apiKey, from: sendgridOpt.from };
        sendgridKey = sendgridOpt.webhookPublicKey ?? null;
        descriptions.sendgrid = `SendGrid${sendgridKey ? `, events to ${publicUrl}/webhooks/sendgrid/events` : ' (SENDGRID_WEBHOOK_PUBLIC_KEY unset: event webhook off)'}`;
      }
      const unsubscribeBase = (!isFake(sendgridOpt) && sendgridOpt.unsubscribeUrl) || `${publicUrl}/unsubscribe`;
      transports.push(
        createSendgridTransport({
          ...cfg,
          // RFC 8058 one-click unsubscribe; this example does not serve the page itself.
          unsubscribeUrl: (m) => `${unsubscribeBase}?tenant=${encodeURIComponent(m.tenantId)}&contact=${encodeURIComponent(m.contactId)}`,
          logger,
        }),
      );
    }

    // The engine's events feed the metrics; the transports are wrapped to time each call.
    let metrics = null;
    const timed = (t) => (metrics ? metrics.timeTransport(t) : t);
    const engine = createEngine({
      ...(options.engine ?? {}),
      store,
      ...(queue ? { queue } : {}),
      transports: transports.map((t) => ({ name: t.name, channels: t.channels, send: (m, o) => timed(t).send(m, o) })),
      authorizer: auth.authorizer,
      logger,
      rateLimits: options.engine?.rateLimits ?? { sender: { '*': { limit: ratePerSecond, window: 1000 } } },
      // A campaign created with `startAt` is activated by the worker at that time, which
      // then enrolls the audience saved with it.
      resolveAudience: (campaign) => ({
        async *pages({ pageSize }) {
          const saved = await audiences.load(campaign.tenantId, campaign.id);
          if (saved) yield* audienceSource(saved).pages({ pageSize });
        },
      }),
    });
    const statusOf = (tenantId, campaignId) => engine.getCampaignStatus(null, tenantId, campaignId);
    metrics = createMetrics({
      engine,
      logger,
      statusOf,
      listAllCampaigns: async () => Promise.all(auth.tenants().map(async (tenantId) => ({ tenantId, campaigns: await store.transaction(tenantId, (tx) => tx.listCampaigns()) }))),
    });

    const twilioHooks = twilioAuthToken ? createTwilioWebhooks({ authToken: twilioAuthToken, engine, publicUrl, trustProxy: false, logger }) : null;
    const sendgridHooks = sendgridKey ? createSendgridWebhooks({ publicKey: sendgridKey, engine, logger }) : null;

    // The worker runs in this process: core's poll loop, plus (PostgreSQL) the queue's
    // LISTEN/NOTIFY consumer.
    const workerOptions = {
      store,
      tenants: auth.tenants,
      concurrency: options.concurrency ?? 10,
      // Claim about one second's worth of sends per campaign per round: a bigger claim only
      // means more sends the rate limiter refuses and defers (each deferral a store write,
      // though each send is deferred once, to its own slot), and smaller rounds keep
      // PGlite's single connection free for the API between them.
      perCampaignLimit: Math.max(1, ratePerSecond),
      batchSize: Math.max(20, 2 * ratePerSecond),
      pollIntervalMs: options.pollIntervalMs ?? 500,
      // Campaigns whose last enrollments ended in concurrent transactions are completed by
      // the worker's settle step (engine.settleCampaigns) within this interval.
      settleIntervalMs: options.completionSweepMs ?? 2000,
      logger,
      onError: (e, where) => logger.warn('worker error', { ...where, error: e instanceof Error ? e.message : String(e) }),
    };
    const worker = queue ? createPostgresWorker(engine, { ...workerOptions, queue }) : createWorker(engine, workerOptions);
    const running = worker.start();
    closers.push({
      order: ORDER.worker,
      fn: async () => {
        await worker.stop();
        await running;
      },
    });

    const channels = new Set(transports.flatMap((t) => t.channels));
    const app = createApp({ engine, store, audiences, auth, metrics, twilioHooks, sendgridHooks, channels, ratePerSecond, metricsToken: options.metricsToken, logger });
    handler = app.fetch;

    let closing = null;
    return {
      url,
      publicUrl,
      app,
      engine,
      store,
      database,
      worker,
      twilioFake,
      sendgridFake,
      tokens,
      descriptions: { ...descriptions, database: database.description },
      /** Stops the worker (in-flight sends finish), the fakes, the HTTP server and the database. */
      close() {
        closing ??= closeAll();
        return closing;
      },
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
