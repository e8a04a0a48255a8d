/**
 * Public surface of the runtime: stream processing on Kafka for Node.js —
 * topologies of spouts, bolts and sinks, keyed state (in memory or RocksDB)
 * with changelogs, at-least-once and exactly-once processing, dead-letter
 * topics, metrics, and two ways to run without a broker (the test driver and
 * an in-memory Kafka client).
 *
 * The runtime knows nothing of vectors and is publishable on its own: nothing
 * under `src/runtime` imports code outside it, nor the native ANN addon
 * (checked by `test/unit/runtime/import-graph.test.ts`). Everything exported
 * here is supported; anything imported from a deeper path is internal and may
 * change.
 */

// Errors: the base class, the runtime's errors and their stable codes.
export * from './errors';

// Topologies and bolts.
export { TopologyBuilder, DEFAULT_STREAM } from './topology/topology';
export type { Topology, SpoutOptions, BoltOptions, StoreOptions, SinkOptions, InputOptions, StreamOptions } from './topology/topology';
export type { Bolt, BoltContext, StreamRecord, PunctuationType, Cancellable, LogFn } from './topology/bolt';
export { Groupings, type Grouping } from './topology/grouping';
export type { MisroutedPolicy } from './task';
export { DlqHeaders } from './dlq';
export { partitionForKey } from './partitioner';

// Serdes and schema registries.
export { StringSerde, Int64Serde, BytesSerde, jsonSerde, type Serde, type PreparedSerde } from './serde/serde';
export { typedJsonSerde } from './serde/typed-json';
export { avro, type SerdeFactory, type SerdeSpec, type SerdeContext } from './serde/serde-spec';
export { AvroSerde, type AvroSerdeOptions } from './serde/avro-serde';
export { InMemorySchemaRegistry, type SchemaRegistry, type CompatibilityLevel } from './serde/schema-registry';
export { ConfluentSchemaRegistry, type RegistryAuth } from './serde/confluent-registry';

// State stores: the typed interfaces bolts see, and the byte-store backends.
export type { KeyValueStore, ReadOnlyKeyValueStore, BytesStore, WriteOp, RangeOptions, Entry } from './state/store';
export { MemoryBytesStore } from './state/memory/memory-store';
export { RocksDBBytesStore, type RocksDBStoreOptions } from './state/rocksdb/rocksdb-store';

// Running on Kafka.
export { TopologyRunner, type RunnerOptions, type ProcessingGuarantee, type KeyQueryMetadata } from './runner/topology-runner';
export { provisionTopics, registerSchemas, type ProvisionReport, type SubjectSpec } from './admin/provision';
export { KafkajsClient } from './kafka/kafkajs-client';
export { readRange, type RangeEnd } from './kafka/read-range';
export type {
  KafkaClient,
  KafkaClientOptions,
  KafkaTlsOptions,
  KafkaSaslOptions,
  KafkaSaslMechanism,
  KafkaAdmin,
  KafkaProducer,
  KafkaTransaction,
  TransactionalProducer,
  KafkaConsumer,
  ConsumerOptions,
  ConsumerHandlers,
  BatchContext,
  PartitionReader,
  FetchResult,
  RecordBatch,
  IncomingRecord,
  OutgoingRecord,
  Headers,
  ProducedOffset,
  TopicPartition,
  TopicPartitionOffset,
  TopicSpec,
  TopicDescription,
  PartitionOffsets,
  GroupMember,
} from './kafka/client';

// Metrics.
export { MetricNames, ProcessMetricNames } from './metrics/names';
export { registerProcessMetrics } from './metrics/process-metrics';
export { RuntimeMetrics } from './metrics/runtime-metrics';
export { RecordHistogram, type HistogramSeries } from './metrics/record-histogram';
export { startMetricsServer, type MetricsServer, type MetricsServerOptions } from './metrics/metrics-server';

// Running without a broker.
export { TopologyTestDriver, type TestDriverOptions, type OutputRecord, type DeadLetterRecord } from './testing/test-driver';
export { MemoryKafkaCluster, MemoryKafkaClient } from './testing/memory-kafka';
