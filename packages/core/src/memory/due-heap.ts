/**
 * The memory store's due index: a binary min-heap of `(at, row)` pairs in typed arrays (12
 * bytes an entry), ordered by time, then by the action's key. Keys are not stored: they are
 * rebuilt from the row only to break a tie. Entries are validated lazily by the caller (a row
 * whose due time changed leaves a stale entry behind). Internal to the memory adapters.
 */
export class DueHeap {
  private at = new Float64Array(64);
  private row = new Int32Array(64);
  size = 0;

  /** @param keyOf The key of an action row, for ties. */
  constructor(private readonly keyOf: (row: number) => string) {}

  /** The earliest entry's time (undefined when empty). */
  peekAt(): number | undefined {
    return this.size ? this.at[0] : undefined;
  }

  /** The earliest entry's row (-1 when empty). */
  peekRow(): number {
    return this.size ? this.row[0]! : -1;
  }

  push(at: number, row: number): void {
    if (this.size === this.at.length) {
      const a = new Float64Array(this.size * 2);
      a.set(this.at);
      this.at = a;
      const r = new Int32Array(this.size * 2);
      r.set(this.row);
      this.row = r;
    }
    const ats = this.at;
    const rows = this.row;
    let i = this.size++;
    let key: string | undefined;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pa = ats[p]!;
      if (pa < at) break;
      if (pa === at) {
        key ??= this.keyOf(row);
        if (!(key < this.keyOf(rows[p]!))) break;
      }
      ats[i] = pa;
      rows[i] = rows[p]!;
      i = p;
    }
    ats[i] = at;
    rows[i] = row;
  }

  /** Removes the earliest entry. */
  pop(): void {
    if (!this.size) return;
    const n = --this.size;
    if (n) this.siftDown(0, this.at[n]!, this.row[n]!);
  }

  /** Drops the entries of rows `n` and above (rows whose insert was rolled back). */
  dropRowsFrom(n: number): void {
    let k = 0;
    for (let i = 0; i < this.size; i++) {
      if (this.row[i]! >= n) continue;
      this.at[k] = this.at[i]!;
      this.row[k++] = this.row[i]!;
    }
    if (k === this.size) return;
    this.size = k;
    for (let i = (k >> 1) - 1; i >= 0; i--) this.siftDown(i, this.at[i]!, this.row[i]!);
  }

  /** Moves (at, row) down from the hole at `i` to its place. */
  private siftDown(i: number, at: number, row: number): void {
    const n = this.size;
    const ats = this.at;
    const rows = this.row;
    let key: string | undefined;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let c = l;
      let cKey: string | undefined;
      const r = l + 1;
      if (r < n) {
        const la = ats[l]!;
        const ra = ats[r]!;
        if (ra < la) c = r;
        else if (ra === la) {
          const lk = this.keyOf(rows[l]!);
          const rk = this.keyOf(rows[r]!);
          if (rk < lk) {
            c = r;
            cKey = rk;
          } else cKey = lk;
        }
      }
      const ca = ats[c]!;
      if (ca > at) break;
      if (ca === at) {
        key ??= this.keyOf(row);
        if (!((cKey ?? this.keyOf(rows[c]!)) < key)) break;
      }
      ats[i] = ca;
      rows[i] = rows[c]!;
      i = c;
    }
    ats[i] = at;
    rows[i] = row;
  }
}
