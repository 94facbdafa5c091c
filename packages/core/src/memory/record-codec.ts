/**
 * The memory store's row encoding: any JSON-like value (plus `undefined`, -0, NaN and the
 * infinities) to bytes and back, exactly. Repetition is what makes a million rows big, so:
 * - strings equal to one of the row's own ids (the "context") are written as a 1-byte reference;
 * - action keys derived from the row's enrollment id (`enrollment:node:visit:kind`) are written as
 *   their node, visit and kind;
 * - short strings under property names that hold names (status, nodeId, zone, ...) go into a
 *   dictionary shared by the store;
 * - object key lists ("shapes") are stored once and referred to by number.
 * Values it cannot represent exactly (Dates, Maps, class instances, cycles, sparse arrays...)
 * make `encode` throw {@link UNSUPPORTED}; the store then keeps that row as a structured clone.
 * Internal to the memory adapters.
 */
import type { ByteReader, ByteWriter } from './byte-arena.js';

/** Thrown by `encode` for a value it cannot represent exactly. */
export const UNSUPPORTED: unique symbol = Symbol('unsupported');

/**
 * Strings a row refers to instead of storing them; index 0 is the enrollment id that derived
 * action keys start with. Absent entries are `null`.
 */
export type Context = readonly (string | null)[];

const NONE = 0;
const DICT = 1;
const KEY = 2;
/** How strings under a property name are worth storing (by the data model of `ports/`). */
const HINTS: ReadonlyMap<string, number> = new Map([
  ...['status', 'nodeId', 'zone', 'planKey', 'sendState', 'kind', 'on', 'from', 'to', 'type', 'timezone', 'channel', 'leaseOwner', 'seen'].map((k) => [k, DICT] as const),
  ...['key', 'sendKey', 'pending', 'scheduled', 'messageKey'].map((k) => [k, KEY] as const),
]);

// Tags (first byte of every value).
const T_UNDEFINED = 0;
const T_NULL = 1;
const T_FALSE = 2;
const T_TRUE = 3;
const T_UINT = 4;
const T_NEGINT = 5;
const T_F64 = 6;
const T_ASCII = 7;
const T_UTF16 = 8;
const T_DICT = 9;
const T_KEY = 10;
const T_ARRAY = 11;
const T_EMPTY_ARRAY = 12;
const T_SHAPE = 13;
const T_OBJECT = 14;
const T_CTX = 16; // 16..23: context[0..7]
const CTX_MAX = 8;
const T_SMALL = 64; // 64..95: integers 0..31
const SMALL_MAX = 32;
const T_DICT_INLINE = 96; // 96..255: dictionary entries 0..159
const DICT_INLINE_MAX = 160;

const NO_CONTEXT: Context = [];
/** Strings longer than this are never put in the dictionary. */
const DICT_MAX_LENGTH = 64;
/** Past these sizes new strings and shapes are written inline (hostile data cannot grow them forever). */
const DICT_LIMIT = 1 << 16;
const SHAPE_LIMIT = 1 << 14;
/** Deeper values are kept as structured clones (this also catches cycles). */
const MAX_DEPTH = 64;

/** The encoder and decoder, with the dictionary and shapes they share. One per store. */
export class RecordCodec {
  private readonly dictIds = new Map<string, number>();
  private readonly dict: string[] = [];
  private readonly shapeIds = new Map<string, number>();
  private readonly shapes: string[][] = [];
  /** The shape last used under each property name: most rows repeat it. */
  private readonly lastShape = new Map<string, number>();

  /** Writes `v`. Throws {@link UNSUPPORTED} (having written garbage) if it cannot. */
  encode(w: ByteWriter, v: unknown, ctx: Context, hint = NONE, prop = '', depth = 0): void {
    switch (typeof v) {
      case 'string':
        this.string(w, v, ctx, hint);
        return;
      case 'number':
        number(w, v);
        return;
      case 'boolean':
        w.u8(v ? T_TRUE : T_FALSE);
        return;
      case 'undefined':
        w.u8(T_UNDEFINED);
        return;
      case 'object':
        break;
      default:
        throw UNSUPPORTED;
    }
    if (v === null) return w.u8(T_NULL);
    if (depth >= MAX_DEPTH) throw UNSUPPORTED;
    if (Array.isArray(v)) {
      if (Object.getPrototypeOf(v) !== Array.prototype) throw UNSUPPORTED;
      const n = v.length;
      if (n === 0) {
        if (Object.keys(v).length !== 0) throw UNSUPPORTED;
        return w.u8(T_EMPTY_ARRAY);
      }
      // Holes and extra properties are kept by structuredClone, not here.
      if (Object.keys(v).length !== n) throw UNSUPPORTED;
      w.u8(T_ARRAY);
      w.varint(n);
      for (let i = 0; i < n; i++) {
        if (!(i in v)) throw UNSUPPORTED;
        this.encode(w, v[i], ctx, hint, prop, depth + 1);
      }
      return;
    }
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) throw UNSUPPORTED;
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    const shape = this.shapeOf(keys, prop);
    if (shape < 0) {
      w.u8(T_OBJECT);
      w.varint(keys.length);
      for (const k of keys) {
        this.string(w, k, ctx, DICT);
        this.encode(w, o[k], ctx, HINTS.get(k) ?? NONE, k, depth + 1);
      }
      return;
    }
    w.u8(T_SHAPE);
    w.varint(shape);
    for (const k of keys) this.encode(w, o[k], ctx, HINTS.get(k) ?? NONE, k, depth + 1);
  }

  /** Reads a value written by {@link encode} with the same context. */
  decode(r: ByteReader, ctx: Context): unknown {
    const tag = r.u8();
    if (tag >= T_DICT_INLINE) return this.dict[tag - T_DICT_INLINE];
    if (tag >= T_SMALL) return tag - T_SMALL;
    if (tag >= T_CTX) return ctx[tag - T_CTX];
    switch (tag) {
      case T_UNDEFINED:
        return undefined;
      case T_NULL:
        return null;
      case T_FALSE:
        return false;
      case T_TRUE:
        return true;
      case T_UINT:
        return r.varint();
      case T_NEGINT:
        return -r.varint();
      case T_F64:
        return r.f64();
      case T_ASCII:
        return r.ascii(r.varint());
      case T_UTF16:
        return r.utf16(r.varint());
      case T_DICT:
        return this.dict[r.varint()];
      case T_KEY: {
        const node = this.decode(r, ctx) as string;
        const visit = r.varint();
        const kind = this.decode(r, ctx) as string;
        return `${ctx[0]}:${node}:${visit}:${kind}`;
      }
      case T_EMPTY_ARRAY:
        return [];
      case T_ARRAY: {
        const n = r.varint();
        const a = new Array<unknown>(n);
        for (let i = 0; i < n; i++) a[i] = this.decode(r, ctx);
        return a;
      }
      case T_SHAPE: {
        const keys = this.shapes[r.varint()]!;
        const o: Record<string, unknown> = {};
        for (const k of keys) set(o, k, this.decode(r, ctx));
        return o;
      }
      case T_OBJECT: {
        const n = r.varint();
        const o: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) {
          const k = this.decode(r, ctx) as string;
          set(o, k, this.decode(r, ctx));
        }
        return o;
      }
      default:
        throw new Error(`memory store: corrupt row (tag ${tag})`);
    }
  }

  /** Writes a string: a context reference, a derived key, a dictionary entry, or its characters. */
  string(w: ByteWriter, s: string, ctx: Context, hint: number): void {
    for (let i = 0; i < ctx.length && i < CTX_MAX; i++) if (ctx[i] === s) return w.u8(T_CTX + i);
    if (hint === KEY && this.derivedKey(w, s, ctx[0])) return;
    if (hint !== NONE && s.length <= DICT_MAX_LENGTH) {
      let id = this.dictIds.get(s);
      if (id === undefined && this.dict.length < DICT_LIMIT) {
        id = this.dict.length;
        this.dict.push(s);
        this.dictIds.set(s, id);
      }
      if (id !== undefined) {
        if (id < DICT_INLINE_MAX) return w.u8(T_DICT_INLINE + id);
        w.u8(T_DICT);
        return w.varint(id);
      }
    }
    rawString(w, s);
  }

  /** Writes `s` as `base:node:visit:kind` if it has that form (visit a canonical integer). */
  private derivedKey(w: ByteWriter, s: string, base: string | null | undefined): boolean {
    if (typeof base !== 'string') return false;
    const b = base.length;
    if (s.length < b + 6 || s.charCodeAt(b) !== 58 || !s.startsWith(base)) return false;
    const k = s.lastIndexOf(':');
    const v = s.lastIndexOf(':', k - 1);
    if (v <= b) return false;
    const digits = k - v - 1;
    if (digits < 1 || digits > 9 || (digits > 1 && s.charCodeAt(v + 1) === 48)) return false;
    let visit = 0;
    for (let i = v + 1; i < k; i++) {
      const c = s.charCodeAt(i) - 48;
      if (c < 0 || c > 9) return false;
      visit = visit * 10 + c;
    }
    w.u8(T_KEY);
    this.string(w, s.slice(b + 1, v), NO_CONTEXT, DICT);
    w.varint(visit);
    this.string(w, s.slice(k + 1), NO_CONTEXT, DICT);
    return true;
  }

  /** The shape id of `keys`, registering it; -1 when the shape table is full. */
  private shapeOf(keys: string[], prop: string): number {
    const last = this.lastShape.get(prop);
    if (last !== undefined && sameKeys(this.shapes[last]!, keys)) return last;
    const sig = JSON.stringify(keys);
    let id = this.shapeIds.get(sig);
    if (id === undefined) {
      if (this.shapes.length >= SHAPE_LIMIT) return -1;
      id = this.shapes.length;
      this.shapes.push(keys);
      this.shapeIds.set(sig, id);
    }
    this.lastShape.set(prop, id);
    return id;
  }
}

function number(w: ByteWriter, v: number): void {
  if (Number.isSafeInteger(v) && !Object.is(v, -0)) {
    if (v >= 0) {
      if (v < SMALL_MAX) return w.u8(T_SMALL + v);
      w.u8(T_UINT);
      return w.varint(v);
    }
    w.u8(T_NEGINT);
    return w.varint(-v);
  }
  w.u8(T_F64);
  w.f64(v);
}

function rawString(w: ByteWriter, s: string): void {
  const n = s.length;
  let ascii = true;
  for (let i = 0; i < n; i++)
    if (s.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  w.u8(ascii ? T_ASCII : T_UTF16);
  w.varint(n);
  if (ascii) w.ascii(s);
  else w.utf16(s);
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Sets an own property, `__proto__` included (as JSON.parse and structuredClone do). */
function set(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  else o[k] = v;
}
