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

/**
 * The key of the task's shadow marker in `users`. No user has it: every event
 * names its user (an empty userId is dead-lettered) and the query API refuses
 * an empty id. The value is a user state with no events and one more
 * property, which the serde keeps.
 */
export const SHADOW_MARKER_KEY = '';
/** The shadow marker: the snapshots whose walk over every user of the task finished and was committed. */
export type ShadowMarker = UserState & { shadowed: string[] };
const shadowedOf = (marker: UserState | undefined): string[] => (marker as Partial<ShadowMarker> | undefined)?.shadowed ?? [];
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
    this.snapshots = new SnapshotFollower({
      catalog: o.catalog,
      onLoaded: (space, ctx) => this.shadow(ctx, space),
      onLeft: (id, ctx) => this.unmark(ctx, id),
    });
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
    // One array, not three: this runs for every event.
    const out: LoadedSnapshot[] = [];
    for (const id of this.snapshots.liveIds) {
      const space = this.o.catalog.get(id);
      if (space) out.push(space);
    }
    return out;
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
   *
   * The walk reads every user of the task, and a new task replays the whole
   * control log, so every restart and takeover would walk every user once per
   * live snapshot although they all have its space. Once a walk's writes are
   * committed, the snapshot goes into the task's shadow marker, and a replay
   * skips it. Not in the walk's own commit: at-least-once, a failed commit can
   * leave any part of its changelog written, the marker without some user.
   * A snapshot that leaves the live set leaves the marker ({@link unmark}),
   * since events then prune its space from users; a replay of the log
   * replays that too.
   */
  private async shadow(ctx: BoltContext, space: LoadedSnapshot): Promise<void> {
    await space.lifetime?.load(ctx.partition);
    const users = ctx.store<string, UserState>('users');
    if (shadowedOf(await users.get(SHADOW_MARKER_KEY)).includes(space.id)) {
      ctx.log('debug', 'every user is in the snapshot already (shadow marker): walk skipped', { snapshot: space.id, partition: ctx.partition });
      return;
    }
    const started = performance.now();
    const changed: UserState[] = [];
    let walked = 0;
    for await (const [userId, state] of users.range()) {
      if (userId === SHADOW_MARKER_KEY) continue;
      walked++;
      if (ensureSpace(state, space)) changed.push(state);
    }
    for (const s of changed) users.put(s.userId, s);
    const ms = Math.round(performance.now() - started);
    ctx.log('debug', 'every user computed in the snapshot (shadow walk)', {
      snapshot: space.id,
      partition: ctx.partition,
      users: walked,
      changed: changed.length,
      ms,
    });
    ctx.afterCommit(async () => {
      // Left the live set before the commit (and was unmarked then): its space is pruned again.
      if (!this.snapshots.liveIds.has(space.id)) return;
      const marker = ((await users.get(SHADOW_MARKER_KEY)) as ShadowMarker | undefined) ?? { ...newUserState(SHADOW_MARKER_KEY, 1), shadowed: [] };
      if (marker.shadowed.includes(space.id)) return;
      marker.shadowed.push(space.id);
      users.put(SHADOW_MARKER_KEY, marker);
    });
  }

  /** Takes a snapshot that leaves the live set out of the shadow marker. */
  private async unmark(ctx: BoltContext, id: string): Promise<void> {
    const users = ctx.store<string, UserState>('users');
    const marker = (await users.get(SHADOW_MARKER_KEY)) as ShadowMarker | undefined;
    if (!marker || !shadowedOf(marker).includes(id)) return;
    marker.shadowed = marker.shadowed.filter((s) => s !== id);
    users.put(SHADOW_MARKER_KEY, marker);
  }
}
