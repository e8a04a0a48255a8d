// The only module that imports kafkajs. Replacing the client library means
// writing another implementation of the interfaces in ./client.
// First, before kafkajs loads its protocol modules: see the patch's comment.
import { Socket } from 'node:net';
import './kafkajs-encoder-patch';
import {
  type Admin,
  AssignerProtocol,
  ConfigResourceTypes,
  type PartitionAssigner,
  type Consumer,
  type ICustomPartitioner,
  type ISocketFactory,
  Kafka,
  type KafkaConfig,
  logLevel as KafkaLogLevel,
  type Message,
  type Producer,
  type RecordMetadata,
  type SASLOptions,
} from 'kafkajs';
import { GroupRebalanceError, KafkaError } from '../errors';
import { partitionForKey } from '../partitioner';
import { assignStandbys, assignTasks } from './task-assignor';
import { guardTransaction } from './transaction-guard';
import type {
  ConsumerHandlers,
  FetchResult,
  PartitionReader,
  ProducedOffset,
  ConsumerOptions,
  IncomingRecord,
  GroupMember,
  KafkaAdmin,
  KafkaClient,
  KafkaClientOptions,
  KafkaTlsOptions,
  KafkaConsumer,
  KafkaProducer,
  KafkaTransaction,
  OutgoingRecord,
  PartitionOffsets,
  TopicDescription,
  TopicPartition,
  TopicPartitionOffset,
  TopicSpec,
  TransactionalProducer,
} from './client';

const LEVELS = {
  nothing: KafkaLogLevel.NOTHING,
  error: KafkaLogLevel.ERROR,
  warn: KafkaLogLevel.WARN,
  info: KafkaLogLevel.INFO,
  debug: KafkaLogLevel.DEBUG,
} as const;

/** Protocol errors that mean the group's generation moved on (kafkajs' own `isRebalancing`, plus a member the group forgot). */
const REBALANCE_ERRORS = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'NOT_COORDINATOR_FOR_GROUP', 'FENCED_INSTANCE_ID']);

/** kafkajs errors that mean the cluster did not answer (down, restarting, unreachable), not that the request was wrong. */
const UNAVAILABLE_ERRORS = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSNoBrokerAvailableError',
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSTopicMetadataNotLoaded',
  'KafkaJSLockTimeout',
]);
/** Socket errors of Node under a kafkajs error (some paths surface them unwrapped). */
const UNAVAILABLE_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Whether `err` (a kafkajs error, or ours wrapping one) means the cluster is
 * unavailable for now: a connection refused or closed, a request timed out,
 * no broker or coordinator found, or a retriable protocol error (coordinator
 * loading, leader moving) that kafkajs gave up retrying. The same request can
 * succeed once the cluster is back. A request the broker refused on its merits
 * (record too large, authorisation, an unknown topic) is not.
 */
export function isClusterUnavailable(err: unknown): boolean {
  for (
    let e: unknown = err, depth = 0;
    e && depth < 8;
    e = (e as { cause?: unknown; originalError?: unknown }).cause ?? (e as { originalError?: unknown }).originalError, depth++
  ) {
    if (e instanceof KafkaError) {
      if (e.retriable) return true;
      continue;
    }
    const name = String((e as { name?: unknown }).name);
    if (UNAVAILABLE_ERRORS.has(name)) return true;
    if (UNAVAILABLE_SOCKET_CODES.has(String((e as { code?: unknown }).code))) return true;
    // A protocol error kafkajs marks retriable (COORDINATOR_LOAD_IN_PROGRESS, NOT_LEADER_OR_FOLLOWER, ...), not a rebalance.
    if (name === 'KafkaJSProtocolError' && (e as { retriable?: unknown }).retriable === true && !REBALANCE_ERRORS.has(String((e as { type?: unknown }).type)))
      return true;
  }
  return false;
}

function wrap(operation: string, err: unknown): KafkaError | GroupRebalanceError {
  if (err instanceof KafkaError || err instanceof GroupRebalanceError) return err;
  // kafkajs' retrier wraps the protocol error: look down the cause chain for its type.
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (REBALANCE_ERRORS.has(String((e as { type?: unknown }).type))) return new GroupRebalanceError(operation, err);
  }
  if (isAuthenticationFailure(err)) operation = `${operation} (authentication refused: check the SASL mechanism, username and password)`;
  return new KafkaError(operation, err, isClusterUnavailable(err));
}

function isAuthenticationFailure(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { name?: unknown }).name === 'KafkaJSSASLAuthenticationError') return true;
  }
  return false;
}

/** kafkajs' `ssl` and `sasl` settings from ours; the same for the client and the partition readers' clusters. */
function securityOf(options: KafkaClientOptions): { ssl?: boolean | KafkaTlsOptions; sasl?: SASLOptions } {
  const out: { ssl?: boolean | KafkaTlsOptions; sasl?: SASLOptions } = {};
  if (options.tls === true) out.ssl = true;
  else if (options.tls) {
    const { ca, cert, key } = options.tls;
    out.ssl = { ...(ca !== undefined ? { ca } : {}), ...(cert !== undefined ? { cert } : {}), ...(key !== undefined ? { key } : {}) };
  }
  if (options.sasl) {
    const { mechanism, username, password } = options.sasl;
    // kafkajs types each mechanism apart; ours are exactly its plain and SCRAM ones.
    out.sasl = { mechanism, username, password } as SASLOptions;
  }
  return out;
}

/**
 * Errors kafkajs logs at ERROR that are routine in a consumer group's life
 * (a peer joined or left, a topic is still being created or moved): the
 * client recovers from each by itself, and the runtime logs what matters
 * (rebalances, refused commits). A rolling restart used to print hundreds.
 */
const ROUTINE_ERRORS =
  /rebalancing|group generation id is not valid|not the correct coordinator|coordinator is (loading|not available)|does not host this topic-partition|unknown member|There is no leader for this topic-partition|Topic with this name already exists|Topic creation errors/i;

/**
 * Connection failures: kafkajs logs each attempt of each client at ERROR, hundreds
 * a minute while a broker is down; the runtime says once that the cluster is
 * unavailable and once that it reconnected.
 */
const CONNECTION_ERRORS =
  /Connection error|ECONNREFUSED|ECONNRESET|Failed to connect to seed broker|Connection timeout|Closed connection|Request .* timed out/i;

/** kafkajs' console JSON logger, with routine errors and connection failures demoted to debug. */
function logCreator(configured: number) {
  return () =>
    ({ namespace, level, label, log }: { namespace: string; level: number; label: string; log: { message: string; error?: string } }) => {
      let lvl = level;
      let tag = label;
      const text = `${log.error ?? ''} ${log.message}`;
      if (level === KafkaLogLevel.ERROR && (ROUTINE_ERRORS.test(text) || CONNECTION_ERRORS.test(text))) {
        lvl = KafkaLogLevel.DEBUG;
        tag = 'DEBUG';
      }
      if (lvl > configured) return;
      const line = JSON.stringify({ level: tag, ...log, message: `${namespace ? `[${namespace}] ` : ''}${log.message}` });
      if (lvl === KafkaLogLevel.ERROR) console.error(line);
      else if (lvl === KafkaLogLevel.WARN) console.warn(line);
      else console.log(line);
    };
}

/**
 * kafkajs's DefaultPartitioner, placing every record where it does: the
 * record's partition if it names one, else by the Java client's murmur2 of
 * the key, else round robin over the partitions that have a leader. With the
 * runtime's murmur2 (`partitioner.ts`, 32-bit integer arithmetic): kafkajs's
 * builds Long objects for every four bytes of a key, and its partitioner
 * filters the partition list for every message; for a topology's outputs that
 * was about a tenth of the bytes allocated at 5,000 records/s
 * (docs/BENCHMARKS.md, "Session 16").
 */
export const javaCompatiblePartitioner: ICustomPartitioner = () => {
  const counters = new Map<string, number>();
  return ({ topic, partitionMetadata, message }) => {
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    const key = message.key;
    if (key !== null && key !== undefined) return partitionForKey(Buffer.isBuffer(key) ? key : Buffer.from(String(key)), partitionMetadata.length);
    const next = (counters.get(topic) ?? Math.floor(Math.random() * 0x80000000)) + 1;
    counters.set(topic, next);
    const available = partitionMetadata.filter((p) => p.leader >= 0);
    // No partition has a leader: a non-available one, as kafkajs does; the send is retried.
    if (available.length === 0) return (next & 0x7fffffff) % partitionMetadata.length;
    return available[(next & 0x7fffffff) % available.length]!.partitionId;
  };
};

function toMessage(r: OutgoingRecord): Message {
  const m: Message = { key: r.key, value: r.value };
  if (r.partition !== undefined) m.partition = r.partition;
  if (r.headers) m.headers = r.headers;
  if (r.timestamp !== undefined) m.timestamp = String(r.timestamp);
  return m;
}

/** Groups records by topic, keeping each topic's order. */
function byTopic(records: OutgoingRecord[]): { topic: string; messages: Message[] }[] {
  const groups = new Map<string, Message[]>();
  for (const r of records) {
    let list = groups.get(r.topic);
    if (!list) groups.set(r.topic, (list = []));
    list.push(toMessage(r));
  }
  return [...groups].map(([topic, messages]) => ({ topic, messages }));
}

function byTopicOffsets(offsets: TopicPartitionOffset[]): { topic: string; partitions: { partition: number; offset: string }[] }[] {
  const groups = new Map<string, { partition: number; offset: string }[]>();
  for (const o of offsets) {
    let list = groups.get(o.topic);
    if (!list) groups.set(o.topic, (list = []));
    list.push({ partition: o.partition, offset: o.offset });
  }
  return [...groups].map(([topic, partitions]) => ({ topic, partitions }));
}

function byTopicPartitions(tps: TopicPartition[]): { topic: string; partitions: number[] }[] {
  const groups = new Map<string, number[]>();
  for (const tp of tps) {
    let list = groups.get(tp.topic);
    if (!list) groups.set(tp.topic, (list = []));
    list.push(tp.partition);
  }
  return [...groups].map(([topic, partitions]) => ({ topic, partitions }));
}

/** Last offset per partition, from the base offsets the broker returned and the record counts we sent. */
function producedOffsets(records: OutgoingRecord[], metadata: RecordMetadata[]): ProducedOffset[] {
  const counts = new Map<string, number>();
  for (const r of records) {
    if (r.partition === undefined) continue;
    const k = `${r.topic}\u0000${r.partition}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const out: ProducedOffset[] = [];
  for (const m of metadata) {
    const n = counts.get(`${m.topicName}\u0000${m.partition}`);
    if (n === undefined || m.baseOffset === undefined) continue;
    out.push({ topic: m.topicName, partition: m.partition, lastOffset: (BigInt(m.baseOffset) + BigInt(n - 1)).toString() });
  }
  return out;
}

// kafkajs encodes a request in a buffer that grows by copying: sending 16k
// records in one request runs at ~9k records/s, 1-2k per request at ~60k/s.
// The broker also refuses a record batch over message.max.bytes (1 MiB by
// default), so requests are cut by bytes too.
const MAX_RECORDS_PER_REQUEST = 1000;
const MAX_BYTES_PER_REQUEST = 512 * 1024;

function sizeOf(r: OutgoingRecord): number {
  let n = 32 + (r.value?.length ?? 0) + (r.key === null ? 0 : typeof r.key === 'string' ? Buffer.byteLength(r.key) : r.key.length);
  for (const [k, v] of Object.entries(r.headers ?? {})) n += k.length + (typeof v === 'string' ? Buffer.byteLength(v) : v.length) + 8;
  return n;
}

/** Sends in requests of at most MAX_RECORDS_PER_REQUEST records and MAX_BYTES_PER_REQUEST bytes, in order; merges the offsets. */
async function sendChunked(records: OutgoingRecord[], sendOne: (chunk: OutgoingRecord[]) => Promise<RecordMetadata[]>): Promise<ProducedOffset[]> {
  const last = new Map<string, ProducedOffset>();
  let start = 0;
  while (start < records.length) {
    let end = start;
    let bytes = 0;
    while (end < records.length && end - start < MAX_RECORDS_PER_REQUEST) {
      const size = sizeOf(records[end]!);
      if (end > start && bytes + size > MAX_BYTES_PER_REQUEST) break;
      bytes += size;
      end++;
    }
    const chunk = records.slice(start, end);
    for (const o of producedOffsets(chunk, await sendOne(chunk))) last.set(`${o.topic}\u0000${o.partition}`, o);
    start = end;
  }
  return [...last.values()];
}

class KafkajsProducer implements KafkaProducer {
  constructor(
    private readonly producer: Producer,
    /** No new connection after this: sends kafkajs still retries can never reach a broker again. */
    private readonly shut: () => void,
  ) {}

  async send(records: OutgoingRecord[]): Promise<ProducedOffset[]> {
    if (records.length === 0) return [];
    try {
      return await sendChunked(records, (chunk) => this.producer.sendBatch({ topicMessages: byTopic(chunk), acks: -1 }));
    } catch (err) {
      throw wrap('produce', err);
    }
  }

  async close(): Promise<void> {
    this.shut();
    await this.producer.disconnect();
  }
}

class KafkajsTransactionalProducer implements TransactionalProducer {
  constructor(
    private readonly producer: Producer,
    readonly transactionalId: string,
    /** No new connection after this: sends kafkajs still retries can never reach a broker again. */
    private readonly shut: () => void,
  ) {}

  async begin(): Promise<KafkaTransaction> {
    let txn: Awaited<ReturnType<Producer['transaction']>>;
    try {
      txn = await this.producer.transaction();
    } catch (err) {
      throw wrap(`begin transaction (${this.transactionalId})`, err);
    }
    const id = this.transactionalId;
    return guardTransaction(id, {
      async send(records) {
        if (records.length === 0) return [];
        try {
          return await sendChunked(records, (chunk) => txn.sendBatch({ topicMessages: byTopic(chunk), acks: -1 }));
        } catch (err) {
          throw wrap(`transactional produce (${id})`, err);
        }
      },
      async sendOffsets(groupId, offsets) {
        try {
          await txn.sendOffsets({ consumerGroupId: groupId, topics: byTopicOffsets(offsets) });
        } catch (err) {
          throw wrap(`transactional offset commit (${id})`, err);
        }
      },
      async commit() {
        try {
          await txn.commit();
        } catch (err) {
          throw wrap(`commit transaction (${id})`, err);
        }
      },
      async abort() {
        try {
          await txn.abort();
        } catch (err) {
          throw wrap(`abort transaction (${id})`, err);
        }
      },
    });
  }

  async close(): Promise<void> {
    this.shut();
    await this.producer.disconnect();
  }
}

class KafkajsConsumer implements KafkaConsumer {
  constructor(
    private readonly consumer: Consumer,
    private readonly options: ConsumerOptions,
    /** Shared with the consumer's `restartOnFailure` and its assigner: a closed consumer is never restarted and holds no partition. */
    private readonly lifecycle: { closed: boolean },
  ) {}

  private get closed(): boolean {
    return this.lifecycle.closed;
  }

  /**
   * This member's standby tasks in the group's current assignment. kafkajs
   * hands a member its partitions but drops the userData the leader put
   * beside them, so they are read back from the group's description; while
   * the group is not stable (another rebalance began) there is nothing to
   * read, and the next join brings its own. Undefined when not found.
   */
  private async standbyOf(memberId: string): Promise<string[] | undefined> {
    for (let attempt = 0; attempt < STANDBY_LOOKUP_ATTEMPTS && !this.closed; attempt++) {
      try {
        const group = await this.consumer.describeGroup();
        const me = group.state === 'Stable' ? group.members.find((m) => m.memberId === memberId) : undefined;
        if (me) return decodeStandby(me.memberAssignment);
      } catch {
        // Retried below: a coordinator moving, a broker restarting.
      }
      await new Promise((r) => setTimeout(r, STANDBY_LOOKUP_BACKOFF_MS));
    }
    return undefined;
  }

  async subscribe(topics: string[]): Promise<void> {
    try {
      await this.consumer.subscribe({ topics, fromBeginning: this.options.fromBeginning ?? true });
    } catch (err) {
      throw wrap(`subscribe to ${topics.join(', ')}`, err);
    }
  }

  async run(handlers: ConsumerHandlers): Promise<void> {
    this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => {
      // A consumer closed while the cluster was away can come back by itself (kafkajs restarts a
      // crashed consumer on a timer) and would hold partitions nobody processes: make it leave.
      if (this.closed) return void this.consumer.disconnect().catch(() => undefined);
      const assigned: TopicPartition[] = [];
      for (const [topic, partitions] of Object.entries(event.payload.memberAssignment)) {
        for (const partition of partitions) assigned.push({ topic, partition });
      }
      void handlers.onAssignment?.(assigned);
      if ((this.options.standbyReplicas ?? 0) > 0 && handlers.onStandbyAssignment) {
        const onStandby = handlers.onStandbyAssignment.bind(handlers);
        void this.standbyOf(event.payload.memberId).then((tasks) => (tasks ? onStandby(tasks) : undefined));
      }
    });
    if (handlers.onCrash) {
      this.consumer.on(this.consumer.events.CRASH, (event) => {
        if (!event.payload.restart) handlers.onCrash!(event.payload.error);
      });
    }
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
        // A closed consumer back in the group: fail its batch so that kafkajs stops it (it does not restart a closed one).
        if (this.closed) throw new Error('consumer closed by the runtime');
        const records: IncomingRecord[] = batch.messages.map((m) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          key: m.key,
          value: m.value,
          headers: (m.headers ?? {}) as Record<string, Buffer | undefined>,
          timestamp: Number(m.timestamp),
        }));
        const processed = await handlers.onBatch(
          { topic: batch.topic, partition: batch.partition, records, highWatermark: batch.highWatermark, lastOffset: batch.lastOffset() },
          { heartbeat, isRunning, isStale },
        );
        const last = records[records.length - 1];
        if (processed && last) resolveOffset(last.offset);
      },
    });
  }

  async commit(offsets: TopicPartitionOffset[]): Promise<void> {
    if (offsets.length === 0) return;
    try {
      await this.consumer.commitOffsets(offsets);
    } catch (err) {
      throw wrap('commit offsets', err);
    }
  }

  pause(partitions: TopicPartition[]): void {
    this.consumer.pause(byTopicPartitions(partitions));
  }

  resume(partitions: TopicPartition[]): void {
    this.consumer.resume(byTopicPartitions(partitions));
  }

  seek(target: TopicPartitionOffset): void {
    this.consumer.seek(target);
  }

  async close(): Promise<void> {
    this.lifecycle.closed = true;
    await this.consumer.disconnect();
  }
}

// kafkajs has no manual partition assignment in its public API. Its Cluster,
// Broker.fetch and Batch (which drops control records and aborted
// transactions) are what its own consumer uses; we use them the same way.
/* eslint-disable @typescript-eslint/no-require-imports */
const KafkajsCluster = require('kafkajs/src/cluster');
const KafkajsBatch = require('kafkajs/src/consumer/batch');
const { createLogger } = require('kafkajs/src/loggers');
const defaultSocketFactory = require('kafkajs/src/network/socketFactory');
/* eslint-enable @typescript-eslint/no-require-imports */

// Idempotence needs unbounded retries (a bounded count may reorder or duplicate
// on retry); the backoff stays bounded, and shutdown has its own deadline.
const IDEMPOTENT_RETRY = { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 5000 };

/** Attempts of one partition-reader fetch on retriable errors (about 10 s of backoff in all). */
const FETCH_ATTEMPTS = 8;

const READ_COMMITTED = 1;
const READ_UNCOMMITTED = 0;

class KafkajsPartitionReader implements PartitionReader {
  /**
   * Fetches of this reader, one at a time: kafkajs opens a broker connection
   * on first use without guarding against a concurrent first use, and two
   * fetches racing there (two restores at once) open two sockets, one of
   * which is never closed (it kept the process alive after close()). The
   * broker answers one request per connection at a time anyway.
   */
  private inFlight: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly cluster: any, // eslint-disable-line @typescript-eslint/no-explicit-any
    private readonly isolationLevel: number,
    private readonly maxBytes: number,
  ) {}

  async fetch(tp: { topic: string; partition: number }, offset: string, maxWaitMs = 0): Promise<FetchResult> {
    const attempt = async (): Promise<FetchResult> => {
      await this.cluster.addTargetTopic(tp.topic);
      const leaders = this.cluster.findLeaderForPartitions(tp.topic, [tp.partition]);
      const nodeId = Object.keys(leaders)[0];
      if (nodeId === undefined) throw new Error(`no leader for ${tp.topic}-${tp.partition}`);
      const broker = await this.cluster.findBroker({ nodeId });
      const response = await broker.fetch({
        replicaId: -1,
        isolationLevel: this.isolationLevel,
        maxWaitTime: maxWaitMs,
        minBytes: 1,
        maxBytes: this.maxBytes,
        topics: [{ topic: tp.topic, partitions: [{ partition: tp.partition, fetchOffset: offset, maxBytes: this.maxBytes }] }],
      });
      const data = response.responses[0].partitions[0];
      const batch = new KafkajsBatch(tp.topic, offset, data);
      const within: { offset: string }[] = batch.messagesWithinOffset;
      const last = within[within.length - 1];
      const nextOffset = last ? (BigInt(last.offset) + 1n).toString() : offset;
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const records: IncomingRecord[] = batch.messages.map((m: any) => ({
        topic: tp.topic,
        partition: tp.partition,
        offset: m.offset,
        key: m.key,
        value: m.value,
        headers: m.headers ?? {},
        timestamp: Number(m.timestamp),
      }));
      const lso = data.lastStableOffset !== undefined && data.lastStableOffset !== '-1' ? data.lastStableOffset : data.highWatermark;
      return { records, nextOffset, highWatermark: data.highWatermark, lastStableOffset: lso };
    };
    // Leadership or metadata may be stale (a topic just created, a broker restarting): refresh and
    // try again for a few seconds on retriable errors, as kafkajs' own consumer would.
    for (let tries = 1; ; tries++) {
      try {
        const turn = this.inFlight.then(attempt, attempt);
        this.inFlight = turn.catch(() => undefined);
        return await turn;
      } catch (err) {
        const retriable = (err as { retriable?: boolean }).retriable !== false;
        if (!retriable || tries >= FETCH_ATTEMPTS) throw wrap(`fetch ${tp.topic}-${tp.partition} at ${offset}`, err);
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** (tries - 1), 2000)));
        await this.cluster.refreshMetadata().catch(() => undefined);
      }
    }
  }

  async close(): Promise<void> {
    await this.cluster.disconnect();
  }
}

const TASK_ASSIGNOR = 'VectorsStickyTaskAssignor';
/** Reading a member's standby tasks back from the group after a join: attempts, and the wait between them. */
const STANDBY_LOOKUP_ATTEMPTS = 10;
const STANDBY_LOOKUP_BACKOFF_MS = 500;

/** What a member of the task assignor's group puts in its metadata's userData (JSON). */
interface MemberData {
  owned: string[];
  /** The tasks it keeps as standby replicas now. */
  standby?: string[];
  endpoint: string | null;
  /** A consumer the runner closed (kafkajs can bring one back into the group by itself): it gets no partition. */
  closed?: boolean;
}

function decodeMemberData(memberMetadata: Buffer): MemberData {
  try {
    const meta = AssignerProtocol.MemberMetadata.decode(memberMetadata);
    const data: unknown = meta?.userData?.length ? JSON.parse(meta.userData.toString('utf8')) : {};
    // Members of earlier versions sent just the array of owned task ids.
    if (Array.isArray(data)) return { owned: data.map(String), endpoint: null };
    const d = data as Partial<MemberData>;
    return {
      owned: Array.isArray(d.owned) ? d.owned.map(String) : [],
      standby: Array.isArray(d.standby) ? d.standby.map(String) : [],
      endpoint: typeof d.endpoint === 'string' ? d.endpoint : null,
      closed: d.closed === true,
    };
  } catch {
    return { owned: [], endpoint: null };
  }
}

/** What the group leader puts in each member's assignment's userData (JSON). kafkajs drops it on the member's side: read back with describeGroup. */
interface AssignmentData {
  standby: string[];
}

/** The standby task ids in a member's assignment (empty for none, or for an assignment of an older version). */
function decodeStandby(memberAssignment: Buffer): string[] {
  try {
    const decoded = memberAssignment.length ? AssignerProtocol.MemberAssignment.decode(memberAssignment) : null;
    const data: unknown = decoded?.userData?.length ? JSON.parse(decoded.userData.toString('utf8')) : {};
    const standby = (data as Partial<AssignmentData>).standby;
    return Array.isArray(standby) ? standby.map(String) : [];
  } catch {
    return [];
  }
}

/**
 * Assigns whole tasks (all topic-partitions with the same task id together),
 * balanced to within one task per member, keeping each task with the member
 * that owned it before when that member still has room, and places the
 * standby replicas (see {@link assignStandbys}).
 */
function taskAssigner(options: ConsumerOptions & { taskOf: (topic: string, partition: number) => string }, lifecycle: { closed: boolean }): PartitionAssigner {
  const { taskOf, endpoint } = options;
  const ownedTasks = options.ownedTasks ?? (() => []);
  const standbyTasks = options.standbyTasks ?? (() => []);
  return ({ cluster }) => ({
    name: TASK_ASSIGNOR,
    version: 1,
    async assign({ members, topics }) {
      const tasks = new Map<string, { topic: string; partition: number }[]>();
      for (const topic of topics) {
        for (const meta of cluster.findTopicPartitionMetadata(topic)) {
          const id = taskOf(topic, meta.partitionId);
          let tps = tasks.get(id);
          if (!tps) tasks.set(id, (tps = []));
          tps.push({ topic, partition: meta.partitionId });
        }
      }
      // Members that were closed hold nothing (unless every member is: then the group has no other).
      const assignorMembers = members.map((m) => {
        const data = decodeMemberData(m.memberMetadata);
        return { memberId: m.memberId, owned: data.owned, standby: data.standby ?? [], closed: data.closed === true };
      });
      const load = assignTasks(tasks.keys(), assignorMembers);
      const standby = assignStandbys(load, assignorMembers, options.standbyReplicas ?? 0);
      return members.map(({ memberId }) => {
        const assignment: Record<string, number[]> = {};
        for (const t of load.get(memberId) ?? []) {
          for (const tp of tasks.get(t)!) (assignment[tp.topic] ??= []).push(tp.partition);
        }
        const userData = Buffer.from(JSON.stringify({ standby: standby.get(memberId) ?? [] } satisfies AssignmentData), 'utf8');
        return { memberId, memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment, userData }) };
      });
    },
    protocol({ topics }) {
      return {
        name: TASK_ASSIGNOR,
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: 1,
          topics,
          userData: Buffer.from(
            JSON.stringify({ owned: ownedTasks(), standby: standbyTasks(), endpoint: endpoint ?? null, closed: lifecycle.closed } satisfies MemberData),
            'utf8',
          ),
        }),
      };
    },
  });
}

/** Waits until every topic has metadata with a leader for each partition (about 15 s at most), else throws `cause`. */
async function waitForMetadata(admin: Admin, topics: string[], cause: unknown): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const { topics: found } = await admin.fetchTopicMetadata({ topics });
      if (found.length === topics.length && found.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) throw wrap('create topics', cause);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** {@link KafkaClient} on kafkajs 2. */
export class KafkajsClient implements KafkaClient {
  private readonly kafka: Kafka;

  isClusterUnavailable(err: unknown): boolean {
    return isClusterUnavailable(err);
  }

  constructor(private readonly options: KafkaClientOptions) {
    this.kafka = new Kafka(this.config());
  }

  private config(socketFactory?: ISocketFactory): KafkaConfig {
    const { options } = this;
    return {
      clientId: options.clientId,
      brokers: options.brokers,
      ...securityOf(options),
      logLevel: LEVELS[options.logLevel ?? 'error'],
      // kafkajs filters by logLevel before the creator; the creator demotes routine errors below it.
      logCreator: logCreator(LEVELS[options.logLevel ?? 'error']) as never,
      retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 5000 },
      ...(socketFactory ? { socketFactory } : {}),
    };
  }

  async admin(): Promise<KafkaAdmin> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
    } catch (err) {
      throw wrap(`connect to ${this.options.brokers.join(',')}`, err);
    }
    return {
      async createTopics(specs: TopicSpec[]) {
        const existing = new Set(await admin.listTopics());
        const missing = specs.filter((s) => !existing.has(s.name));
        if (missing.length === 0) return [];
        try {
          await admin.createTopics({
            waitForLeaders: true,
            topics: missing.map((s) => ({
              topic: s.name,
              numPartitions: s.partitions,
              replicationFactor: s.replicationFactor ?? 1,
              configEntries: Object.entries(s.config ?? {}).map(([name, value]) => ({ name, value })),
            })),
          });
        } catch (err) {
          // Another instance may have created them concurrently; that is fine.
          if (/already exists/i.test(String((err as Error).message))) return missing.map((s) => s.name);
          // Created, but the broker answering the metadata request does not know them yet (KRaft
          // propagates new topics asynchronously; kafkajs only waits out LEADER_NOT_AVAILABLE).
          if (!/does not host this topic-partition/i.test(String((err as Error).message))) throw wrap('create topics', err);
          await waitForMetadata(
            admin,
            missing.map((s) => s.name),
            err,
          );
        }
        return missing.map((s) => s.name);
      },
      async deleteTopics(names: string[]) {
        if (names.length === 0) return;
        try {
          await admin.deleteTopics({ topics: names });
        } catch (err) {
          throw wrap(`delete topics ${names.join(', ')}`, err);
        }
      },
      async listTopics() {
        return admin.listTopics();
      },
      async describeTopic(name: string, configNames?: string[]): Promise<TopicDescription | undefined> {
        const topics = await admin.listTopics();
        if (!topics.includes(name)) return undefined;
        const meta = await admin.fetchTopicMetadata({ topics: [name] });
        const configs = await admin.describeConfigs({
          includeSynonyms: false,
          resources: [{ type: ConfigResourceTypes.TOPIC, name, ...(configNames ? { configNames } : {}) }],
        });
        const config: Record<string, string> = {};
        for (const entry of configs.resources[0]?.configEntries ?? []) {
          if (configNames || !entry.isDefault) config[entry.configName] = entry.configValue;
        }
        return { name, partitions: meta.topics[0]?.partitions.length ?? 0, config };
      },
      async topicOffsets(topic: string): Promise<PartitionOffsets[]> {
        const offsets = await admin.fetchTopicOffsets(topic);
        return offsets.map((o) => ({ partition: o.partition, low: o.low, high: o.high }));
      },
      async committedOffsets(groupId: string, topic: string): Promise<TopicPartitionOffset[]> {
        const res = await admin.fetchOffsets({ groupId, topics: [topic] });
        return (res[0]?.partitions ?? []).map((p) => ({ topic, partition: p.partition, offset: p.offset }));
      },
      async groupMembers(groupId: string): Promise<GroupMember[]> {
        let described;
        try {
          described = await admin.describeGroups([groupId]);
        } catch (err) {
          throw wrap(`describe group ${groupId}`, err);
        }
        const group = described.groups[0];
        if (!group || group.state !== 'Stable' || group.protocol !== TASK_ASSIGNOR) return [];
        return group.members.map((m) => {
          const assignment: TopicPartition[] = [];
          const decoded = m.memberAssignment.length ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null;
          for (const [topic, partitions] of Object.entries(decoded?.assignment ?? {}))
            for (const partition of partitions) assignment.push({ topic, partition });
          return { memberId: m.memberId, endpoint: decodeMemberData(m.memberMetadata).endpoint, assignment };
        });
      },
      async close() {
        await admin.disconnect();
      },
    };
  }

  /**
   * An idempotent producer (transactional with an id), connected, on a client
   * of its own whose sockets can be shut for good: `close` in the returned
   * lifecycle. kafkajs retries an idempotent send without end and reconnects
   * by itself, so a producer given up during an outage would otherwise write
   * its batch when the broker is back — after the task's new producer took
   * over, where a later commit marker of the same producer id makes such
   * stray records visible (exactly-once lists committed twice).
   */
  private async connectedProducer(transactionalId: string | undefined, what: string): Promise<{ producer: Producer; shut: () => void }> {
    const lifecycle = { closed: false };
    const base = defaultSocketFactory();
    const socketFactory: ISocketFactory = (args) => {
      if (!lifecycle.closed) return base(args);
      const socket = new Socket();
      process.nextTick(() => socket.destroy(new Error('producer closed by the runtime')));
      return socket;
    };
    const producer = new Kafka(this.config(socketFactory)).producer({
      idempotent: true,
      ...(transactionalId ? { transactionalId } : {}),
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: javaCompatiblePartitioner,
      retry: IDEMPOTENT_RETRY,
    });
    try {
      await producer.connect();
    } catch (err) {
      lifecycle.closed = true;
      throw wrap(`connect ${what}`, err);
    }
    return { producer, shut: () => (lifecycle.closed = true) };
  }

  async producer(): Promise<KafkaProducer> {
    const { producer, shut } = await this.connectedProducer(undefined, `producer to ${this.options.brokers.join(',')}`);
    return new KafkajsProducer(producer, shut);
  }

  async transactionalProducer(transactionalId: string): Promise<TransactionalProducer> {
    const { producer, shut } = await this.connectedProducer(transactionalId, `transactional producer ${transactionalId}`);
    // Fence now, as the contract says: kafkajs's connect() takes a producer id without the transactional id, and
    // only its first transaction() registers the id, bumps the epoch and has the coordinator finish the previous
    // owner's open transaction. Until then the previous owner could still commit, after the new one restored its
    // state and read the committed offsets. An empty transaction, aborted without a request, does it.
    try {
      await (await producer.transaction()).abort();
    } catch (err) {
      shut();
      await producer.disconnect().catch(() => undefined);
      throw wrap(`initialise transactional producer ${transactionalId}`, err);
    }
    return new KafkajsTransactionalProducer(producer, transactionalId, shut);
  }

  async consumer(options: ConsumerOptions): Promise<KafkaConsumer> {
    const lifecycle = { closed: false };
    const consumer = this.kafka.consumer({
      groupId: options.groupId,
      readUncommitted: !(options.readCommitted ?? true),
      allowAutoTopicCreation: false,
      sessionTimeout: options.sessionTimeoutMs ?? 30000,
      heartbeatInterval: options.heartbeatIntervalMs ?? 3000,
      maxBytesPerPartition: options.maxBytesPerPartition ?? 1048576,
      maxWaitTimeInMs: options.maxWaitTimeMs ?? 100,
      // kafkajs restarts a consumer that crashed on a retriable error on a timer of its own; once we
      // closed it (the cluster was away and the runner reconnects with a new one), it must stay closed.
      retry: { retries: 8, restartOnFailure: async () => !lifecycle.closed },
      ...(options.taskOf ? { partitionAssigners: [taskAssigner({ ...options, taskOf: options.taskOf }, lifecycle)] } : {}),
    });
    try {
      await consumer.connect();
    } catch (err) {
      throw wrap(`connect consumer (group ${options.groupId})`, err);
    }
    return new KafkajsConsumer(consumer, options, lifecycle);
  }

  async partitionReader(options: { readUncommitted?: boolean; maxBytes?: number } = {}): Promise<PartitionReader> {
    const isolationLevel = options.readUncommitted ? READ_UNCOMMITTED : READ_COMMITTED;
    const cluster = new KafkajsCluster({
      logger: createLogger({ level: LEVELS[this.options.logLevel ?? 'error'], logCreator: logCreator(LEVELS[this.options.logLevel ?? 'error']) }),
      socketFactory: defaultSocketFactory(),
      brokers: this.options.brokers,
      ...securityOf(this.options),
      clientId: `${this.options.clientId}-reader`,
      connectionTimeout: 3000,
      requestTimeout: 30000,
      enforceRequestTimeout: true,
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 3000 },
      allowAutoTopicCreation: false,
      isolationLevel,
    });
    try {
      await cluster.connect();
    } catch (err) {
      throw wrap(`connect partition reader to ${this.options.brokers.join(',')}`, err);
    }
    return new KafkajsPartitionReader(cluster, isolationLevel, options.maxBytes ?? 4 * 1024 * 1024);
  }
}
