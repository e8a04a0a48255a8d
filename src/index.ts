/**
 * Public API of vectors. Everything exported here is supported; anything
 * imported from a deeper path is internal and may change.
 */
export * from './errors';

// Runtime: topologies, bolts, groupings, serdes, stores, running, testing.
export { TopologyBuilder, DEFAULT_STREAM } from './runtime/topology/topology';
export type { Topology, SpoutOptions, BoltOptions, StoreOptions, SinkOptions, InputOptions, StreamOptions } from './runtime/topology/topology';
export type { Bolt, BoltContext, StreamRecord, PunctuationType, Cancellable, LogFn } from './runtime/topology/bolt';
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

// Runtime execution on Kafka.
export { TopologyRunner, type RunnerOptions, type ProcessingGuarantee } from './runtime/runner/topology-runner';
export { KafkajsClient } from './runtime/kafka/kafkajs-client';
export type { KafkaClient, KafkaClientOptions } from './runtime/kafka/client';

// The vectors domain.
export * from './vectors/records';
export { Topics, loadSchema, valueSubject, coreTopicSpecs, coreSubjects } from './vectors/contracts';
export { DecayedModel, type DecayedOptions } from './vectors/models/decayed';
export { FoldInModel, gramMatrix, type FoldInOptions } from './vectors/models/fold-in';
export { LifetimeModel, LIFETIME_DEFAULTS, type LifetimeOptions, type LifetimeVariant } from './vectors/models/lifetime';
export type { UserModel, UserModelName } from './vectors/models/user-model';
export { generateWorld, type World, type WorldOptions } from './vectors/synthetic/world';
export { DEFAULT_EXCLUDE, EXCLUDE_POLICIES, type ExcludePolicy } from './vectors/candidate-search';
export { UserFactorTable, UserFactorTableBuilder } from './vectors/snapshot/user-factors';
export { interactionOf, signalWeights, DEFAULT_SIGNAL_WEIGHTS, type SignalWeights, type Interaction } from './vectors/signals';
export { DEFAULT_EVENT_TIME_WINDOW, eventTimeWindow, type EventTimeWindow } from './vectors/event-time';
export { BruteForceIndex } from './vectors/index/brute-force';
export { HnswIndex, type HnswOptions } from './vectors/index/hnsw-index';
export { HnswGraph } from './vectors/index/hnsw-graph';
export type { NeighbourIndex, Neighbour, SearchOptions } from './vectors/index/ann-index';
export { EntityMatrix, EntityMatrixBuilder } from './vectors/snapshot/entity-matrix';
export { snapshotChecksum } from './vectors/snapshot/checksum';
export { SnapshotValidator } from './vectors/snapshot/validate';
export { buildManifest, parseManifest } from './vectors/snapshot/manifest';
export { readSnapshotFile, writeJsonlSnapshot, writeBinarySnapshot } from './vectors/snapshot/formats';
export { SnapshotCatalog, InMemorySnapshotSource, type SnapshotSource, type LifetimeFactors } from './vectors/snapshot-catalog';
export { publishSnapshot, KafkaSnapshotSource, readControlView, writeControl } from './app/snapshots';
