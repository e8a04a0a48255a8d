import { dotRow } from '../math';
import {
  checkEfSearch,
  checkQuery,
  checkVectorSet,
  type ExcludeFn,
  type Neighbour,
  type NeighbourIndex,
  type SearchOptions,
  type VectorSet,
} from './ann-index';

/**
 * Exact top-k search: one pass over the matrix per query, O(size × dims).
 * The reference the approximate index is measured against, and the fallback
 * when it cannot answer. Holds references to the caller's `ids` and `matrix`
 * (no copy, no extra memory beyond O(k) per search).
 *
 * @throws NeighbourIndexError from the constructor on an empty set, a matrix
 *   whose length is not `ids.length × dims`, a duplicate id or a non-finite value.
 */
export class BruteForceIndex implements NeighbourIndex {
  readonly size: number;
  readonly dims: number;
  private readonly ids: readonly string[];
  private readonly matrix: Float32Array;

  constructor(vectors: VectorSet) {
    checkVectorSet('brute-force index', vectors);
    this.ids = vectors.ids;
    this.matrix = vectors.matrix;
    this.dims = vectors.dims;
    this.size = vectors.ids.length;
  }

  /** Exact: `options.efSearch` is checked (the contract is the same for every index) but changes nothing. */
  search(query: Float32Array, k: number, exclude?: ExcludeFn, options?: SearchOptions): Neighbour[] {
    checkQuery('brute-force index', this.size, this.dims, query, k);
    if (options?.efSearch !== undefined) checkEfSearch(options.efSearch);
    return exactTopK(this.ids, this.matrix, this.dims, query, k, exclude);
  }
}

/**
 * Exact top-k by inner product over row-major `matrix`, best first, ties to
 * the lower row. Arguments are not checked. `exclude` is asked only about rows
 * that would enter the current top-k, so a cheap scan stays cheap.
 */
export function exactTopK(ids: readonly string[], matrix: Float32Array, dims: number, query: Float32Array, k: number, exclude?: ExcludeFn): Neighbour[] {
  const n = ids.length;
  const heap = new TopK(Math.min(k, n));
  for (let r = 0, off = 0; r < n; r++, off += dims) {
    const score = dotRow(query, matrix, off, dims);
    // Rows come in ascending order, so an equal score loses to the row already held.
    if (heap.full && !(score > heap.worstScore)) continue;
    if (exclude !== undefined && exclude(ids[r]!)) continue;
    heap.offer(score, r);
  }
  const out: Neighbour[] = new Array(heap.length);
  for (let i = heap.length - 1; i >= 0; i--) {
    const row = heap.worstRow;
    out[i] = { id: ids[row]!, score: heap.worstScore };
    heap.pop();
  }
  return out;
}

/**
 * Bounded min-heap of (score, row) keeping the `capacity` best; its root is
 * the worst kept: lowest score, and among equal scores the highest row.
 */
class TopK {
  private readonly scores: Float64Array;
  private readonly rows: Int32Array;
  length = 0;

  constructor(private readonly capacity: number) {
    this.scores = new Float64Array(capacity);
    this.rows = new Int32Array(capacity);
  }

  get full(): boolean {
    return this.length === this.capacity;
  }

  get worstScore(): number {
    return this.scores[0]!;
  }

  get worstRow(): number {
    return this.rows[0]!;
  }

  /** Adds (score, row), evicting the worst when full. The caller has checked it beats the worst. */
  offer(score: number, row: number): void {
    if (this.length < this.capacity) {
      let i = this.length++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!this.worse(score, row, parent)) break;
        this.scores[i] = this.scores[parent]!;
        this.rows[i] = this.rows[parent]!;
        i = parent;
      }
      this.scores[i] = score;
      this.rows[i] = row;
    } else {
      this.siftDown(score, row);
    }
  }

  pop(): void {
    const last = --this.length;
    if (last > 0) this.siftDown(this.scores[last]!, this.rows[last]!);
  }

  /** Places (score, row) at the root and sinks it to its place among the first `length` entries. */
  private siftDown(score: number, row: number): void {
    const n = this.length;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.worseAt(child + 1, child)) child++;
      if (!this.worseThan(child, score, row)) break;
      this.scores[i] = this.scores[child]!;
      this.rows[i] = this.rows[child]!;
      i = child;
    }
    this.scores[i] = score;
    this.rows[i] = row;
  }

  /** (score, row) is worse than the entry at slot `at`. */
  private worse(score: number, row: number, at: number): boolean {
    const s = this.scores[at]!;
    return score < s || (score === s && row > this.rows[at]!);
  }

  /** The entry at slot `at` is worse than (score, row). */
  private worseThan(at: number, score: number, row: number): boolean {
    const s = this.scores[at]!;
    return s < score || (s === score && this.rows[at]! > row);
  }

  private worseAt(a: number, b: number): boolean {
    return this.worseThan(a, this.scores[b]!, this.rows[b]!);
  }
}
