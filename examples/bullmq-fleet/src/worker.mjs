// One worker process of the fleet. Run as many as you like, on as many machines as you like:
// they only need the same REDIS_URL, DATABASE_URL, DRIPLINE_SCHEMA, DRIPLINE_PREFIX and Twilio
// settings (see settings.mjs). fleet.mjs starts `--workers N` of these as child processes.
//
//   REDIS_URL=redis://10.0.0.5:6379 DATABASE_URL=postgres://app@10.0.0.6/app \
//   TWILIO_ACCOUNT_SID=AC... TWILIO_AUTH_TOKEN=... TWILIO_FROM=+1... node src/worker.mjs
//
// What each job does: BullMQ wakes this process with an action key (job id = key) when the
// action is due; engine.processAction claims the action in PostgreSQL (a lease, FOR UPDATE
// SKIP LOCKED), steps the plan's state machine, writes the outbox row, sends, and records the
// outcome in the same store. A duplicated or stale job finds the action done and does nothing.
//
// SIGTERM / SIGINT: stop taking jobs, let the running sends finish and be recorded, exit 0.
import { limiterFor, pacedTransport, runWorkerProcess } from '@dripline/adapter-bullmq';
import { openFleet, readSettings } from './settings.mjs';

const settings = readSettings();
const id = process.env.WORKER_ID || `worker-${process.pid}`;
const log = (line) => console.log(`[${id}] ${line}`);

const fleet = await openFleet(settings, {
  poolSize: settings.concurrency + 2,
  // Every request of the fleet reserves its departure time on one schedule in Redis, so no
  // two requests leave closer than 1000 / perSecond ms, whichever process sends them.
  wrapSms: (sms, queue) => pacedTransport(sms, { queue, perSecond: settings.perSecond, headroom: settings.headroom }),
});

let sent = 0;
fleet.engine.events.on('message.sent', () => sent++);
fleet.engine.events.on('message.failed', (m) => log(`send ${m.key} failed: ${m.reason}${m.willRetry ? ' (will retry)' : ''}`));

const { worker, shutdown } = runWorkerProcess({
  engine: fleet.engine,
  queue: fleet.queue,
  store: fleet.store, // for the sweeper: a flushed Redis delays work, it never loses it
  tenants: [settings.tenant],
  id,
  concurrency: settings.concurrency,
  // BullMQ's own limiter, counted in Redis for every worker: admits jobs at the sender's rate.
  limiter: limiterFor(settings.perSecond),
  sweepIntervalMs: settings.sweepIntervalMs,
  onError: (e, { phase, key }) => log(`${phase} error${key ? ` on ${key}` : ''}: ${e instanceof Error ? e.message : String(e)}`),
  onShutdown: async (signal) => {
    await fleet.close();
    log(`stopped (${signal}) after ${sent} sends`);
    // With a callback: the message is flushed before runWorkerProcess exits the process.
    if (process.send) await new Promise((resolve) => process.send({ type: 'stopped', id, sent }, resolve));
  },
});

// Started by fleet.mjs: if the parent goes away without telling us, shut down all the same.
process.on('disconnect', () => void shutdown().then(() => process.exit(0)));

await worker.consumer.worker.waitUntilReady();
if (settings.twilio.baseUrl) {
  // Open the HTTP client's connection before the first paced send: the first fetch loads
  // modules and connects, and would leave tens of ms after its reserved time.
  await fetch(settings.twilio.baseUrl, { method: 'HEAD' }).then((r) => r.arrayBuffer()).catch(() => undefined);
}
log(`ready (pid ${process.pid}): ${settings.prefix} queue, schema ${settings.schema}, ${settings.concurrency} at a time, ${settings.perSecond}/s fleet-wide`);
process.send?.({ type: 'ready', id });
