import * as avsc from 'avsc';
import { endianness } from 'node:os';

// avsc exposes its type classes at runtime but not in its typings.
const { ArrayType } = (avsc as unknown as { types: { ArrayType: new (schema: unknown, opts: unknown) => object } }).types;

interface Tap {
  buf: Buffer;
  pos: number;
  readLong(): number;
  writeLong(n: number): void;
  skipLong(): void;
}

const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * Avro `array<float>` decoded to a `Float32Array`. Avro encodes floats as
 * contiguous little-endian IEEE-754 values inside each block, so a block is one
 * memcpy instead of one `readFloatLE` and one JS number per element; writes
 * accept a `Float32Array` (copied as bytes) or a plain `number[]`.
 */
function Float32ArrayType(this: object, schema: unknown, opts: unknown): void {
  ArrayType.call(this, schema, opts);
}
Object.setPrototypeOf(Float32ArrayType.prototype, ArrayType.prototype);
const proto = Float32ArrayType.prototype as Record<string, unknown>;

proto._read = function (tap: Tap): Float32Array {
  let out: Float32Array | undefined;
  let filled = 0;
  let n: number;
  while ((n = tap.readLong())) {
    if (n < 0) {
      n = -n;
      tap.skipLong();
    }
    const bytes = n * 4;
    const start = tap.pos;
    tap.pos += bytes;
    if (tap.pos > tap.buf.length) return new Float32Array(0); // truncated; avsc reports it via isValid()
    if (!out) {
      out = new Float32Array(n);
    } else {
      const grown = new Float32Array(filled + n);
      grown.set(out);
      out = grown;
    }
    if (LITTLE_ENDIAN) {
      new Uint8Array(out.buffer, out.byteOffset + filled * 4, bytes).set(tap.buf.subarray(start, start + bytes));
    } else {
      for (let i = 0; i < n; i++) out[filled + i] = tap.buf.readFloatLE(start + i * 4);
    }
    filled += n;
  }
  return out ?? new Float32Array(0);
};

proto._write = function (tap: Tap, val: Float32Array | number[]): void {
  const n = val.length;
  if (n) {
    tap.writeLong(n);
    const start = tap.pos;
    tap.pos += n * 4;
    if (tap.pos <= tap.buf.length) {
      if (LITTLE_ENDIAN && val instanceof Float32Array) {
        tap.buf.set(new Uint8Array(val.buffer, val.byteOffset, n * 4), start);
      } else {
        for (let i = 0; i < n; i++) tap.buf.writeFloatLE(val[i]!, start + i * 4);
      }
    }
  }
  tap.writeLong(0);
};

proto._check = function (val: unknown, _flags: unknown, hook?: (v: unknown, t: unknown) => void, path?: string[]): boolean {
  if (val instanceof Float32Array) return true;
  if (Array.isArray(val)) {
    let ok = true;
    for (let i = 0; i < val.length; i++) {
      if (typeof val[i] !== 'number') {
        ok = false;
        if (!hook) return false;
        path?.push(String(i));
        hook(val[i], (this as { itemsType: unknown }).itemsType);
        path?.pop();
      }
    }
    return ok;
  }
  if (hook) hook(val, this);
  return false;
};

proto._copy = function (val: unknown): Float32Array {
  if (val instanceof Float32Array) return new Float32Array(val);
  if (Array.isArray(val)) return Float32Array.from(val as number[]);
  throw new Error(`invalid array<float>: ${String(val)}`);
};

/**
 * avsc type hook that makes every `array<float>` a {@link Float32ArrayType}.
 * Pass it as `typeHook` to `avsc.Type.forSchema`.
 */
export function float32ArrayTypeHook(schema: unknown, opts: unknown): avsc.Type | undefined {
  if (
    schema !== null &&
    typeof schema === 'object' &&
    (schema as { type?: unknown }).type === 'array' &&
    ((schema as { items?: unknown }).items === 'float' ||
      ((schema as { items?: { type?: unknown } }).items as { type?: unknown } | undefined)?.type === 'float')
  ) {
    const t = Object.create(Float32ArrayType.prototype);
    Float32ArrayType.call(t, schema, opts);
    return t as avsc.Type;
  }
  return undefined;
}
