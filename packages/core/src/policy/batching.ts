/**
 * Batching: split work into fixed-size batches, from an array or an async stream.
 *
 * @packageDocumentation
 */
import { invalid } from './options.js';

function checkSize(size: number, fn: string): void {
  if (!(typeof size === 'number' && Number.isInteger(size) && size >= 1)) invalid(`${fn}.size`, 'must be an integer >= 1', size);
}

/**
 * Splits `items` into consecutive batches of `size` items; the last batch may be shorter. An
 * empty input gives no batches. The input is not modified.
 *
 * @throws DriplineError `INVALID_INPUT` if `size` is not an integer >= 1.
 * @example
 * ```ts
 * chunk([1, 2, 3, 4, 5], 2); // [[1, 2], [3, 4], [5]]
 * ```
 */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  checkSize(size, 'chunk');
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Groups an async (or sync) stream into batches of `size` items as they arrive; the last batch
 * may be shorter. It waits for nothing but the source (no timers): a batch is yielded when it is
 * full or the source ends.
 *
 * @throws DriplineError `INVALID_INPUT` if `size` is not an integer >= 1 (when iteration starts).
 * @example
 * ```ts
 * for await (const page of batches(contactSource.stream(), 500)) await enroll(page);
 * ```
 */
export async function* batches<T>(source: AsyncIterable<T> | Iterable<T>, size: number): AsyncGenerator<T[], void, undefined> {
  checkSize(size, 'batches');
  let batch: T[] = [];
  for await (const item of source) {
    batch.push(item);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}
