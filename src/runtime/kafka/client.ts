/**
 * The Kafka client as the runtime sees it. Everything Kafka-facing goes through
 * these interfaces so the client library can be replaced in one module
 * (today: kafkajs, in `kafkajs-client.ts`). No kafkajs type appears here.
 */

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** An offset is a decimal string, as Kafka offsets can exceed 2^53. */
export interface TopicPartitionOffset extends TopicPartition {
  offset: string;
}

export type Headers = Record<string, Buffer | string>;

/** A record to write. Without `partition`, the key's murmur2 hash picks it, as in the Java client. */
export interface OutgoingRecord {
  topic: string;
  key: Buffer | string | null;
  value: Buffer | null;
  partition?: number;
  headers?: Headers;
  /** Milliseconds since the epoch; the broker's time when absent. */
  timestamp?: number;
}

/** A record read from a topic. */
export interface IncomingRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | undefined>;
  timestamp: number;
}

/** One partition's records from one fetch, in offset order. */
export interface RecordBatch {
  topic: string;
  partition: number;
  records: IncomingRecord[];
  /** The partition's high watermark when fetched; lag = highWatermark - (last offset + 1). */
  highWatermark: string;
  /**
   * The offset of the fetch's last entry, transaction markers included (they
   * take an offset but are no record). Without it, a partition written by a
   * transactional producer would show a lag of 1 at rest: its last offset is
   * a marker. Optional: absent means the last record's offset.
   */
  lastOffset?: string;
}

export interface TopicSpec {
  name: string;
  partitions: number;
  replicationFactor?: number;
  /** Topic configs, e.g. `{ 'cleanup.policy': 'compact' }`. */
  config?: Record<string, string>;
}

export interface TopicDescription {
  name: string;
  partitions: number;
  config: Record<string, string>;
}

export interface PartitionOffsets {
  partition: number;
  low: string;
  high: string;
}

/** Administrative operations. */
export interface KafkaAdmin {
  /** Creates the topics that do not exist; returns the names it created. */
  createTopics(specs: TopicSpec[]): Promise<string[]>;
  deleteTopics(names: string[]): Promise<void>;
  listTopics(): Promise<string[]>;
  /** Partition count and the named configs (all non-default configs when `configNames` is omitted). */
  describeTopic(name: string, configNames?: string[]): Promise<TopicDescription | undefined>;
  topicOffsets(topic: string): Promise<PartitionOffsets[]>;
  /** The committed offsets of a group for a topic; `-1` where none. */
  committedOffsets(groupId: string, topic: string): Promise<TopicPartitionOffset[]>;
  /**
   * The members of a consumer group that uses the task assignor (see
   * {@link ConsumerOptions.taskOf}), each with the endpoint it advertised and
   * the partitions the last rebalance gave it. Empty while the group is
   * rebalancing or has no members.
   */
  groupMembers(groupId: string): Promise<GroupMember[]>;
  close(): Promise<void>;
}

/** A member of a consumer group, as the group coordinator knows it. */
export interface GroupMember {
  memberId: string;
  /** What the member advertised in {@link ConsumerOptions.endpoint}; null when it advertised none. */
  endpoint: string | null;
  assignment: TopicPartition[];
}

/** Where the last record sent to one partition landed. */
export interface ProducedOffset extends TopicPartition {
  lastOffset: string;
}

/** A producer. `send` resolves once every record is acknowledged by all in-sync replicas. */
export interface KafkaProducer {
  send(records: OutgoingRecord[]): Promise<ProducedOffset[]>;
  close(): Promise<void>;
}

/**
 * A transaction: writes and offset commits that become visible together or
 * not at all. Once a `send` or `sendOffsets` has failed, the transaction can
 * only be aborted: every later `send`, `sendOffsets` and `commit` rejects.
 * (The broker may have written the other records of a failed send; a commit
 * would publish them, and the offsets, without the refused ones.)
 */
export interface KafkaTransaction {
  send(records: OutgoingRecord[]): Promise<ProducedOffset[]>;
  sendOffsets(groupId: string, offsets: TopicPartitionOffset[]): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** A producer with a transactional id; a newer producer with the same id fences this one. */
export interface TransactionalProducer {
  readonly transactionalId: string;
  begin(): Promise<KafkaTransaction>;
  close(): Promise<void>;
}

export interface ConsumerOptions {
  groupId: string;
  /** Read only committed transactional records (needed for exactly-once). Default true. */
  readCommitted?: boolean;
  /** Start from the earliest offset where the group has none. Default true. */
  fromBeginning?: boolean;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  maxBytesPerPartition?: number;
  maxWaitTimeMs?: number;
  /**
   * Groups topic-partitions into tasks that must be assigned together, e.g.
   * partition p of every co-partitioned input topic. With it the group uses a
   * sticky task assignor: whole tasks, balanced, each kept by its previous
   * owner where possible (fewer state restores on rebalance). Without it,
   * partitions are assigned round-robin.
   */
  taskOf?: (topic: string, partition: number) => string;
  /** The task ids this member owns now; sent to the group leader to keep assignments sticky. */
  ownedTasks?: () => string[];
  /**
   * Standby replicas per task (Kafka Streams' `num.standby.replicas`), placed
   * by the group leader on other members than the task's owner and delivered
   * by {@link ConsumerHandlers.onStandbyAssignment}. Needs `taskOf`. Default 0.
   */
  standbyReplicas?: number;
  /** The task ids this member keeps as standby replicas now; sent to the group leader to keep them where their state is warm. */
  standbyTasks?: () => string[];
  /**
   * Where this member answers queries (e.g. `http://127.0.0.1:8090`), carried
   * in its group metadata so every instance can learn, via
   * {@link KafkaAdmin.groupMembers}, which one owns a partition. Needs `taskOf`.
   */
  endpoint?: string;
}

export interface BatchContext {
  heartbeat(): Promise<void>;
  /** False once the consumer is stopping or the group is rebalancing: stop early. */
  isRunning(): boolean;
  isStale(): boolean;
}

export interface ConsumerHandlers {
  /**
   * Called with one partition's batch; resolve only when the records are
   * processed. Resolve `false` for a batch that was not processed (stale after
   * a seek, or no longer owned): the consumer then does not move past it.
   */
  onBatch(batch: RecordBatch, ctx: BatchContext): Promise<boolean>;
  /** Called after every group join with this member's full assignment. */
  onAssignment?(assigned: TopicPartition[]): Promise<void> | void;
  /**
   * Called after {@link onAssignment} of the same join, with the task ids this
   * member is to keep as standby replicas (see
   * {@link ConsumerOptions.standbyReplicas}); possibly a moment later, since
   * the client may have to ask the group for them. Not called when the
   * consumer has no standby replicas configured.
   */
  onStandbyAssignment?(tasks: string[]): Promise<void> | void;
  /** Called when the consumer crashed and will not restart by itself. */
  onCrash?(error: Error): void;
}

/** A consumer in a group. Offsets are committed only by `commit` (no auto-commit). */
export interface KafkaConsumer {
  subscribe(topics: string[]): Promise<void>;
  run(handlers: ConsumerHandlers): Promise<void>;
  commit(offsets: TopicPartitionOffset[]): Promise<void>;
  pause(partitions: TopicPartition[]): void;
  resume(partitions: TopicPartition[]): void;
  seek(target: TopicPartitionOffset): void;
  /** Stops fetching, leaves the group and disconnects. */
  close(): Promise<void>;
}

/** One fetch of one partition by a {@link PartitionReader}. */
export interface FetchResult {
  /** Data records, without transaction control records and (read-committed) aborted records. */
  records: IncomingRecord[];
  /** Where the next fetch starts: past every returned, filtered and control record. */
  nextOffset: string;
  highWatermark: string;
  /** The end of committed data; equals the high watermark when no transaction is open. */
  lastStableOffset: string;
}

/**
 * Reads chosen partitions directly, outside any consumer group (what the Java
 * client calls `assign`): for restoring state from changelogs, loading a
 * topic in full, and broadcast inputs that every instance reads whole.
 */
export interface PartitionReader {
  /** One fetch from `offset`; waits up to `maxWaitMs` for data when there is none. */
  fetch(tp: TopicPartition, offset: string, maxWaitMs?: number): Promise<FetchResult>;
  close(): Promise<void>;
}

/**
 * TLS to the brokers. PEM contents, not file names (the CLI reads the files).
 * Without `ca` the system's trusted CAs verify the brokers' certificates.
 */
export interface KafkaTlsOptions {
  /** CA certificate(s) that signed the brokers' certificates. */
  ca?: string | Buffer;
  /** Client certificate, for brokers that require mutual TLS (`ssl.client.auth=required`); needs `key`. */
  cert?: string | Buffer;
  /** The client certificate's private key (unencrypted PEM). */
  key?: string | Buffer;
}

export type KafkaSaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

/** SASL authentication (listeners of type SASL_SSL or SASL_PLAINTEXT). */
export interface KafkaSaslOptions {
  mechanism: KafkaSaslMechanism;
  username: string;
  /** Never logged nor put in an error message. */
  password: string;
}

export interface KafkaClientOptions {
  brokers: string[];
  clientId: string;
  /** Log level of the client library: 'nothing' | 'error' | 'warn' | 'info' | 'debug'. Default 'error'. */
  logLevel?: 'nothing' | 'error' | 'warn' | 'info' | 'debug';
  /** TLS to the brokers: `true` for the system's CAs, or the CA and client certificate to use. Plaintext when absent. */
  tls?: KafkaTlsOptions | boolean;
  /** SASL credentials; none when absent. Over a connection without `tls` they travel in clear (SASL_PLAINTEXT). */
  sasl?: KafkaSaslOptions;
}

/** Factory for admins, producers and consumers on one cluster. */
export interface KafkaClient {
  /**
   * Whether `err`, thrown by this client or one of its admins, producers,
   * consumers or readers, means the cluster is unavailable for now (down,
   * restarting, unreachable, a coordinator loading): the same work can succeed
   * later, so a caller waits and reconnects instead of failing for good.
   */
  isClusterUnavailable(err: unknown): boolean;
  admin(): Promise<KafkaAdmin>;
  producer(): Promise<KafkaProducer>;
  /**
   * A transactional producer, initialised before it resolves: a previous
   * producer with the same id is fenced by then, and its open transaction
   * finished by the coordinator (committed if it was committing, aborted
   * otherwise).
   */
  transactionalProducer(transactionalId: string): Promise<TransactionalProducer>;
  consumer(options: ConsumerOptions): Promise<KafkaConsumer>;
  /** A reader of committed data (read_committed) unless `readUncommitted`. */
  partitionReader(options?: { readUncommitted?: boolean; maxBytes?: number }): Promise<PartitionReader>;
}
