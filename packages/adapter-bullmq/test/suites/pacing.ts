/** `pacedTransport` and `limiterFor`: requests of several "processes" spaced on one schedule. */
import { afterAll, describe, expect, it } from 'vitest';
import type { OutboundMessage, Transport } from '@dripline/core';
import { createBullmqQueue, limiterFor, pacedTransport } from '../../src/index.js';
import { REDIS_URL, testPrefix } from '../redis.js';

export function pacingSuite(): void {
  describe('paced transport', () => {
    const queues = [0, 1, 2].map(() => createBullmqQueue({ connection: REDIS_URL, prefix: testPrefix(), queueName: 'pacing' }));
    afterAll(async () => {
      for (const q of queues) {
        await q.obliterate();
        await q.close();
      }
    });

    it('limiterFor admits the rate in windows of two', () => {
      expect(limiterFor(10)).toEqual({ max: 2, duration: 200 });
      expect(limiterFor(1)).toEqual({ max: 2, duration: 2000 });
      expect(() => limiterFor(0)).toThrow('perSecond must be > 0, got 0');
    });

    it('spaces the requests of three transports sharing one Redis schedule by 1000 / perSecond + headroom', async () => {
      // Three instances on one prefix stand for three processes; they share the schedule key.
      const shared = createBullmqQueue({ connection: REDIS_URL, prefix: queues[0]!.prefix, queueName: 'pacing' });
      const calls: number[] = [];
      const inner: Transport = { name: 'rec', channels: ['sms'], send: async () => (calls.push(Date.now()), { providerMessageId: `m${calls.length}` }) };
      const paced = [queues[0]!, shared, queues[0]!].map((queue) => pacedTransport(inner, { queue, perSecond: 50, sender: 'one-sender' }));
      const message = { key: 'k', tenantId: 't', campaignId: 'c', contactId: 'p', channel: 'sms', to: '+1', body: 'b' } as OutboundMessage;
      const t0 = Date.now();
      await Promise.all(Array.from({ length: 30 }, (_, i) => paced[i % 3]!.send(message)));
      await shared.close();
      const spacing = 20 * 1.015;
      calls.sort((a, b) => a - b);
      const gaps = calls.slice(1).map((x, i) => x - calls[i]!);
      // A send never leaves more than toleranceMs (5) after its reserved time, so no gap is
      // shorter than the spacing minus that.
      expect(Math.min(...gaps)).toBeGreaterThanOrEqual(spacing - 6);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(29 * spacing - 6);
    });

    it('keeps separate schedules per sender', async () => {
      const calls: Record<string, number[]> = { a: [], b: [] };
      const make = (name: 'a' | 'b') => {
        const t: Transport = { name, channels: ['sms'], send: async () => (calls[name]!.push(Date.now()), { providerMessageId: 'x' }) };
        return pacedTransport(t, { queue: queues[1]!, perSecond: 10 });
      };
      const a = make('a');
      const b = make('b');
      const message = { key: 'k', tenantId: 't', campaignId: 'c', contactId: 'p', channel: 'sms', to: '+1', body: 'b' } as OutboundMessage;
      await Promise.all([a.send(message), b.send(message)]); // connects and primes the clocks
      await new Promise((r) => setTimeout(r, 150));
      const t0 = Date.now();
      await Promise.all([a.send(message), b.send(message)]);
      // Two senders do not wait for each other: both went out at once.
      expect(Date.now() - t0).toBeLessThan(90);
      // while one sender's second request waits for its spacing
      const t1 = Date.now();
      await Promise.all([a.send(message), a.send(message)]);
      expect(Date.now() - t1).toBeGreaterThanOrEqual(100);
    });
  });
}
