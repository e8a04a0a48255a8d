import type { Serde } from './serde';

const TAGS = { f32: Float32Array, f64: Float64Array, u8: Uint8Array, i32: Int32Array, u32: Uint32Array } as const;
type Tag = keyof typeof TAGS;

function tagOf(v: unknown): Tag | undefined {
  if (v instanceof Float32Array) return 'f32';
  if (v instanceof Float64Array) return 'f64';
  if (v instanceof Uint8Array && !Buffer.isBuffer(v)) return 'u8';
  if (v instanceof Int32Array) return 'i32';
  if (v instanceof Uint32Array) return 'u32';
  return undefined;
}

/**
 * JSON documents whose typed arrays (Float32Array, Float64Array, Int32Array,
 * Uint32Array, Uint8Array) survive the round trip, stored as base64 of their bytes
 * (little-endian): `{"$f32": "..."}`. For internal state stores of plain data.
 */
export function typedJsonSerde<T>(): Serde<T> {
  return {
    serialize(value: T): Buffer {
      return Buffer.from(
        JSON.stringify(value, function (this: unknown, _key, v: unknown) {
          const tag = tagOf(v);
          if (!tag) return v;
          const a = v as Float32Array;
          return { [`$${tag}`]: Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64') };
        }),
        'utf8',
      );
    },
    deserialize(data: Buffer): T {
      return JSON.parse(data.toString('utf8'), (_key, v: unknown) => {
        if (v && typeof v === 'object' && !Array.isArray(v)) {
          const keys = Object.keys(v);
          if (keys.length === 1 && keys[0]!.startsWith('$') && keys[0]!.slice(1) in TAGS) {
            const Ctor = TAGS[keys[0]!.slice(1) as Tag];
            const bytes = Buffer.from((v as Record<string, string>)[keys[0]!]!, 'base64');
            // Copy into a fresh, aligned buffer: a view on `bytes` could be misaligned.
            const out = new Ctor(bytes.length / Ctor.BYTES_PER_ELEMENT);
            new Uint8Array(out.buffer).set(bytes);
            return out;
          }
        }
        return v;
      }) as T;
    },
  };
}
