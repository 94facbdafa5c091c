// Prometheus metrics (prom-client), fed from the engine's typed events, plus gauges read
// at scrape time (campaigns by status, progress of running campaigns, circuit states), and
// send rates for the dashboard. The send-latency histogram times each transport call: the
// engine's events say when a message went out, not how long the provider took, so the
// transports are wrapped (`timeTransport`).
import client from 'prom-client';

const CIRCUIT_VALUE = { closed: 0, 'half-open': 1, open: 2 };

/** Sliding-window counts of events per key (messages sent per campaign), for send rates. */
export function createRateTracker(windowMs = 10_000) {
  /** @type {Map<string, number[]>} */
  const times = new Map();
  const prune = (list, now) => {
    let i = 0;
    while (i < list.length && list[i] <= now - windowMs) i++;
    if (i) list.splice(0, i);
  };
  return {
    windowMs,
    record(key, at) {
      let list = times.get(key);
      if (!list) times.set(key, (list = []));
      list.push(at);
      if (list.length > 100_000) list.splice(0, list.length - 100_000);
    },
    /** Events per second over the window ending `now`. */
    rate(key, now) {
      const list = times.get(key);
      if (!list) return 0;
      prune(list, now);
      if (!list.length) times.delete(key);
      return Math.round((list.length / (windowMs / 1000)) * 100) / 100;
    },
  };
}

/**
 * @param {object} options
 * @param {import('@dripline/core').Engine} options.engine
 * @param {() => Promise<Array<{ tenantId: string, campaigns: import('@dripline/core').CampaignRecord[] }>>} options.listAllCampaigns
 * @param {(tenantId: string, campaignId: string) => Promise<import('@dripline/core').CampaignStatusReport>} options.statusOf
 * @param {import('@dripline/core').Logger} [options.logger]
 */
export function createMetrics({ engine, listAllCampaigns, statusOf, logger }) {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'dripline_api_' });
  const registers = [registry];

  const sent = new client.Counter({ name: 'dripline_messages_sent_total', help: 'Messages the provider accepted (or whose outcome is unknown: uncertain="true").', labelNames: ['tenant', 'channel', 'uncertain'], registers });
  const failed = new client.Counter({ name: 'dripline_messages_failed_total', help: 'Failed send attempts, by error kind; will_retry="true" ones are tried again.', labelNames: ['tenant', 'channel', 'kind', 'will_retry'], registers });
  const deferred = new client.Counter({ name: 'dripline_messages_deferred_total', help: 'Sends put off (rate limit, quiet hours, frequency cap, open circuit).', labelNames: ['reason'], registers });
  const events = new client.Counter({ name: 'dripline_events_received_total', help: 'Engagement and delivery events ingested (webhooks).', labelNames: ['type', 'outcome'], registers });
  const transitions = new client.Counter({ name: 'dripline_campaign_transitions_total', help: 'Campaign status changes.', labelNames: ['to'], registers });
  const enrollmentsEnded = new client.Counter({ name: 'dripline_enrollments_ended_total', help: 'Enrollments that ended, by final status.', labelNames: ['status'], registers });
  const circuitOpened = new client.Counter({ name: 'dripline_circuit_opened_total', help: 'Times a transport circuit breaker opened.', labelNames: ['transport'], registers });
  const latency = new client.Histogram({
    name: 'dripline_send_duration_seconds',
    help: 'Duration of one transport call (request to the provider and its answer).',
    labelNames: ['transport', 'channel', 'outcome'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
    registers,
  });

  new client.Gauge({
    name: 'dripline_circuit_state',
    help: 'Circuit breaker state per transport: 0 closed, 1 half-open, 2 open.',
    labelNames: ['transport'],
    registers,
    collect() {
      this.reset();
      for (const [name, state] of Object.entries(engine.getSystemMetrics().circuits)) this.set({ transport: name }, CIRCUIT_VALUE[state] ?? 0);
    },
  });
  new client.Gauge({
    name: 'dripline_active_sends',
    help: 'Actions being processed by the in-process worker right now.',
    registers,
    collect() {
      this.set(engine.getSystemMetrics().activeWorkers);
    },
  });

  // Campaign gauges are read from the store at scrape time (the store is the truth; counters
  // in this process restart at zero with it).
  const campaigns = new client.Gauge({ name: 'dripline_campaigns', help: 'Campaigns by tenant and status.', labelNames: ['tenant', 'status'], registers });
  const progress = new client.Gauge({ name: 'dripline_campaign_progress_ratio', help: 'Share of the enrolled audience whose enrollment has ended (running and paused campaigns).', labelNames: ['tenant', 'campaign'], registers });
  const audience = new client.Gauge({ name: 'dripline_campaign_enrollments', help: 'Enrolled contacts of running and paused campaigns.', labelNames: ['tenant', 'campaign'], registers });
  const MAX_PROGRESS_SERIES = 100;
  async function collectCampaigns() {
    campaigns.reset();
    progress.reset();
    audience.reset();
    let series = 0;
    for (const { tenantId, campaigns: list } of await listAllCampaigns()) {
      const counts = {};
      for (const c of list) counts[c.status] = (counts[c.status] ?? 0) + 1;
      for (const [status, n] of Object.entries(counts)) campaigns.set({ tenant: tenantId, status }, n);
      for (const c of list) {
        if ((c.status !== 'active' && c.status !== 'paused') || series >= MAX_PROGRESS_SERIES) continue;
        series += 1;
        const s = await statusOf(tenantId, c.id);
        progress.set({ tenant: tenantId, campaign: c.id }, s.progress.total ? s.progress.processed / s.progress.total : 0);
        audience.set({ tenant: tenantId, campaign: c.id }, s.progress.total);
      }
    }
  }

  const rates = createRateTracker();
  const on = (name, fn) => engine.events.on(name, (payload) => {
    try {
      fn(payload);
    } catch (e) {
      logger?.warn('metrics: event handler failed', { event: name, error: e instanceof Error ? e.message : String(e) });
    }
  });
  on('message.sent', (m) => {
    sent.inc({ tenant: m.tenantId, channel: m.channel, uncertain: String(m.uncertain) });
    rates.record(`${m.tenantId}\u0000${m.campaignId}`, m.at);
    rates.record(`${m.tenantId}\u0000*`, m.at);
  });
  on('message.failed', (m) => failed.inc({ tenant: m.tenantId, channel: m.channel, kind: m.kind, will_retry: String(m.willRetry) }));
  on('message.deferred', (d) => deferred.inc({ reason: d.reason }));
  on('event.received', (e) => events.inc({ type: e.type, outcome: e.note ?? 'applied' }));
  on('campaign.status', (c) => transitions.inc({ to: c.to }));
  on('enrollment.ended', (e) => enrollmentsEnded.inc({ status: e.status }));
  on('circuit.open', (c) => circuitOpened.inc({ transport: c.transport }));

  return {
    registry,
    /** Messages per second over the last 10 s, of one campaign or (campaignId `*`) of a tenant. */
    sendRate: (tenantId, campaignId, now = engine.clock.now()) => rates.rate(`${tenantId}\u0000${campaignId}`, now),
    /** The Prometheus text exposition. */
    async render() {
      try {
        await collectCampaigns();
      } catch (e) {
        logger?.warn('metrics: could not read campaigns', { error: e instanceof Error ? e.message : String(e) });
      }
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    /**
     * Wraps a transport so every call is timed into `dripline_send_duration_seconds`.
     * @param {import('@dripline/core').Transport} transport
     * @returns {import('@dripline/core').Transport}
     */
    timeTransport(transport) {
      return {
        name: transport.name,
        channels: transport.channels,
        async send(message, opts) {
          const end = latency.startTimer({ transport: transport.name, channel: message.channel });
          try {
            const receipt = await transport.send(message, opts);
            end({ outcome: 'accepted' });
            return receipt;
          } catch (e) {
            end({ outcome: /** @type {any} */ (e)?.details?.kind ?? 'error' });
            throw e;
          }
        },
      };
    },
  };
}
