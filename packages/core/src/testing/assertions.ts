/** Assertions adapters and applications use on what a run sent. */

/**
 * Throws if any key occurs more than once: the "never the same message twice" rule, checked
 * on a transport's log, an outbox dump or a provider's record. The error lists every
 * duplicated key with its count, in order of first occurrence.
 *
 * @example
 * ```ts
 * import { createFakeTransport } from '@dripline/core';
 * import { assertNoKeySentTwice } from '@dripline/core/testing';
 *
 * const transport = createFakeTransport();
 * // ... run the engine through crashes, retries and redeliveries ...
 * assertNoKeySentTwice(transport.sent);
 * ```
 */
export function assertNoKeySentTwice(messages: ReadonlyArray<{ key: string }>): void {
  const counts = new Map<string, number>();
  for (const m of messages) counts.set(m.key, (counts.get(m.key) ?? 0) + 1);
  const duplicated = [...counts].filter(([, n]) => n > 1);
  if (duplicated.length === 0) return;
  const list = duplicated.map(([key, n]) => `${JSON.stringify(key)} (${n} times)`).join(', ');
  throw new Error(`${duplicated.length} key(s) sent more than once: ${list}`);
}
