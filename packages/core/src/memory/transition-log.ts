/**
 * The memory store's `campaign_transitions` audit rows of one tenant, append-only: the
 * enrollment row each belongs to and the position of the encoded row (8 bytes a row, plus about
 * 30 bytes of blob). The enrollment id is stored only when no enrollment row has it. Internal to
 * the memory adapters.
 */
import type { TransitionAuditRecord } from '../ports/campaign-store.js';
import { ByteReader, type ByteArena } from './byte-arena.js';
import type { EnrollmentTable } from './enrollment-table.js';
import { UNSUPPORTED } from './record-codec.js';
import { grown, NO_CONTEXT, type RowStorage } from './row-storage.js';

export class TransitionLog {
  count = 0;
  /** The enrollment row whose id the record's `enrollmentId` is, or -1 (then it is in the blob). */
  private enr = new Int32Array(256);
  private pos = new Uint32Array(256);
  private readonly overflow = new Map<number, TransitionAuditRecord>();
  private readonly reader = new ByteReader();

  constructor(
    private readonly s: RowStorage,
    private readonly enrollments: EnrollmentTable,
  ) {}

  append(record: TransitionAuditRecord): void {
    const value = { ...record, tenantId: this.s.tenantId };
    const { codec, writer: w } = this.s;
    if (this.count === this.pos.length) {
      this.enr = grown(this.enr);
      this.pos = grown(this.pos);
    }
    const row = this.count;
    const id = value.enrollmentId;
    const e = typeof id === 'string' ? this.enrollments.findById(id) : -1;
    w.begin();
    if (e < 0 && typeof id === 'string') codec.string(w, id, NO_CONTEXT, 0);
    const header = w.p;
    let clone: TransitionAuditRecord | undefined;
    if (typeof id === 'string') {
      try {
        codec.encode(w, value, [id, e >= 0 ? this.enrollments.campaignIdOf(e) : null, this.s.tenantId], 0, '#transition');
      } catch (err) {
        if (err !== UNSUPPORTED) throw err;
        clone = structuredClone(value);
      }
    } else clone = structuredClone(value);
    if (clone) {
      w.p = header;
      this.overflow.set(row, clone);
    }
    this.pos[row] = this.s.commit();
    this.enr[row] = e;
    this.count++;
  }

  /** Drops the rows from `n` on (rolling back their append). */
  truncate(n: number): void {
    for (let row = n; row < this.count; row++) this.overflow.delete(row);
    this.count = n;
  }

  /** Fresh copies of the rows of enrollment `id`, in the order they were written. */
  list(id: string): TransitionAuditRecord[] {
    const e = this.enrollments.findById(id);
    const out: TransitionAuditRecord[] = [];
    for (let row = 0; row < this.count; row++) {
      const mine = this.enr[row]!;
      if (mine >= 0 ? mine === e : this.idOf(row) === id) out.push(this.get(row));
    }
    return out;
  }

  /** A fresh copy of a row. */
  get(row: number): TransitionAuditRecord {
    const o = this.overflow.get(row);
    if (o) return structuredClone(o);
    const e = this.enr[row]!;
    const r = this.s.read(this.reader, this.pos[row]!);
    const id = e >= 0 ? this.enrollments.idOf(e) : this.s.readString(r);
    return this.s.codec.decode(r, [id, e >= 0 ? this.enrollments.campaignIdOf(e) : null, this.s.tenantId]) as TransitionAuditRecord;
  }

  compactInto(next: ByteArena): void {
    for (let row = 0; row < this.count; row++) this.pos[row] = next.copyFrom(this.s.arena, this.pos[row]!);
  }

  /** The record's enrollment id, for a row with no enrollment row. */
  private idOf(row: number): unknown {
    const o = this.overflow.get(row);
    return o ? o.enrollmentId : this.s.readString(this.s.read(this.reader, this.pos[row]!));
  }
}
