import type { Bolt, BoltContext, StreamRecord } from '../../src';
import { planReport } from '../../src/vectors/doorman/doorman-state';
import type { FeedbackEvent, ListenEvent, SnapshotControl, UserVector } from '../../src/vectors/records';
import type { SignalWeights } from '../../src/vectors/signals';
import type { LoadedSnapshot, SnapshotCatalog } from '../../src/vectors/snapshot-catalog';
import { applyEvent, ensureSpace, newUserState, pruneSpaces, type UserState } from '../../src/vectors/user-state';

/** What the user-state bolt tells the candidates bolt after each change. */
export interface UserUpdate {
  userId: string;
  snapshotId: string;
  vector: Float32Array;
  version: number;
  banned: string[];
  recent: string[];
  /** Event time of the change. */
  at: number;
  /** Recompute candidates even if the vector did not move (the banned set changed). */
  force: boolean;
}

export interface UserStateOptions {
  catalog: SnapshotCatalog;
  /** Name under which this topology reports READY/FAILED per partition. */
  topology: string;
  weights?: SignalWeights;
  historyCapacity?: number;
}

const isStream = (r: StreamRecord, component: string) => r.source.component === component;

/**
 * Keeps one state per user (history, one vector per live snapshot, bans,
 * counters) and follows the doorman's log: it loads staged snapshots,
 * computes every local user's vector in them (shadow), reports READY per
 * partition, and emits in the space of the active snapshot only.
 */
export class UserStateBolt implements Bolt {
  /** Snapshots this task keeps user vectors for (staged, active, rollback target). */
  private readonly live = new Set<string>();
  private active: string | null = null;

  constructor(private readonly o: UserStateOptions) {}

  async process(record: StreamRecord, ctx: BoltContext): Promise<void> {
    if (isStream(record, 'control')) return this.onControl(record.key as string, record.value as SnapshotControl | null, ctx);
    const event = record.value as ListenEvent | FeedbackEvent;
    const users = ctx.store<string, UserState>('users');
    const state = (await users.get(event.userId)) ?? newUserState(event.userId, this.o.historyCapacity);
    const bannedBefore = state.banned.length;
    if (!applyEvent(state, event, this.spaces(), this.o.weights)) return; // a redelivered event
    pruneSpaces(state, this.live);
    users.put(event.userId, state);
    this.emitVector(state, ctx, state.banned.length !== bannedBefore || ('kind' in event && (event.kind === 'BAN' || event.kind === 'UNBAN')));
  }

  private spaces(): LoadedSnapshot[] {
    return [...this.live].map((id) => this.o.catalog.get(id)).filter((s): s is LoadedSnapshot => s !== undefined);
  }

  private emitVector(state: UserState, ctx: BoltContext, force: boolean): void {
    const id = this.active;
    const space = id ? this.o.catalog.get(id) : undefined;
    if (!id || !space || state.spaces[id] === undefined) return; // nothing active here yet: record, don't emit
    const vector = space.model.vector(state.spaces[id]);
    const uv: UserVector = { userId: state.userId, snapshotId: id, vector, updatedAt: state.updatedAt, eventCount: state.eventCount, version: state.version };
    ctx.emit(state.userId, uv, { stream: 'user-vectors' });
    const update: UserUpdate = { userId: state.userId, snapshotId: id, vector, version: state.version, banned: [...state.banned], recent: [...state.recent], at: state.updatedAt, force };
    ctx.emit(state.userId, update, { stream: 'updates' });
  }

  private async onControl(key: string, rec: SnapshotControl | null, ctx: BoltContext): Promise<void> {
    if (!rec) return;
    if (key === 'active') {
      // The pointer is the commit point of a switch: from here on, emit in its space only (I3).
      this.active = rec.snapshotId;
      return;
    }
    if (!key.startsWith('snapshot/') || !rec.snapshotId) return;
    const id = rec.snapshotId;
    if ((rec.phase === 'STAGED' || rec.phase === 'ACTIVE' || rec.phase === 'READY') && rec.manifest) {
      if (!this.live.has(id)) {
        let loaded: LoadedSnapshot;
        try {
          loaded = await this.o.catalog.ensure(rec.manifest);
        } catch (err) {
          if (rec.phase === 'STAGED') this.report(ctx, id, 'FAILED', (err as Error).message);
          return;
        }
        await this.shadow(ctx, loaded);
        this.live.add(id);
      }
      if (rec.phase === 'STAGED') this.report(ctx, id, 'READY', null);
      return;
    }
    // RETIRED, FAILED, ROLLED_BACK: no longer live; user states drop it as they are touched.
    this.live.delete(id);
    if (rec.phase === 'RETIRED' || rec.phase === 'FAILED') this.o.catalog.drop(id);
  }

  /** Computes every local user's state in a newly loaded snapshot's space. */
  private async shadow(ctx: BoltContext, space: LoadedSnapshot): Promise<void> {
    const users = ctx.store<string, UserState>('users');
    const changed: UserState[] = [];
    for await (const [, state] of users.range()) if (ensureSpace(state, space)) changed.push(state);
    for (const s of changed) users.put(s.userId, s);
  }

  private report(ctx: BoltContext, id: string, report: 'READY' | 'FAILED', reason: string | null): void {
    const w = planReport(id, this.o.topology, ctx.partition, report, ctx.instanceId, ctx.now(), reason);
    ctx.emit(w.key, w.value, { stream: 'control' });
  }
}
