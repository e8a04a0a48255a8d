import { ConfigError, NeighbourIndexError } from '../../errors';

/** One search hit: an entity id and its similarity to the query. */
export interface Neighbour {
  readonly id: string;
  /** Inner product of query and entity vector: the cosine similarity when both are unit length. Higher is closer. */
  readonly score: number;
}

/** Returns true for an entity id that must not appear in the result (banned, recently consumed, the query entity itself). */
export type ExcludeFn = (id: string) => boolean;

/** Per-search settings. */
export interface SearchOptions {
  /**
   * Search effort of an approximate index for this search only (HNSW: the
   * candidate list size, see HnswOptions.efSearch); exact indexes ignore it.
   * Lets callers sharing one index trade recall for speed each their own way.
   */
  efSearch?: number;
}

/**
 * The entity vectors of one snapshot, as they are held in memory: one row-major
 * matrix of `ids.length × dims` floats, row `r` being the vector of `ids[r]`.
 * Indexes keep a reference to `matrix` and `ids`; the caller must not mutate
 * them while an index built from them is in use.
 */
export interface VectorSet {
  readonly ids: readonly string[];
  readonly matrix: Float32Array;
  readonly dims: number;
}

/**
 * Top-k similarity search over the entity vectors of one snapshot.
 *
 * Vectors are expected unit length (the snapshot loader normalises them), so
 * the inner product the index ranks by is the cosine similarity. An index is
 * immutable once built: a new snapshot gets a new index.
 *
 * Implementations: `BruteForceIndex` (exact; the reference and the fallback)
 * and `HnswIndex` (approximate, hnswlib).
 */
export interface NeighbourIndex {
  /** Number of indexed entities (at least 1). */
  readonly size: number;
  /** Length of every vector, query included. */
  readonly dims: number;
  /**
   * The `k` entities most similar to `query`, best first (ties: lower row first).
   * Entities for which `exclude` returns true are skipped, and the result is
   * still `k` long whenever at least `k` entities are not excluded; otherwise it
   * holds every entity that is not excluded.
   *
   * `exclude` runs synchronously during the search and is not called for every
   * entity; an exception it throws is rethrown from `search`.
   *
   * @throws NeighbourIndexError if `query` does not have `dims` finite values,
   *   or `k` is not an integer in 1..`size` (clamp with `Math.min(k, index.size)`).
   * @throws ConfigError if `options.efSearch` is given and is not an integer ≥ 2.
   */
  search(query: Float32Array, k: number, exclude?: ExcludeFn, options?: SearchOptions): Neighbour[];
}

/**
 * Checks the input of an index build; throws a NeighbourIndexError naming the
 * first problem: empty set, matrix of the wrong length, duplicate id, or a
 * value that is NaN or infinite.
 */
export function checkVectorSet(index: string, { ids, matrix, dims }: VectorSet): void {
  if (!Number.isInteger(dims) || dims < 1) {
    throw new NeighbourIndexError(index, `dims must be a positive integer, got ${dims}`);
  }
  if (ids.length === 0) {
    throw new NeighbourIndexError(index, 'cannot build an index over 0 vectors: the snapshot is empty; refuse the snapshot instead');
  }
  if (matrix.length !== ids.length * dims) {
    throw new NeighbourIndexError(
      index,
      `matrix holds ${matrix.length} floats but ${ids.length} ids × ${dims} dims need ${ids.length * dims}; ` + 'pass one row-major row per id',
    );
  }
  const seen = new Map<string, number>();
  for (let r = 0; r < ids.length; r++) {
    const id = ids[r]!;
    const first = seen.get(id);
    if (first !== undefined) throw new NeighbourIndexError(index, `entity id '${id}' appears twice (rows ${first} and ${r}); ids must be unique`);
    seen.set(id, r);
  }
  for (let i = 0; i < matrix.length; i++) {
    if (!Number.isFinite(matrix[i])) {
      const r = Math.floor(i / dims);
      throw new NeighbourIndexError(index, `vector of entity '${ids[r]}' (row ${r}) has a non-finite value ${matrix[i]} at position ${i - r * dims}`);
    }
  }
}

/** Checks the arguments of `search`; throws a NeighbourIndexError naming the first problem. */
export function checkQuery(index: string, size: number, dims: number, query: Float32Array, k: number): void {
  if (!(query instanceof Float32Array)) {
    throw new NeighbourIndexError(index, `query must be a Float32Array, got ${Object.prototype.toString.call(query)}`);
  }
  if (query.length !== dims) {
    throw new NeighbourIndexError(
      index,
      `query has ${query.length} dims but the index holds ${dims}-dim vectors; the query comes from another snapshot's space?`,
    );
  }
  for (let j = 0; j < dims; j++) {
    if (!Number.isFinite(query[j])) throw new NeighbourIndexError(index, `query has a non-finite value ${query[j]} at position ${j}`);
  }
  if (!Number.isInteger(k) || k < 1 || k > size) {
    throw new NeighbourIndexError(index, `k must be an integer in 1..${size} (the index size), got ${k}; clamp it with Math.min(k, index.size)`);
  }
}

/** Checks a search effort (SearchOptions.efSearch, HnswIndex.efSearch); throws a ConfigError when it is not an integer ≥ 2. */
export function checkEfSearch(ef: number): void {
  if (!Number.isInteger(ef) || ef < 2) throw new ConfigError(`HNSW efSearch must be an integer ≥ 2, got ${ef}`);
}
