/**
 * A stateful counter with nothing to do with vectors: counts events per key.
 * It is the runtime's reference topology (tests, kill -9 checks, benchmark).
 */
import { avro, Groupings, Int64Serde, StringSerde, TopologyBuilder, type Bolt, type Topology } from '../src';

export interface CountedEvent {
  id: string;
  key: string;
  timestamp: number;
}

export const CountedEventSchema = {
  type: 'record',
  name: 'CountedEvent',
  namespace: 'vectors.examples',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'key', type: 'string' },
    { name: 'timestamp', type: 'long' },
  ],
};

/** Adds one to the key's count and emits the new count. */
export class CountBolt implements Bolt<string, CountedEvent> {
  async process(record: { key: string; value: CountedEvent }, ctx: import('../src').BoltContext): Promise<void> {
    if (record.key !== record.value.key) {
      // Counting it under either key would break co-partitioning; refuse it.
      throw new Error(`event ${record.value.id} has key '${record.value.key}' but was published under key '${record.key}'`);
    }
    const counts = ctx.store<string, number>('counts');
    const next = ((await counts.get(record.value.key)) ?? 0) + 1;
    counts.put(record.value.key, next);
    ctx.emit(record.value.key, next);
  }
}

export function eventCounter(options: { name?: string; input?: string; output?: string } = {}): Topology {
  return new TopologyBuilder(options.name ?? 'event-counter')
    .spout('events', {
      topic: options.input ?? 'events',
      value: avro<CountedEvent>(CountedEventSchema),
      keyedBy: 'key',
      validate: (_key, v) => (v === null ? 'a null value (tombstone) is not an event' : v.id === '' ? 'field id is empty' : undefined),
    })
    .store('counts', { key: StringSerde, value: Int64Serde })
    .bolt('count', () => new CountBolt(), { inputs: [{ from: 'events', grouping: Groupings.fields('key') }], stores: ['counts'] })
    .sink('counts-out', { topic: options.output ?? 'event-counts', from: 'count', value: Int64Serde })
    .build();
}
