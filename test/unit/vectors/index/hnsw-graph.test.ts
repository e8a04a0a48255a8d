import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HierarchicalNSW } from 'hnswlib-node';
import { ErrorCodes, NeighbourIndexError } from '../../../../src/errors';
import { HnswGraph } from '../../../../src/vectors/index/hnsw-graph';
import { mulberry32 } from '../../../support/random';

const DIMS = 24;
const COUNT = 3000;

/** Unit vectors with gaussian components. */
function unitRows(count: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  const g = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const m = Float32Array.from({ length: count * DIMS }, g);
  for (let off = 0; off < m.length; off += DIMS) {
    let s = 0;
    for (let j = 0; j < DIMS; j++) s += m[off + j]! ** 2;
    for (let j = 0; j < DIMS; j++) m[off + j]! /= Math.sqrt(s);
  }
  return m;
}

describe('HnswGraph: the links of an hnswlib index, searched in JavaScript', () => {
  const matrix = unitRows(COUNT, 5);
  const queries = unitRows(50, 6);
  const query = (q: number) => queries.subarray(q * DIMS, (q + 1) * DIMS);
  const dir = mkdtempSync(join(tmpdir(), 'hnsw-graph-test-'));
  const file = join(dir, 'index.bin');
  const native = new HierarchicalNSW('ip', DIMS);
  native.initIndex(COUNT, 8, 100, 100);
  for (let r = 0; r < COUNT; r++) native.addPoint(Array.from(matrix.subarray(r * DIMS, (r + 1) * DIMS)), r);
  native.writeIndexSync(file);
  const graph = HnswGraph.readFile(file, COUNT);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds what hnswlib finds on the same graph, nearest first, with its distances', () => {
    native.setEf(40);
    let same = 0;
    for (let q = 0; q < 50; q++) {
      const mine = graph.search(matrix, DIMS, query(q), 10, 40);
      const theirs = native.searchKnn(Array.from(query(q)), 10);
      expect(mine.nodes).toHaveLength(10);
      for (let i = 1; i < 10; i++) expect(mine.distances[i]!).toBeGreaterThanOrEqual(mine.distances[i - 1]!);
      // Same walk over the same links; only float rounding (hnswlib sums in float32) may swap a near tie.
      const want = new Set(theirs.neighbors);
      for (const n of mine.nodes) if (want.has(n)) same++;
      const best = theirs.neighbors.indexOf(mine.nodes[0]!);
      expect(mine.distances[0]).toBeCloseTo(theirs.distances[best]!, 5);
    }
    expect(same / 500).toBeGreaterThanOrEqual(0.99);
  });

  it.each([
    ['every other node', (n: number) => n % 2 === 1],
    ['one node in ten', (n: number) => n % 10 === 0],
  ])('returns only nodes the filter allows (%s), still k of them, as hnswlib does', (_name, allowed) => {
    native.setEf(40);
    let same = 0;
    for (let q = 0; q < 50; q++) {
      const mine = graph.search(matrix, DIMS, query(q), 10, 40, allowed);
      expect(mine.nodes).toHaveLength(10);
      expect([...mine.nodes].every(allowed)).toBe(true);
      const want = new Set(native.searchKnn(Array.from(query(q)), 10, allowed).neighbors);
      for (const n of mine.nodes) if (want.has(n)) same++;
    }
    expect(same / 500).toBeGreaterThanOrEqual(0.99);
  });

  it('comes back short when too few nodes are allowed, and rethrows what the filter throws', () => {
    expect(graph.search(matrix, DIMS, query(0), 10, 40, (n) => n < 3).nodes.length).toBeLessThanOrEqual(3);
    expect(() =>
      graph.search(matrix, DIMS, query(0), 10, 40, () => {
        throw new Error('filter failed');
      }),
    ).toThrow('filter failed');
  });

  it('reads the same graph without blocking (readFileAsync), and refuses what readFile refuses', async () => {
    const again = await HnswGraph.readFileAsync(file, COUNT);
    for (let q = 0; q < 10; q++) expect(again.search(matrix, DIMS, query(q), 10, 40)).toEqual(graph.search(matrix, DIMS, query(q), 10, 40));
    await expect(HnswGraph.readFileAsync(file, 5)).rejects.toThrow(/is not an hnswlib index of 5 vectors/);
  });

  it('holds the links only: far less than hnswlib, which copies the vectors too', () => {
    // Bottom layer 2·M + 1 ints per node, upper layers ~1/(M − 1) of that, a start and a visited mark per node.
    expect(graph.bytes).toBeLessThan(COUNT * (4 * 17 + 4 * 9 + 8));
    expect(graph.bytes).toBeGreaterThan(COUNT * 4 * 17);
  });

  it('refuses a file of another size, a truncated file and nodes out of order, naming the file', () => {
    const expectRefused = (f: () => unknown, message: RegExp) => {
      expect(f).toThrow(NeighbourIndexError);
      expect(f).toThrow(message);
      try {
        f();
      } catch (e) {
        expect((e as NeighbourIndexError).code).toBe(ErrorCodes.INDEX_ARGUMENT_INVALID);
      }
    };
    expectRefused(() => HnswGraph.readFile(file, COUNT + 1), /is not an hnswlib index of 3001 vectors \(header: 3000 nodes/);
    const bytes = readFileSync(file);
    const truncated = join(dir, 'truncated.bin');
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 10));
    expectRefused(() => HnswGraph.readFile(truncated, COUNT), /truncated\.bin ends at byte/);
    // Cut inside the bottom layer too, not only in the upper layers at the end.
    writeFileSync(truncated, bytes.subarray(0, 96 + 100 * Number(bytes.readBigUInt64LE(24)) + 5));
    expectRefused(() => HnswGraph.readFile(truncated, COUNT), /truncated\.bin ends at byte \d+, inside its data/);
    // Node 1's label (the size_t at label offset of the second node) rewritten to 7.
    const swapped = Buffer.from(bytes);
    const bytesPerNode = Number(swapped.readBigUInt64LE(24));
    const labelOffset = Number(swapped.readBigUInt64LE(32));
    swapped.writeBigUInt64LE(7n, 96 + bytesPerNode + labelOffset);
    const relabelled = join(dir, 'relabelled.bin');
    writeFileSync(relabelled, swapped);
    expectRefused(() => HnswGraph.readFile(relabelled, COUNT), /node 1 has label 7/);
  });
});
