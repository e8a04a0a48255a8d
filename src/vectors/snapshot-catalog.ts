import { ConfigError } from '../errors';
import type { NeighbourIndex } from './index/ann-index';
import { BruteForceIndex } from './index/brute-force';
import { HnswIndex, type HnswOptions } from './index/hnsw-index';
import { DecayedModel } from './models/decayed';
import { FoldInModel, gramMatrix } from './models/fold-in';
import type { UserModel, UserModelName } from './models/user-model';
import type { SnapshotManifest } from './records';
import type { EntityMatrix } from './snapshot/entity-matrix';
import { validateMatrix } from './snapshot/validate';
import type { Space } from './user-state';

/**
 * Where a snapshot's entity vectors come from. Implementations load and
 * validate (dims, finite values, duplicates, count and checksum against the
 * manifest) and throw SnapshotValidationError when the data does not match.
 */
export interface SnapshotSource {
  load(manifest: SnapshotManifest): Promise<EntityMatrix>;
}

/** A loaded snapshot: its vectors, the user model in its space, and its neighbour index. */
export interface LoadedSnapshot extends Space {
  manifest: SnapshotManifest;
  matrix: EntityMatrix;
  index: NeighbourIndex;
}

export interface SnapshotCatalogOptions {
  /** User model: 'decayed' (default) or 'fold-in' (λ and α from the manifest's params when given). */
  model?: UserModelName;
  /** Decay time constant of the decayed model, ms. */
  tauMs?: number;
  /** Candidate index: 'hnsw' (default) or 'exact' (brute force). */
  index?: 'hnsw' | 'exact';
  hnsw?: HnswOptions;
}

/**
 * The snapshots one process has loaded, shared by all its tasks: each is
 * loaded once however many tasks ask, and dropped when retired.
 */
export class SnapshotCatalog {
  private readonly loading = new Map<string, Promise<LoadedSnapshot>>();
  private readonly loaded = new Map<string, LoadedSnapshot>();

  constructor(
    private readonly source: SnapshotSource,
    private readonly options: SnapshotCatalogOptions = {},
  ) {
    if (options.model && options.model !== 'decayed' && options.model !== 'fold-in') {
      throw new ConfigError(`user model must be 'decayed' or 'fold-in', got '${String(options.model)}'`);
    }
  }

  /** Loads (once) and returns the snapshot. @throws SnapshotValidationError when its data does not match the manifest. */
  ensure(manifest: SnapshotManifest): Promise<LoadedSnapshot> {
    let p = this.loading.get(manifest.snapshotId);
    if (!p) {
      p = this.build(manifest);
      this.loading.set(manifest.snapshotId, p);
      // A failed load may be retried by a later ensure (e.g. after a fix is republished under a new id it will not, but a transient error may).
      p.catch(() => this.loading.delete(manifest.snapshotId));
    }
    return p;
  }

  private async build(manifest: SnapshotManifest): Promise<LoadedSnapshot> {
    const matrix = await this.source.load(manifest);
    const vectors = { ids: matrix.ids, matrix: matrix.data, dims: matrix.dims };
    const index = (this.options.index ?? 'hnsw') === 'hnsw' ? await HnswIndex.build(vectors, this.options.hnsw) : new BruteForceIndex(vectors);
    const model = this.modelFor(manifest, matrix);
    const loaded: LoadedSnapshot = { id: manifest.snapshotId, manifest, matrix, index, model, vectorOf: (id) => matrix.vectorOf(id) };
    this.loaded.set(manifest.snapshotId, loaded);
    return loaded;
  }

  private modelFor(manifest: SnapshotManifest, matrix: EntityMatrix): UserModel<unknown> {
    if ((this.options.model ?? 'decayed') === 'decayed') {
      return new DecayedModel({ dims: matrix.dims, ...(this.options.tauMs ? { tauMs: this.options.tauMs } : {}) }) as UserModel<unknown>;
    }
    const num = (k: string) => (manifest.params[k] !== undefined ? Number(manifest.params[k]) : undefined);
    const lambda = num('lambda');
    const alpha = num('alpha');
    return new FoldInModel({
      gram: gramMatrix(matrix.data, matrix.count, matrix.dims),
      ...(lambda !== undefined ? { lambda } : {}),
      ...(alpha !== undefined ? { alpha } : {}),
    }) as UserModel<unknown>;
  }

  /** A snapshot loaded by this process, if any. */
  get(id: string): LoadedSnapshot | undefined {
    return this.loaded.get(id);
  }

  /** Forgets a snapshot (retired or failed): its memory can be reclaimed. */
  drop(id: string): void {
    this.loaded.delete(id);
    this.loading.delete(id);
  }

  ids(): string[] {
    return [...this.loaded.keys()];
  }
}

/** A source over snapshots already in memory (tests, and the test driver). */
export class InMemorySnapshotSource implements SnapshotSource {
  constructor(private readonly matrices: Map<string, EntityMatrix | (() => EntityMatrix)>) {}

  async load(manifest: SnapshotManifest): Promise<EntityMatrix> {
    const m = this.matrices.get(manifest.snapshotId);
    if (!m) throw new ConfigError(`snapshot '${manifest.snapshotId}' is not in the in-memory source`);
    const matrix = typeof m === 'function' ? m() : m;
    validateMatrix(manifest, matrix);
    return matrix;
  }
}
