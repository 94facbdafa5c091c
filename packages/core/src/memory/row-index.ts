/**
 * A hash index from a string key to a row number that stores no keys: rows are found by hash
 * and confirmed by comparing the row's own (encoded) key. About 10 bytes a row, where a
 * `Map<string, number>` costs the key string plus about 40 bytes. Internal to the memory
 * adapters.
 */

const EMPTY = 0;
const DELETED = -1;

/** Open addressing with linear probing; slots hold `row + 1`, with an 8-bit hash tag beside. */
export class RowIndex {
  private slots = new Int32Array(16);
  private tags = new Uint8Array(16);
  private mask = 15;
  /** Slots taken by rows or by deletion markers. */
  private taken = 0;
  private live = 0;

  /** @param hashOf The hash of a stored row's key (used when the table grows). */
  constructor(private readonly hashOf: (row: number) => number) {}

  get size(): number {
    return this.live;
  }

  /** The row whose key hashes to `hash` and for which `matches` is true, or -1. */
  find(hash: number, matches: (row: number) => boolean): number {
    const slots = this.slots;
    const tag = hash >>> 24;
    for (let i = hash & this.mask; ; i = (i + 1) & this.mask) {
      const s = slots[i]!;
      if (s === EMPTY) return -1;
      if (s > 0 && this.tags[i] === tag && matches(s - 1)) return s - 1;
    }
  }

  /** Adds `row` under `hash`; the caller has checked that its key is not there yet. */
  add(hash: number, row: number): void {
    if ((this.taken + 1) * 4 > this.slots.length * 3) this.resize();
    const slots = this.slots;
    let i = hash & this.mask;
    while (slots[i]! > 0) i = (i + 1) & this.mask;
    if (slots[i] === EMPTY) this.taken++;
    slots[i] = row + 1;
    this.tags[i] = hash >>> 24;
    this.live++;
  }

  /** Removes `row` (stored under `hash`). */
  delete(hash: number, row: number): void {
    const slots = this.slots;
    for (let i = hash & this.mask; ; i = (i + 1) & this.mask) {
      const s = slots[i]!;
      if (s === EMPTY) return;
      if (s === row + 1) {
        slots[i] = DELETED;
        this.live--;
        return;
      }
    }
  }

  /** Rebuilds at most half full (dropping deletion markers); it grows to 3/4 full before the next. */
  private resize(): void {
    let size = 16;
    while (size < (this.live + 1) * 2) size *= 2;
    const old = this.slots;
    this.slots = new Int32Array(size);
    this.tags = new Uint8Array(size);
    this.mask = size - 1;
    this.taken = 0;
    this.live = 0;
    for (const s of old) if (s > 0) this.add(this.hashOf(s - 1), s - 1);
  }
}
