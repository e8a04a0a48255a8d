import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SnapshotManifest } from '../../../../src/vectors/records';
import { ENTITY_TYPES, type SnapshotEntity } from '../../../../src/vectors/snapshot/entity-matrix';
import { readBinarySnapshot, writeBinarySnapshot } from '../../../../src/vectors/snapshot/formats';
import { buildManifest } from '../../../../src/vectors/snapshot/manifest';
import { exposeGc } from '../../../support/gc';
import { tempDir } from './fixtures';

/**
 * Memory after a full GC, once freed ArrayBuffers are really released: V8
 * sweeps their backing stores after the GC, on another thread.
 */
async function settledMemory(gc: () => void): Promise<NodeJS.MemoryUsage> {
  let last = process.memoryUsage();
  for (let i = 0; i < 20; i++) {
    gc();
    await sleep(10);
    const now = process.memoryUsage();
    if (i > 0 && now.arrayBuffers > last.arrayBuffers - (1 << 20)) return now;
    last = now;
  }
  return last;
}

const N = 200_000;
const DIMS = 128;
const SNAPSHOT = 'load-200k';
const dir = tempDir();
afterAll(() => dir.cleanup());

const idOf = (i: number) => `spotify:track:${i.toString(36).padStart(10, '0')}`;

/** Writes N random rows with the binary writer; returns the manifest and a copy of row 0. */
async function writeSnapshot(base: string): Promise<{ manifest: SnapshotManifest; row0: Float32Array }> {
  const bits = randomFillSync(new Int32Array(N * DIMS));
  const floats = new Float32Array(N * DIMS);
  for (let i = 0; i < floats.length; i++) floats[i] = bits[i]! / 2147483648;
  function* entities(): Generator<SnapshotEntity> {
    for (let r = 0; r < N; r++) {
      yield { entityId: idOf(r), entityType: ENTITY_TYPES[r % ENTITY_TYPES.length]!, vector: floats.subarray(r * DIMS, (r + 1) * DIMS) };
    }
  }
  const written = await writeBinarySnapshot(base, entities(), { snapshotId: SNAPSHOT });
  const manifest = buildManifest({ snapshotId: SNAPSHOT, model: 'als', dims: DIMS, count: N, checksum: written.checksum });
  return { manifest, row0: floats.slice(0, DIMS) };
}

describe(`loading a ${N} × ${DIMS} binary snapshot`, () => {
  it('keeps the floats in one typed array: heap growth stays far below what number[] rows need', async () => {
    const gc = exposeGc();
    const matrixBytes = N * DIMS * 4;
    const base = dir.path('big');
    const { manifest, row0 } = await writeSnapshot(base);

    const before = await settledMemory(gc);
    let peakHeap = before.heapUsed;
    const sampler = setInterval(() => {
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    }, 2);
    const started = performance.now();
    const loaded = await readBinarySnapshot(base, { manifest });
    const loadMs = performance.now() - started;
    clearInterval(sampler);
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    const after = await settledMemory(gc);

    const { matrix } = loaded;
    expect(matrix.count).toBe(N);
    expect(matrix.byteLength).toBe(matrixBytes);
    expect(loaded.checksum).toBe(manifest.checksum);
    expect(Array.from(matrix.vectorOf(idOf(0))!)).toEqual(Array.from(row0));

    const peakHeapGrowth = peakHeap - before.heapUsed;
    const retainedHeap = after.heapUsed - before.heapUsed;
    const typedArrayGrowth = after.arrayBuffers - before.arrayBuffers;
    if (process.env.SNAPSHOT_LOAD_REPORT) {
      const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
      console.log(
        `load ${N}×${DIMS}: ${loadMs.toFixed(0)} ms; matrix ${mb(matrixBytes)}; typed arrays +${mb(typedArrayGrowth)}; ` +
          `heap peak +${mb(peakHeapGrowth)}, retained +${mb(retainedHeap)}`,
      );
    }
    // number[] rows would hold 8 bytes per value on the heap, 2 × matrixBytes.
    expect(peakHeapGrowth).toBeLessThan(1.5 * matrixBytes);
    // What stays on the heap is ids and their index, not the floats; the floats are one typed array.
    expect(retainedHeap).toBeLessThan(0.25 * matrixBytes);
    // The floats are one Float32Array, in a WebAssembly memory (src/vectors/index/simd.ts), which Node's arrayBuffers does not count.
    expect(matrix.data).toBeInstanceOf(Float32Array);
    expect(matrix.data.length).toBe(N * DIMS);
    expect(typedArrayGrowth).toBeLessThan(0.1 * matrixBytes);
    // Generous: about 1 s in plain node, 2 s under jest; a per-value allocation would show as many times that.
    expect(loadMs).toBeLessThan(15_000);

    // Control: the same vectors as number[] rows do exceed the bound, so the check above can fail.
    const asArrays: number[][] = [];
    for (let r = 0; r < N; r++) asArrays.push(Array.from(matrix.row(r)));
    expect(process.memoryUsage().heapUsed - after.heapUsed).toBeGreaterThan(1.5 * matrixBytes);
    expect(asArrays.length).toBe(N);
  }, 60_000);
});
