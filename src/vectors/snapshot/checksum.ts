import { createHash, type Hash } from 'node:crypto';
import { endianness } from 'node:os';
import { IllegalTransitionError } from '../../errors';

/**
 * The snapshot checksum: a contract between publishers and loaders, who
 * compute it independently. Version 1, the only one:
 *
 * ```text
 * checksum = lowercase hex( SHA-256( E_0 ‖ E_1 ‖ … ‖ E_{n-1} ) )      64 characters
 * E_i      = u32le(byteLength(id_i)) ‖ utf8(id_i) ‖ u32le(d_i) ‖ f32le(v_i[0]) ‖ … ‖ f32le(v_i[d_i-1])
 * ```
 *
 * - entities in publish order (the row order of the files, the order of the
 *   records in `entity-vectors.<snapshotId>`); reordering changes the checksum;
 * - `u32le` is an unsigned 32-bit little-endian integer; `id_i` is hashed as
 *   the UTF-8 bytes of the entity id, exactly as given (no normalisation);
 * - `d_i` is the number of values of the vector (the snapshot's `dims` when valid);
 * - `f32le` is the IEEE-754 binary32 value, 4 bytes little-endian, bit for bit
 *   (so `-0` and `0` differ); values that were doubles are rounded to float32 first;
 * - the entity type and the snapshot id are not part of it;
 * - an empty snapshot hashes to SHA-256 of nothing, `e3b0c442…b855`.
 *
 * In Python: `h.update(struct.pack('<I', len(b)) + b + struct.pack('<I', len(v)) + np.asarray(v, '<f4').tobytes())`
 * per entity with `b = id.encode('utf-8')`, then `h.hexdigest()`.
 */
export const CHECKSUM_ALGORITHM = 'sha256';

/** What a valid checksum string looks like. */
export const CHECKSUM_PATTERN = /^[0-9a-f]{64}$/;

const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * The little-endian bytes of a vector: a view of it on little-endian
 * machines, a byte-swapped copy elsewhere.
 */
export function float32LeBytes(vector: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength);
  const out = new Uint8Array(vector.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < vector.length; i++) view.setFloat32(i * 4, vector[i]!, true);
  return out;
}

/**
 * A `Float32Array` over little-endian float bytes: a view when the machine is
 * little-endian and `byteOffset` is 4-aligned, else a copy.
 */
export function float32FromLeBytes(bytes: Uint8Array, count: number): Float32Array {
  if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, count * 4);
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

const BATCH_BYTES = 1 << 16;

/**
 * Computes the snapshot checksum (see {@link CHECKSUM_ALGORITHM}) one entity at
 * a time. Small entities are batched into one buffer before hashing, so the
 * cost per entity is a copy, not a native call. Single use: {@link digest} ends it.
 */
export class SnapshotChecksum {
  private readonly hash: Hash = createHash(CHECKSUM_ALGORITHM);
  private readonly batch = Buffer.allocUnsafe(BATCH_BYTES);
  private pos = 0;
  private result: string | undefined;
  private entities = 0;

  /** Entities hashed so far. */
  get count(): number {
    return this.entities;
  }

  /** Adds the next entity in publish order. */
  update(entityId: string, vector: Float32Array): this {
    if (this.result !== undefined) throw new IllegalTransitionError('snapshot checksum', 'DIGESTED', 'update');
    const idBytes = Buffer.byteLength(entityId, 'utf8');
    const need = 8 + idBytes + vector.byteLength;
    if (this.pos + need > BATCH_BYTES) this.flush();
    const floats = float32LeBytes(vector);
    if (need > BATCH_BYTES) {
      const head = Buffer.allocUnsafe(4 + idBytes + 4);
      head.writeUInt32LE(idBytes, 0);
      head.write(entityId, 4, 'utf8');
      head.writeUInt32LE(vector.length, 4 + idBytes);
      this.hash.update(head);
      this.hash.update(floats);
    } else {
      const b = this.batch;
      b.writeUInt32LE(idBytes, this.pos);
      b.write(entityId, this.pos + 4, 'utf8');
      b.writeUInt32LE(vector.length, this.pos + 4 + idBytes);
      b.set(floats, this.pos + 8 + idBytes);
      this.pos += need;
    }
    this.entities++;
    return this;
  }

  /** The checksum of everything added; call once. */
  digest(): string {
    if (this.result !== undefined) throw new IllegalTransitionError('snapshot checksum', 'DIGESTED', 'digest');
    this.flush();
    this.result = this.hash.digest('hex');
    return this.result;
  }

  private flush(): void {
    if (this.pos > 0) this.hash.update(this.batch.subarray(0, this.pos));
    this.pos = 0;
  }
}

/** The checksum of entities in the given order (e.g. an `EntityMatrix`, which iterates in row order). */
export function snapshotChecksum(entities: Iterable<{ entityId: string; vector: Float32Array }>): string {
  const sum = new SnapshotChecksum();
  for (const e of entities) sum.update(e.entityId, e.vector);
  return sum.digest();
}
