import { IllegalTransitionError } from '../../errors';
import type { SnapshotControl, SnapshotManifest } from '../records';
import { type Phase, isLive, transition } from './lifecycle';

/** What a worker reports for one partition of one topology. */
export type PartitionReport = 'LOADING' | 'READY' | 'FAILED';

export interface SnapshotView {
  id: string;
  manifest: SnapshotManifest | null;
  phase: Phase;
  reason: string | null;
  /** When it was staged (control record time), for the doorman's timeout. */
  stagedAt: number;
}

/**
 * The doorman's view of the control log. Built by {@link applyControl} from
 * `snapshot-control` records in log order; the same view results from a
 * compacted log (only the latest record per key), because every record under
 * a key carries the whole state of that key.
 */
export interface DoormanView {
  snapshots: Map<string, SnapshotView>;
  /** snapshot id → `<topology>/<partition>` → latest report. */
  reports: Map<string, Map<string, { report: PartitionReport; reason: string | null }>>;
  /** Participating topology → partition count. */
  members: Map<string, number>;
  /** The active snapshot: the `active` pointer record is the single source of truth. */
  active: string | null;
  /** The snapshot a rollback returns to. */
  previous: string | null;
}

/** Keys of control records (the topic is compacted by key). */
export const ControlKeys = {
  snapshot: (id: string) => `snapshot/${id}`,
  report: (id: string, topology: string, partition: number) => `report/${id}/${topology}/${partition}`,
  member: (topology: string) => `member/${topology}`,
  active: 'active',
} as const;

/** A record to append to the control log. */
export interface ControlWrite {
  key: string;
  value: SnapshotControl;
}

export function emptyView(): DoormanView {
  return { snapshots: new Map(), reports: new Map(), members: new Map(), active: null, previous: null };
}

/** A control record with every field not given null. */
export function control(partial: Partial<SnapshotControl> & Pick<SnapshotControl, 'kind' | 'timestamp'>): SnapshotControl {
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
    ...partial,
  };
}

const SNAPSHOT_PHASES = new Set<string>(['STAGED', 'ACTIVE', 'READY', 'FAILED', 'ROLLED_BACK', 'RETIRED']);

/**
 * Applies one control record to the view. Tolerant by design: the log is
 * history, and replaying it must never fail — a record it cannot use (unknown
 * kind, missing fields) is skipped and returned as a warning.
 */
export function applyControl(view: DoormanView, key: string, rec: SnapshotControl): string | undefined {
  if (key === ControlKeys.active) {
    const id = rec.snapshotId;
    if (!id) {
      view.active = null;
      view.previous = null;
      return undefined;
    }
    view.active = id;
    view.previous = rec.previousSnapshotId;
    // The pointer decides: make the phases agree even when the phase records
    // after it were never written (a crash between the two).
    const s = view.snapshots.get(id);
    if (s) s.phase = 'ACTIVE';
    for (const other of view.snapshots.values()) {
      if (other.id !== id && other.phase === 'ACTIVE') other.phase = other.id === rec.previousSnapshotId ? 'READY' : 'ROLLED_BACK';
    }
    return undefined;
  }
  if (key.startsWith('snapshot/')) {
    const id = rec.snapshotId ?? key.slice('snapshot/'.length);
    if (!rec.phase || !SNAPSHOT_PHASES.has(rec.phase)) return `control record ${key} has no snapshot phase; skipped`;
    const prev = view.snapshots.get(id);
    view.snapshots.set(id, {
      id,
      manifest: rec.manifest ?? prev?.manifest ?? null,
      phase: rec.phase as Phase,
      reason: rec.reason,
      // Staged again after a rollback: its timeout counts from now.
      stagedAt: prev && !(rec.phase === 'STAGED' && prev.phase !== 'STAGED') ? prev.stagedAt : rec.timestamp,
    });
    if (rec.phase === 'RETIRED') view.reports.delete(id);
    return undefined;
  }
  if (key.startsWith('report/')) {
    if (!rec.snapshotId || rec.topology === null || rec.partition === null || !rec.phase)
      return `control record ${key} lacks snapshot, topology, partition or phase; skipped`;
    if (rec.phase !== 'LOADING' && rec.phase !== 'READY' && rec.phase !== 'FAILED') return `control record ${key} has report phase ${rec.phase}; skipped`;
    let byPartition = view.reports.get(rec.snapshotId);
    if (!byPartition) view.reports.set(rec.snapshotId, (byPartition = new Map()));
    byPartition.set(`${rec.topology}/${rec.partition}`, { report: rec.phase, reason: rec.reason });
    return undefined;
  }
  if (key.startsWith('member/')) {
    if (!rec.topology || !rec.partitions) return `control record ${key} lacks topology or partitions; skipped`;
    view.members.set(rec.topology, rec.partitions);
    return undefined;
  }
  return `control record with unknown key '${key}'; skipped`;
}

/**
 * The view from the latest record per key, in any order (a compacted log, or
 * a store mirroring it): the `active` pointer is applied last, because it
 * decides over the phase records.
 */
export function buildView(entries: Iterable<[string, SnapshotControl]>): DoormanView {
  const view = emptyView();
  let pointer: SnapshotControl | undefined;
  for (const [key, rec] of entries) {
    if (key === ControlKeys.active) pointer = rec;
    else applyControl(view, key, rec);
  }
  if (pointer) applyControl(view, ControlKeys.active, pointer);
  return view;
}

/** Whether every partition of every participating topology reported READY for `id` (invariant I1). */
export function readiness(view: DoormanView, id: string): { ready: boolean; missing: string[]; failed: { partition: string; reason: string | null }[] } {
  const reports = view.reports.get(id) ?? new Map();
  const missing: string[] = [];
  const failed: { partition: string; reason: string | null }[] = [];
  for (const [topology, partitions] of view.members) {
    for (let p = 0; p < partitions; p++) {
      const r = reports.get(`${topology}/${p}`);
      if (r?.report === 'FAILED') failed.push({ partition: `${topology}/${p}`, reason: r.reason });
      else if (r?.report !== 'READY') missing.push(`${topology}/${p}`);
    }
  }
  return { ready: view.members.size > 0 && missing.length === 0 && failed.length === 0, missing, failed };
}

function snapshotOf(view: DoormanView, id: string): SnapshotView {
  const s = view.snapshots.get(id);
  if (!s) throw new IllegalTransitionError(`snapshot '${id}'`, 'UNKNOWN', 'any command (it was never staged)');
  return s;
}

function phaseRecord(s: SnapshotView, phase: Phase, kind: SnapshotControl['kind'], now: number, reason: string | null = null): ControlWrite {
  return { key: ControlKeys.snapshot(s.id), value: control({ kind, snapshotId: s.id, phase, manifest: s.manifest, reason, timestamp: now }) };
}

/** Records that stage a new snapshot. @throws IllegalTransitionError if the id was used before. */
export function planStage(view: DoormanView, manifest: SnapshotManifest, now: number): ControlWrite[] {
  const existing = view.snapshots.get(manifest.snapshotId);
  if (existing) throw new IllegalTransitionError(`snapshot '${manifest.snapshotId}'`, existing.phase, 'stage (ids cannot be reused)');
  return [
    {
      key: ControlKeys.snapshot(manifest.snapshotId),
      value: control({ kind: 'STAGE', snapshotId: manifest.snapshotId, phase: 'STAGED', manifest, timestamp: now }),
    },
  ];
}

/** A worker's report for one partition. */
export function planReport(
  id: string,
  topology: string,
  partition: number,
  report: PartitionReport,
  instanceId: string,
  now: number,
  reason: string | null = null,
): ControlWrite {
  return {
    key: ControlKeys.report(id, topology, partition),
    value: control({ kind: 'REPORT', snapshotId: id, topology, partition, phase: report, instanceId, reason, timestamp: now }),
  };
}

/** A topology declaring that it takes part in switches, with its partition count. */
export function planMember(topology: string, partitions: number, now: number): ControlWrite {
  return { key: ControlKeys.member(topology), value: control({ kind: 'MEMBER', topology, partitions, timestamp: now }) };
}

/**
 * Records that activate `id`: first the `active` pointer (the commit point
 * workers switch on), then the phases. Invariant I1: refused unless every
 * partition of every member reported READY.
 * @throws IllegalTransitionError
 */
export function planActivate(view: DoormanView, id: string, now: number): ControlWrite[] {
  const s = snapshotOf(view, id);
  transition(id, s.phase, 'activate');
  const r = readiness(view, id);
  if (!r.ready) {
    const why =
      view.members.size === 0
        ? 'no topology has joined'
        : r.failed.length
          ? `failed: ${r.failed.map((f) => f.partition).join(', ')}`
          : `not READY: ${r.missing.slice(0, 10).join(', ')}${r.missing.length > 10 ? ', ...' : ''}`;
    throw new IllegalTransitionError(`snapshot '${id}'`, s.phase, `activate (${why})`);
  }
  const writes: ControlWrite[] = [
    { key: ControlKeys.active, value: control({ kind: 'ACTIVATE', snapshotId: id, previousSnapshotId: view.active, timestamp: now }) },
  ];
  if (view.active) {
    const old = snapshotOf(view, view.active);
    writes.push(phaseRecord(old, transition(old.id, old.phase, 'supersede'), 'ACTIVATE', now));
  }
  writes.push(phaseRecord(s, 'ACTIVE', 'ACTIVATE', now));
  return writes;
}

/** Records that abort a staged snapshot (a FAILED report, a failed validation or a timeout). */
export function planAbort(view: DoormanView, id: string, reason: string, now: number): ControlWrite[] {
  const s = snapshotOf(view, id);
  return [phaseRecord(s, transition(id, s.phase, 'abort'), 'ABORT', now, reason)];
}

/** Records that return to the previous snapshot (which must still be loaded). */
export function planRollback(view: DoormanView, now: number): ControlWrite[] {
  if (!view.active) throw new IllegalTransitionError('doorman', 'no active snapshot', 'rollback');
  const current = snapshotOf(view, view.active);
  if (!view.previous) throw new IllegalTransitionError(`snapshot '${current.id}'`, current.phase, 'rollback (there is no previous snapshot to return to)');
  const previous = snapshotOf(view, view.previous);
  const reinstated = transition(previous.id, previous.phase, 'reinstate');
  const rolledBack = transition(current.id, current.phase, 'rollback');
  return [
    { key: ControlKeys.active, value: control({ kind: 'ROLLBACK', snapshotId: previous.id, previousSnapshotId: null, timestamp: now }) },
    phaseRecord(current, rolledBack, 'ROLLBACK', now),
    phaseRecord(previous, reinstated, 'ROLLBACK', now),
  ];
}

/**
 * Records that stage a rolled-back snapshot again (roll forward): first a
 * LOADING report for every partition of every member, which voids the READY
 * reports of its first staging, then its STAGED phase. Workers load it,
 * compute their users in its space and report READY afresh; the doorman
 * activates it like any staged snapshot (I1). Its topic must still exist.
 * @throws IllegalTransitionError unless the snapshot is ROLLED_BACK.
 */
export function planRestage(view: DoormanView, id: string, now: number): ControlWrite[] {
  const s = snapshotOf(view, id);
  const phase = transition(id, s.phase, 'restage');
  const writes: ControlWrite[] = [];
  for (const [topology, partitions] of view.members) {
    for (let p = 0; p < partitions; p++) writes.push(planReport(id, topology, p, 'LOADING', 'doorman', now, 'staged again; report afresh'));
  }
  writes.push({ key: ControlKeys.snapshot(id), value: control({ kind: 'STAGE', snapshotId: id, phase, manifest: s.manifest, timestamp: now }) });
  return writes;
}

/** Records that retire a snapshot that is not active: workers drop its state, its topic can be deleted. */
export function planRetire(view: DoormanView, id: string, now: number): ControlWrite[] {
  const s = snapshotOf(view, id);
  if (view.active === id) throw new IllegalTransitionError(`snapshot '${id}'`, s.phase, 'retire (it is active; activate another or roll back first)');
  const writes = [phaseRecord(s, transition(id, s.phase, 'retire'), 'RETIRE', now)];
  if (view.previous === id) {
    // Nothing to roll back to any more: clear it from the pointer.
    writes.unshift({ key: ControlKeys.active, value: control({ kind: 'RETIRE', snapshotId: view.active, previousSnapshotId: null, timestamp: now }) });
  }
  return writes;
}

/** What the doorman should do now about staged snapshots: activate the ready, abort the failed and the late. */
export function decide(view: DoormanView, now: number, timeoutMs: number): ControlWrite[] {
  const writes: ControlWrite[] = [];
  const staged = [...view.snapshots.values()].filter((s) => s.phase === 'STAGED').sort((a, b) => a.stagedAt - b.stagedAt);
  for (const s of staged) {
    const r = readiness(view, s.id);
    if (r.failed.length > 0) {
      writes.push(...planAbort(view, s.id, `partition ${r.failed[0]!.partition} failed: ${r.failed[0]!.reason ?? 'no reason given'}`, now));
    } else if (r.ready) {
      // Activate one at a time; the next decision sees the new view.
      return [...writes, ...planActivate(view, s.id, now)];
    } else if (now - s.stagedAt > timeoutMs) {
      writes.push(
        ...planAbort(view, s.id, `timed out after ${timeoutMs} ms; not READY: ${r.missing.slice(0, 5).join(', ')}${r.missing.length > 5 ? ', ...' : ''}`, now),
      );
    }
  }
  return writes;
}

/** Snapshots workers keep loaded: the active one, a rollback target, and staged ones. */
export function liveSnapshots(view: DoormanView): string[] {
  return [...view.snapshots.values()].filter((s) => isLive(s.phase)).map((s) => s.id);
}
