/**
 * The binary format of a {@link UserState} in the `users` store and its
 * changelog, instead of typed JSON (about half the bytes, and no base64 or
 * JSON text to build and parse on every commit and restore).
 *
 * Byte 0 is the format version. JSON documents start with `{` (0x7b), so
 * values written by the JSON serde of earlier versions are still read: old
 * changelogs restore, and are rewritten in binary at the next change.
 *
 * Version 1, after the version byte (varuint: LEB128; num: see writeNum):
 * - userId; eventCount, version, updatedAt (num)
 * - a string table (entity ids of the history, recent and banned, each once),
 *   then history (capacity; items: table index, weight num, timestamp as a
 *   num delta to the previous one), recent and banned (table indices)
 * - seen event ids, each as the length of the prefix it shares with the
 *   previous one plus the rest (sequential ids cost a byte or two)
 * - consumed: absent, or both generations as zigzag varint deltas of the
 *   sorted hashes (about 3 bytes a hash instead of 4 at 5,000 hashes)
 * - spaces: id and the model state, in a tagged encoding of plain data whose
 *   typed arrays are copied as raw little-endian bytes: the decayed model's
 *   Float64Array sum stays double, as the model needs (decayed.ts)
 * - any other own property of the state, tagged, so that a field added to
 *   UserState survives even before this format learns it.
 *
 * Every number is kept exactly (doubles stay doubles); decode(encode(s)) is
 * deep-equal to s (test/unit/vectors/user-state-serde.test.ts).
 */
import { StateDecodeError } from '../errors';
import type { Serde } from '../runtime/serde/serde';
import { typedJsonSerde } from '../runtime/serde/typed-json';
import type { ConsumedSet } from './consumed';
import type { Interaction } from './signals';
import type { UserState } from './user-state';

/** The format version written. */
export const USER_STATE_FORMAT = 1;
const JSON_FIRST_BYTE = 0x7b; // '{'

const KNOWN = new Set(['userId', 'history', 'spaces', 'banned', 'recent', 'consumed', 'seen', 'eventCount', 'version', 'updatedAt']);

// Tags of the plain-data encoding (model states, unknown fields).
const T = { undef: 0, nul: 1, no: 2, yes: 3, num: 4, str: 5, arr: 6, obj: 7, f64: 8, f32: 9, u32: 10, i32: 11, u8: 12 } as const;
const TYPED = [
  [T.f64, Float64Array],
  [T.f32, Float32Array],
  [T.u32, Uint32Array],
  [T.i32, Int32Array],
  [T.u8, Uint8Array],
] as const;

// Loops, not TYPED.find with a closure: these run for every model state of every user read or written.
function typedTag(v: ArrayBufferView): number | undefined {
  for (const [tag, C] of TYPED) if (v.constructor === C) return tag;
  return undefined;
}

function typedClass(tag: number): (typeof TYPED)[number][1] | undefined {
  for (const [t, C] of TYPED) if (t === tag) return C;
  return undefined;
}

class Writer {
  private buf: Buffer;
  private pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v;
  }

  /** LEB128 of a non-negative integer up to 2⁵³ (arithmetic, not 32-bit bit operations). */
  varuint(v: number): void {
    this.room(8);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  /**
   * A number, exactly: an integer of magnitude < 2⁵⁰ as varuint(zigzag·4);
   * else a float32-exact value as varuint 2 + float32, anything else (NaN,
   * ±Infinity, -0 included) as varuint 1 + float64.
   */
  num(v: number): void {
    if (Number.isInteger(v) && Math.abs(v) < 2 ** 50 && !Object.is(v, -0)) this.varuint((v >= 0 ? v * 2 : -v * 2 - 1) * 4);
    else if (Math.fround(v) === v && !Object.is(v, -0)) {
      this.varuint(2);
      this.room(4);
      this.pos = this.buf.writeFloatLE(v, this.pos);
    } else {
      this.varuint(1);
      this.room(8);
      this.pos = this.buf.writeDoubleLE(v, this.pos);
    }
  }

  /** `cur` as a delta to `prev` when both are safe integers (exact), else as itself (varuint 3 + float64). */
  delta(cur: number, prev: number): void {
    if (Number.isSafeInteger(cur) && !Object.is(cur, -0) && Number.isSafeInteger(prev) && Math.abs(cur - prev) < 2 ** 50) this.num(cur - prev);
    else {
      this.varuint(3);
      this.room(8);
      this.pos = this.buf.writeDoubleLE(cur, this.pos);
    }
  }

  str(s: string): void {
    // Short ASCII strings (entity, event and user ids) byte by byte: cheaper than two native calls for a few bytes.
    const len = s.length;
    if (len < 0x80) {
      this.room(len + 1);
      const buf = this.buf;
      let p = this.pos + 1;
      for (let i = 0; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) {
          p = -1;
          break;
        }
        buf[p++] = c;
      }
      if (p >= 0) {
        buf[this.pos] = len;
        this.pos = p;
        return;
      }
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.varuint(n);
    this.room(n);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  bytes(a: ArrayBufferView): void {
    this.varuint(a.byteLength);
    this.room(a.byteLength);
    this.buf.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), this.pos);
    this.pos += a.byteLength;
  }

  value(v: unknown): void {
    if (v === undefined) return this.u8(T.undef);
    if (v === null) return this.u8(T.nul);
    if (v === false) return this.u8(T.no);
    if (v === true) return this.u8(T.yes);
    if (typeof v === 'number') {
      this.u8(T.num);
      return this.num(v);
    }
    if (typeof v === 'string') {
      this.u8(T.str);
      return this.str(v);
    }
    if (Array.isArray(v)) {
      this.u8(T.arr);
      this.varuint(v.length);
      for (const x of v) this.value(x);
      return;
    }
    if (ArrayBuffer.isView(v)) {
      const tag = typedTag(v);
      if (tag === undefined) throw new TypeError(`user state holds a ${v.constructor.name}, which the state format cannot keep`);
      this.u8(tag);
      return this.bytes(v);
    }
    if (typeof v === 'object') {
      this.u8(T.obj);
      return this.fields(v as Record<string, unknown>);
    }
    throw new TypeError(`user state holds a ${typeof v}, which the state format cannot keep`);
  }

  /** The own properties of `o` that are not undefined: their count, then each name and value. */
  fields(o: Record<string, unknown>): void {
    const keys = Object.keys(o);
    let defined = 0;
    for (const k of keys) if (o[k] !== undefined) defined++;
    this.varuint(defined);
    for (const k of keys) {
      if (o[k] === undefined) continue;
      this.str(k);
      this.value(o[k]);
    }
  }

  /** Sorted hashes (as consumed sets keep them) as plain deltas; any other order as zigzag deltas, after a flag byte. */
  hashes(a: Uint32Array): void {
    this.varuint(a.length);
    let sorted = true;
    for (let i = 1; i < a.length && sorted; i++) sorted = a[i - 1]! <= a[i]!;
    this.u8(sorted ? 0 : 1);
    if (sorted) return this.ascendingDeltas(a);
    let prev = 0;
    for (let i = 0; i < a.length; i++) {
      const d = a[i]! - prev;
      this.varuint(d >= 0 ? d * 2 : -d * 2 - 1);
      prev = a[i]!;
    }
  }

  /**
   * The varuint deltas of ascending uint32s, byte for byte what {@link varuint}
   * writes: each delta is < 2³², where 32-bit masks and shifts equal its
   * divisions (a heavy listener's consumed set holds 10,000 hashes).
   */
  private ascendingDeltas(a: Uint32Array): void {
    this.room(a.length * 5);
    const buf = this.buf;
    let pos = this.pos;
    let prev = 0;
    for (let i = 0; i < a.length; i++) {
      let d = (a[i]! - prev) >>> 0;
      prev = a[i]!;
      while (d >= 0x80) {
        buf[pos++] = (d & 0x7f) | 0x80;
        d >>>= 7;
      }
      buf[pos++] = d;
    }
    this.pos = pos;
  }

  /** A copy of the bytes written (the scratch buffer is reused). */
  done(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }

  reset(): void {
    this.pos = 0;
  }
}

class Reader {
  pos = 0;

  constructor(private readonly buf: Buffer) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new RangeError(`truncated at byte ${this.pos} of ${this.buf.length}`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  varuint(): number {
    let v = 0;
    let scale = 1;
    for (;;) {
      const b = this.u8();
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 0x80;
      if (scale > 2 ** 56) throw new RangeError(`varint too long at byte ${this.pos}`);
    }
  }

  private f32(): number {
    this.need(4);
    const v = this.buf.readFloatLE(this.pos);
    this.pos += 4;
    return v;
  }

  private f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  num(): number {
    const h = this.varuint();
    if (h % 4 === 0) {
      const z = h / 4;
      return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    }
    if (h === 1) return this.f64();
    if (h === 2) return this.f32();
    throw new RangeError(`bad number header ${h} at byte ${this.pos}`);
  }

  delta(prev: number): number {
    if (this.buf[this.pos] === 3) {
      this.pos++;
      return this.f64();
    }
    return prev + this.num();
  }

  str(): string {
    const n = this.varuint();
    this.need(n);
    const buf = this.buf;
    const start = this.pos;
    this.pos += n;
    // Short ASCII strings (ids) char by char: cheaper than a native call for a few bytes.
    if (n <= 24) {
      let s = '';
      for (let i = start; i < start + n; i++) {
        const b = buf[i]!;
        if (b >= 0x80) return buf.toString('utf8', start, start + n);
        s += String.fromCharCode(b);
      }
      return s;
    }
    return buf.toString('utf8', start, start + n);
  }

  /** A fresh, aligned copy: a view into the record's bytes could be misaligned and would pin them. */
  typed<A extends ArrayBufferView>(C: { new (buffer: ArrayBufferLike): A; BYTES_PER_ELEMENT: number }): A {
    const n = this.varuint();
    this.need(n);
    if (n % C.BYTES_PER_ELEMENT !== 0) throw new RangeError(`typed array of ${n} bytes at byte ${this.pos}`);
    const from = this.buf.byteOffset + this.pos;
    this.pos += n;
    return new C(this.buf.buffer.slice(from, from + n));
  }

  value(): unknown {
    const tag = this.u8();
    switch (tag) {
      case T.undef:
        return undefined;
      case T.nul:
        return null;
      case T.no:
        return false;
      case T.yes:
        return true;
      case T.num:
        return this.num();
      case T.str:
        return this.str();
      case T.arr: {
        const n = this.varuint();
        const a: unknown[] = [];
        for (let i = 0; i < n; i++) a.push(this.value());
        return a;
      }
      case T.obj:
        return this.fields();
      default: {
        const C = typedClass(tag);
        if (!C) throw new RangeError(`unknown value tag ${tag} at byte ${this.pos - 1}`);
        return this.typed<ArrayBufferView>(C);
      }
    }
  }

  /** A string of `table` by its index. */
  entry(table: readonly string[]): string {
    const i = this.varuint();
    const id = table[i];
    if (id === undefined) throw new RangeError(`string index ${i} out of a table of ${table.length}`);
    return id;
  }

  /** A list of strings of `table`, by index. */
  entries(table: readonly string[]): string[] {
    const out: string[] = [];
    for (let i = this.varuint(); i > 0; i--) out.push(this.entry(table));
    return out;
  }

  /** What Writer.fields wrote: a count, then each name and value, as an object of own properties. */
  fields(): Record<string, unknown> {
    const n = this.varuint();
    const o: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = this.str();
      const v = this.value();
      // A key '__proto__' must stay an own property, as JSON.parse keeps it: an assignment would set the prototype.
      if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
      else o[k] = v;
    }
    return o;
  }

  hashes(): Uint32Array {
    const n = this.varuint();
    const sorted = this.u8() === 0;
    const a = new Uint32Array(n);
    if (sorted) {
      this.ascendingDeltas(a);
      return a;
    }
    let prev = 0;
    for (let i = 0; i < n; i++) {
      const z = this.varuint();
      prev += z % 2 === 0 ? z / 2 : -(z + 1) / 2;
      a[i] = prev;
    }
    return a;
  }

  /**
   * Fills `a` with the running sums of varuint deltas: a delta of up to four
   * bytes (under 2²⁸, as a consumed set's are) is read with 32-bit shifts
   * here; a longer or truncated one goes through {@link varuint}, so every
   * encoding reads, or fails, as varuint reads it.
   */
  private ascendingDeltas(a: Uint32Array): void {
    const buf = this.buf;
    const end = buf.length;
    let pos = this.pos;
    let prev = 0;
    for (let i = 0; i < a.length; i++) {
      let z = -1;
      if (pos + 4 <= end) {
        const b0 = buf[pos]!;
        if (b0 < 0x80) {
          z = b0;
          pos += 1;
        } else {
          const b1 = buf[pos + 1]!;
          if (b1 < 0x80) {
            z = (b0 & 0x7f) | (b1 << 7);
            pos += 2;
          } else {
            const b2 = buf[pos + 2]!;
            if (b2 < 0x80) {
              z = (b0 & 0x7f) | ((b1 & 0x7f) << 7) | (b2 << 14);
              pos += 3;
            } else {
              const b3 = buf[pos + 3]!;
              if (b3 < 0x80) {
                z = (b0 & 0x7f) | ((b1 & 0x7f) << 7) | ((b2 & 0x7f) << 14) | (b3 << 21);
                pos += 4;
              }
            }
          }
        }
      }
      if (z < 0) {
        this.pos = pos;
        z = this.varuint();
        pos = this.pos;
      }
      prev += z;
      a[i] = prev;
    }
    this.pos = pos;
  }

  get atEnd(): boolean {
    return this.pos === this.buf.length;
  }
}

// One scratch buffer for every encode: states are encoded one at a time, on the event loop.
const scratch = new Writer(4096);

/** The binary encoding of `s` (format {@link USER_STATE_FORMAT}). */
export function encodeUserState(s: UserState): Buffer {
  const w = scratch;
  w.reset();
  w.u8(USER_STATE_FORMAT);
  w.str(s.userId);
  w.num(s.eventCount);
  w.num(s.version);
  w.num(s.updatedAt);
  // No closures here or in readV1: encode and decode run for every user read or written (and tsx wraps each closure).
  const table = new Map<string, number>();
  for (const it of s.history.items) if (!table.has(it.entityId)) table.set(it.entityId, table.size);
  for (const list of [s.recent, s.banned]) for (const id of list) if (!table.has(id)) table.set(id, table.size);
  w.varuint(table.size);
  for (const id of table.keys()) w.str(id);
  w.num(s.history.capacity);
  w.varuint(s.history.items.length);
  let prev = 0;
  for (const it of s.history.items) {
    w.varuint(table.get(it.entityId)!);
    w.num(it.weight);
    w.delta(it.timestamp, prev);
    prev = it.timestamp;
  }
  for (const list of [s.recent, s.banned]) {
    w.varuint(list.length);
    for (const id of list) w.varuint(table.get(id)!);
  }
  w.varuint(s.seen.length);
  let last = '';
  for (const id of s.seen) {
    let p = 0;
    const max = Math.min(id.length, last.length);
    while (p < max && id.charCodeAt(p) === last.charCodeAt(p)) p++;
    // Never split a surrogate pair: the rest is written as UTF-8.
    if (p > 0 && p < id.length && id.charCodeAt(p) >= 0xdc00 && id.charCodeAt(p) <= 0xdfff) p--;
    w.varuint(p);
    w.str(id.slice(p));
    last = id;
  }
  if (s.consumed === undefined) w.u8(0);
  else {
    w.u8(1);
    w.hashes(s.consumed.current);
    w.hashes(s.consumed.previous);
  }
  w.fields(s.spaces);
  let extra: Record<string, unknown> | undefined;
  for (const k of Object.keys(s)) {
    const v = (s as unknown as Record<string, unknown>)[k];
    if (!KNOWN.has(k) && v !== undefined) (extra ??= {})[k] = v;
  }
  w.value(extra);
  return w.done();
}

const legacy = typedJsonSerde<UserState>();

/**
 * Reads a user state in this binary format or in the typed JSON of earlier versions.
 * @throws StateDecodeError on bytes in neither (truncated, corrupt, or a newer format).
 */
export function decodeUserState(data: Buffer): UserState {
  if (data.length === 0) throw new StateDecodeError('a user state', 'the value is empty');
  if (data[0] === JSON_FIRST_BYTE) {
    try {
      return legacy.deserialize(data);
    } catch (err) {
      throw new StateDecodeError('a user state', `JSON of an earlier version that does not parse (${(err as Error).message})`);
    }
  }
  if (data[0] !== USER_STATE_FORMAT)
    throw new StateDecodeError('a user state', `format version ${data[0]} is unknown here (this version writes ${USER_STATE_FORMAT})`);
  try {
    return readV1(new Reader(data));
  } catch (err) {
    throw new StateDecodeError('a user state', (err as Error).message);
  }
}

function readV1(r: Reader): UserState {
  r.u8();
  const userId = r.str();
  const eventCount = r.num();
  const version = r.num();
  const updatedAt = r.num();
  const table: string[] = [];
  for (let i = r.varuint(); i > 0; i--) table.push(r.str());
  const capacity = r.num();
  const items: Interaction[] = [];
  let prev = 0;
  for (let i = r.varuint(); i > 0; i--) {
    const entityId = r.entry(table);
    const weight = r.num();
    prev = r.delta(prev);
    items.push({ entityId, weight, timestamp: prev });
  }
  const recent = r.entries(table);
  const banned = r.entries(table);
  const seen: string[] = [];
  let last = '';
  for (let i = r.varuint(); i > 0; i--) {
    const p = r.varuint();
    last = last.slice(0, p) + r.str();
    seen.push(last);
  }
  let consumed: ConsumedSet | undefined;
  if (r.u8() === 1) consumed = { current: r.hashes(), previous: r.hashes() };
  const spaces = r.fields();
  const extra = r.value() as Record<string, unknown> | undefined;
  if (!r.atEnd) throw new RangeError('bytes left over after the state');
  const state: UserState = { ...extra, userId, history: { capacity, items }, spaces, banned, recent, seen, eventCount, version, updatedAt };
  if (consumed) state.consumed = consumed;
  return state;
}

/**
 * The serde of the `users` store: writes {@link encodeUserState}, reads it and
 * the typed JSON of earlier versions ({@link decodeUserState}).
 */
export function userStateSerde(): Serde<UserState> {
  return { serialize: encodeUserState, deserialize: decodeUserState };
}
