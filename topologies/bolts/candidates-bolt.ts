import type { Bolt, BoltContext, Serde, StreamRecord } from '../../src';
import { refreshDecision, refreshPolicy, type CandidateMark, type RefreshPolicy } from '../../src/vectors/candidate-refresh';
import { CANDIDATES_EF_SEARCH, DEFAULT_EXCLUDE, type ExcludePolicy, searchCandidates } from '../../src/vectors/candidate-search';
import { consumedLookup, type ConsumedLookup } from '../../src/vectors/consumed';
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

/** A user's last whole consumed set (store `consumed`): the request version it came with, and its bytes as the request carried them. */
export interface WholeConsumed {
  version: number;
  hashes: Buffer;
}

/** 8 bytes of version (float64, little-endian), then the hashes. */
export const wholeConsumedSerde: Serde<WholeConsumed> = {
  serialize: (v) => {
    const out = Buffer.allocUnsafe(8 + v.hashes.length);
    out.writeDoubleLE(v.version, 0);
    v.hashes.copy(out, 8);
    return out;
  },
  deserialize: (b) => ({ version: b.readDoubleLE(0), hashes: b.subarray(8) }),
};

/**
 * A request's consumed bytes. A deferred request comes back from store
 * `marks` (typed JSON) with them as `{ type: 'Buffer', data: [...] }`: read
 * as is, that lost the consumed exclusion of every deferred list answered
 * after the mark had left the cache (a restart, a moved task, eviction).
 */
export function requestConsumed(r: Pick<CandidateRequest, 'consumed'>): Buffer {
  const c: unknown = r.consumed;
  if (Buffer.isBuffer(c)) return c;
  const data = (c as { data?: unknown } | null | undefined)?.data;
  return Array.isArray(data) ? Buffer.from(data as number[]) : Buffer.alloc(0);
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
    await this.keepWholeConsumed(r, ctx);
    // A request of a snapshot that is no longer active (a lagging topic after a switch) is not answered (I3).
    if (!this.snapshots.admits(r.snapshotId)) return;
    if (!this.o.catalog.get(r.snapshotId)) return;
    const marks = ctx.store<string, CandidateMark>('marks');
    const mark = await marks.get(r.userId);
    const decision = refreshDecision(r, mark, this.policy);
    if (decision === 'refresh') return this.answer(r, ctx);
    if (decision === 'too-soon' && mark) {
      // Keep the latest such request: without it a user whose last change came too soon would keep an outdated list.
      // A whole set that store `consumed` already holds is not copied into the mark.
      const request = (r.consumedEvery ?? 1) > 1 && r.consumed.length > 0 ? { ...r, consumed: Buffer.alloc(0) } : r;
      marks.put(r.userId, { ...mark, pending: { request, since: mark.pending?.since ?? ctx.now() } });
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
      if (this.snapshots.admits(r.snapshotId) && this.o.catalog.get(r.snapshotId)) await this.answer(r, ctx);
      else marks.put(userId, { snapshotId: mark.snapshotId, vector: mark.vector, version: mark.version, at: mark.at });
    }
  }

  /**
   * From a writer that sends the whole consumed set in every N-th request
   * only, keeps the newest such set per user (a redelivered older one does
   * not replace it), whatever the request's snapshot: the set is not tied to one.
   */
  private async keepWholeConsumed(r: CandidateRequest, ctx: BoltContext): Promise<void> {
    if ((r.consumedEvery ?? 1) <= 1 || r.consumed.length === 0 || (this.o.exclude ?? DEFAULT_EXCLUDE) !== 'consumed') return;
    const store = ctx.store<string, WholeConsumed>('consumed');
    const kept = await store.get(r.userId);
    if (!kept || kept.version < r.version) store.put(r.userId, { version: r.version, hashes: r.consumed });
  }

  /** The consumed entities to leave out of `r`'s list: its own whole set, else the last one kept (with `recent`, which covers what came since). */
  private async consumedFor(r: CandidateRequest, ctx: BoltContext): Promise<ConsumedLookup | undefined> {
    if ((this.o.exclude ?? DEFAULT_EXCLUDE) !== 'consumed') return undefined;
    const own = requestConsumed(r);
    if (own.length > 0) return consumedLookup(own);
    if ((r.consumedEvery ?? 1) <= 1) return undefined;
    const kept = await ctx.store<string, WholeConsumed>('consumed').get(r.userId);
    return kept && kept.hashes.length > 0 ? consumedLookup(kept.hashes) : undefined;
  }

  /** Computes and emits the list for `r`, and makes it the user's mark (no longer pending). */
  private async answer(r: CandidateRequest, ctx: BoltContext): Promise<void> {
    const space = this.o.catalog.get(r.snapshotId)!;
    const exclude = this.o.exclude ?? DEFAULT_EXCLUDE;
    const consumed = await this.consumedFor(r, ctx);
    const items = searchCandidates(space.index, r.vector, this.k, r.banned, exclude === 'none' ? [] : r.recent, this.efSearch, consumed);
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
