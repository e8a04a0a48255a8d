/** The doorman: reads the snapshot-control log and writes the atomic switch (docs/CONTRACTS.md). */
import { avro, StringSerde, TopologyBuilder, type Topology } from '../src';
import { typedJsonSerde } from '../src/runtime/serde/typed-json';
import { loadSchema, Topics } from '../src/vectors/contracts';
import type { SnapshotControl } from '../src/vectors/records';
import { DoormanBolt, type DoormanOptions } from './bolts/doorman-bolt';

export function doorman(o: DoormanOptions & { name?: string; controlTopic?: string } = {}): Topology {
  const control = o.controlTopic ?? Topics.snapshotControl;
  return new TopologyBuilder(o.name ?? 'doorman')
    .spout('control', { topic: control, value: avro<SnapshotControl>(loadSchema('SnapshotControl')) })
    .store('log', { key: StringSerde, value: typedJsonSerde<SnapshotControl>() })
    .bolt('doorman', () => new DoormanBolt(o), { inputs: [{ from: 'control' }], stores: ['log'] })
    .sink('decisions', { topic: control, from: 'doorman', value: avro(loadSchema('SnapshotControl')) })
    .build();
}
