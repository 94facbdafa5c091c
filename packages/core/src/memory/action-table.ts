/**
 * The memory store's `scheduled_actions` rows of one tenant, in columns: campaign number,
 * enrollment row, status, due time and the position of the encoded row, with a hash index by
 * key and the due heap. A row's blob starts with its key, written as node, visit and kind when
 * it is the usual `enrollment:node:visit:kind` of its enrollment (whose id is then not stored
 * either: the enrollment row gives it), then the whole record. Internal to the memory adapters.
 */
import type { ActionRecord, ActionStatus } from '../ports/campaign-store.js';
import { ByteReader, type ByteArena } from './byte-arena.js';
import { DueHeap } from './due-heap.js';
import type { EnrollmentTable } from './enrollment-table.js';
import { UNSUPPORTED } from './record-codec.js';
import { hash32 } from '../machine/hash.js';
import { RowIndex } from './row-index.js';
import { grown, NO_CONTEXT, type RowStorage } from './row-storage.js';

const STATUSES: readonly ActionStatus[] = ['pending', 'running', 'done', 'canceled'];
/** Status code of a row whose status is none of the above (kept in its structured clone). */
const OTHER_STATUS = 4;
/** Hint of the codec for action keys. */
const KEY_HINT = 2;
/** Slots of the key cache (a power of two). */
const KEY_CACHE = 4096;

export class ActionTable {
  count = 0;
  private campaign = new Uint32Array(256);
  /** The enrollment row whose id the action's `enrollmentId` is, or -1 (then it is in the blob). */
  private enr = new Int32Array(256);
  private status = new Uint8Array(256);
  /** When the action can next be claimed (runAt, or lease expiry when running); NaN: never. */
  private due = new Float64Array(256);
  private pos = new Uint32Array(256);
  private readonly overflow = new Map<number, ActionRecord>();
  private readonly byKey = new RowIndex((row) => hash32(this.keyOf(row)));
  private readonly reader = new ByteReader();
  /** Recently decoded keys by row (the heap compares the same top entries again and again). */
  private readonly cachedRow = new Int32Array(KEY_CACHE).fill(-1);
  private readonly cachedKey: string[] = new Array<string>(KEY_CACHE).fill('');
  /**
   * Due times of pending and running actions, one heap per campaign (by campaign number, see
   * {@link heapsByCampaign}); entries whose row moved on are stale.
   */
  private readonly heaps: Array<DueHeap | undefined> = [];

  constructor(
    private readonly s: RowStorage,
    private readonly enrollments: EnrollmentTable,
  ) {}

  /** The row of action `key`, or -1. */
  find(key: string): number {
    return this.byKey.find(hash32(key), (row) => this.keyOf(row) === key);
  }

  /** Inserts an action (the caller has checked its key is new); returns its row. */
  insert(action: ActionRecord): number {
    const key = String(action.key);
    const enrollmentId = String(action.enrollmentId);
    const campaignId = String(action.campaignId);
    const c = this.s.campaignIds.id(campaignId);
    if (this.count === this.pos.length) this.grow();
    const row = this.count;
    this.campaign[row] = c;
    this.enr[row] = typeof action.enrollmentId === 'string' ? this.enrollments.findById(enrollmentId) : -1;
    this.write(row, { ...action, tenantId: this.s.tenantId }, key, enrollmentId, campaignId);
    this.count++;
    this.byKey.add(hash32(key), row);
    this.pushDue(row);
    return row;
  }

  /** Removes the last `n` rows (rolling back their insert) and their heap entries. */
  removeLast(n: number): void {
    if (n <= 0) return;
    for (let i = 0; i < n; i++) {
      const row = this.count - 1;
      this.byKey.delete(hash32(this.keyOf(row)), row);
      this.overflow.delete(row);
      this.count = row;
      if (this.cachedRow[row & (KEY_CACHE - 1)] === row) this.cachedRow[row & (KEY_CACHE - 1)] = -1;
    }
    for (const heap of this.heaps) heap?.dropRowsFrom(this.count);
  }

  /** Replaces a row's record (key, enrollment and campaign stay); returns how to undo it. */
  replace(row: number, action: ActionRecord): () => void {
    const pos = this.pos[row]!;
    const status = this.status[row]!;
    const due = this.due[row]!;
    const overflow = this.overflow.get(row);
    this.write(row, { ...action, tenantId: this.s.tenantId }, this.keyOf(row), this.enrollmentIdOf(row), this.campaignIdOf(row));
    this.s.arena.free(pos);
    this.pushDue(row);
    return () => {
      this.pos[row] = pos;
      this.status[row] = status;
      this.due[row] = due;
      if (overflow) this.overflow.set(row, overflow);
      else this.overflow.delete(row);
      // Its due entry may have been used up since: a duplicate is harmless, a missing one is not.
      this.pushDue(row);
    };
  }

  /** A fresh copy of the row's record. */
  get(row: number): ActionRecord {
    const o = this.overflow.get(row);
    if (o) return structuredClone(o);
    const e = this.enr[row]!;
    const known = e >= 0 ? this.enrollments.idOf(e) : null;
    const r = this.s.read(this.reader, this.pos[row]!);
    const enrollmentId = known ?? this.s.readString(r);
    const key = this.s.codec.decode(r, [enrollmentId]) as string;
    return this.s.codec.decode(r, [enrollmentId, key, this.campaignIdOf(row), this.s.tenantId]) as ActionRecord;
  }

  /** The key of a row (a row's key never changes; rows are only reused after a rollback). */
  keyOf(row: number): string {
    const slot = row & (KEY_CACHE - 1);
    if (this.cachedRow[slot] === row) return this.cachedKey[slot]!;
    const e = this.enr[row]!;
    const known = e >= 0 ? this.enrollments.idOf(e) : null;
    const r = this.s.read(this.reader, this.pos[row]!);
    const key = this.s.codec.decode(r, [known ?? this.s.readString(r)]) as string;
    this.cachedRow[slot] = row;
    this.cachedKey[slot] = key;
    return key;
  }

  /** Whether the row's `enrollmentId` is `id` (whose enrollment row is `e`, or -1). */
  ofEnrollment(row: number, e: number, id: string): boolean {
    const o = this.overflow.get(row);
    if (o) return o.enrollmentId === id;
    const mine = this.enr[row]!;
    return mine >= 0 ? mine === e : this.enrollmentIdOf(row) === id;
  }

  inCampaign(row: number, c: number, campaignId: string): boolean {
    const o = this.overflow.get(row);
    return o ? o.campaignId === campaignId : this.campaign[row] === c;
  }

  campaignIdOf(row: number): string {
    return this.s.campaignIds.names[this.campaign[row]!]!;
  }

  /** The record's `campaignId` (differs from {@link campaignIdOf} only for odd overflow rows). */
  recordCampaignIdOf(row: number): string {
    const o = this.overflow.get(row);
    return o ? o.campaignId : this.campaignIdOf(row);
  }

  statusOf(row: number): ActionStatus {
    const code = this.status[row]!;
    return code === OTHER_STATUS ? this.overflow.get(row)!.status : STATUSES[code]!;
  }

  /** When the row can next be claimed (NaN: not pending or running). */
  dueOf(row: number): number {
    return this.due[row]!;
  }

  compactInto(next: ByteArena): void {
    for (let row = 0; row < this.count; row++) this.pos[row] = next.copyFrom(this.s.arena, this.pos[row]!);
  }

  private enrollmentIdOf(row: number): string {
    const e = this.enr[row]!;
    return e >= 0 ? this.enrollments.idOf(e) : this.s.readString(this.s.read(this.reader, this.pos[row]!));
  }

  private pushDue(row: number): void {
    const at = this.due[row]!;
    if (at !== at) return;
    const c = this.campaign[row]!;
    (this.heaps[c] ??= new DueHeap((r) => this.keyOf(r))).push(at, row);
  }

  /**
   * Each campaign's due heap with the campaign's id. Per campaign, so that a claim can take
   * several campaigns' earliest actions without walking the whole backlog of one of them.
   */
  *heapsByCampaign(): Iterable<[campaignId: string, heap: DueHeap]> {
    for (let c = 0; c < this.heaps.length; c++) {
      const heap = this.heaps[c];
      if (heap?.size) yield [this.s.campaignIds.names[c]!, heap];
    }
  }

  private write(row: number, value: ActionRecord, key: string, enrollmentId: string, campaignId: string): void {
    const { codec, writer: w } = this.s;
    w.begin();
    if (this.enr[row]! < 0) codec.string(w, enrollmentId, NO_CONTEXT, 0);
    codec.string(w, key, [enrollmentId], KEY_HINT);
    const header = w.p;
    const code = STATUSES.indexOf(value.status);
    let clone: ActionRecord | undefined;
    if (value.key === key && value.enrollmentId === enrollmentId && value.campaignId === campaignId && code >= 0) {
      try {
        codec.encode(w, value, [enrollmentId, key, campaignId, this.s.tenantId], 0, '#action');
      } catch (e) {
        if (e !== UNSUPPORTED) throw e;
        clone = structuredClone(value);
      }
    } else clone = structuredClone(value);
    if (clone) {
      w.p = header;
      this.overflow.set(row, clone);
    } else this.overflow.delete(row);
    this.pos[row] = this.s.commit();
    this.status[row] = code >= 0 ? code : OTHER_STATUS;
    this.due[row] = dueAt(value);
  }

  private grow(): void {
    this.campaign = grown(this.campaign);
    this.enr = grown(this.enr);
    this.status = grown(this.status);
    this.due = grown(this.due);
    this.pos = grown(this.pos);
  }
}

/** When an action can next be claimed: runAt when pending, lease expiry when running. */
function dueAt(a: ActionRecord): number {
  const at = a.status === 'pending' ? a.runAt : a.status === 'running' ? (a.leaseExpiresAt ?? 0) : NaN;
  return typeof at === 'number' ? at : NaN;
}
