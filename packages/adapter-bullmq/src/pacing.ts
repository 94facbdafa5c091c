/**
 * Fleet-wide rate limits that hold at the provider's door.
 *
 * A provider such as Twilio refuses any request over N in a *sliding* second. BullMQ's
 * limiter counts job *starts* in *fixed* windows (DESIGN.md: `{ max: 100, duration: 1000 }`
 * let 186 starts into one sliding second). The finer window `{ max: 1, duration: 100 }`
 * spaces starts, but a job claims and prepares its action in the store before it sends, and
 * that takes a variable time, so requests arrive with the spacing blurred; and each window
 * costs a Redis round trip and a timer, so starts come every ~102–104 ms, not 100. Measured in
 * the fleet test (4 processes, 10/s): 9.6–9.8 msg/s, a worst sliding second of 11, and 1–3
 * answers 429 per 200 sends.
 *
 * So the work is split in two, and each half is done where it can be done exactly:
 * - **how many**: BullMQ's limiter admits jobs at the sender's rate (`limiterFor`), counted in
 *   Redis for every worker of the queue: the fleet never runs ahead of the limit, and a
 *   paused campaign has at most a few admitted sends in flight;
 * - **when**: a {@link pacedTransport} reserves each request's send time on the sender's
 *   schedule in Redis (`max(now, previous + spacing)`, Redis's own clock) right before the
 *   request, so no two requests of the fleet leave closer than `spacing`, whatever happened
 *   between the job's start and its send. Spacing is `1000 / perSecond` plus 1% headroom for
 *   timer and network jitter (10/s → 101.5 ms).
 */
import type { OutboundMessage, SendReceipt, Transport } from '@dripline/core';
import type { BullmqActionQueue } from './bullmq-queue.js';
import { CLOCK, RESERVE_SEND, SLIDE_SEND, withScripts } from './scripts.js';

/** Options of {@link pacedTransport}. */
export interface PacedTransportOptions {
  /** The queue whose Redis (and key prefix) holds the schedule. */
  queue: BullmqActionQueue;
  /** The sender's limit: requests per sliding second, fleet-wide. */
  perSecond: number;
  /** The sender's name (one schedule per name). Default the transport's `name`. */
  sender?: string;
  /**
   * Extra spacing, as a fraction, for jitter between reservation and arrival: 0.015 (10/s →
   * 101.5 ms) lets any ten consecutive requests be blurred by 15 ms in all and still fit.
   */
  headroom?: number;
  /**
   * A send that wakes up more than this many ms after its reserved time does not go out
   * late (it would crowd the next one): if it holds the schedule's last reservation it moves
   * that to now and goes; otherwise it reserves a new time. Default 5.
   */
  toleranceMs?: number;
  /** Called with each wait (ms) and each re-reservation, e.g. for metrics. */
  onWait?: (ms: number, rereserved: boolean) => void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/**
 * Wraps a transport so that, across every process of the fleet, its requests leave at least
 * `1000 / perSecond` ms (+ headroom) apart: each send first reserves its time on the sender's
 * schedule in Redis, waits for it, then calls the transport.
 *
 * @example
 * ```ts
 * const queue = createBullmqQueue({ connection: process.env.REDIS_URL! });
 * const sms = pacedTransport(createTwilioTransport({ ... }), { queue, perSecond: 10 });
 * const engine = createEngine({ store, queue, transports: { sms }, rateLimits: {} });
 * createBullmqWorker({ engine, queue, store, tenants, limiter: limiterFor(10) });
 * ```
 */
export function pacedTransport<T extends Transport>(transport: T, options: PacedTransportOptions): T {
  if (!(options.perSecond > 0)) throw new Error(`perSecond must be > 0, got ${options.perSecond}`);
  const spacing = (1000 / options.perSecond) * (1 + (options.headroom ?? 0.015));
  const key = options.queue.queue.toKey(`schedule:${options.sender ?? transport.name}`);
  const tolerance = options.toleranceMs ?? 5;
  // Redis's clock minus ours, from the reply with the shortest round trip seen lately: sends
  // are timed to an absolute Redis time, so the reply's own delay does not blur the spacing.
  let offset = 0;
  let bestRtt = Infinity;
  let samples = 0;
  const sample = (t0: number, now: number, t1: number) => {
    if (++samples > 200) (bestRtt = Infinity), (samples = 0);
    if (t1 - t0 <= bestRtt) (bestRtt = t1 - t0), (offset = now - (t0 + t1) / 2);
  };
  // Before the first reservation, a few clock reads: the first replies on a new connection
  // are slow and lopsided, and an offset taken from them would misplace sends by milliseconds.
  let primed: Promise<void> | null = null;
  const prime = () =>
    (primed ??= (async () => {
      const client = withScripts(await options.queue.queue.client);
      for (let i = 0; i < 5; i++) {
        const t0 = Date.now();
        const now = Number(await client.runCommand(CLOCK.name, []));
        sample(t0, now, Date.now());
      }
    })());
  async function reserve(): Promise<{ due: number; token: string }> {
    await prime();
    const client = withScripts(await options.queue.queue.client);
    const t0 = Date.now();
    const [at, now] = (await client.runCommand(RESERVE_SEND.name, [key, String(spacing)])) as [string, number];
    sample(t0, Number(now), Date.now());
    return { due: Number(at) - offset, token: String(at) }; // the reserved time on our clock
  }
  /** A late sender that holds the last reservation moves it to now instead of losing it. */
  async function slide(token: string): Promise<boolean> {
    const client = withScripts(await options.queue.queue.client);
    return Number(await client.runCommand(SLIDE_SEND.name, [key, token, String(Math.ceil(spacing * 10))])) === 1;
  }
  const paced = Object.create(transport) as T;
  (paced as { send: Transport['send'] }).send = async (message: OutboundMessage, sendOptions?: { signal?: AbortSignal }): Promise<SendReceipt> => {
    let rereserved = false;
    for (;;) {
      const { due, token } = await reserve();
      options.onWait?.(Math.max(0, due - Date.now()), rereserved);
      await sleep(due - Date.now());
      if (Date.now() - due <= tolerance || (await slide(token))) break;
      rereserved = true;
    }
    return transport.send(message, sendOptions);
  };
  return paced;
}

/**
 * BullMQ limiter options that admit `perSecond` jobs per second across the fleet: two starts
 * per `2000 / perSecond` ms. Windows of two (rather than one per `1000 / perSecond` ms) halve
 * the per-window overhead (a Redis round trip and a timer, ~2 ms), so admission keeps up with
 * the send schedule; the schedule, not the limiter, spaces the requests.
 */
export function limiterFor(perSecond: number): { max: number; duration: number } {
  if (!(perSecond > 0)) throw new Error(`perSecond must be > 0, got ${perSecond}`);
  return { max: 2, duration: Math.round(2000 / perSecond) };
}
