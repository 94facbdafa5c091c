/**
 * The memory store's `contact_campaigns` rows of one tenant, in columns: the campaign number,
 * status, row version and the position of the encoded row, with hash indexes by enrollment id
 * and by (campaign, contact). A row's blob starts with its identity (contact id, then the
 * enrollment id unless it is `campaign:contact`), then the whole record, whose strings that
 * repeat the identity are 1-byte references. Internal to the memory adapters.
 */
import type { EnrollmentRecord } from '../ports/campaign-store.js';
import { ByteReader, type ByteArena } from './byte-arena.js';
import { UNSUPPORTED } from './record-codec.js';
import { hash32 } from '../machine/hash.js';
import { RowIndex } from './row-index.js';
import { grown, isInt32, Names, NO_CONTEXT, type RowStorage } from './row-storage.js';

/** Status code of a row whose status is kept in its structured clone. */
const OTHER_STATUS = 0xffff;

export class EnrollmentTable {
  count = 0;
  private campaign = new Uint32Array(256);
  private status = new Uint16Array(256);
  private version = new Int32Array(256);
  private pos = new Uint32Array(256);
  private readonly statuses = new Names();
  /** Rows the codec cannot represent (or that break the identity columns), as structured clones. */
  private readonly overflow = new Map<number, EnrollmentRecord>();
  private readonly byId = new RowIndex((row) => hash32(this.idOf(row)));
  private readonly byContact = new RowIndex((row) => contactHash(this.campaign[row]!, this.contactIdOf(row)));
  private readonly reader = new ByteReader();

  constructor(private readonly s: RowStorage) {}

  /** The row of enrollment `id`, or -1. */
  findById(id: string): number {
    return this.byId.find(hash32(id), (row) => this.idOf(row) === id);
  }

  /** The row of (`campaignId`, `contactId`), or -1. */
  findByContact(campaignId: string, contactId: string): number {
    const c = this.s.campaignIds.find(campaignId);
    if (c < 0) return -1;
    return this.byContact.find(contactHash(c, contactId), (row) => this.campaign[row] === c && this.contactIdOf(row) === contactId);
  }

  /** Inserts a record (the caller has checked both unique keys); returns its row. */
  insert(record: EnrollmentRecord): number {
    const campaignId = String(record.campaignId);
    const contactId = String(record.contactId);
    const id = String(record.enrollment.id);
    const c = this.s.campaignIds.id(campaignId);
    if (this.count === this.pos.length) this.grow();
    const row = this.count;
    this.campaign[row] = c;
    this.write(row, { ...record, tenantId: this.s.tenantId }, campaignId, contactId, id);
    this.count++;
    this.byId.add(hash32(id), row);
    this.byContact.add(contactHash(c, contactId), row);
    return row;
  }

  /** Removes the last row (rolling back its insert). */
  removeLast(): void {
    const row = this.count - 1;
    this.byId.delete(hash32(this.idOf(row)), row);
    this.byContact.delete(contactHash(this.campaign[row]!, this.contactIdOf(row)), row);
    this.overflow.delete(row);
    this.count = row;
  }

  /** Replaces a row's record (its identity stays); returns how to undo it. */
  replace(row: number, record: EnrollmentRecord): () => void {
    const pos = this.pos[row]!;
    const status = this.status[row]!;
    const version = this.version[row]!;
    const overflow = this.overflow.get(row);
    this.write(row, { ...record, tenantId: this.s.tenantId }, this.campaignIdOf(row), this.contactIdOf(row), this.idOf(row));
    this.s.arena.free(pos);
    return () => {
      this.pos[row] = pos;
      this.status[row] = status;
      this.version[row] = version;
      if (overflow) this.overflow.set(row, overflow);
      else this.overflow.delete(row);
    };
  }

  /** A fresh copy of the row's record. */
  get(row: number): EnrollmentRecord {
    const o = this.overflow.get(row);
    if (o) return structuredClone(o);
    const campaignId = this.campaignIdOf(row);
    const r = this.s.read(this.reader, this.pos[row]!);
    const contactId = this.s.readString(r);
    const id = r.u8() === 0 ? `${campaignId}:${contactId}` : this.s.readString(r);
    return this.s.codec.decode(r, [id, campaignId, contactId, this.s.tenantId]) as EnrollmentRecord;
  }

  /** The enrollment id of a row. */
  idOf(row: number): string {
    const r = this.s.read(this.reader, this.pos[row]!);
    const contactId = this.s.readString(r);
    return r.u8() === 0 ? `${this.campaignIdOf(row)}:${contactId}` : this.s.readString(r);
  }

  /** The campaign a row was inserted under (its unique key). */
  campaignIdOf(row: number): string {
    return this.s.campaignIds.names[this.campaign[row]!]!;
  }

  /** Whether the row's record belongs to campaign `campaignId` (numbered `c`, or -1). */
  inCampaign(row: number, c: number, campaignId: string): boolean {
    const o = this.overflow.get(row);
    return o ? o.campaignId === campaignId : this.campaign[row] === c;
  }

  statusOf(row: number): string {
    const code = this.status[row]!;
    return code === OTHER_STATUS ? this.overflow.get(row)!.enrollment.status : this.statuses.names[code]!;
  }

  rowVersionOf(row: number): number {
    const o = this.overflow.get(row);
    return o ? o.rowVersion : this.version[row]!;
  }

  /** Copies every row's blob into `next` (compaction). */
  compactInto(next: ByteArena): void {
    for (let row = 0; row < this.count; row++) this.pos[row] = next.copyFrom(this.s.arena, this.pos[row]!);
  }

  private contactIdOf(row: number): string {
    return this.s.readString(this.s.read(this.reader, this.pos[row]!));
  }

  /** Encodes `value` into the row: identity header, then the record (or an overflow clone). */
  private write(row: number, value: EnrollmentRecord, campaignId: string, contactId: string, id: string): void {
    const { codec, writer: w } = this.s;
    w.begin();
    codec.string(w, contactId, NO_CONTEXT, 0);
    const derived = id.length === campaignId.length + 1 + contactId.length && id.charCodeAt(campaignId.length) === 58 && id.startsWith(campaignId) && id.endsWith(contactId);
    if (derived) w.u8(0);
    else {
      w.u8(1);
      codec.string(w, id, NO_CONTEXT, 0);
    }
    const header = w.p;
    const status = value.enrollment.status;
    let code = typeof status === 'string' ? this.statusCode(status) : OTHER_STATUS;
    let clone: EnrollmentRecord | undefined;
    if (value.campaignId === campaignId && value.contactId === contactId && isInt32(value.rowVersion) && code < OTHER_STATUS) {
      try {
        codec.encode(w, value, [id, campaignId, contactId, this.s.tenantId], 0, '#enrollment');
      } catch (e) {
        if (e !== UNSUPPORTED) throw e;
        clone = structuredClone(value);
      }
    } else clone = structuredClone(value);
    if (clone) {
      w.p = header;
      code = OTHER_STATUS;
      this.overflow.set(row, clone);
    } else this.overflow.delete(row);
    this.pos[row] = this.s.commit();
    this.status[row] = code;
    this.version[row] = clone ? 0 : value.rowVersion;
  }

  /** The number of a status string (OTHER_STATUS past 65,535 different ones). */
  private statusCode(status: string): number {
    const code = this.statuses.find(status);
    if (code >= 0) return code;
    return this.statuses.size < OTHER_STATUS ? this.statuses.id(status) : OTHER_STATUS;
  }

  private grow(): void {
    this.campaign = grown(this.campaign);
    this.status = grown(this.status);
    this.version = grown(this.version);
    this.pos = grown(this.pos);
  }
}

function contactHash(campaign: number, contactId: string): number {
  return hash32(contactId, Math.imul(campaign + 1, 0x9e3779b1));
}
