import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { NeighbourIndexError } from '../../errors';
import { dotRow } from '../math';
import type { DotKernel } from './simd';

/**
 * The links of an HNSW graph built by hnswlib, without its copy of the
 * vectors: searched against the snapshot's own matrix, with a SIMD kernel
 * when the matrix lives in WebAssembly memory (`simd.ts`), else in JavaScript.
 *
 * hnswlib keeps every vector inside its graph (4·dims bytes per entity, beside
 * 4·(2M + 1) bytes of bottom-layer links), so a snapshot held the same vectors
 * twice: in its matrix and in the graph, 51 MB each at 100,000 × 128. Reading
 * only the links out of hnswlib's index file halves a snapshot's memory, and
 * the search (the same algorithm as hnswlib's `searchKnn`) reads the vectors
 * from the matrix the rest of the process uses anyway.
 */
export class HnswGraph {
  private constructor(
    /** Number of nodes; node `i` is row `i` of the matrix (hnswlib's label). */
    readonly size: number,
    /** Node the search enters at, on the top layer. */
    readonly entry: number,
    /** Top layer (0: the graph has the bottom layer only). */
    readonly maxLevel: number,
    /** Link slots per node on the bottom layer (2·M) and on the upper layers (M). */
    private readonly maxM0: number,
    private readonly maxM: number,
    /** Bottom layer: per node, its link count then `maxM0` slots. */
    private readonly level0: Int32Array,
    /** Per node, where its upper-layer lists start in `upper` (−1: none); layer `l` ≥ 1 at `start + (l − 1)·(maxM + 1)`. */
    private readonly upperStart: Int32Array,
    /** Upper layers: per node and layer, its link count then `maxM` slots. */
    private readonly upper: Int32Array,
  ) {}

  /** Bytes the graph holds: its link arrays and the search's visited marks. */
  get bytes(): number {
    return this.level0.byteLength + this.upperStart.byteLength + this.upper.byteLength + 4 * this.size;
  }

  /**
   * Reads the links out of an index file written by hnswlib's `saveIndex`
   * (hnswlib-node's `writeIndex`), keeping neither the vectors nor the labels.
   * Reads the whole file at once and blocks the calling thread: for small
   * graphs; {@link readFileAsync} reads large ones in chunks.
   *
   * @throws NeighbourIndexError when the file is not such an index of
   *   `expectedSize` nodes, or its labels are not the rows 0..size − 1 in order
   *   (how HnswIndex adds them).
   */
  static readFile(path: string, expectedSize: number): HnswGraph {
    const data = readFileSync(path);
    const parser = HnswGraph.parse(path, expectedSize);
    let pos = 0;
    let step = parser.next();
    while (!step.done) {
      const end = step.value === REST ? data.length : Math.min(data.length, pos + step.value);
      step = parser.next(data.subarray(pos, end));
      pos = end;
    }
    return step.value;
  }

  /** {@link readFile} without blocking: the event loop runs between its reads of 4 MiB. Same result, same errors. */
  static async readFileAsync(path: string, expectedSize: number): Promise<HnswGraph> {
    const file = await open(path, 'r');
    try {
      const size = (await file.stat()).size;
      const parser = HnswGraph.parse(path, expectedSize);
      let pos = 0;
      let step = parser.next();
      while (!step.done) {
        const buf = Buffer.alloc(step.value === REST ? Math.max(0, size - pos) : step.value);
        let got = 0;
        while (got < buf.length) {
          const { bytesRead } = await file.read(buf, got, buf.length - got, pos + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        pos += got;
        step = parser.next(got === buf.length ? buf : buf.subarray(0, got));
      }
      return step.value;
    } finally {
      await file.close();
    }
  }

  /**
   * Parses an hnswlib index file as it is read: yields how many bytes it needs
   * next (REST: the rest of the file) and is resumed with them (fewer at the
   * end of the file), so one parser serves the blocking and the asynchronous
   * reader alike.
   */
  private static *parse(path: string, expectedSize: number): Generator<number, HnswGraph, Buffer> {
    let pos = 0;
    const truncated = (at: number) => new NeighbourIndexError('HNSW index', `index file ${path} ends at byte ${at}, inside its data; rebuild it`);
    function* take(length: number): Generator<number, Buffer, Buffer> {
      const buf = yield length;
      if (buf.length < length) throw truncated(pos + buf.length);
      pos += length;
      return buf;
    }
    // hnswlib's header: size_t fields (8 bytes, little-endian on every platform Node runs on), an int, a uint32, a double.
    const h = yield* take(HEADER_BYTES);
    const sizeT = (offset: number) => Number(h.readBigUInt64LE(offset));
    const offsetLevel0 = sizeT(0);
    const count = sizeT(16);
    const bytesPerNode = sizeT(24);
    const labelOffset = sizeT(32);
    const maxLevel = h.readInt32LE(48);
    const entry = h.readUInt32LE(52);
    const maxM = sizeT(56);
    const maxM0 = sizeT(64);
    if (count !== expectedSize || offsetLevel0 !== 0 || bytesPerNode < 4 * (maxM0 + 1) + 8 || labelOffset + 8 > bytesPerNode || entry >= count) {
      throw new NeighbourIndexError(
        'HNSW index',
        `index file ${path} is not an hnswlib index of ${expectedSize} vectors (header: ${count} nodes, ${bytesPerNode} bytes each, entry ${entry}); rebuild it`,
      );
    }

    // Bottom layer: per node its links, its vector and its label; whole nodes per chunk, so none straddles two reads.
    const stride0 = maxM0 + 1;
    const level0 = new Int32Array(count * stride0);
    const perChunk = Math.max(1, Math.floor(CHUNK_BYTES / bytesPerNode));
    for (let first = 0; first < count; first += perChunk) {
      const nodes = Math.min(perChunk, count - first);
      const chunk = yield* take(nodes * bytesPerNode);
      for (let i = 0; i < nodes; i++) {
        const base = i * bytesPerNode;
        const node = first + i;
        const label = Number(chunk.readBigUInt64LE(base + labelOffset));
        if (label !== node) throw new NeighbourIndexError('HNSW index', `index file ${path}: node ${node} has label ${label}; HnswIndex adds row r as node r`);
        const links = chunk.readUInt16LE(base);
        if (links > maxM0) throw new NeighbourIndexError('HNSW index', `index file ${path}: node ${node} has ${links} links, over the ${maxM0} allowed`);
        const out = node * stride0;
        level0[out] = links;
        for (let j = 1; j <= links; j++) level0[out + j] = chunk.readInt32LE(base + 4 * j);
      }
    }

    // Upper layers (small: ~1/M of the nodes have any): per node a uint32 byte length, then its lists of layers 1..level.
    const rest = yield REST;
    const strideUp = maxM + 1;
    const upperStart = new Int32Array(count).fill(-1);
    let upperLength = 0;
    for (let node = 0, at = 0; node < count; node++) {
      if (at + 4 > rest.length) throw truncated(pos + rest.length);
      const bytes = rest.readUInt32LE(at);
      at += 4;
      if (bytes % (4 * strideUp) !== 0) throw new NeighbourIndexError('HNSW index', `index file ${path}: node ${node}'s upper links take ${bytes} bytes`);
      if (at + bytes > rest.length) throw truncated(pos + rest.length);
      if (bytes > 0) upperStart[node] = upperLength;
      upperLength += bytes / 4;
      at += bytes;
    }
    const upper = new Int32Array(upperLength);
    for (let node = 0, at = 0, out = 0; node < count; node++) {
      const bytes = rest.readUInt32LE(at);
      at += 4;
      for (let j = 0; j < bytes / 4; j++, out++) upper[out] = rest.readInt32LE(at + 4 * j);
      at += bytes;
    }
    // Only the low 16 bits of each list's first int are its count (hnswlib's getListCount).
    for (let l = 0; l < upperLength; l += strideUp) upper[l] = upper[l]! & 0xffff;
    return new HnswGraph(count, entry, maxLevel, maxM0, maxM, level0, upperStart, upper);
  }

  /**
   * The `k` nodes nearest `query` by inner-product distance (1 − ⟨q, v⟩),
   * nearest first, as hnswlib's `searchKnn` finds them: greedy descent through
   * the upper layers, then a best-first search of the bottom layer keeping
   * max(ef, k) candidates. Nodes for which `allowed` returns false are walked
   * through but never returned. May return fewer than `k` when too few allowed
   * nodes are reached. With `kernel` (`kernelFor(matrix, dims)`) distances are
   * computed in float32 with SIMD, else in double in JavaScript.
   */
  search(
    matrix: Float32Array,
    dims: number,
    query: Float32Array,
    k: number,
    ef: number,
    allowed?: (node: number) => boolean,
    kernel?: DotKernel,
  ): { nodes: Int32Array; distances: Float64Array } {
    kernel?.setQuery(query);
    // The distance to the row starting at float `off`.
    const distance = kernel !== undefined ? kernel.distance : (off: number) => 1 - dotRow(query, matrix, off, dims);
    let current = this.entry;
    let currentDist = distance(current * dims);
    const strideUp = this.maxM + 1;
    for (let level = this.maxLevel; level > 0; level--) {
      let changed = true;
      while (changed) {
        changed = false;
        const start = this.upperStart[current]! + (level - 1) * strideUp;
        const links = this.upper[start]!;
        for (let j = 1; j <= links; j++) {
          const cand = this.upper[start + j]!;
          const d = distance(cand * dims);
          if (d < currentDist) {
            currentDist = d;
            current = cand;
            changed = true;
          }
        }
      }
    }
    const top = this.searchBottom(distance, dims, current, Math.max(ef, k), allowed);
    while (top.length > k) top.pop();
    const n = top.length;
    const nodes = new Int32Array(n);
    const distances = new Float64Array(n);
    for (let i = n - 1; i >= 0; i--) {
      nodes[i] = top.topNode;
      distances[i] = top.topDist;
      top.pop();
    }
    return { nodes, distances };
  }

  private visited: Uint32Array | undefined;
  private visitTag = 0;

  /** hnswlib's searchBaseLayerST: the `ef` nearest allowed nodes reached from `start`, in a max-heap (farthest on top). */
  private searchBottom(distance: (off: number) => number, dims: number, start: number, ef: number, allowed?: (node: number) => boolean): MaxHeap {
    // One mark array per graph, with a new tag per search instead of clearing it (a search is synchronous).
    if (this.visited === undefined || this.visitTag === 0xffffffff) {
      this.visited = new Uint32Array(this.size);
      this.visitTag = 0;
    }
    const visited = this.visited;
    const tag = ++this.visitTag;
    const top = new MaxHeap(ef + 1);
    const frontier = new MaxHeap(ef + 1); // holds −distance: nearest on top

    let lowerBound: number;
    if (allowed === undefined || allowed(start)) {
      const d = distance(start * dims);
      lowerBound = d;
      top.push(d, start);
      frontier.push(-d, start);
    } else {
      lowerBound = Infinity;
      frontier.push(-Infinity, start);
    }
    visited[start] = tag;

    const level0 = this.level0;
    const stride0 = this.maxM0 + 1;
    while (frontier.length > 0) {
      const candDist = -frontier.topDist;
      if (candDist > lowerBound && (allowed === undefined || top.length === ef)) break;
      const node = frontier.topNode;
      frontier.pop();
      const base = node * stride0;
      const links = level0[base]!;
      for (let j = 1; j <= links; j++) {
        const cand = level0[base + j]!;
        if (visited[cand] === tag) continue;
        visited[cand] = tag;
        const d = distance(cand * dims);
        if (top.length < ef || lowerBound > d) {
          frontier.push(-d, cand);
          if (allowed === undefined || allowed(cand)) top.push(d, cand);
          while (top.length > ef) top.pop();
          if (top.length > 0) lowerBound = top.topDist;
        }
      }
    }
    return top;
  }
}

/** A parser's request for "the rest of the file". */
const REST = -1;

/** hnswlib's header of an index file: six size_t, an int, a uint32, three size_t, a double, a size_t. */
const HEADER_BYTES = 96;
const CHUNK_BYTES = 4 * 2 ** 20;

/** Max-heap of (distance, node) on typed arrays; among equal distances the higher node is on top, as hnswlib's pair ordering. */
class MaxHeap {
  private dist: Float64Array;
  private node: Int32Array;
  length = 0;

  constructor(capacity: number) {
    this.dist = new Float64Array(capacity);
    this.node = new Int32Array(capacity);
  }

  get topDist(): number {
    return this.dist[0]!;
  }

  get topNode(): number {
    return this.node[0]!;
  }

  private above(d1: number, n1: number, d2: number, n2: number): boolean {
    return d1 > d2 || (d1 === d2 && n1 > n2);
  }

  push(d: number, n: number): void {
    if (this.length === this.dist.length) {
      const dist = new Float64Array(this.length * 2);
      const node = new Int32Array(this.length * 2);
      dist.set(this.dist);
      node.set(this.node);
      this.dist = dist;
      this.node = node;
    }
    let i = this.length++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.above(d, n, this.dist[parent]!, this.node[parent]!)) break;
      this.dist[i] = this.dist[parent]!;
      this.node[i] = this.node[parent]!;
      i = parent;
    }
    this.dist[i] = d;
    this.node[i] = n;
  }

  pop(): void {
    const last = --this.length;
    if (last === 0) return;
    const d = this.dist[last]!;
    const n = this.node[last]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= last) break;
      const r = l + 1;
      const c = r < last && this.above(this.dist[r]!, this.node[r]!, this.dist[l]!, this.node[l]!) ? r : l;
      if (!this.above(this.dist[c]!, this.node[c]!, d, n)) break;
      this.dist[i] = this.dist[c]!;
      this.node[i] = this.node[c]!;
      i = c;
    }
    this.dist[i] = d;
    this.node[i] = n;
  }
}
