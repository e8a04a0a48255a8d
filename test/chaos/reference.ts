/**
 * The never-killed reference: the same good events through the same
 * user-vectors topology in the TopologyTestDriver (no Kafka, no faults, one
 * partition), once with S1 active from the start and once with S2, so that
 * every (user, version, snapshot) a real output can carry has its expected
 * value. Why this is exact, and not merely close, is in generator.ts: per
 * user the events arrive in the same order as in the real system, and a
 * snapshot's shadow state computed mid-stream from the history equals bit
 * for bit the incremental state the reference keeps from the start.
 */
import { TopologyTestDriver } from '../../src/runtime/testing/test-driver';
import { Topics } from '../../src/vectors/contracts';
import type { CandidateRequest, SnapshotControl, SnapshotManifest, UserVector } from '../../src/vectors/records';
import { InMemorySnapshotSource, type LoadedSnapshot, SnapshotCatalog } from '../../src/vectors/snapshot-catalog';
import type { EntityMatrix } from '../../src/vectors/snapshot/entity-matrix';
import { userVectors } from '../../topologies/user-vectors';
import type { GoodEvent } from './generator';

export interface RefVector {
  vector: Float32Array;
  eventCount: number;
  updatedAt: number;
}

export interface RefRequest {
  vector: Float32Array;
  banned: string[];
  recent: string[];
  at: number;
  force: boolean;
  consumed: Buffer;
}

export interface SnapshotRef {
  /** user → version → the user vector. */
  vectors: Map<string, Map<number, RefVector>>;
  /** user → version → the candidate request; kept only for the (user, version) pairs asked for. */
  requests: Map<string, Map<number, RefRequest>>;
  /** The snapshot as the reference loaded it (exact index), for candidate searches. */
  loaded: LoadedSnapshot;
  /** Good events the reference dead-lettered: must be none. */
  deadLetters: number;
}

const control = (partial: Partial<SnapshotControl> & Pick<SnapshotControl, 'kind'>): SnapshotControl => ({
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
});

/**
 * Runs the good events through user-vectors with `snapshot` active throughout.
 * `wantRequests(user, version)` says which candidate requests to keep.
 * `now` is the driver's wall clock, for the event-time window.
 */
export async function referenceIn(
  snapshot: { manifest: SnapshotManifest; matrix: EntityMatrix },
  events: readonly GoodEvent[],
  now: number,
  wantRequests: (user: string, version: number) => boolean,
): Promise<SnapshotRef> {
  const id = snapshot.manifest.snapshotId;
  // The same catalog options as the real processes (`--opt index=exact`, the default decayed model).
  const catalog = new SnapshotCatalog(new InMemorySnapshotSource(new Map([[id, snapshot.matrix]])), { index: 'exact' });
  const driver = await TopologyTestDriver.create(userVectors({ catalog }), { partitions: 1, startTime: now });
  const out: SnapshotRef = { vectors: new Map(), requests: new Map(), loaded: undefined as unknown as LoadedSnapshot, deadLetters: 0 };
  try {
    await driver.pipe(Topics.snapshotControl, `snapshot/${id}`, control({ kind: 'STAGE', snapshotId: id, phase: 'STAGED', manifest: snapshot.manifest }));
    await driver.pipe(Topics.snapshotControl, 'active', control({ kind: 'ACTIVATE', snapshotId: id }));
    out.loaded = catalog.get(id)!;
    const drain = () => {
      for (const r of driver.readOutput<string, UserVector>(Topics.userVectors)) {
        const m = out.vectors.get(r.key) ?? out.vectors.set(r.key, new Map()).get(r.key)!;
        m.set(r.value.version, { vector: r.value.vector, eventCount: r.value.eventCount, updatedAt: r.value.updatedAt });
      }
      for (const r of driver.readOutput<string, CandidateRequest>(Topics.candidateRequests)) {
        if (!wantRequests(r.key, r.value.version)) continue;
        const m = out.requests.get(r.key) ?? out.requests.set(r.key, new Map()).get(r.key)!;
        m.set(r.value.version, {
          vector: r.value.vector,
          banned: r.value.banned,
          recent: r.value.recent,
          at: r.value.at,
          force: r.value.force,
          consumed: r.value.consumed,
        });
      }
      driver.readRaw(Topics.snapshotControl);
      out.deadLetters += driver.readDeadLetters().length;
    };
    let n = 0;
    for (const e of events) {
      await driver.pipe(e.topic === 'listens' ? Topics.listens : Topics.feedback, e.key, e.value);
      if (++n % 2000 === 0) drain();
    }
    drain();
  } finally {
    await driver.close();
  }
  return out;
}
