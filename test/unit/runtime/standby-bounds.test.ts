import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Groupings, Int64Serde, jsonSerde, MemoryKafkaCluster, RuntimeMetrics, StringSerde, TopologyBuilder } from '../../../src/runtime';
import type { PartitionOffsets } from '../../../src/runtime/kafka/client';
import { Checkpoint } from '../../../src/runtime/runner/checkpoint';
import { StandbyTasks } from '../../../src/runtime/runner/standby-tasks';
import { MemoryBytesStore } from '../../../src/runtime/state/memory/memory-store';

/** A standby replica that cannot learn its changelog's bounds at first waits for them instead of taking its checkpoint for out of range. */
describe('StandbyTasks, changelog bounds not known yet', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the store and goes on from its checkpoint once the bounds are known', async () => {
    dir = mkdtempSync(join(tmpdir(), 'standby-bounds-'));
    const topology = new TopologyBuilder('counter')
      .spout('events', { topic: 'events', value: jsonSerde<{ key: string }>(), keyedBy: 'key' })
      .store('counts', { key: StringSerde, value: Int64Serde })
      .bolt('count', () => ({ process: () => undefined }), { inputs: [{ from: 'events', grouping: Groupings.fields('key') }], stores: ['counts'] })
      .build();
    const cluster = new MemoryKafkaCluster();
    cluster.createTopic({ name: 'counter-counts-changelog', partitions: 1 });
    const producer = await cluster.client().producer();
    await producer.send(
      Array.from({ length: 10 }, (_, i) => ({ topic: 'counter-counts-changelog', key: `k${i}`, value: Int64Serde.serialize(i), partition: 0 })),
    );
    await producer.close();
    const taskDir = join(dir, '0_0');
    new Checkpoint(taskDir).write({ counts: '6' }); // the store holds the changelog up to offset 6
    const backend = new MemoryBytesStore('counts');
    const cleared = jest.spyOn(backend, 'clear');
    let asked = 0;
    const reader = await cluster.client().partitionReader();
    const standbys = new StandbyTasks({
      topology,
      taskDir: () => taskDir,
      newBackend: () => backend,
      persistent: true,
      reader: () => reader,
      // Unknown the first three times (as while the runner reconnects and has no admin).
      bounds: async (topic, partition): Promise<PartitionOffsets | undefined> =>
        ++asked <= 3 ? undefined : cluster.offsets(topic).find((o) => o.partition === partition),
      released: () => undefined,
      metrics: new RuntimeMetrics(),
      log: () => undefined,
    });
    await standbys.assign(new Map([['0_0', { sub: 0, partition: 0 }]]));
    const deadline = Date.now() + 5000;
    while ((await backend.get(Buffer.from('k9'))) === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const warm = await standbys.takeOver('0_0');
    await reader.close();
    expect(asked).toBeGreaterThan(3);
    // Before the fix, the bounds read as 0..0 put the checkpoint (6) out of range: the store was cleared and read from 0.
    expect(cleared).not.toHaveBeenCalled();
    expect(await backend.get(Buffer.from('k5'))).toBeUndefined(); // below the checkpoint: not read again
    expect(Int64Serde.deserialize((await backend.get(Buffer.from('k9')))!)).toBe(9);
    expect(warm?.changelogOffsets).toEqual({ counts: '10' });
  });
});
