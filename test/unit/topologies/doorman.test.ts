import { TopologyTestDriver } from '../../../src';
import { planMember, planReport, planStage, emptyView } from '../../../src/vectors/doorman/doorman-state';
import type { SnapshotControl, SnapshotManifest } from '../../../src/vectors/records';
import { doorman } from '../../../topologies/doorman';

const manifest = (id: string): SnapshotManifest => ({ snapshotId: id, model: 'm', dims: 4, count: 1, checksum: 'x'.repeat(64), createdAt: 0, params: {} });

async function pipeWrites(driver: TopologyTestDriver, writes: { key: string; value: SnapshotControl }[] | { key: string; value: SnapshotControl }) {
  for (const w of Array.isArray(writes) ? writes : [writes]) await driver.pipe('snapshot-control', w.key, w.value);
}

/** The doorman's writes (the driver also feeds them back to it, as Kafka would: it reads the topic it writes). */
async function decisions(driver: TopologyTestDriver) {
  return driver.readOutput<string, SnapshotControl>('snapshot-control').map((r) => `${r.key}:${r.value.kind}:${r.value.snapshotId}:${r.value.phase ?? ''}`);
}

describe('doorman topology (test driver)', () => {
  let driver: TopologyTestDriver;
  afterEach(async () => driver?.close());

  it('I1: writes ACTIVATE only once every partition of every member reported READY, and only once', async () => {
    driver = await TopologyTestDriver.create(doorman({ timeoutMs: 60_000 }), { startTime: 0 });
    await pipeWrites(driver, [planMember('user-vectors', 2, 0), planMember('other', 1, 0)]);
    await pipeWrites(driver, planStage(emptyView(), manifest('s1'), 0));
    await pipeWrites(driver, planReport('s1', 'user-vectors', 0, 'READY', 'w', 1));
    await pipeWrites(driver, planReport('s1', 'other', 0, 'READY', 'w', 1));
    expect(await decisions(driver)).toEqual([]);
    await pipeWrites(driver, planReport('s1', 'user-vectors', 1, 'READY', 'w', 2));
    expect(await decisions(driver)).toEqual(['active:ACTIVATE:s1:', 'snapshot/s1:ACTIVATE:s1:ACTIVE']);
    // A repeated report, and time passing, change nothing.
    await pipeWrites(driver, planReport('s1', 'user-vectors', 1, 'READY', 'w', 3));
    await driver.advanceWallClockTime(120_000);
    expect(await decisions(driver)).toEqual([]);
  });

  it('aborts on a FAILED report (I4), and on a timeout', async () => {
    driver = await TopologyTestDriver.create(doorman({ timeoutMs: 60_000 }), { startTime: 0 });
    await pipeWrites(driver, planMember('user-vectors', 1, 0));
    await pipeWrites(driver, planStage(emptyView(), manifest('bad'), 0));
    await pipeWrites(driver, planReport('bad', 'user-vectors', 0, 'FAILED', 'w', 1, 'value at row 3 is NaN'));
    expect(await decisions(driver)).toEqual(['snapshot/bad:ABORT:bad:FAILED']);
    await pipeWrites(driver, planStage(emptyView(), manifest('slow'), 0));
    await driver.advanceWallClockTime(59_000);
    expect(await decisions(driver)).toEqual([]);
    await driver.advanceWallClockTime(2_000);
    expect(await decisions(driver)).toEqual(['snapshot/slow:ABORT:slow:FAILED']);
  });

  it('logs what an operator follows: a snapshot staged, activated, aborted (once each, not on repeated records)', async () => {
    const lines: string[] = [];
    driver = await TopologyTestDriver.create(doorman({ timeoutMs: 60_000 }), {
      startTime: 0,
      log: (level, message, fields) => lines.push(`${level} ${message} ${String(fields?.snapshot)}`),
    });
    await pipeWrites(driver, planMember('user-vectors', 1, 0));
    await pipeWrites(driver, planStage(emptyView(), manifest('s1'), 0));
    await pipeWrites(driver, planStage(emptyView(), manifest('s1'), 0));
    await pipeWrites(driver, planReport('s1', 'user-vectors', 0, 'READY', 'w', 1));
    await pipeWrites(driver, planStage(emptyView(), manifest('bad'), 2));
    await pipeWrites(driver, planReport('bad', 'user-vectors', 0, 'FAILED', 'w', 3, 'NaN at row 3'));
    expect(lines).toEqual([
      'info snapshot staged; waiting for every partition to report READY s1',
      'info snapshot activated s1',
      'info snapshot staged; waiting for every partition to report READY bad',
      'warn snapshot aborted bad',
    ]);
  });
});
