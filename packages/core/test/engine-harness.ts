/** A virtual-clock harness for engine tests: memory adapters, a fake transport, one worker. */
import { expect } from 'vitest';
import {
  createEngine,
  createFakeTransport,
  createMemoryQueue,
  createMemoryStore,
  createVirtualClock,
  createWorker,
  hash32,
  type AudienceContact,
  type EngineOptions,
  type FakeTransportOptions,
} from '../src/index.js';

export const T0 = Date.parse('2026-03-02T17:00:00Z'); // Monday 09:00 in Los Angeles

export function contacts(n: number, prefix = 'p', zones: readonly string[] = ['America/Los_Angeles']): AudienceContact[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}${i}`,
    timezone: zones[i % zones.length]!,
    attributes: { name: `Person ${i}` },
    address: { email: `${prefix}${i}@example.test`, phone: `+1555${String(i).padStart(7, '0')}` },
  }));
}

/** A deterministic [0,1) source from a seed. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    return hash32(String(s)) / 4294967296;
  };
}

/** What the afterEach check needs of a harness ({@link expectNoKeySentTwice}). */
type Checked = Parameters<typeof expectNoKeySentTwice>[0];

/** Every harness created since the last {@link takeHarnesses} call. */
const created: Checked[] = [];

/** Returns and forgets the harnesses tests created (for an afterEach check). */
export function takeHarnesses(): Checked[] {
  return created.splice(0);
}

export function harness(options: Partial<EngineOptions> & { fail?: FakeTransportOptions['fail']; tenant?: string; start?: number; batchSize?: number } = {}) {
  const tenant = options.tenant ?? 't1';
  const clock = createVirtualClock(options.start ?? T0);
  const store = createMemoryStore();
  const queue = createMemoryQueue();
  const transport = createFakeTransport(options.fail ? { fail: options.fail } : {});
  const { fail: _f, tenant: _t, start: _s, batchSize, ...engineOptions } = options;
  const engine = createEngine({ store, queue, transports: transport, clock, random: seeded(7), rateLimits: {}, ...engineOptions });
  const worker = createWorker(engine, { store, tenants: [tenant], id: 'w1', batchSize: batchSize ?? 200, concurrency: 16 });
  const h = {
    tenant,
    clock,
    store,
    queue,
    transport,
    engine,
    worker,
    /** Runs due work, jumping the clock from one due time to the next, up to `until`. */
    async runUntil(until: number, onTick?: (now: number) => Promise<void> | void) {
      let sameInstant = 0;
      for (let guard = 0; guard < 1_000_000; guard++) {
        const next = store.nextDueAt(tenant);
        if (next === null || next > until) break;
        if (next > clock.now()) {
          clock.advanceTo(next);
          sameInstant = 0;
        } else if (++sameInstant > 5000) {
          const stuck = store.dump(tenant).actions.filter((a) => a.status === 'pending' && a.runAt <= clock.now()).slice(0, 3);
          throw new Error(`no progress at ${new Date(clock.now()).toISOString()}: ${JSON.stringify(stuck)}`);
        }
        const n = await worker.tick();
        await onTick?.(clock.now());
        // Due work that cannot be claimed (a paused campaign): nothing more to do now.
        if (n === 0 && (store.nextDueAt(tenant) ?? Infinity) <= clock.now()) break;
      }
      if (until > clock.now() && until !== Infinity) clock.advanceTo(until);
    },
    dump() {
      return store.dump(tenant);
    },
  };
  created.push(h);
  return h;
}

/** Every message key is in the outbox once, and the transport accepted each key at most once. */
export function expectNoKeySentTwice(h: { dump(): { outbox: Array<{ key: string }> }; transport: { sent: ReadonlyArray<{ key: string }> } }) {
  const outbox = h.dump().outbox.map((m) => m.key);
  expect(new Set(outbox).size).toBe(outbox.length);
  const sent = h.transport.sent.map((m) => m.key);
  const dup = sent.filter((k, i) => sent.indexOf(k) !== i);
  expect(dup).toEqual([]);
}
