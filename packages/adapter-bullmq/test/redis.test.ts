/**
 * Every Redis test of the package, in one file on purpose: the chaos test restarts the Redis
 * server, and vitest runs files in parallel, so anything else using Redis at that moment
 * would see its jobs vanish. Within a file, tests run one after another. Each suite uses its
 * own hash-tagged prefix and deletes its keys.
 */
import { describe, it } from 'vitest';
import { redisOrSkip } from './redis.js';
import { conformanceSuite } from './suites/conformance.js';
import { queueSuite } from './suites/queue.js';
import { workerSuite } from './suites/worker.js';
import { batchSuite } from './suites/batch.js';
import { pacingSuite } from './suites/pacing.js';
import { fleetSuite } from './suites/fleet.js';

if (await redisOrSkip('@dripline/adapter-bullmq')) {
  conformanceSuite();
  queueSuite();
  workerSuite();
  batchSuite();
  pacingSuite();
  fleetSuite(); // last: its chaos test restarts Redis
} else {
  describe.skip('@dripline/adapter-bullmq (Redis unreachable)', () => it('needs Redis', () => {}));
}
