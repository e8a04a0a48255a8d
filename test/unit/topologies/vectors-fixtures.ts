import type { SnapshotControl, SnapshotManifest } from '../../../src/vectors/records';
import { EntityMatrixBuilder, type EntityMatrix } from '../../../src/vectors/snapshot/entity-matrix';
import { snapshotChecksum } from '../../../src/vectors/snapshot/checksum';

export { mulberry32 as rng } from '../../support/random';
import { mulberry32 as rng } from '../../support/random';

/** `n` unit vectors in `clusters` clusters, ids `e0`..; NaN at `nanAt` to make a broken snapshot. */
export function clusteredSnapshot(id: string, n: number, dims: number, seed: number, nanAt?: number): EntityMatrix {
  const r = rng(seed);
  const centres = Array.from({ length: 8 }, () => Array.from({ length: dims }, () => r() * 2 - 1));
  const b = new EntityMatrixBuilder({ snapshotId: id, dims, expectedCount: n });
  for (let i = 0; i < n; i++) {
    const c = centres[i % centres.length]!;
    const v = c.map((x) => x + (r() - 0.5) * 0.3);
    const len = Math.hypot(...v);
    const unit = v.map((x) => x / len);
    if (i === nanAt) unit[0] = Number.NaN;
    b.add(`e${i}`, 'TRACK', unit);
  }
  return b.build();
}

export function manifestOf(m: EntityMatrix, overrides: Partial<SnapshotManifest> = {}): SnapshotManifest {
  return { snapshotId: m.snapshotId, model: 'test', dims: m.dims, count: m.count, checksum: snapshotChecksum(m), createdAt: 1, params: {}, ...overrides };
}

export function controlRecord(partial: Partial<SnapshotControl> & Pick<SnapshotControl, 'kind'>): SnapshotControl {
  return {
    snapshotId: null,
    phase: null,
    manifest: null,
    topology: null,
    partition: null,
    partitions: null,
    instanceId: null,
    previousSnapshotId: null,
    reason: null,
    timestamp: 1,
    ...partial,
  };
}
