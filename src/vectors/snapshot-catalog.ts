import { ConfigError, MemoryBudgetError } from '../errors';
import type { NeighbourIndex } from './index/ann-index';
import { BruteForceIndex } from './index/brute-force';
import { HnswIndex, hnswMemoryEstimate, type HnswOptions } from './index/hnsw-index';
import { DecayedModel } from './models/decayed';
import { FoldInModel, gramMatrix } from './models/fold-in';
import type { UserModel, UserModelName } from './models/user-model';
import type { SnapshotManifest } from './records';
import type { EntityMatrix } from './snapshot/entity-matrix';
import { validateMatrix } from './snapshot/validate';
import type { Space } from './user-state';
import { LifetimeModel, type LifetimeVariant } from './models/lifetime';
import { partitionFigures, type UserFactorTable, UserFactorTableBuilder } from './snapshot/user-factors';

/**
 * Where a snapshot's entity vectors come from. Implementations load and
 * validate (dims, finite values, duplicates, count and checksum against the
 * manifest) and throw SnapshotValidationError when the data does not match.
 */
export interface SnapshotSource {
  load(manifest: SnapshotManifest): Promise<EntityMatrix>;
  /**
   * The batch user factors of one partition, for a manifest with `users`:
   * validated (dims, finite values, duplicates) and checked against the
   * manifest's count and checksum for that partition.
   * @throws SnapshotValidationError when they do not match.
   */
  loadUserFactors?(manifest: SnapshotManifest, partition: number): Promise<UserFactorTable>;
}

/**
 * A snapshot's batch user factors (lifetime vectors), loaded per partition
 * by the tasks that own it: each process holds only its partitions'.
 */
export interface LifetimeFactors {
  /** Training cut-off, epoch ms: events at or before it are in the factors. */
  readonly cutoff: number | null;
  /** Loads partition `partition`'s factors, once per process. @throws SnapshotValidationError */
  load(partition: number): Promise<void>;
  /** x₀ of `userId` when its partition is loaded and the batch knew the user. */
  get(userId: string): Float32Array | undefined;
}

/** A loaded snapshot: its vectors, the user model in its space, and its neighbour index. */
export interface LoadedSnapshot extends Space {
  manifest: SnapshotManifest;
  matrix: EntityMatrix;
  index: NeighbourIndex;
  /** The batch user factors, when the snapshot carries them; the model is then the lifetime model. */
  lifetime?: LifetimeFactors;
}

export interface SnapshotCatalogOptions {
  /** User model: 'decayed' (default) or 'fold-in' (λ and α from the manifest's params when given). */
  model?: UserModelName;
  /** Decay time constant of the decayed model, ms. */
  tauMs?: number;
  /** Fold-in: regularisation λ, confidence slope α and entities kept per user; the manifest's params (`lambda`, `alpha`) when not set here. */
  foldIn?: { lambda?: number; alpha?: number; maxEntities?: number };
  /**
   * Lifetime + realtime (a snapshot with user factors): λₚ, how much the
   * lifetime taste weighs against new events (manifest param `prior-weight`
   * when not set here), the variant, and α and entities kept as the fold-in's.
   */
  lifetime?: { priorWeight?: number; variant?: LifetimeVariant };
  /** Candidate index: 'hnsw' (default) or 'exact' (brute force). */
  index?: 'hnsw' | 'exact';
  hnsw?: HnswOptions;
  /**
   * Bytes the loaded snapshots may take together (the process's `--memory`
   * plan). A snapshot that would not fit beside the ones already loaded is
   * refused with MemoryBudgetError before anything is read. Default: no limit.
   */
  memoryLimitBytes?: number;
}

/**
 * Resident bytes of a loaded snapshot of `count` × `dims`: the float matrix,
 * the ids and their map (~80 bytes an id), the type codes, and an HNSW
 * index's links (none for the exact index; both read the matrix).
 */
export function snapshotMemoryEstimate(count: number, dims: number, index: 'hnsw' | 'exact' = 'hnsw', m?: number): number {
  return count * (4 * dims + 80 + 1) + (index === 'hnsw' ? hnswMemoryEstimate(count, m) : 0);
}

/**
 * The snapshots one process has loaded, shared by all its tasks: each is
 * loaded once however many tasks ask, and dropped when retired.
 */
export class SnapshotCatalog {
  private readonly loading = new Map<string, Promise<LoadedSnapshot>>();
  private readonly loaded = new Map<string, LoadedSnapshot>();
  /** Of every snapshot loading or loaded, for the memory limit. */
  private readonly manifests = new Map<string, SnapshotManifest>();

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
      const refused = this.overBudget(manifest);
      if (refused) return Promise.reject(refused);
      p = this.build(manifest);
      this.loading.set(manifest.snapshotId, p);
      this.manifests.set(manifest.snapshotId, manifest);
      // A failed load may be retried by a later ensure (e.g. after a fix is republished under a new id it will not, but a transient error may).
      p.catch(() => {
        this.loading.delete(manifest.snapshotId);
        this.manifests.delete(manifest.snapshotId);
      });
    }
    return p;
  }

  private estimate(manifest: SnapshotManifest): number {
    return snapshotMemoryEstimate(manifest.count, manifest.dims, this.options.index ?? 'hnsw', this.options.hnsw?.m);
  }

  /** The refusal when `manifest` does not fit in the memory limit beside the snapshots loaded or loading. */
  private overBudget(manifest: SnapshotManifest): MemoryBudgetError | undefined {
    const limit = this.options.memoryLimitBytes;
    if (limit === undefined) return undefined;
    const held = [...this.manifests.values()].reduce((n, m) => n + this.estimate(m), 0);
    const need = this.estimate(manifest);
    if (held + need <= limit) return undefined;
    const mib = (b: number) => `${Math.ceil(b / 2 ** 20)} MiB`;
    return new MemoryBudgetError(
      `snapshot '${manifest.snapshotId}' (${manifest.count} × ${manifest.dims}) needs ${mib(need)}` +
        (held > 0 ? ` beside the ${mib(held)} of the ${this.manifests.size} loaded` : '') +
        `, over the ${mib(limit)} this process's --memory plan gives snapshots; raise --memory by at least ${mib(2 * (held + need - limit))} (snapshots get half of it)`,
    );
  }

  private async build(manifest: SnapshotManifest): Promise<LoadedSnapshot> {
    const matrix = await this.source.load(manifest);
    const vectors = { ids: matrix.ids, matrix: matrix.data, dims: matrix.dims };
    const index = (this.options.index ?? 'hnsw') === 'hnsw' ? await HnswIndex.build(vectors, this.options.hnsw) : new BruteForceIndex(vectors);
    const vectorOf = (id: string) => matrix.vectorOf(id);
    const users = manifest.users;
    if (!users) {
      const loaded: LoadedSnapshot = { id: manifest.snapshotId, manifest, matrix, index, model: this.modelFor(manifest, matrix), vectorOf };
      this.loaded.set(manifest.snapshotId, loaded);
      return loaded;
    }
    const model = this.lifetimeModelFor(manifest, matrix);
    const lifetime = this.lifetimeFactors(manifest);
    const cutoff = manifest.cutoff ?? null;
    const loaded: LoadedSnapshot = {
      id: manifest.snapshotId,
      manifest,
      matrix,
      index,
      model: model as UserModel<unknown>,
      vectorOf,
      lifetime,
      startState: (userId, history) => {
        const x0 = lifetime.get(userId);
        return x0 ? model.fromHistoryAround(x0, cutoff, history, vectorOf) : model.fromHistory(history, vectorOf);
      },
    };
    this.loaded.set(manifest.snapshotId, loaded);
    return loaded;
  }

  private param(manifest: SnapshotManifest, key: string): number | undefined {
    return manifest.params[key] !== undefined ? Number(manifest.params[key]) : undefined;
  }

  private modelFor(manifest: SnapshotManifest, matrix: EntityMatrix): UserModel<unknown> {
    if ((this.options.model ?? 'decayed') === 'decayed') {
      return new DecayedModel({ dims: matrix.dims, ...(this.options.tauMs ? { tauMs: this.options.tauMs } : {}) }) as UserModel<unknown>;
    }
    const f = this.options.foldIn ?? {};
    const lambda = f.lambda ?? this.param(manifest, 'lambda');
    const alpha = f.alpha ?? this.param(manifest, 'alpha');
    return new FoldInModel({
      gram: gramMatrix(matrix.data, matrix.count, matrix.dims),
      ...(lambda !== undefined ? { lambda } : {}),
      ...(alpha !== undefined ? { alpha } : {}),
      ...(f.maxEntities !== undefined ? { maxEntities: f.maxEntities } : {}),
    }) as UserModel<unknown>;
  }

  private lifetimeModelFor(manifest: SnapshotManifest, matrix: EntityMatrix): LifetimeModel {
    const priorWeight = this.options.lifetime?.priorWeight ?? this.param(manifest, 'prior-weight');
    const alpha = this.options.foldIn?.alpha ?? this.param(manifest, 'alpha');
    const maxEntities = this.options.foldIn?.maxEntities;
    const variant = this.options.lifetime?.variant;
    return new LifetimeModel({
      gram: gramMatrix(matrix.data, matrix.count, matrix.dims),
      ...(priorWeight !== undefined ? { priorWeight } : {}),
      ...(alpha !== undefined ? { alpha } : {}),
      ...(maxEntities !== undefined ? { maxEntities } : {}),
      ...(variant !== undefined ? { variant } : {}),
    });
  }

  /** The per-partition factor tables of one snapshot, loaded on demand through the source. */
  private lifetimeFactors(manifest: SnapshotManifest): LifetimeFactors {
    const tables = new Map<number, Promise<UserFactorTable>>();
    const ready: UserFactorTable[] = [];
    const source = this.source;
    return {
      cutoff: manifest.cutoff ?? null,
      load(partition) {
        let p = tables.get(partition);
        if (!p) {
          if (!source.loadUserFactors)
            throw new ConfigError(`snapshot '${manifest.snapshotId}' carries user factors, but this snapshot source cannot load them`);
          p = source.loadUserFactors(manifest, partition).then((t) => (ready.push(t), t));
          tables.set(partition, p);
          p.catch(() => tables.delete(partition));
        }
        return p.then(() => undefined);
      },
      get(userId) {
        // A user is in exactly one partition; a process holds a few: asking each is cheaper than hashing like Kafka here.
        for (const t of ready) {
          const v = t.get(userId);
          if (v) return v;
        }
        return undefined;
      },
    };
  }

  /** A snapshot loaded by this process, if any. */
  get(id: string): LoadedSnapshot | undefined {
    return this.loaded.get(id);
  }

  /** Forgets a snapshot (retired or failed): its memory can be reclaimed. */
  drop(id: string): void {
    this.loaded.delete(id);
    this.loading.delete(id);
    this.manifests.delete(id);
  }

  ids(): string[] {
    return [...this.loaded.keys()];
  }
}

/** A source over snapshots already in memory (tests, and the test driver). */
export class InMemorySnapshotSource implements SnapshotSource {
  /**
   * @param userFactors per snapshot, the user factors of each partition, in publish order
   *   (what `user-factors.<id>` holds); checked against the manifest as the Kafka source does.
   */
  constructor(
    private readonly matrices: Map<string, EntityMatrix | (() => EntityMatrix)>,
    private readonly userFactors: Map<string, [string, Float32Array][][]> = new Map(),
  ) {}

  async loadUserFactors(manifest: SnapshotManifest, partition: number): Promise<UserFactorTable> {
    const parts = this.userFactors.get(manifest.snapshotId);
    if (!parts || !manifest.users) throw new ConfigError(`snapshot '${manifest.snapshotId}' has no user factors in the in-memory source`);
    const b = new UserFactorTableBuilder(
      manifest.snapshotId,
      manifest.dims,
      partitionFigures(manifest.users, partition),
      (row) => `partition ${partition}, row ${row}`,
    );
    for (const [userId, v] of parts[partition] ?? []) b.add(userId, v);
    return b.build();
  }

  async load(manifest: SnapshotManifest): Promise<EntityMatrix> {
    const m = this.matrices.get(manifest.snapshotId);
    if (!m) throw new ConfigError(`snapshot '${manifest.snapshotId}' is not in the in-memory source`);
    const matrix = typeof m === 'function' ? m() : m;
    validateMatrix(manifest, matrix);
    return matrix;
  }
}
