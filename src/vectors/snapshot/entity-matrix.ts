import { ConfigError, IllegalTransitionError, SnapshotValidationError } from '../../errors';
import type { EntityType } from '../records';
import { allocateMatrix } from '../index/simd';

/**
 * Entity types in the order of the Avro enum `vectors.v1.EntityType`: the
 * index of a type here is its code in {@link EntityMatrix.typeCodes}.
 */
export const ENTITY_TYPES = ['TRACK', 'ARTIST', 'ALBUM', 'PLAYLIST', 'OTHER'] as const satisfies readonly EntityType[];

const TYPE_CODES: ReadonlyMap<string, number> = new Map(ENTITY_TYPES.map((t, i) => [t, i]));

/** The code of an entity type (its Avro enum index). */
export function entityTypeCode(type: EntityType): number {
  const code = TYPE_CODES.get(type);
  if (code === undefined) throw new ConfigError(`unknown entity type '${type}': expected one of ${ENTITY_TYPES.join(', ')}`);
  return code;
}

/** The entity type a string names, or `undefined` when it names none. */
export function parseEntityType(value: unknown): EntityType | undefined {
  return typeof value === 'string' && TYPE_CODES.has(value) ? (value as EntityType) : undefined;
}

/** One entity of a snapshot. `vector` may be a view into a larger buffer: copy it to keep it past the source. */
export interface SnapshotEntity {
  entityId: string;
  entityType: EntityType;
  vector: Float32Array;
}

/** Looks up the row of an entity id; implemented by the matrix and its builder. */
export interface EntityIndex {
  /** The row of `entityId`, or `undefined` when absent. */
  rowOf(entityId: string): number | undefined;
}

/**
 * A snapshot's entity vectors in memory: one row-major `Float32Array` of
 * `count × dims` floats, the ids in row order with a map back to rows, and one
 * type code per row. No per-element JS numbers: 1M × 128 takes 512 MB of
 * typed-array memory plus the ids.
 *
 * Immutable by contract: `data`, `typeCodes` and the views returned by
 * {@link row} and {@link vectorOf} share memory with the matrix and must not
 * be written to. Rows are in load (= publish) order.
 */
export class EntityMatrix implements EntityIndex, Iterable<SnapshotEntity> {
  /** @internal Use {@link EntityMatrixBuilder}. */
  constructor(
    readonly snapshotId: string,
    readonly dims: number,
    /** All vectors, row-major: row `r` is `data[r*dims, (r+1)*dims)`. Length is exactly `count × dims`. */
    readonly data: Float32Array,
    /** Entity ids in row order. */
    readonly ids: readonly string[],
    /** One code per row, see {@link ENTITY_TYPES}. */
    readonly typeCodes: Uint8Array,
    private readonly index: ReadonlyMap<string, number>,
  ) {}

  /** Number of entities (rows). */
  get count(): number {
    return this.ids.length;
  }

  /** Bytes of vector data (`count × dims × 4`). */
  get byteLength(): number {
    return this.data.byteLength;
  }

  rowOf(entityId: string): number | undefined {
    return this.index.get(entityId);
  }

  has(entityId: string): boolean {
    return this.index.has(entityId);
  }

  /** The vector of row `row` as a view (no copy). Throws `RangeError` outside `[0, count)`. */
  row(row: number): Float32Array {
    this.checkRow(row);
    const start = row * this.dims;
    return this.data.subarray(start, start + this.dims);
  }

  /** The vector of an entity as a view (no copy), or `undefined` when the snapshot does not have it. */
  vectorOf(entityId: string): Float32Array | undefined {
    const row = this.index.get(entityId);
    return row === undefined ? undefined : this.row(row);
  }

  idAt(row: number): string {
    this.checkRow(row);
    return this.ids[row]!;
  }

  typeAt(row: number): EntityType {
    this.checkRow(row);
    return ENTITY_TYPES[this.typeCodes[row]!]!;
  }

  /** Row `row` as an entity; its vector is a view. */
  entityAt(row: number): SnapshotEntity {
    return { entityId: this.idAt(row), entityType: this.typeAt(row), vector: this.row(row) };
  }

  /** The entities in row order; vectors are views. */
  *[Symbol.iterator](): IterableIterator<SnapshotEntity> {
    for (let r = 0; r < this.count; r++) yield this.entityAt(r);
  }

  private checkRow(row: number): void {
    if (!Number.isInteger(row) || row < 0 || row >= this.ids.length) {
      throw new RangeError(`row ${row} is outside snapshot '${this.snapshotId}' (rows 0..${this.ids.length - 1})`);
    }
  }
}

export interface EntityMatrixBuilderOptions {
  snapshotId: string;
  dims: number;
  /**
   * How many entities to expect (e.g. the manifest's `count`). The buffer is
   * allocated once at this size, so a load of exactly this many rows never
   * copies. Without it the buffer starts small and doubles.
   */
  expectedCount?: number;
}

const MIN_CAPACITY = 1024;
/** Unused tail a built matrix may keep instead of copying to the exact size. */
const MAX_KEPT_SLACK = 1 / 8;

/**
 * Builds an {@link EntityMatrix} one row at a time. The float buffer grows
 * geometrically (×2), so the total copying is linear; give `expectedCount` to
 * allocate once. Single use: {@link build} ends it.
 */
export class EntityMatrixBuilder implements EntityIndex {
  readonly snapshotId: string;
  readonly dims: number;
  private data: Float32Array;
  private typeCodes: Uint8Array;
  private readonly ids: string[] = [];
  private readonly index = new Map<string, number>();
  private built = false;

  constructor(options: EntityMatrixBuilderOptions) {
    const { snapshotId, dims, expectedCount } = options;
    if (!Number.isInteger(dims) || dims < 1) throw new ConfigError(`dims must be a positive integer, got ${dims}`);
    if (expectedCount !== undefined && (!Number.isSafeInteger(expectedCount) || expectedCount < 0)) {
      throw new ConfigError(`expectedCount must be a non-negative integer, got ${expectedCount}`);
    }
    this.snapshotId = snapshotId;
    this.dims = dims;
    const capacity = expectedCount ?? MIN_CAPACITY;
    this.data = allocate(snapshotId, capacity, dims);
    this.typeCodes = new Uint8Array(capacity);
  }

  get count(): number {
    return this.ids.length;
  }

  /** Rows the current buffer holds before it must grow. */
  get capacity(): number {
    return this.typeCodes.length;
  }

  rowOf(entityId: string): number | undefined {
    return this.index.get(entityId);
  }

  /**
   * Appends one entity (the vector is copied) and returns its row. Checks
   * only what the matrix itself needs: the vector has `dims` values and the
   * id is new; finiteness and the rest are the validator's job.
   * @throws SnapshotValidationError on a duplicate id or a wrong length.
   */
  add(entityId: string, entityType: EntityType, vector: ArrayLike<number>): number {
    this.checkOpen('add');
    const row = this.ids.length;
    if (vector.length !== this.dims) {
      throw new SnapshotValidationError(this.snapshotId, `entity '${entityId}' (row ${row}) has ${vector.length} values, expected dims=${this.dims}`);
    }
    const code = entityTypeCode(entityType);
    // One hash operation per id (set, then compare sizes) instead of get + set: at 1M ids that is a second saved.
    const size = this.index.size;
    this.index.set(entityId, row);
    if (this.index.size === size) {
      const first = this.ids.indexOf(entityId);
      this.index.set(entityId, first);
      throw new SnapshotValidationError(this.snapshotId, `entity id '${entityId}' appears twice: rows ${first} and ${row}`);
    }
    if (row === this.capacity) this.grow(row + 1);
    this.data.set(vector, row * this.dims);
    this.typeCodes[row] = code;
    this.ids.push(entityId);
    return row;
  }

  /**
   * The finished matrix. Its `data` is the builder's buffer when that is
   * full or nearly so (at most 1/8 unused, kept as slack behind a
   * `subarray`), else one copy to the exact size.
   */
  build(): EntityMatrix {
    this.checkOpen('build');
    this.built = true;
    const n = this.ids.length;
    const used = n * this.dims;
    const slack = (this.data.length - used) / Math.max(1, this.data.length);
    let data = this.data.subarray(0, used);
    if (slack > MAX_KEPT_SLACK) {
      data = allocate(this.snapshotId, n, this.dims);
      data.set(this.data.subarray(0, used));
    }
    const types = this.typeCodes.length === n ? this.typeCodes : this.typeCodes.slice(0, n);
    return new EntityMatrix(this.snapshotId, this.dims, data, this.ids, types, this.index);
  }

  private grow(minRows: number): void {
    const rows = Math.max(minRows, this.capacity * 2, MIN_CAPACITY);
    const data = allocate(this.snapshotId, rows, this.dims);
    data.set(this.data);
    const types = new Uint8Array(rows);
    types.set(this.typeCodes);
    this.data = data;
    this.typeCodes = types;
  }

  private checkOpen(event: string): void {
    if (this.built) throw new IllegalTransitionError(`matrix builder of snapshot '${this.snapshotId}'`, 'BUILT', event);
  }
}

function allocate(snapshotId: string, rows: number, dims: number): Float32Array {
  try {
    // In WebAssembly memory where it fits: searches then use SIMD (src/vectors/index/simd.ts).
    return allocateMatrix(rows * dims);
  } catch (err) {
    const mb = Math.round((rows * dims * 4) / 2 ** 20);
    throw new ConfigError(
      `cannot allocate ${rows} × ${dims} floats (${mb} MiB) for snapshot '${snapshotId}': ${(err as Error).message}. ` +
        'Check the expected count, or give the process more memory.',
    );
  }
}
