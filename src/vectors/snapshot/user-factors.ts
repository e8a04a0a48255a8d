/**
 * A snapshot's user factors: the batch trainer's vector per user (x₀, the
 * user's lifetime taste as of the snapshot's training cut-off), for the
 * lifetime + realtime model.
 *
 * They are published to their own topic, partitioned like the user topics
 * (murmur2 of the user id), so each task loads only the users of its
 * partition. The manifest carries per partition the count and the checksum
 * (checksum.ts's definition, over that partition's users in publish order),
 * so each loader verifies its slice alone.
 *
 * One partition's factors are held off the JS heap: the ids' UTF-8 bytes in
 * one Buffer, the vectors in one Float32Array, and an open-addressing hash
 * index in an Int32Array; a million users cost two allocations a partition,
 * not a million objects.
 */
import { SnapshotValidationError } from '../../errors';
import { fnv1a32 as hashId } from '../hash';
import type { UserFactorsManifest } from '../records';
import type { EntityIndex } from './entity-matrix';
import { SnapshotValidator } from './validate';

/** One partition's user factors, read-only. */
export class UserFactorTable {
  constructor(
    readonly dims: number,
    readonly size: number,
    private readonly idBytes: Buffer,
    private readonly idEnds: Uint32Array,
    private readonly vectors: Float32Array,
    private readonly slots: Int32Array,
  ) {}

  /** The row of `userId`, or undefined. */
  rowOf(userId: string): number | undefined {
    if (this.slots.length === 0) return undefined;
    const key = Buffer.from(userId, 'utf8');
    const mask = this.slots.length - 1;
    for (let i = hashId(userId) & mask; ; i = (i + 1) & mask) {
      const row = this.slots[i]!;
      if (row < 0) return undefined;
      const start = row === 0 ? 0 : this.idEnds[row - 1]!;
      const end = this.idEnds[row]!;
      if (end - start === key.length && this.idBytes.compare(key, 0, key.length, start, end) === 0) return row;
    }
  }

  /** The user's factor (a view: do not modify it), or undefined when the batch did not know the user. */
  get(userId: string): Float32Array | undefined {
    const row = this.rowOf(userId);
    return row === undefined ? undefined : this.vectors.subarray(row * this.dims, (row + 1) * this.dims);
  }

  /** The id of row `row`. */
  idAt(row: number): string {
    return this.idBytes.toString('utf8', row === 0 ? 0 : this.idEnds[row - 1]!, this.idEnds[row]!);
  }
}

/**
 * Builds a {@link UserFactorTable} from users in publish order, validating
 * each (non-empty well-formed id, no duplicate, `dims` finite values) and
 * checksumming them; {@link build} checks count and checksum against the
 * manifest's figures for the partition.
 */
export class UserFactorTableBuilder implements EntityIndex {
  private idBytes: Buffer;
  private idLength = 0;
  private readonly idEnds: Uint32Array;
  private readonly vectors: Float32Array;
  private readonly slots: Int32Array;
  private rows = 0;
  private readonly validator: SnapshotValidator;

  /**
   * @param expected the manifest's count and checksum for this partition
   * @param location where row `row` was read, for messages (e.g. a topic offset or a file line)
   */
  constructor(
    private readonly snapshotId: string,
    private readonly dims: number,
    private readonly expected: { count: number; checksum: string },
    location?: (row: number) => string,
  ) {
    const n = expected.count;
    this.idBytes = Buffer.allocUnsafe(Math.max(64, n * 16));
    this.idEnds = new Uint32Array(n);
    this.vectors = new Float32Array(n * dims);
    let cap = 1;
    while (cap < 2 * n) cap <<= 1;
    this.slots = new Int32Array(n === 0 ? 0 : cap).fill(-1);
    this.validator = new SnapshotValidator({ snapshotId, dims, expectedCount: n, seen: this, noun: 'user', ...(location ? { location } : {}) });
  }

  rowOf(userId: string): number | undefined {
    return this.table().rowOf(userId);
  }

  private table(): UserFactorTable {
    return new UserFactorTable(this.dims, this.rows, this.idBytes, this.idEnds, this.vectors, this.slots);
  }

  /** @throws SnapshotValidationError naming the user, its row and the problem. */
  add(userId: string, vector: Float32Array): void {
    this.validator.accept(userId, vector);
    const row = this.rows;
    const len = Buffer.byteLength(userId, 'utf8');
    if (this.idLength + len > this.idBytes.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.idBytes.length * 2, this.idLength + len));
      this.idBytes.copy(bigger, 0, 0, this.idLength);
      this.idBytes = bigger;
    }
    this.idBytes.write(userId, this.idLength, 'utf8');
    this.idLength += len;
    this.idEnds[row] = this.idLength;
    this.vectors.set(vector, row * this.dims);
    const mask = this.slots.length - 1;
    let i = hashId(userId) & mask;
    while (this.slots[i]! >= 0) i = (i + 1) & mask;
    this.slots[i] = row;
    this.rows++;
  }

  /** @throws SnapshotValidationError when the count or the checksum differs from the manifest's. */
  build(): UserFactorTable {
    const { count, checksum } = this.validator.finish();
    if (count !== this.expected.count) {
      throw new SnapshotValidationError(
        this.snapshotId,
        `the manifest says ${this.expected.count} users in this partition, the data has ${count}; publish the snapshot again`,
      );
    }
    if (checksum !== this.expected.checksum) {
      throw new SnapshotValidationError(
        this.snapshotId,
        `user factors checksum mismatch: the manifest says ${this.expected.checksum}, the data hashes to ${checksum}; publish the snapshot again`,
      );
    }
    return new UserFactorTable(this.dims, this.rows, this.idBytes.subarray(0, this.idLength), this.idEnds, this.vectors, this.slots);
  }
}

/** The figures of partition `p` in a manifest's user factors. */
export function partitionFigures(users: UserFactorsManifest, p: number): { count: number; checksum: string } {
  return { count: users.counts[p] ?? 0, checksum: users.checksums[p] ?? '' };
}
