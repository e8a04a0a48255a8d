import { writeControl } from '../../../src/app/snapshots';
import { waitUntilActive } from '../../../src/cli/wait-active';
import { ErrorCodes, SnapshotNotActiveError } from '../../../src/errors';
import { InMemorySchemaRegistry, MemoryKafkaCluster } from '../../../src/runtime';
import { applyControl, emptyView, planAbort, planStage } from '../../../src/vectors/doorman/doorman-state';
import { clusteredSnapshot, manifestOf } from '../topologies/vectors-fixtures';

/** activate-when-ready's wait, on the in-memory client: each way it ends without the activation has its own code, and only the timeout is retriable. */
describe('waitUntilActive', () => {
  const topics = { control: 'control' };
  let cluster: MemoryKafkaCluster;
  const registry = new InMemorySchemaRegistry();

  beforeEach(() => {
    cluster = new MemoryKafkaCluster();
    cluster.createTopic({ name: 'control', partitions: 1 });
  });

  /** Stages `id` on the control log; returns the view after it. */
  async function stage(id: string) {
    const writes = planStage(emptyView(), manifestOf(clusteredSnapshot(id, 10, 4, 1)), Date.now());
    await writeControl(cluster.client(), registry, writes, topics);
    const view = emptyView();
    for (const w of writes) applyControl(view, w.key, w.value);
    return view;
  }

  const failure = (id: string, o: { timeoutMs: number; stageTimeoutMs?: number }) =>
    waitUntilActive(cluster.client(), registry, topics, id, o).then(
      () => undefined,
      (err: unknown) => err as SnapshotNotActiveError,
    );

  it('a snapshot still staged at the timeout: retriable', async () => {
    await stage('s1');
    const err = await failure('s1', { timeoutMs: 50 });
    expect(err).toBeInstanceOf(SnapshotNotActiveError);
    expect(err).toMatchObject({ code: ErrorCodes.SNAPSHOT_NOT_ACTIVE, snapshotId: 's1', retriable: true });
    expect(err!.message).toMatch(/snapshot 's1' is not active after 50 ms/);
  });

  it('a snapshot that ended in another phase, or was never staged: not retriable', async () => {
    const view = await stage('s1');
    await writeControl(cluster.client(), registry, planAbort(view, 's1', 'a partition failed', Date.now()), topics);
    const ended = await failure('s1', { timeoutMs: 5000 });
    expect(ended).toMatchObject({ code: ErrorCodes.SNAPSHOT_NOT_ACTIVE, retriable: false });
    expect(ended!.message).toMatch(/snapshot 's1' ended FAILED: a partition failed/);

    const never = await failure('s9', { timeoutMs: 5000, stageTimeoutMs: 50 });
    expect(never).toMatchObject({ code: ErrorCodes.SNAPSHOT_NOT_ACTIVE, retriable: false });
    expect(never!.message).toMatch(/snapshot 's9' was never staged .*known: s1/);
  });
});
