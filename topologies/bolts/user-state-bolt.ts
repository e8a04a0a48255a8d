import type { Bolt, BoltContext, StreamRecord } from '../../src';
import { checkEventTime, type EventTimeWindow } from '../../src/vectors/event-time';
import type { CandidateRequest, FeedbackEvent, ListenEvent, SnapshotControl, UserVector } from '../../src/vectors/records';
import type { SignalWeights } from '../../src/vectors/signals';
import type { LoadedSnapshot, SnapshotCatalog } from '../../src/vectors/snapshot-catalog';
import { encodeConsumed, mergedConsumed } from '../../src/vectors/consumed';
import { applyEvent, consumedOf, ensureSpace, newUserState, pruneSpaces, type UserState } from '../../src/vectors/user-state';
import { SnapshotFollower } from './snapshot-follower';

export interface UserStateOptions {
  catalog: SnapshotCatalog;
  /** Event times accepted around the wall clock (`ctx.now()`); others make `process` throw EventTimeError. */
  eventTime: EventTimeWindow;
  weights?: SignalWeights;
  historyCapacity?: number;
  /** Bound of each user's consumed set (entities). Default DEFAULT_CONSUMED_CAPACITY. */
  consumedCapacity?: number;
  /** Whole consumed set in every request (1, default) or in every N-th ({@link CandidateRequest.consumedEvery}); checked by `userVectors`. */
  consumedEvery?: number;
}

const EMPTY = Buffer.alloc(0);
const isStream = (r: StreamRecord, component: string) => r.source.component === component;

/**
 * Keeps one state per user (history, one vector per live snapshot, bans,
 * counters) and follows the doorman's log: it loads staged snapshots,
 * computes every local user's vector in them (shadow), reports READY per
 * partition, and emits in the space of the active snapshot only: the user
 * vector on stream `user-vectors`, a CandidateRequest on stream `updates`.
 *
 * An event whose time lies outside the `eventTime` window makes `process`
 * throw EventTimeError before anything is read or written, so the runtime
 * dead-letters it and the user is untouched.
 */
export class UserStateBolt implements Bolt {
  private readonly snapshots: SnapshotFollower;

  constructor(private readonly o: UserStateOptions) {
    this.snapshots = new SnapshotFollower({ catalog: o.catalog, onLoaded: (space, ctx) => this.shadow(ctx, space) });
  }

  async process(record: StreamRecord, ctx: BoltContext): Promise<void> {
    if (isStream(record, 'control')) return this.snapshots.apply(record.key as string, record.value as SnapshotControl | null, ctx);
    const event = record.value as ListenEvent | FeedbackEvent;
    checkEventTime(event, ctx.now(), this.o.eventTime);
    const users = ctx.store<string, UserState>('users');
    const state = (await users.get(event.userId)) ?? newUserState(event.userId, this.o.historyCapacity);
    const bannedBefore = state.banned.length;
    if (!applyEvent(state, event, this.spaces(), this.o.weights, this.o.consumedCapacity)) return; // a redelivered event
    pruneSpaces(state, this.snapshots.liveIds);
    users.put(event.userId, state);
    this.emitVector(state, ctx, state.banned.length !== bannedBefore || ('kind' in event && (event.kind === 'BAN' || event.kind === 'UNBAN')));
  }

  private spaces(): LoadedSnapshot[] {
    return [...this.snapshots.liveIds].map((id) => this.o.catalog.get(id)).filter((s): s is LoadedSnapshot => s !== undefined);
  }

  private emitVector(state: UserState, ctx: BoltContext, force: boolean): void {
    const id = this.snapshots.active;
    const space = id ? this.o.catalog.get(id) : undefined;
    if (!id || !space || state.spaces[id] === undefined) return; // nothing active here yet: record, don't emit
    const vector = space.model.vector(state.spaces[id]);
    const uv: UserVector = { userId: state.userId, snapshotId: id, vector, updatedAt: state.updatedAt, eventCount: state.eventCount, version: state.version };
    ctx.emit(state.userId, uv, { stream: 'user-vectors' });
    const every = this.o.consumedEvery ?? 1;
    // Between whole sets, `recent` holds what was consumed since the last one (every ≤ RECENT_CONSUMED).
    const whole = every === 1 || (state.version - 1) % every === 0;
    const request: CandidateRequest = {
      userId: state.userId,
      snapshotId: id,
      vector,
      version: state.version,
      banned: [...state.banned],
      recent: [...state.recent],
      consumed: whole ? encodeConsumed(mergedConsumed(consumedOf(state))) : EMPTY,
      consumedEvery: every,
      at: state.updatedAt,
      force,
    };
    ctx.emit(state.userId, request, { stream: 'updates' });
  }

  /**
   * Computes every local user's state in a newly loaded snapshot's space:
   * with batch user factors, this partition's are loaded first, and each
   * user starts from their x₀ (events after the cut-off folded in).
   */
  private async shadow(ctx: BoltContext, space: LoadedSnapshot): Promise<void> {
    await space.lifetime?.load(ctx.partition);
    const users = ctx.store<string, UserState>('users');
    const changed: UserState[] = [];
    for await (const [, state] of users.range()) if (ensureSpace(state, space)) changed.push(state);
    for (const s of changed) users.put(s.userId, s);
  }
}
