import type { BoltContext } from '../../src';
import { planReport } from '../../src/vectors/doorman/doorman-state';
import type { SnapshotControl, SnapshotPhase } from '../../src/vectors/records';
import type { LoadedSnapshot, SnapshotCatalog } from '../../src/vectors/snapshot-catalog';

/** The output stream a following bolt must declare: its READY/FAILED reports, for a sink to the control topic. */
export const REPORTS_STREAM = 'control';

export interface SnapshotFollowerOptions {
  catalog: SnapshotCatalog;
  /**
   * Runs once per snapshot a task loads, before the task reports READY for it
   * (user-state: load this partition's user factors, compute every local
   * user's vector in the new space). An exception fails the snapshot like a
   * failed load: the task reports FAILED with its message while the
   * snapshot is staged, and never READY.
   */
  onLoaded?: (space: LoadedSnapshot, ctx: BoltContext) => Promise<void>;
  /**
   * Runs for every RETIRED, FAILED or ROLLED_BACK record of a snapshot, live
   * here or not, before the snapshot leaves the live set (user-state: forget
   * that its users were all computed in it, as events now prune it).
   */
  onLeft?: (id: string, ctx: BoltContext) => Promise<void>;
}

/**
 * The worker side of the doorman protocol (docs/CONTRACTS.md "The doorman"), for one
 * task of a participating topology. Fed the control log (a broadcast spout),
 * it loads every staged snapshot through the process's shared catalog
 * (validation and index build), runs `onLoaded`, and reports READY for the
 * task's partition, or FAILED with the reason when loading fails; it keeps
 * active, rolled-back-to and staged snapshots loaded, and drops retired and
 * failed ones. Reports are emitted on {@link REPORTS_STREAM}.
 *
 * State is in memory: a task rebuilds it from the control log, which the
 * runtime replays to every new task.
 */
export class SnapshotFollower {
  /** Snapshots this task has loaded and keeps (staged, active, rollback target). */
  private readonly live = new Set<string>();
  /** Latest phase of every snapshot in the log, as far as this task has read it. */
  private readonly phases = new Map<string, SnapshotPhase>();
  private pointer: string | null = null;

  constructor(private readonly o: SnapshotFollowerOptions) {}

  /** The snapshot outputs are written in: the `active` pointer, the commit point of a switch (I3). */
  get active(): string | null {
    return this.pointer;
  }

  /** Ids of the snapshots this task keeps loaded. */
  get liveIds(): ReadonlySet<string> {
    return this.live;
  }

  /**
   * Whether a record of snapshot `id`, produced by an upstream topology that
   * emits in the active snapshot only, may be answered here. Yes for the
   * active snapshot. Yes, too, for a snapshot this task loaded and still sees
   * as staged: the record proves the doorman activated it and this task's copy
   * of the control log is behind; it becomes this task's active snapshot, so
   * no record of the older one follows (I3). No for any other snapshot:
   * superseded, rolled back, or not loaded.
   */
  admits(id: string): boolean {
    if (id === this.pointer) return true;
    if (this.phases.get(id) !== 'STAGED' || !this.live.has(id)) return false;
    this.pointer = id;
    this.phases.set(id, 'ACTIVE');
    return true;
  }

  /** Applies one control record (key and value as on the control topic; null value: a tombstone, ignored). */
  async apply(key: string, rec: SnapshotControl | null, ctx: BoltContext): Promise<void> {
    if (!rec) return;
    if (key === 'active') {
      this.pointer = rec.snapshotId;
      // The pointer decides over phase records that may never have been written (a crash in between).
      if (rec.snapshotId && this.phases.get(rec.snapshotId) === 'STAGED') this.phases.set(rec.snapshotId, 'ACTIVE');
      return;
    }
    if (!key.startsWith('snapshot/') || !rec.snapshotId || !rec.phase) return;
    const id = rec.snapshotId;
    this.phases.set(id, rec.phase);
    if ((rec.phase === 'STAGED' || rec.phase === 'ACTIVE' || rec.phase === 'READY') && rec.manifest) {
      if (!this.live.has(id)) {
        try {
          const loaded = await this.o.catalog.ensure(rec.manifest);
          // e.g. this partition's user factors, validated against the manifest: a failure fails the snapshot too.
          await this.o.onLoaded?.(loaded, ctx);
        } catch (err) {
          if (rec.phase === 'STAGED') {
            this.report(ctx, id, 'FAILED', (err as Error).message);
            ctx.log('warn', 'snapshot failed to load; reported FAILED', { snapshot: id, partition: ctx.partition, error: (err as Error).message });
          }
          return;
        }
        this.live.add(id);
      }
      if (rec.phase === 'STAGED') {
        this.report(ctx, id, 'READY', null);
        ctx.log('info', 'snapshot loaded; reported READY', { snapshot: id, partition: ctx.partition });
      }
      return;
    }
    // RETIRED, FAILED, ROLLED_BACK: no longer live here.
    await this.o.onLeft?.(id, ctx);
    this.live.delete(id);
    if (rec.phase === 'RETIRED' || rec.phase === 'FAILED') this.o.catalog.drop(id);
  }

  private report(ctx: BoltContext, id: string, report: 'READY' | 'FAILED', reason: string | null): void {
    // Reported under the application id, the doorman membership `vectors provision` registers
    // (the topology name by default): another application following the same control log
    // must never report READY for this one's partitions.
    const w = planReport(id, ctx.applicationId, ctx.partition, report, ctx.instanceId, ctx.now(), reason);
    ctx.emit(w.key, w.value, { stream: REPORTS_STREAM });
  }
}
