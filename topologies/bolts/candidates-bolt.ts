import type { Bolt, BoltContext, StreamRecord } from '../../src';
import { refreshDecision, refreshPolicy, type CandidateMark, type RefreshPolicy } from '../../src/vectors/candidate-refresh';
import { CANDIDATES_EF_SEARCH, DEFAULT_EXCLUDE, type ExcludePolicy, searchCandidates } from '../../src/vectors/candidate-search';
import { consumedLookup } from '../../src/vectors/consumed';
import type { CandidateRequest, Candidates, SnapshotControl } from '../../src/vectors/records';
import type { SnapshotCatalog } from '../../src/vectors/snapshot-catalog';
import { SnapshotFollower } from './snapshot-follower';

export interface CandidatesOptions {
  catalog: SnapshotCatalog;
  /** List length. Default 100. */
  k?: number;
  /** What lists leave out besides banned entities. Default DEFAULT_EXCLUDE ('consumed'). */
  exclude?: ExcludePolicy;
  /** Search effort of the HNSW index for these searches (see HnswOptions.efSearch), before widening by the excluded entities. Default CANDIDATES_EF_SEARCH. */
  efSearch?: number;
  /** When a list is recomputed; defaults in DEFAULT_REFRESH_POLICY. */
  refresh?: Partial<RefreshPolicy>;
}

/**
 * Answers candidate requests (user-vector changes) with the top-K entities by
 * similarity to the user vector, from the requested snapshot's index,
 * excluding banned and recently consumed entities, when the refresh policy
 * says the user's last list is due (store `marks` holds it). Follows the
 * doorman's log as a participating topology: a snapshot is READY here once
 * its index is built. Emits Candidates on the default stream, reports on
 * stream `control`.
 */
export class CandidatesBolt implements Bolt {
  private readonly k: number;
  private readonly policy: RefreshPolicy;
  private readonly snapshots: SnapshotFollower;
  private readonly efSearch: number;

  constructor(private readonly o: CandidatesOptions) {
    this.k = o.k ?? 100;
    this.efSearch = o.efSearch ?? CANDIDATES_EF_SEARCH;
    this.policy = refreshPolicy(o.refresh);
    this.snapshots = new SnapshotFollower({ catalog: o.catalog });
  }

  /** Users with a deferred request (mark.pending), answered by the punctuator once due. */
  private readonly pending = new Set<string>();

  async init(ctx: BoltContext): Promise<void> {
    // Deferred requests survive restarts and task moves in the marks store.
    for await (const [userId, mark] of ctx.store<string, CandidateMark>('marks').range()) if (mark.pending) this.pending.add(userId);
    const every = Math.min(1000, Math.max(100, this.policy.minIntervalMs / 4));
    ctx.schedule(every, 'wall-clock', (now) => this.answerDeferred(now, ctx));
  }

  async process(record: StreamRecord, ctx: BoltContext): Promise<void> {
    if (record.source.component === 'control') return this.snapshots.apply(record.key as string, record.value as SnapshotControl | null, ctx);
    const r = record.value as CandidateRequest;
    // A request of a snapshot that is no longer active (a lagging topic after a switch) is not answered (I3).
    if (!this.snapshots.admits(r.snapshotId)) return;
    if (!this.o.catalog.get(r.snapshotId)) return;
    const marks = ctx.store<string, CandidateMark>('marks');
    const mark = await marks.get(r.userId);
    const decision = refreshDecision(r, mark, this.policy);
    if (decision === 'refresh') return this.answer(r, ctx);
    if (decision === 'too-soon' && mark) {
      // Keep the latest such request: without it a user whose last change came too soon would keep an outdated list.
      marks.put(r.userId, { ...mark, pending: { request: r, since: mark.pending?.since ?? ctx.now() } });
      this.pending.add(r.userId);
    }
  }

  /** Answers the deferred requests that waited minIntervalMs (wall clock) and are still in an admitted snapshot. */
  private async answerDeferred(now: number, ctx: BoltContext): Promise<void> {
    const marks = ctx.store<string, CandidateMark>('marks');
    for (const userId of this.pending) {
      const mark = await marks.get(userId);
      if (!mark?.pending) {
        this.pending.delete(userId);
        continue;
      }
      if (now - mark.pending.since < this.policy.minIntervalMs) continue;
      this.pending.delete(userId);
      const r = mark.pending.request;
      if (this.snapshots.admits(r.snapshotId) && this.o.catalog.get(r.snapshotId)) this.answer(r, ctx);
      else marks.put(userId, { snapshotId: mark.snapshotId, vector: mark.vector, version: mark.version, at: mark.at });
    }
  }

  /** Computes and emits the list for `r`, and makes it the user's mark (no longer pending). */
  private answer(r: CandidateRequest, ctx: BoltContext): void {
    const space = this.o.catalog.get(r.snapshotId)!;
    const exclude = this.o.exclude ?? DEFAULT_EXCLUDE;
    const items = searchCandidates(
      space.index,
      r.vector,
      this.k,
      r.banned,
      exclude === 'none' ? [] : r.recent,
      this.efSearch,
      exclude === 'consumed' && r.consumed.length > 0 ? consumedLookup(r.consumed) : undefined,
    );
    const out: Candidates = {
      userId: r.userId,
      snapshotId: r.snapshotId,
      items: items.map((n) => ({ entityId: n.id, score: n.score })),
      generatedAt: r.at,
      userVectorVersion: r.version,
    };
    ctx.emit(r.userId, out);
    ctx.store<string, CandidateMark>('marks').put(r.userId, { snapshotId: r.snapshotId, vector: r.vector, version: r.version, at: r.at });
    this.pending.delete(r.userId);
  }
}
