import type { Bolt, BoltContext, StreamRecord } from '../../src';
import { cosine, norm } from '../../src/vectors/math';
import type { Candidates } from '../../src/vectors/records';
import type { SnapshotCatalog } from '../../src/vectors/snapshot-catalog';
import type { UserUpdate } from './user-state-bolt';

export interface CandidatesOptions {
  catalog: SnapshotCatalog;
  /** List length. Default 100. */
  k?: number;
  /** Recompute when the vector's cosine to the last one used drops below 1 − minMove. Default 0.01. */
  minMove?: number;
  /** Recompute at least this often (event time), ms. Default 1 hour. */
  maxAgeMs?: number;
}

/** The last vector candidates were computed from, per user. */
export interface CandidateMark {
  snapshotId: string;
  vector: Float32Array;
  at: number;
}

/**
 * Top-K entities by similarity to the user vector from the active snapshot's
 * index, excluding banned and recently consumed entities; recomputed when the
 * vector moved enough, time passed, the snapshot changed or bans changed.
 */
export class CandidatesBolt implements Bolt {
  private readonly k: number;
  private readonly minMove: number;
  private readonly maxAgeMs: number;

  constructor(private readonly o: CandidatesOptions) {
    this.k = o.k ?? 100;
    this.minMove = o.minMove ?? 0.01;
    this.maxAgeMs = o.maxAgeMs ?? 3_600_000;
  }

  async process(record: StreamRecord, ctx: BoltContext): Promise<void> {
    const u = record.value as UserUpdate;
    if (norm(u.vector) === 0) return;
    const marks = ctx.store<string, CandidateMark>('marks');
    const mark = await marks.get(u.userId);
    const fresh = mark && mark.snapshotId === u.snapshotId && u.at - mark.at < this.maxAgeMs && cosine(mark.vector, u.vector) >= 1 - this.minMove;
    if (fresh && !u.force) return;
    const space = this.o.catalog.get(u.snapshotId);
    if (!space) return;
    const banned = new Set(u.banned);
    const recent = new Set(u.recent);
    const items = space.index.search(u.vector, Math.min(this.k, space.index.size), (id) => banned.has(id) || recent.has(id));
    const out: Candidates = {
      userId: u.userId,
      snapshotId: u.snapshotId,
      items: items.map((n) => ({ entityId: n.id, score: n.score })),
      generatedAt: u.at,
      userVectorVersion: u.version,
    };
    ctx.emit(u.userId, out);
    marks.put(u.userId, { snapshotId: u.snapshotId, vector: u.vector, at: u.at });
  }
}
