import { IllegalTransitionError } from '../../../../src/errors';
import {
  applyControl,
  type ControlWrite,
  decide,
  type DoormanView,
  emptyView,
  liveSnapshots,
  planActivate,
  planMember,
  planReport,
  planRetire,
  planRestage,
  planRollback,
  planStage,
  readiness,
} from '../../../../src/vectors/doorman/doorman-state';
import type { SnapshotManifest } from '../../../../src/vectors/records';

const manifest = (id: string): SnapshotManifest => ({ snapshotId: id, model: 'als', dims: 8, count: 10, checksum: 'abc', createdAt: 1, params: {} });

/** A control log: writes are applied in order and kept, as on the topic. */
class Log {
  readonly records: ControlWrite[] = [];
  view: DoormanView = emptyView();
  write(writes: ControlWrite[] | ControlWrite): void {
    for (const w of Array.isArray(writes) ? writes : [writes]) {
      this.records.push(w);
      applyControl(this.view, w.key, w.value);
    }
  }
  /** The view rebuilt from only the latest record per key, as after compaction. */
  compacted(): DoormanView {
    const latest = new Map<string, ControlWrite>();
    for (const r of this.records) {
      latest.delete(r.key);
      latest.set(r.key, r);
    }
    const view = emptyView();
    for (const r of latest.values()) applyControl(view, r.key, r.value);
    return view;
  }
}

function withMembers(partitions = 2): Log {
  const log = new Log();
  log.write([planMember('user-vectors', partitions, 0), planMember('candidates', 1, 0)]);
  return log;
}

function allReady(log: Log, id: string): void {
  for (const [t, n] of log.view.members) for (let p = 0; p < n; p++) log.write(planReport(id, t, p, 'READY', 'w1', 5));
}

describe('doorman state', () => {
  it('I1: refuses ACTIVATE until every partition of every member is READY', () => {
    const log = withMembers();
    log.write(planStage(log.view, manifest('s1'), 1));
    expect(() => planActivate(log.view, 's1', 2)).toThrow(/not READY: user-vectors\/0, user-vectors\/1, candidates\/0/);
    log.write(planReport('s1', 'user-vectors', 0, 'READY', 'w1', 3));
    log.write(planReport('s1', 'user-vectors', 1, 'LOADING', 'w1', 3));
    log.write(planReport('s1', 'candidates', 0, 'READY', 'w1', 3));
    expect(readiness(log.view, 's1')).toMatchObject({ ready: false, missing: ['user-vectors/1'] });
    expect(decide(log.view, 4, 60_000)).toEqual([]);
    log.write(planReport('s1', 'user-vectors', 1, 'READY', 'w1', 4));
    const writes = decide(log.view, 5, 60_000);
    expect(writes[0]!.key).toBe('active');
    log.write(writes);
    expect(log.view.active).toBe('s1');
    expect(log.view.snapshots.get('s1')!.phase).toBe('ACTIVE');
  });

  it('refuses to activate with no members at all', () => {
    const log = new Log();
    log.write(planStage(log.view, manifest('s1'), 1));
    expect(() => planActivate(log.view, 's1', 2)).toThrow(/no topology has joined/);
  });

  it('I4: a FAILED report aborts the staged snapshot and the previous one stays active', () => {
    const log = withMembers(1);
    log.write(planStage(log.view, manifest('s1'), 1));
    allReady(log, 's1');
    log.write(decide(log.view, 6, 60_000));
    log.write(planStage(log.view, manifest('s2'), 7));
    log.write(planReport('s2', 'user-vectors', 0, 'FAILED', 'w1', 8, 'checksum mismatch'));
    log.write(planReport('s2', 'candidates', 0, 'READY', 'w1', 8));
    const writes = decide(log.view, 9, 60_000);
    expect(writes.map((w) => [w.key, w.value.phase, w.value.reason])).toEqual([
      ['snapshot/s2', 'FAILED', 'partition user-vectors/0 failed: checksum mismatch'],
    ]);
    log.write(writes);
    expect(log.view.active).toBe('s1');
    expect(() => planActivate(log.view, 's2', 10)).toThrow(IllegalTransitionError);
  });

  it('aborts a staged snapshot that is not READY in time', () => {
    const log = withMembers(1);
    log.write(planStage(log.view, manifest('s1'), 1000));
    log.write(planReport('s1', 'user-vectors', 0, 'READY', 'w1', 1001));
    expect(decide(log.view, 1000 + 60_000, 60_000)).toEqual([]);
    const writes = decide(log.view, 1001 + 60_000, 60_000);
    expect(writes[0]!.value).toMatchObject({ phase: 'FAILED', reason: expect.stringMatching(/timed out after 60000 ms; not READY: candidates\/0/) });
  });

  it('activates over a previous snapshot, rolls back to it, then retires the rolled-back one', () => {
    const log = withMembers(1);
    for (const id of ['s1', 's2']) {
      log.write(planStage(log.view, manifest(id), 1));
      allReady(log, id);
      log.write(decide(log.view, 2, 60_000));
    }
    expect(log.view.active).toBe('s2');
    expect(log.view.previous).toBe('s1');
    expect(log.view.snapshots.get('s1')!.phase).toBe('READY');
    expect(liveSnapshots(log.view).sort()).toEqual(['s1', 's2']);
    expect(() => planRetire(log.view, 's2', 3)).toThrow(/it is active/);
    log.write(planRollback(log.view, 3));
    expect(log.view.active).toBe('s1');
    expect(log.view.snapshots.get('s2')!.phase).toBe('ROLLED_BACK');
    expect(() => planRollback(log.view, 4)).toThrow(/no previous snapshot/);
    log.write(planRetire(log.view, 's2', 4));
    expect(log.view.snapshots.get('s2')!.phase).toBe('RETIRED');
    expect(liveSnapshots(log.view)).toEqual(['s1']);
  });

  it('rolls forward to a rolled-back snapshot: staged again, activated only once every partition reported READY afresh', () => {
    const log = withMembers(1);
    for (const [id, t] of [
      ['s1', 1],
      ['s2', 10],
    ] as const) {
      log.write(planStage(log.view, manifest(id), t));
      allReady(log, id);
      log.write(decide(log.view, t + 1, 60_000));
    }
    log.write(planRollback(log.view, 20));
    expect(() => planActivate(log.view, 's2', 21)).toThrow(IllegalTransitionError);
    expect(() => planRestage(log.view, 's1', 21)).toThrow(/'restage' is not allowed in phase ACTIVE/);
    log.write(planRestage(log.view, 's2', 100_000));
    expect(log.view.snapshots.get('s2')).toMatchObject({ phase: 'STAGED', stagedAt: 100_000 });
    expect(liveSnapshots(log.view).sort()).toEqual(['s1', 's2']);
    // The READY reports of its first staging no longer count.
    expect(readiness(log.view, 's2')).toMatchObject({ ready: false, missing: ['user-vectors/0', 'candidates/0'] });
    expect(decide(log.view, 100_001, 60_000)).toEqual([]);
    allReady(log, 's2');
    log.write(decide(log.view, 100_002, 60_000));
    expect(log.view).toMatchObject({ active: 's2', previous: 's1' });
    expect(log.compacted()).toMatchObject({ active: 's2', previous: 's1' });
    expect(() => planRestage(log.view, 's9', 1)).toThrow(/never staged/);
  });

  it('refuses to stage an id twice', () => {
    const log = withMembers(1);
    log.write(planStage(log.view, manifest('s1'), 1));
    expect(() => planStage(log.view, manifest('s1'), 2)).toThrow(/ids cannot be reused/);
  });

  it('rebuilds the same view from the compacted log', () => {
    const log = withMembers(2);
    for (const id of ['s1', 's2', 's3']) {
      log.write(planStage(log.view, manifest(id), 1));
      allReady(log, id);
      log.write(decide(log.view, 2, 60_000));
    }
    log.write(planRetire(log.view, 's1', 3));
    const compacted = log.compacted();
    expect(compacted.active).toBe(log.view.active);
    expect(compacted.previous).toBe(log.view.previous);
    const phases = (v: DoormanView) => [...v.snapshots.values()].map((s) => `${s.id}:${s.phase}`).sort();
    expect(phases(compacted)).toEqual(phases(log.view));
    expect(phases(compacted)).toEqual(['s1:RETIRED', 's2:READY', 's3:ACTIVE']);
    expect(compacted.members).toEqual(log.view.members);
  });

  it('I5: a crash between the pointer and the phase records leaves the pointer in charge', () => {
    const log = withMembers(1);
    log.write(planStage(log.view, manifest('s1'), 1));
    allReady(log, 's1');
    log.write(decide(log.view, 2, 60_000));
    log.write(planStage(log.view, manifest('s2'), 3));
    allReady(log, 's2');
    const writes = decide(log.view, 4, 60_000);
    log.write(writes.slice(0, 1)); // only the pointer made it to the log
    const replayed = log.compacted();
    expect(replayed.active).toBe('s2');
    expect(replayed.snapshots.get('s2')!.phase).toBe('ACTIVE');
    expect(replayed.snapshots.get('s1')!.phase).toBe('READY');
    // And a crash before the pointer leaves s1 active and s2 still staged: the switch resumes.
    const before = new Log();
    for (const r of log.records.slice(0, -1)) before.write(r);
    expect(before.view.active).toBe('s1');
    expect(decide(before.view, 5, 60_000)[0]).toMatchObject({ key: 'active', value: { snapshotId: 's2' } });
  });

  it('skips records it cannot use, with a warning, instead of failing the replay', () => {
    const view = emptyView();
    const warning = applyControl(view, 'snapshot/x', {
      kind: 'UNKNOWN',
      snapshotId: 'x',
      phase: null,
      manifest: null,
      topology: null,
      partition: null,
      partitions: null,
      instanceId: null,
      previousSnapshotId: null,
      reason: null,
      timestamp: 1,
    });
    expect(warning).toMatch(/no snapshot phase; skipped/);
    expect(applyControl(view, 'weird', planMember('t', 1, 1).value)).toMatch(/unknown key 'weird'/);
    expect(view.snapshots.size).toBe(0);
  });
});
