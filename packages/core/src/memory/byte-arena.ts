/**
 * Byte storage for the memory store's encoded rows: a list of 1 MiB chunks that blobs are
 * appended to, a scratch writer that encodes one blob, and a reader that decodes one. Internal
 * to the memory adapters.
 *
 * Why bytes: a million enrolled contacts kept as objects cost about 2 KB of heap each (every
 * row a structured clone with its own strings and boxed numbers); encoded here, with their
 * columns and indexes, about 230 bytes (bench/enroll-memory.bench.mjs).
 */
import { DriplineError } from '../errors.js';

const CHUNK_BITS = 20;
const CHUNK = 1 << CHUNK_BITS;
/** Positions are unsigned 32-bit numbers: chunk index in the high 12 bits. */
const MAX_CHUNKS = 1 << (32 - CHUNK_BITS);

/** Where a transaction started writing, to drop what it wrote if it rolls back. */
export interface ArenaMark {
  chunks: number;
  used: number;
  garbage: number;
  total: number;
}

/** Append-only chunked bytes. A blob never spans two chunks; its position is a u32. */
export class ByteArena {
  private chunks: Uint8Array[] = [];
  /** Bytes used in the last chunk (a full one forces a new chunk on the next append). */
  private used = CHUNK;
  /** Bytes written, live and garbage. */
  total = 0;
  /** Bytes of blobs no row points at any more (replaced by an update). */
  garbage = 0;

  /** Copies the first `len` bytes of `src` in and returns their position. */
  append(src: Uint8Array, len: number): number {
    if (len > CHUNK - this.used) {
      if (this.chunks.length >= MAX_CHUNKS) throw new DriplineError('ILLEGAL_STATE', `the memory store is full (${MAX_CHUNKS} MiB of encoded rows)`);
      // A blob larger than a chunk gets a chunk of its own; the next append starts a new one.
      this.chunks.push(new Uint8Array(len > CHUNK ? len : CHUNK));
      this.used = 0;
    }
    const index = this.chunks.length - 1;
    this.chunks[index]!.set(src.subarray(0, len), this.used);
    const pos = index * CHUNK + this.used;
    this.used += len;
    this.total += len;
    return pos;
  }

  /** The chunk holding the blob at `pos`, and the blob's offset in it. */
  chunkOf(pos: number): Uint8Array {
    return this.chunks[pos >>> CHUNK_BITS]!;
  }

  offsetOf(pos: number): number {
    return pos & (CHUNK - 1);
  }

  /** Counts the blob at `pos` as garbage (its row now points elsewhere). */
  free(pos: number): void {
    this.garbage += blobSize(this.chunkOf(pos), this.offsetOf(pos));
  }

  mark(): ArenaMark {
    return { chunks: this.chunks.length, used: this.used, garbage: this.garbage, total: this.total };
  }

  /** Forgets every blob appended since `mark`. */
  rollback(mark: ArenaMark): void {
    this.chunks.length = mark.chunks;
    this.used = mark.used;
    this.garbage = mark.garbage;
    this.total = mark.total;
  }

  /** Copies the blob at `pos` of `from` into this arena; returns its new position. */
  copyFrom(from: ByteArena, pos: number): number {
    const chunk = from.chunkOf(pos);
    const off = from.offsetOf(pos);
    return this.append(chunk.subarray(off), blobSize(chunk, off));
  }
}

/** Size of the blob at `off` (its varint length prefix included). */
function blobSize(buf: Uint8Array, off: number): number {
  let len = 0;
  let shift = 1;
  let p = off;
  for (;;) {
    const b = buf[p++]!;
    len += (b & 0x7f) * shift;
    if (b < 0x80) break;
    shift *= 128;
  }
  return p - off + len;
}

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);

/** Encodes one blob into a reusable scratch buffer. */
export class ByteWriter {
  buf = new Uint8Array(4096);
  /** Write position; the first bytes are reserved for the length prefix. */
  p = 0;
  private start = 0;

  /** Starts a blob; finish it with {@link finish}. */
  begin(): void {
    // Up to 5 bytes of length prefix are written in front at finish.
    this.start = 5;
    this.p = 5;
  }

  /** Writes the length prefix and returns [offset, length] of the finished blob in `buf`. */
  finish(): [number, number] {
    let len = this.p - this.start;
    let n = 1;
    for (let v = len; v >= 0x80; v = Math.floor(v / 128)) n++;
    let q = this.start - n;
    const off = q;
    while (len >= 0x80) {
      this.buf[q++] = (len % 128) | 0x80;
      len = Math.floor(len / 128);
    }
    this.buf[q] = len;
    return [off, this.p - off];
  }

  private room(n: number): void {
    if (this.p + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.p + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.p));
    this.buf = next;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.p++] = v;
  }

  /** An unsigned integer up to 2^53, 7 bits a byte. */
  varint(v: number): void {
    this.room(8);
    while (v >= 0x80) {
      this.buf[this.p++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.p++] = v;
  }

  f64(v: number): void {
    this.room(8);
    f64[0] = v;
    this.buf.set(f64Bytes, this.p);
    this.p += 8;
  }

  /** `s`, known to be all below U+0080, one byte a character. */
  ascii(s: string): void {
    const n = s.length;
    this.room(n);
    const b = this.buf;
    let p = this.p;
    for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i);
    this.p = p;
  }

  /** `s` as UTF-16 code units, two bytes each (lossless, lone surrogates included). */
  utf16(s: string): void {
    const n = s.length;
    this.room(2 * n);
    const b = this.buf;
    let p = this.p;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      b[p++] = c & 0xff;
      b[p++] = c >>> 8;
    }
    this.p = p;
  }
}

/** Decodes one blob. Reuse it: `at(buf, off)` points it at another blob. */
export class ByteReader {
  buf: Uint8Array = new Uint8Array(0);
  p = 0;

  /** Points at the blob at `off` of `buf`, past its length prefix. */
  at(buf: Uint8Array, off: number): this {
    this.buf = buf;
    this.p = off;
    this.varint();
    return this;
  }

  u8(): number {
    return this.buf[this.p++]!;
  }

  varint(): number {
    const b = this.buf;
    let v = 0;
    let shift = 1;
    for (;;) {
      const x = b[this.p++]!;
      v += (x & 0x7f) * shift;
      if (x < 0x80) return v;
      shift *= 128;
    }
  }

  f64(): number {
    f64Bytes.set(this.buf.subarray(this.p, this.p + 8));
    this.p += 8;
    return f64[0]!;
  }

  ascii(n: number): string {
    const b = this.buf;
    const p = this.p;
    this.p += n;
    if (n <= 12) {
      // Short strings (ids, phone numbers) without creating a subarray.
      let s = '';
      for (let i = p; i < p + n; i++) s += String.fromCharCode(b[i]!);
      return s;
    }
    return codeUnits(b.subarray(p, p + n));
  }

  utf16(n: number): string {
    const b = this.buf;
    const units = new Uint16Array(n);
    for (let i = 0, p = this.p; i < n; i++, p += 2) units[i] = b[p]! | (b[p + 1]! << 8);
    this.p += 2 * n;
    return codeUnits(units);
  }
}

/** A string from code units, in slices small enough for `apply`. */
function codeUnits(units: Uint8Array | Uint16Array): string {
  const SLICE = 8192;
  if (units.length <= SLICE) return String.fromCharCode.apply(null, units as unknown as number[]);
  let s = '';
  for (let i = 0; i < units.length; i += SLICE) s += String.fromCharCode.apply(null, units.subarray(i, i + SLICE) as unknown as number[]);
  return s;
}
