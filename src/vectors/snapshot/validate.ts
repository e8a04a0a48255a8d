import { ConfigError, IllegalTransitionError, SnapshotValidationError } from '../../errors';
import type { SnapshotManifest } from '../records';
import { SnapshotChecksum } from './checksum';
import type { EntityIndex, EntityMatrix } from './entity-matrix';
import { manifestProblems } from './manifest';

/** What a successful validation established. */
export interface ValidatedSnapshot {
  count: number;
  /** The checksum of the data as read, see `checksum.ts`. */
  checksum: string;
}

export interface SnapshotValidatorOptions {
  /** Names the snapshot in error messages. */
  snapshotId: string;
  /** Values every vector must have. */
  dims: number;
  /** The manifest's count, when known: one entity more fails at once instead of at {@link SnapshotValidator.finish}. */
  expectedCount?: number;
  /**
   * An index of the ids accepted so far, when the caller keeps one anyway
   * (the `EntityMatrixBuilder` being filled, added to after each `accept`),
   * so 1M ids are not held twice. Default: the validator keeps its own.
   */
  seen?: EntityIndex;
  /**
   * Where the entity of a row was read, for messages, e.g.
   * `(row) => \`line ${row + 1} of vectors.jsonl\`` or the partition and
   * offset of a record. Called only when a check fails.
   */
  location?: (row: number) => string;
  /** What a row is, in messages: 'entity' (default) or 'user' (a snapshot's user factors). */
  noun?: 'entity' | 'user';
}

/** Ids are non-empty, well-formed UTF-16 (so their UTF-8 is exact) and free of tab, CR and LF (so every file format can hold them). */
const BAD_ID_CHARACTERS = /[\t\n\r]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Validates a snapshot while it streams in, in publish order: feed every
 * entity to {@link accept}, then call {@link finish} with the manifest.
 *
 * Checks, each failing with a {@link SnapshotValidationError} that names the
 * entity, its row and (when the caller gives it) where it was read:
 * - ids are non-empty, well-formed, without tab/CR/LF, and unique;
 * - every vector has exactly `dims` values, all finite (no NaN, no ±Infinity);
 * - no more entities than `expectedCount`;
 * - at the end: the manifest is valid and agrees on snapshot id and dims, the
 *   count matches, and the checksum of the data matches the manifest's.
 *
 * Single use: after a failure or {@link finish}, further calls throw
 * `IllegalTransitionError`.
 */
export class SnapshotValidator {
  readonly snapshotId: string;
  readonly dims: number;
  private readonly expectedCount: number | undefined;
  private readonly seen: EntityIndex;
  private readonly ownIds: Map<string, number> | undefined;
  private readonly location: ((row: number) => string) | undefined;
  private readonly noun: string;
  private readonly checksum = new SnapshotChecksum();
  private rows = 0;
  private state: 'OPEN' | 'FAILED' | 'FINISHED' = 'OPEN';

  constructor(options: SnapshotValidatorOptions) {
    if (!Number.isInteger(options.dims) || options.dims < 1) {
      throw new ConfigError(`dims must be a positive integer, got ${options.dims}`);
    }
    this.snapshotId = options.snapshotId;
    this.dims = options.dims;
    this.expectedCount = options.expectedCount;
    this.location = options.location;
    this.noun = options.noun ?? 'entity';
    if (options.seen) {
      this.seen = options.seen;
    } else {
      const ids = new Map<string, number>();
      this.ownIds = ids;
      this.seen = { rowOf: (id) => ids.get(id) };
    }
  }

  /** A validator for the snapshot a manifest describes (its id, dims and count). */
  static forManifest(manifest: SnapshotManifest, options: Pick<SnapshotValidatorOptions, 'seen' | 'location'> = {}): SnapshotValidator {
    return new SnapshotValidator({ snapshotId: manifest.snapshotId, dims: manifest.dims, expectedCount: manifest.count, ...options });
  }

  /** Entities accepted so far. */
  get count(): number {
    return this.rows;
  }

  /**
   * Checks the next entity and adds it to the checksum.
   * @throws SnapshotValidationError naming the entity, its row and location, and the problem.
   */
  accept(entityId: string, vector: Float32Array): void {
    this.checkOpen('accept');
    const row = this.rows;
    if (typeof entityId !== 'string' || entityId.length === 0) {
      this.fail(
        `the ${this.noun} at ${this.at(row)} has an empty ${this.noun === 'entity' ? 'entityId' : 'userId'}: every ${this.noun} needs a non-empty id. Fix the export that wrote it.`,
      );
    }
    if (BAD_ID_CHARACTERS.test(entityId)) {
      this.fail(
        `${this.noun} id ${JSON.stringify(entityId)} (${this.at(row)}) contains a tab, CR, LF or an unpaired surrogate: ` +
          'ids must be well-formed text without those characters. Fix the export that wrote it.',
      );
    }
    if (this.expectedCount !== undefined && row >= this.expectedCount) {
      this.fail(
        `the manifest says count=${this.expectedCount}, but there are more ${this.noun === 'entity' ? 'entities' : 'users'}: '${entityId}' (${this.at(row)}) is one too many. ` +
          'The manifest is stale or the data has extra records; publish the snapshot again.',
      );
    }
    const first = this.seen.rowOf(entityId);
    if (first !== undefined) {
      this.fail(`${this.noun} id '${entityId}' appears twice: rows ${first} and ${row} (${this.at(row)}). Ids must be unique; deduplicate the export.`);
    }
    if (vector.length !== this.dims) {
      this.fail(
        `${this.noun} '${entityId}' (${this.at(row)}) has ${vector.length} values, expected dims=${this.dims}. ` +
          "Every vector of a snapshot must have the manifest's dims; re-export it with one model.",
      );
    }
    for (let i = 0; i < vector.length; i++) {
      const x = vector[i]!;
      // x - x is NaN exactly when x is NaN or ±Infinity.
      if (x - x !== 0) {
        this.fail(
          `${this.noun} '${entityId}' (${this.at(row)}) has ${x} at index ${i}: every value must be a finite float32. ` +
            'Fix the training output (diverged factors?) and publish the snapshot again.',
        );
      }
    }
    this.checksum.update(entityId, vector);
    this.ownIds?.set(entityId, row);
    this.rows++;
  }

  /**
   * Ends validation. With a manifest, also checks it, its agreement with this
   * validator, the count and the checksum; without one (a publisher computing
   * them) it only reports them.
   * @throws SnapshotValidationError on any mismatch.
   */
  finish(manifest?: SnapshotManifest): ValidatedSnapshot {
    this.checkOpen('finish');
    const result = { count: this.rows, checksum: this.checksum.digest() };
    if (manifest) {
      const problems = manifestProblems(manifest);
      if (problems.length > 0) this.fail(`its manifest is invalid: ${problems.join('; ')}`);
      if (manifest.snapshotId !== this.snapshotId) {
        this.fail(`the manifest is for snapshot '${manifest.snapshotId}', but the data was read as '${this.snapshotId}'`);
      }
      if (manifest.dims !== this.dims) this.fail(`the manifest says dims=${manifest.dims}, but the data was read with dims=${this.dims}`);
      if (manifest.count !== result.count) {
        this.fail(
          `the manifest says count=${manifest.count}, but the data has ${result.count} entities. ` +
            'The data is incomplete (a truncated file or topic?) or the manifest is stale; publish the snapshot again.',
        );
      }
      if (manifest.checksum !== result.checksum) {
        this.fail(
          `checksum mismatch: the manifest says ${manifest.checksum}, the data hashes to ${result.checksum}. ` +
            'The data was changed or reordered after the manifest was computed, or the publisher uses another ' +
            'checksum definition (see src/vectors/snapshot/checksum.ts); publish the snapshot again.',
        );
      }
    }
    this.state = 'FINISHED';
    return result;
  }

  private at(row: number): string {
    return this.location ? `row ${row}, ${this.location(row)}` : `row ${row}`;
  }

  private fail(detail: string): never {
    this.state = 'FAILED';
    throw new SnapshotValidationError(this.snapshotId, detail);
  }

  private checkOpen(event: string): void {
    if (this.state !== 'OPEN') throw new IllegalTransitionError(`validator of snapshot '${this.snapshotId}'`, this.state, event);
  }
}

/**
 * Validates entities in publish order against a manifest.
 * @throws SnapshotValidationError on the first problem.
 */
export function validateEntities(manifest: SnapshotManifest, entities: Iterable<{ entityId: string; vector: Float32Array }>): ValidatedSnapshot {
  const validator = SnapshotValidator.forManifest(manifest);
  for (const e of entities) validator.accept(e.entityId, e.vector);
  return validator.finish(manifest);
}

/**
 * Validates a matrix, rows in order, against a manifest, without a second
 * copy of its ids.
 * @throws SnapshotValidationError on the first problem.
 */
export function validateMatrix(manifest: SnapshotManifest, matrix: EntityMatrix): ValidatedSnapshot {
  let accepted = 0;
  const seen: EntityIndex = {
    rowOf: (id) => {
      const row = matrix.rowOf(id);
      return row !== undefined && row < accepted ? row : undefined;
    },
  };
  const validator = new SnapshotValidator({ snapshotId: manifest.snapshotId, dims: manifest.dims, expectedCount: manifest.count, seen });
  if (matrix.dims !== manifest.dims) {
    throw new SnapshotValidationError(manifest.snapshotId, `the manifest says dims=${manifest.dims}, the matrix has dims=${matrix.dims}`);
  }
  for (let r = 0; r < matrix.count; r++) {
    validator.accept(matrix.idAt(r), matrix.row(r));
    accepted++;
  }
  return validator.finish(manifest);
}
