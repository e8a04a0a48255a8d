/**
 * Public API of vectors. Everything exported here is supported; anything
 * imported from a deeper path is internal and may change.
 */
export * from './errors';

// Runtime: topologies, bolts, groupings, serdes, stores, running, testing.
export { TopologyBuilder, DEFAULT_STREAM } from './runtime/topology/topology';
export type { Topology, SpoutOptions, BoltOptions, StoreOptions, SinkOptions, InputOptions, StreamOptions } from './runtime/topology/topology';
export type { Bolt, BoltContext, StreamRecord, PunctuationType, Cancellable } from './runtime/topology/bolt';
export { Groupings, type Grouping } from './runtime/topology/grouping';
export { StringSerde, Int64Serde, BytesSerde, jsonSerde, type Serde, type PreparedSerde } from './runtime/serde/serde';
export { avro, type SerdeFactory, type SerdeSpec } from './runtime/serde/serde-spec';
export { AvroSerde, type AvroSerdeOptions } from './runtime/serde/avro-serde';
export { InMemorySchemaRegistry, type SchemaRegistry, type CompatibilityLevel } from './runtime/serde/schema-registry';
export { ConfluentSchemaRegistry } from './runtime/serde/confluent-registry';
export type { KeyValueStore, ReadOnlyKeyValueStore } from './runtime/state/store';
export { TopologyTestDriver, type TestDriverOptions, type OutputRecord, type DeadLetterRecord } from './runtime/testing/test-driver';
export { DlqHeaders } from './runtime/dlq';
export { MetricNames } from './runtime/metrics/names';
export { partitionForKey } from './runtime/partitioner';
