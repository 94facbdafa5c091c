/** The shared `ActionQueue` conformance suite against a real Redis. */
import { runQueueConformance } from '@dripline/core/testing';
import { createBullmqQueue } from '../../src/index.js';
import { REDIS_URL, testPrefix } from '../redis.js';

/** Registers `runQueueConformance` with a fresh queue (own name, own prefix) per test. */
export function conformanceSuite(): void {
  const prefix = testPrefix();
  let n = 0;
  runQueueConformance({
    name: 'bullmq',
    async makeQueue() {
      const queue = createBullmqQueue({ connection: REDIS_URL, prefix, queueName: `conformance-${++n}` });
      const delivered: string[] = [];
      const consumer = queue.consume(async (item) => void delivered.push(item.key), { concurrency: 20 });
      await consumer.worker.waitUntilReady();
      return {
        queue,
        now: () => Date.now(),
        advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
        delivered: async () => [...delivered],
        async close() {
          await consumer.close();
          await queue.obliterate();
          await queue.close();
        },
      };
    },
  });
}
