/**
 * What the memory store's row tables of one tenant share: the byte arena their rows are
 * encoded in, the codec, a scratch writer, and the tenant's campaign ids (numbered, so that a
 * row names its campaign in 4 bytes). Internal to the memory adapters.
 */
import { ByteArena, ByteReader, ByteWriter } from './byte-arena.js';
import type { Context, RecordCodec } from './record-codec.js';

/** A set of strings numbered in the order they were first seen. */
export class Names {
  private readonly ids = new Map<string, number>();
  readonly names: string[] = [];

  /** The number of `name`, registering it. */
  id(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(name);
      this.ids.set(name, id);
    }
    return id;
  }

  /** The number of `name`, or -1 if it was never registered. */
  find(name: string): number {
    return this.ids.get(name) ?? -1;
  }

  get size(): number {
    return this.names.length;
  }
}

/** The storage shared by one tenant's tables. */
export class RowStorage {
  arena = new ByteArena();
  readonly writer = new ByteWriter();
  readonly campaignIds = new Names();

  constructor(
    readonly tenantId: string,
    readonly codec: RecordCodec,
  ) {}

  /** Appends the writer's finished blob to the arena; returns its position. */
  commit(): number {
    const [off, len] = this.writer.finish();
    return this.arena.append(this.writer.buf.subarray(off), len);
  }

  /** A reader at the blob at `pos`, past its length prefix. */
  read(reader: ByteReader, pos: number): ByteReader {
    return reader.at(this.arena.chunkOf(pos), this.arena.offsetOf(pos));
  }

  /** Decodes the next string (a row's own id, written without context). */
  readString(reader: ByteReader): string {
    return this.codec.decode(reader, NO_CONTEXT) as string;
  }

  /**
   * Whether replaced rows left enough garbage to be worth compacting: more than 4 MiB and more
   * than what is live. Checked between transactions (positions move).
   */
  wantsCompaction(): boolean {
    const garbage = this.arena.garbage;
    return garbage > 4 * 2 ** 20 && garbage > this.arena.total - garbage;
  }
}

export const NO_CONTEXT: Context = [];

/** Typed-array growth: a copy twice as long. */
export function grown<T extends Float64Array | Int32Array | Uint32Array | Uint16Array | Uint8Array>(a: T): T {
  const next = new (a.constructor as new (n: number) => T)(a.length * 2);
  next.set(a);
  return next;
}

export function isInt32(v: unknown): v is number {
  return typeof v === 'number' && (v | 0) === v && !Object.is(v, -0);
}
