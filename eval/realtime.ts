/**
 * The product's realtime user vectors, computed by the user-vectors topology
 * itself in the in-process TopologyTestDriver: a snapshot of the stale batch
 * entity factors is staged and activated through the control topic, the
 * events are piped to the `listens` and `feedback` topics, and each user's
 * vector is read the way the query API reads it (the user's stored state,
 * `userVectorIn`).
 */
import { TopologyTestDriver } from '../src';
import { batchOnlyState, userVectorIn } from '../src/api/queries';
import type { LifetimeVariant } from '../src/vectors/models/lifetime';
import { control } from '../src/vectors/doorman/doorman-state';
import type { SnapshotManifest } from '../src/vectors/records';
import { InMemorySnapshotSource, SnapshotCatalog, type LoadedSnapshot } from '../src/vectors/snapshot-catalog';
import type { EntityMatrix } from '../src/vectors/snapshot/entity-matrix';
import { buildManifest } from '../src/vectors/snapshot/manifest';
import { SnapshotChecksum, snapshotChecksum } from '../src/vectors/snapshot/checksum';
import type { UserState } from '../src/vectors/user-state';
import { userVectors } from '../topologies/user-vectors';
import type { EvalEvent } from './data';
import type { Split } from './protocols';

/**
 * What a realtime user saw:
 * - `history`: every event, training ones included (they were streamed too,
 *   before the snapshot existed; the snapshot's user vectors are computed from
 *   the retained history when it is staged, as in production);
 * - `history-positive`: the same without negative events (skips, dislikes) and bans;
 * - `stream`: only the events after the snapshot's cut-off (a realtime system
 *   started at the cut-off).
 */
export type RealtimeFeed = 'history' | 'history-positive' | 'stream';
export const REALTIME_FEEDS: readonly RealtimeFeed[] = ['history', 'history-positive', 'stream'];

export interface RealtimeResult {
  /** The loaded snapshot (its exact index is what candidates are searched in). */
  space: LoadedSnapshot;
  /** Per feed, per evaluated user: the vector and the banned set in the user's state (absent: no state). */
  users: Map<RealtimeFeed, Map<string, { vector: Float32Array; banned: string[] }>>;
  /** Events piped. */
  events: number;
  ms: number;
}

const isNegative = (e: EvalEvent) => e.weight < 0 || e.ban || ('kind' in e.event && e.event.kind === 'UNBAN');

/**
 * Runs the user-vectors topology with `model` over the split, for the
 * evaluated users only, every feed at once (each feed's copy of a user has its
 * own key, `<feed>~<userId>`). Training events are piped before the snapshot
 * is staged, stream events after it is active.
 */
export async function runRealtime(
  model: 'decayed' | 'fold-in',
  matrix: EntityMatrix,
  params: { lambda: number; alpha: number; tauMs?: number },
  split: Split,
): Promise<RealtimeResult> {
  const started = performance.now();
  const catalog = new SnapshotCatalog(new InMemorySnapshotSource(new Map([[matrix.snapshotId, matrix]])), {
    index: 'exact',
    model,
    ...(params.tauMs ? { tauMs: params.tauMs } : {}),
  });
  // A replay: the wall clock stands just after the last event, and history of any age is accepted.
  const last = Math.max(...[split.training, split.stream, split.test].map((part) => part.at(-1)?.timestamp ?? 0));
  const driver = await TopologyTestDriver.create(userVectors({ catalog, eventTime: { maxAgeMs: Number.POSITIVE_INFINITY } }), { startTime: last + 1000 });
  const evaluated = new Set(split.users);
  let piped = 0;
  const pipe = async (feed: RealtimeFeed, e: EvalEvent) => {
    const userId = `${feed}~${e.userId}`;
    const event = { ...e.event, userId, eventId: `${feed}~${e.event.eventId}` };
    await driver.pipe('kind' in event ? 'feedback' : 'listens', userId, event);
    if (++piped % 2000 === 0) drain(driver);
  };
  try {
    for (const e of split.training) {
      if (!evaluated.has(e.userId)) continue;
      await pipe('history', e);
      if (!isNegative(e)) await pipe('history-positive', e);
    }
    const manifest = buildManifest({
      snapshotId: matrix.snapshotId,
      model: 'implicit-als',
      dims: matrix.dims,
      count: matrix.count,
      checksum: snapshotChecksum(matrix),
      createdAt: 0,
      params: { lambda: params.lambda, alpha: params.alpha },
    });
    await stageAndActivate(driver, manifest);
    for (const e of split.stream) {
      if (!evaluated.has(e.userId)) continue;
      await pipe('history', e);
      if (!isNegative(e)) await pipe('history-positive', e);
      await pipe('stream', e);
    }
    drain(driver);
    const space = catalog.get(matrix.snapshotId);
    if (!space) throw new Error(`snapshot '${matrix.snapshotId}' was not loaded by the topology: ${JSON.stringify(driver.readOutput('snapshot-control'))}`);
    const store = driver.store<string, UserState>('users');
    const users = new Map<RealtimeFeed, Map<string, { vector: Float32Array; banned: string[] }>>();
    for (const feed of REALTIME_FEEDS) {
      const byUser = new Map<string, { vector: Float32Array; banned: string[] }>();
      for (const u of split.users) {
        const state = await store.get(`${feed}~${u}`);
        if (state) byUser.set(u, { vector: userVectorIn(state, space), banned: [...state.banned] });
      }
      users.set(feed, byUser);
    }
    const dead = driver.readDeadLetters();
    if (dead.length > 0) throw new Error(`the topology dead-lettered ${dead.length} events, e.g. ${dead[0]!.headers['dlq.error.message']}`);
    return { space, users, events: piped, ms: performance.now() - started };
  } finally {
    await driver.close();
  }
}

/**
 * Lifetime + realtime vectors through the user-vectors topology: the
 * snapshot (stale batch entity factors) carries the stale batch user factors
 * as its user factors, exactly as `vectors publish --users` publishes them
 * (one partition here), and only the stream events are piped after it is
 * active: each user's x₀ already holds their training events (per user, the
 * cut-off is their own, so the manifest names none). Vectors are read as the
 * query API reads them, including users with no stream event (their x₀).
 */
export async function runLifetime(
  matrix: EntityMatrix,
  factors: (userId: string) => Float32Array | undefined,
  params: { alpha: number; priorWeight: number; variant: LifetimeVariant },
  split: Split,
  negatives: boolean,
): Promise<{ vectors: Map<string, Float32Array>; events: number }> {
  const rows: [string, Float32Array][] = [];
  const sum = new SnapshotChecksum();
  for (const u of split.users) {
    const x0 = factors(u);
    if (!x0) continue;
    rows.push([u, x0]);
    sum.update(u, x0);
  }
  const catalog = new SnapshotCatalog(new InMemorySnapshotSource(new Map([[matrix.snapshotId, matrix]]), new Map([[matrix.snapshotId, [rows]]])), {
    index: 'exact',
    foldIn: { alpha: params.alpha, maxEntities: 100 },
    lifetime: { priorWeight: params.priorWeight, variant: params.variant },
  });
  const last = Math.max(...[split.training, split.stream, split.test].map((part) => part.at(-1)?.timestamp ?? 0));
  const driver = await TopologyTestDriver.create(userVectors({ catalog, eventTime: { maxAgeMs: Number.POSITIVE_INFINITY } }), { startTime: last + 1000 });
  const evaluated = new Set(split.users);
  let piped = 0;
  try {
    const manifest = buildManifest({
      snapshotId: matrix.snapshotId,
      model: 'implicit-als',
      dims: matrix.dims,
      count: matrix.count,
      checksum: snapshotChecksum(matrix),
      createdAt: 0,
      users: { count: rows.length, partitions: 1, counts: [rows.length], checksums: [sum.digest()] },
    });
    await stageAndActivate(driver, manifest);
    for (const e of split.stream) {
      if (!evaluated.has(e.userId) || (!negatives && isNegative(e))) continue;
      await driver.pipe('kind' in e.event ? 'feedback' : 'listens', e.userId, e.event);
      if (++piped % 2000 === 0) drain(driver);
    }
    drain(driver);
    const space = catalog.get(matrix.snapshotId);
    if (!space?.lifetime)
      throw new Error(`snapshot '${matrix.snapshotId}' was not loaded with its user factors: ${JSON.stringify(driver.readOutput('snapshot-control'))}`);
    const store = driver.store<string, UserState>('users');
    const vectors = new Map<string, Float32Array>();
    for (const u of split.users) {
      const state = (await store.get(u)) ?? batchOnlyState(u, space);
      if (state) vectors.set(u, userVectorIn(state, space));
    }
    const dead = driver.readDeadLetters();
    if (dead.length > 0) throw new Error(`the topology dead-lettered ${dead.length} events, e.g. ${dead[0]!.headers['dlq.error.message']}`);
    return { vectors, events: piped };
  } finally {
    await driver.close();
  }
}

/** Writes the snapshot's STAGE and ACTIVATE records as the publisher and the doorman would. */
async function stageAndActivate(driver: TopologyTestDriver, manifest: SnapshotManifest): Promise<void> {
  await driver.pipe(
    'snapshot-control',
    `snapshot/${manifest.snapshotId}`,
    control({ kind: 'STAGE', snapshotId: manifest.snapshotId, phase: 'STAGED', manifest, timestamp: 0 }),
  );
  await driver.pipe('snapshot-control', 'active', control({ kind: 'ACTIVATE', snapshotId: manifest.snapshotId, timestamp: 0 }));
}

function drain(driver: TopologyTestDriver): void {
  driver.readOutput('user-vectors');
  driver.readOutput('candidate-requests');
}
