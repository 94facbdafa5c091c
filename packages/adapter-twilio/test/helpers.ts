/** Shared test setup: an engine on the memory store with a virtual clock, wired to the fakes. */
import {
  createEngine,
  createMemoryQueue,
  createMemoryStore,
  createVirtualClock,
  createWorker,
  hash32,
  type AudienceContact,
  type Engine,
  type IncomingEvent,
  type IngestResult,
} from '@dripline/core';
import { createSendgridTransport, createTwilioTransport, type EventSink } from '../src/index.js';
import { startFakeSendgrid, startFakeTwilio } from '../src/testing/index.js';

export const T0 = Date.parse('2026-03-02T17:00:00Z'); // Monday 09:00 in Los Angeles
export const TENANT = 't1';
export const STATUS_URL = 'https://hooks.example.test/twilio/status';

/** A deterministic [0, 1) source. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    return hash32(String(s)) / 4294967296;
  };
}

/** Fisher–Yates with a seeded source. */
export function shuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  const r = seeded(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export function contacts(n: number, prefix = 'p'): AudienceContact[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}${i}`,
    timezone: 'America/Los_Angeles',
    attributes: { name: `Person ${i}`, link: `https://example.test/l/${i}` },
    address: { email: `${prefix}${i}@example.test`, phone: `+1555${String(i).padStart(7, '0')}` },
  }));
}

/** Wraps an engine and records what every ingested event became. */
export function recordingSink(engine: Engine): EventSink & { results: Array<{ event: IncomingEvent; result: IngestResult }> } {
  const results: Array<{ event: IncomingEvent; result: IngestResult }> = [];
  return {
    results,
    async ingestEvent(event) {
      const result = await engine.ingestEvent(event);
      results.push({ event, result });
      return result;
    },
    suppress: (tenantId, address, channel, reason) => engine.suppress(tenantId, address, channel, reason),
  };
}

/** Engine + memory store + virtual clock + both fakes + both real transports. */
export async function engineHarness(options: { statusCallback?: string; sendStatusCallbacks?: boolean } = {}) {
  const clock = createVirtualClock(T0);
  const store = createMemoryStore();
  const queue = createMemoryQueue();
  const twilioFake = await startFakeTwilio({ sendStatusCallbacks: options.sendStatusCallbacks ?? false });
  const sendgridFake = await startFakeSendgrid();
  const twilio = createTwilioTransport({
    accountSid: twilioFake.accountSid,
    authToken: twilioFake.authToken,
    from: '+15005550006',
    statusCallback: options.statusCallback ?? STATUS_URL,
    baseUrl: twilioFake.url,
    timeoutMs: 5000,
  });
  const sendgrid = createSendgridTransport({
    apiKey: sendgridFake.apiKey,
    from: 'hello@example.test',
    baseUrl: sendgridFake.url,
    timeoutMs: 5000,
    unsubscribeUrl: (m) => `https://example.test/unsubscribe?c=${encodeURIComponent(m.contactId)}`,
  });
  const engine = createEngine({ store, queue, transports: [twilio, sendgrid], clock, random: seeded(7), rateLimits: {} });
  const worker = createWorker(engine, { store, tenants: [TENANT], id: 'w1', batchSize: 500, concurrency: 16 });
  return {
    clock,
    store,
    engine,
    worker,
    twilioFake,
    sendgridFake,
    /** Runs due work, jumping the virtual clock from one due time to the next, up to `until`. */
    async runUntil(until: number) {
      for (let guard = 0; guard < 100_000; guard++) {
        const next = store.nextDueAt(TENANT);
        if (next === null || next > until) break;
        if (next > clock.now()) clock.advanceTo(next);
        const n = await worker.tick();
        if (n === 0 && (store.nextDueAt(TENANT) ?? Infinity) <= clock.now()) break;
      }
      if (until > clock.now()) clock.advanceTo(until);
    },
    dump: () => store.dump(TENANT),
    async close() {
      await twilioFake.close();
      await sendgridFake.close();
    },
  };
}
