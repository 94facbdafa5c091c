/** The in-memory adapters are the conformance suites' first customer. */
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../src/index.js';
import {
  assertNoKeySentTwice,
  fakeTransportHarness,
  memoryQueueHarness,
  runQueueConformance,
  runStoreConformance,
  runTransportConformance,
} from '../src/testing/index.js';

runStoreConformance({ name: 'memory', makeStore: async () => ({ store: createMemoryStore() }) });
runQueueConformance({ name: 'memory', makeQueue: async () => memoryQueueHarness() });
runTransportConformance({ name: 'fake', makeTransport: async () => fakeTransportHarness() });
runTransportConformance({ name: 'fake (email)', makeTransport: async () => fakeTransportHarness({ channel: 'email' }) });

describe('assertNoKeySentTwice', () => {
  it('passes when every key is distinct', () => {
    expect(() => assertNoKeySentTwice([{ key: 'a' }, { key: 'b' }, { key: 'c' }])).not.toThrow();
    expect(() => assertNoKeySentTwice([])).not.toThrow();
  });
  it('lists every duplicated key with its count', () => {
    expect(() => assertNoKeySentTwice([{ key: 'a' }, { key: 'b' }, { key: 'a' }, { key: 'c' }, { key: 'b' }, { key: 'a' }])).toThrow(
      '2 key(s) sent more than once: "a" (3 times), "b" (2 times)',
    );
  });
});
