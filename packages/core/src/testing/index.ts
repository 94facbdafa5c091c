/**
 * `@dripline/core/testing`: the adapter conformance suites. Every adapter, ours and users',
 * runs the same tests: call a suite at the top level of a vitest file with a factory of the
 * adapter under test. Capabilities an adapter lacks are explicit, reported skips.
 *
 * `vitest` is an optional peer dependency of `@dripline/core`, needed only by this entry.
 *
 * @example
 * ```ts
 * import { fakeTransportHarness, memoryQueueHarness, runQueueConformance, runStoreConformance, runTransportConformance } from '@dripline/core/testing';
 * import { createMemoryStore } from '@dripline/core';
 *
 * runStoreConformance({ name: 'memory', makeStore: async () => ({ store: createMemoryStore() }) });
 * runQueueConformance({ name: 'memory', makeQueue: async () => memoryQueueHarness() });
 * runTransportConformance({ name: 'fake', makeTransport: async () => fakeTransportHarness() });
 * ```
 * @packageDocumentation
 */
export { runStoreConformance, type StoreConformanceOptions, type StoreCapability } from './store-conformance.js';
export { runQueueConformance, memoryQueueHarness, type QueueHarness, type QueueConformanceOptions } from './queue-conformance.js';
export { runTransportConformance, fakeTransportHarness, type TransportHarness, type TransportConformanceOptions } from './transport-conformance.js';
export { assertNoKeySentTwice } from './assertions.js';
