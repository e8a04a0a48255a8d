import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ConfigError, KafkaError, TopologyError, VectorsError } from '../errors';
import { DEFAULT_DLQ_MAX_BYTES } from '../dlq';
import { provisionTopics } from '../admin/provision';
import type {
  BatchContext,
  KafkaAdmin,
  KafkaClient,
  KafkaConsumer,
  KafkaProducer,
  PartitionReader,
  RecordBatch,
  TopicPartition,
  TopicSpec,
  TransactionalProducer,
} from '../kafka/client';
import { partitionForKey } from '../partitioner';
import { RuntimeMetrics } from '../metrics/runtime-metrics';
import type { SchemaRegistry } from '../serde/schema-registry';
import { CachedKeyValueStore } from '../state/cached-store';
import { MemoryBytesStore } from '../state/memory/memory-store';
import { RocksDBBytesStore, type RocksDBStoreOptions } from '../state/rocksdb/rocksdb-store';
import type { BytesStore, ReadOnlyKeyValueStore } from '../state/store';
import { readOnlyView, reportCacheStats, typedStore } from '../state/task-stores';
import { type MisroutedPolicy, RetriableInputError, Task, taskId } from '../task';
import type { LogFn } from '../topology/bolt';
import type { Topology } from '../topology/topology';
import { TopologySerdes } from '../topology/topology-serdes';
import { BroadcastInputs } from './broadcast-inputs';
import { ChangelogRestorer } from './changelog-restorer';
import { Checkpoint } from './checkpoint';
import { type RestoreProgress, RestoreSlots } from './restore-slots';
import { SerialQueue } from './serial-queue';
import { TaskCommitter, type TaskState } from './task-committer';
import { sleep } from './sleep';
import { StandbyTasks, standbyPlacements, type WarmState } from './standby-tasks';

export type ProcessingGuarantee = 'at-least-once' | 'exactly-once';

export type { LogFn, RestoreProgress };

/** Options of a {@link TopologyRunner}. */
export interface RunnerOptions {
  topology: Topology;
  kafka: KafkaClient;
  registry: SchemaRegistry;
  /** Directory for local state (one sub-directory per task). */
  stateDir: string;
  /** Consumer group and transactional-id prefix. Default: the topology name. */
  applicationId?: string;
  guarantee?: ProcessingGuarantee;
  /** Default 1000 ms at-least-once, 100 ms exactly-once (as Kafka Streams). */
  commitIntervalMs?: number;
  /** How often an info line sums up the records processed and the lag, when there were any; 0: never. Default 60 000 ms. */
  progressLogMs?: number;
  /** 'rocksdb' (default) or 'memory' (state rebuilt from the changelog on every start). */
  storeBackend?: 'rocksdb' | 'memory';
  /**
   * Memory of each RocksDB store (one per store per task, so a process holds
   * tasks × stores of them). Default: 8 MiB memtables, 4 MiB block cache.
   */
  rocksdb?: RocksDBStoreOptions;
  replicationFactor?: number;
  /** Group session timeout: how long a dead instance keeps its tasks. Default 30000 ms (broker minimum 6000). */
  sessionTimeoutMs?: number;
  metrics?: RuntimeMetrics;
  log?: LogFn;
  instanceId?: string;
  /**
   * Where this instance answers queries (e.g. `http://127.0.0.1:8090`),
   * advertised to the group so that {@link TopologyRunner.queryMetadataForKey}
   * on any instance can name the owner of a key (Kafka Streams'
   * `application.server`).
   */
  endpoint?: string;
  /**
   * What to do with a keyed input record found on another partition than
   * murmur2(key) (a producer with another partitioner, e.g. librdkafka's
   * CRC32 default); see {@link MisroutedPolicy}. Default 'reroute'.
   */
  misrouted?: MisroutedPolicy;
  /**
   * Changelog fetches applied at once by the background restores (default 2).
   * Tasks whose stores need restoring are opened at once with their input
   * partitions paused; the others process and answer queries meanwhile.
   */
  restoreConcurrency?: number;
  /**
   * Called before each changelog fetch of a background restore; the restore
   * waits for a returned promise (or until the task is closed). For tests and
   * progress displays: it must not throw.
   */
  onRestoreProgress?: (progress: RestoreProgress) => Promise<void> | void;
  /**
   * Standby replicas per task (Kafka Streams' `num.standby.replicas`):
   * copies of a task's stores kept warm on that many other instances from its
   * changelogs, so that when its instance dies the one taking over restores
   * only the tail. Default 0. Effective only with more than one instance.
   */
  standbyReplicas?: number;
}

/** How often the warning about misrouted records is repeated per topic while they keep coming. */
const MISROUTED_WARN_EVERY_MS = 60_000;

/** Where a store's key lives; see {@link TopologyRunner.queryMetadataForKey}. */
export interface KeyQueryMetadata {
  /** The input partition, hence the task, the key belongs to. */
  partition: number;
  /** True when a task of this instance holds that partition, restored and processing. */
  local: boolean;
  /**
   * The endpoint of the instance the group assigned the partition to, as it
   * advertised it; null while the group rebalances or when that instance
   * advertised none. It may be this instance's own while it still restores.
   */
  endpoint: string | null;
}

/** How long a learned partition → endpoint map is used before asking the group coordinator again. */
const OWNERS_TTL_MS = 2000;

/**
 * A task whose stores are restoring in the background (Kafka Streams'
 * RESTORING state). Its input partitions stay paused and it is in no
 * processing path (not in `tasks`): nothing of it is processed or committed
 * until it is promoted to a running {@link TaskState}.
 */
interface RestoringTask {
  id: string;
  sub: number;
  partition: number;
  dir: string;
  backends: Map<string, BytesStore>;
  changelogOffsets: Record<string, string>;
  /** Its stores came open from a standby replica, complete up to `changelogOffsets`. */
  warm?: boolean;
  /** Transactions that failed in a row before it was reopened (see TaskState.failedCommits). */
  failedCommits?: number;
  producer?: TransactionalProducer;
  /** Set when the task is closed (revoked, or the runner stopping): the restore writes nothing more. */
  cancelled: boolean;
  /** Fires on cancellation, to cut a wait (the progress hook) short. */
  cancel: () => void;
  cancelledSignal: Promise<void>;
  /** The background work; never rejects, and writes nothing to a store after it settled. */
  job: Promise<void>;
  /** Set once the job settled: its resources may be closed. */
  settled: boolean;
  released?: Promise<void>;
}

/** Exactly-once: a task whose transaction fails this often in a row (same work, same error) cannot go on; the runner dies. */
const MAX_FAILED_COMMITS = 5;

const HEARTBEAT_EVERY_MS = 2000;
/** The runner's tick (wall-clock punctuation, output flush, due commits), or the commit interval if shorter. */
const TICK_MS = 100;
/** Backoff of a record held back by a retriable failure: doubles from the first to the last (short enough for a clean stop). */
const RETRY_FIRST_MS = 200;
const RETRY_MAX_MS = 5000;
/** Room left below the DLQ topic's max.message.bytes for the batch framing. */
const DLQ_FRAMING_BYTES = 4096;
/** Longest stretch of processing without giving the event loop a turn. */
const YIELD_EVERY_MS = 50;
/** Records of a batch whose keys are read ahead together (StoreOptions.prefetch): bounds the bytes held ahead. */
const PREFETCH_RECORDS = 128;
/** Backoff between reconnection attempts while the cluster is unavailable: doubles from the first to the last. */
const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 5000;
/** start(): attempts when the cluster is unavailable (a broker restarting, a topic's metadata not yet everywhere). */
const START_ATTEMPTS = 6;
/**
 * Outages in a row with no commit between them: the cause is not a cluster
 * that comes back (e.g. an output topic deleted, which kafkajs reports as a
 * partition no broker hosts), and the runner dies instead of reconnecting forever.
 */
const MAX_OUTAGES_WITHOUT_COMMIT = 10;
/** Longest wait for one client to disconnect from an unavailable cluster. */
const CLOSE_TIMEOUT_MS = 5000;

/** A transaction refused because a newer producer of the same transactional id fenced ours. */
function isFenced(err: unknown): boolean {
  return /fenced|epoch|INVALID_PRODUCER|PRODUCER_FENCED/i.test(String((err as Error)?.message ?? err));
}

/** `p`, or a rejection after `ms`: a client closing towards a dead broker must not hold the runner. */
function within<T>(p: Promise<T> | undefined, ms: number): Promise<T | undefined> {
  if (!p) return Promise.resolve(undefined);
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

/**
 * Runs a topology on Kafka: one consumer-group member per instance, one task
 * per assigned partition (per sub-topology), state restored from changelogs
 * before a task processes, commits at the configured guarantee.
 *
 * Commit protocol (both guarantees): a task's store writes stay in its cache
 * until commit; then its changelog records (and, at-least-once, outputs already
 * sent) are made durable, then the local backend is written and the local
 * checkpoint moved, then the input offsets are committed. Exactly-once puts
 * outputs, changelog records and input offsets in one Kafka transaction per
 * task (transactional id `<applicationId>-<taskId>`, so a task's new owner
 * fences the old one), written only after the transaction committed.
 */
export class TopologyRunner {
  readonly topology: Topology;
  readonly applicationId: string;
  readonly instanceId: string;
  readonly guarantee: ProcessingGuarantee;
  readonly metrics: RuntimeMetrics;
  private readonly commitIntervalMs: number;
  private readonly log: LogFn;
  private readonly queue = new SerialQueue();
  private readonly tasks = new Map<string, TaskState>();
  /** Tasks assigned here whose stores restore in the background, their inputs paused (see startRestore). */
  private readonly restoring = new Map<string, RestoringTask>();
  private readonly restoreSlots: RestoreSlots;
  /** Restores closed but still finishing, by task id: the task's stores close when they settle. */
  private readonly releasing = new Map<string, Promise<void>>();
  private readonly partitionCounts = new Map<string, number>();
  private serdes!: TopologySerdes;
  private admin?: KafkaAdmin;
  private consumer?: KafkaConsumer;
  private producer?: KafkaProducer;
  private reader?: PartitionReader;
  /** The standby replicas' changelog reader (see StandbyDeps.reader). */
  private standbyReader?: PartitionReader;
  /** The broadcast followers' reader (see BroadcastDeps.followReader). */
  private followReader?: PartitionReader;
  private readonly standbys: StandbyTasks;
  private timers: NodeJS.Timeout[] = [];
  private lastCommit = Date.now();
  /** At-least-once: the slice of tasks that committed last, and when the next one is due (see commitDue). */
  private commitSlice = 0;
  private nextSliceAt = 0;
  private running = false;
  private stopping?: Promise<void>;
  private readonly broadcasts: BroadcastInputs;
  private readonly restorer: ChangelogRestorer;
  private readonly committer: TaskCommitter;
  /** Tasks of the group's latest assignment to this instance (see taskReadiness). */
  private assigned = new Set<string>();
  /** Partition → endpoint of each sub-topology's owner, per the group coordinator; see queryMetadataForKey. */
  private owners?: { at: number; byTask: Map<string, string | null> };
  /** Set when the runner dies: stop() then commits nothing and `done` rejects with it. */
  private failure?: Error;
  /** Bumped at every (re)connection: callbacks of the clients of an older one are ignored. */
  private generation = 0;
  /** Set while the cluster is unavailable and the runner waits to reconnect. */
  private recovering?: Promise<void>;
  private stopRequested = false;
  private outagesSinceCommit = 0;
  /** For the periodic progress line: records processed since `since`, and the last lag seen per input partition. */
  private readonly progress = { since: Date.now(), records: 0, lag: new Map<string, number>() };
  /** Resolved by stop() to cut a reconnection backoff short. */
  private readonly stopSignal: { promise: Promise<void>; fire: () => void } = (() => {
    let fire!: () => void;
    const promise = new Promise<void>((r) => (fire = r));
    return { promise, fire };
  })();
  private dlqMaxBytes = DEFAULT_DLQ_MAX_BYTES;
  /** Per input topic: misrouted records since the last warning, and when it was. */
  private readonly misroutedSeen = new Map<string, { count: number; warnedAt: number }>();
  /** Resolves when the runner stops; rejects when it dies. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private rejectDone!: (err: Error) => void;

  constructor(private readonly options: RunnerOptions) {
    this.applicationId = options.applicationId ?? options.topology.name;
    // Internal topics are named from the application id, so two applications never share state.
    this.topology = options.topology.forApplication(this.applicationId);
    this.instanceId = options.instanceId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.guarantee = options.guarantee ?? 'at-least-once';
    if (this.guarantee !== 'at-least-once' && this.guarantee !== 'exactly-once') {
      throw new ConfigError(`guarantee must be 'at-least-once' or 'exactly-once', got '${String(this.guarantee)}'`);
    }
    this.commitIntervalMs = options.commitIntervalMs ?? (this.guarantee === 'exactly-once' ? 100 : 1000);
    this.metrics = options.metrics ?? new RuntimeMetrics();
    this.log = options.log ?? (() => undefined);
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => undefined);
    // Runners of one process may share their metrics: each adds its own stores to the gauge's source.
    const others = this.metrics.storeSizes;
    this.metrics.storeSizes = async () => [...(others ? await others() : []), ...(await this.storeSizes())];
    const concurrency = options.restoreConcurrency ?? 2;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new ConfigError(`restoreConcurrency must be a positive integer, got ${String(concurrency)}`);
    this.restoreSlots = new RestoreSlots(concurrency);
    this.committer = new TaskCommitter({
      topology: this.topology,
      applicationId: this.applicationId,
      instanceId: this.instanceId,
      guarantee: this.guarantee,
      persistent: this.persistentStores,
      producer: () => this.producer!,
      consumer: () => this.consumer!,
      transactionalProducer: (id) => this.options.kafka.transactionalProducer(id),
      metrics: this.metrics,
      log: this.log,
    });
    this.restorer = new ChangelogRestorer({
      topology: this.topology,
      admin: () => this.admin!,
      reader: () => this.reader!,
      slots: this.restoreSlots,
      metrics: this.metrics,
      log: this.log,
      ...(options.onRestoreProgress ? { onProgress: options.onRestoreProgress } : {}),
    });
    const tasks = this.tasks;
    this.broadcasts = new BroadcastInputs({
      topology: this.topology,
      admin: () => this.admin!,
      reader: () => this.reader!,
      followReader: () => this.followReader!,
      following: (gen) => this.running && gen === this.generation,
      // Live, as the map: a task dropped by a commit between tasks (fenced) is not given more records.
      tasks: function* () {
        for (const state of tasks.values()) yield state.task;
      },
      inQueue: (job) => this.queue.run(job),
      process: async (task, spout, record) => {
        await this.retrying(
          () => task.processBroadcast(spout, record),
          () => true,
        );
      },
      afterRecords: () => this.flushOutputs(),
      afterTask: async (task) => {
        if (!task.wantsCommit) return;
        await this.flushOutputs();
        await this.commitAll();
      },
    });
    const replicas = options.standbyReplicas ?? 0;
    if (!Number.isInteger(replicas) || replicas < 0) throw new ConfigError(`standbyReplicas must be a non-negative integer, got ${String(replicas)}`);
    this.standbys = new StandbyTasks({
      topology: this.topology,
      taskDir: (id) => join(this.options.stateDir, this.applicationId, id),
      newBackend: (name, dir) => this.newBackend(name, dir),
      persistent: this.persistentStores,
      reader: () => this.standbyReader,
      bounds: async (topic, partition) => (await this.admin?.topicOffsets(topic))?.find((o) => o.partition === partition),
      released: (id) => this.releasing.get(id),
      metrics: this.metrics,
      log: this.log,
    });
  }

  /** Ids of the tasks this instance runs now. */
  get taskIds(): string[] {
    return [...this.tasks.keys()];
  }

  /** The tasks this instance keeps as standby replicas (see {@link RunnerOptions.standbyReplicas}). */
  get standbyTaskIds(): string[] {
    return this.standbys.ids;
  }

  /**
   * Checks topics, provisions internal ones, registers schemas, joins the
   * group and starts processing. Resolves once running (tasks are assigned
   * asynchronously by the group). While the cluster is unavailable (a broker
   * restarting, metadata of a topic just created not yet everywhere) it tries
   * again a few times with a backoff before it gives up.
   *
   * Once running at-least-once, an unavailable cluster is not fatal: the
   * runner closes its tasks without committing (as if they had moved to
   * another instance), waits and reconnects until the cluster is back, its
   * tasks restore from their local state and changelogs, and the records
   * since the last commit are processed again. Counted in
   * `vectors_runtime_kafka_outages_total`. Exactly-once, it is fatal: the
   * process ends and its supervisor restarts it (see {@link die}).
   * @throws TopologyError when input topics are missing or not co-partitioned.
   */
  async start(): Promise<void> {
    let backoff = RECONNECT_FIRST_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.connect();
        return;
      } catch (err) {
        await this.disconnect();
        if (this.stopRequested || !this.options.kafka.isClusterUnavailable(err) || attempt >= START_ATTEMPTS) throw err;
        this.log('warn', 'Kafka unavailable at start; retrying', {
          topology: this.topology.name,
          attempt,
          error: String((err as Error).message),
          retryInMs: backoff,
        });
        await sleep(backoff, this.stopSignal.promise);
        backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
      }
    }
  }

  /** One connection: clients, internal topics, schemas, group membership, broadcast readers and timers. */
  private async connect(): Promise<void> {
    const { topology } = this;
    const gen = ++this.generation;
    this.admin = await this.options.kafka.admin();
    await this.planPartitions(this.admin);
    await provisionTopics(this.admin, this.internalTopics());
    this.dlqMaxBytes = await this.readDlqLimit(this.admin);
    this.serdes = new TopologySerdes(topology, this.options.registry);
    await this.serdes.prepare();
    this.reader = await this.options.kafka.partitionReader();
    if ((this.options.standbyReplicas ?? 0) > 0) this.standbyReader = await this.options.kafka.partitionReader();
    if (topology.broadcastSpouts.length > 0) this.followReader = await this.options.kafka.partitionReader();
    if (this.guarantee === 'at-least-once') {
      this.producer = await this.options.kafka.producer();
      this.committer.reset();
    }

    const sourceTopics = topology.subtopologies.flatMap((s) => s.sourceTopics);
    const subOf = new Map(topology.subtopologies.flatMap((s) => s.sourceTopics.map((t) => [t, s.index] as const)));
    this.consumer = await this.options.kafka.consumer({
      groupId: this.applicationId,
      readCommitted: true,
      sessionTimeoutMs: this.options.sessionTimeoutMs ?? 30_000,
      heartbeatIntervalMs: Math.max(500, Math.floor((this.options.sessionTimeoutMs ?? 30_000) / 6)),
      taskOf: (topic, partition) => taskId(subOf.get(topic) ?? -1, partition),
      // Restoring tasks count as owned: the sticky assignor keeps them here rather than restart their restore elsewhere.
      ownedTasks: () => [...this.tasks.keys(), ...this.restoring.keys()],
      standbyReplicas: this.options.standbyReplicas ?? 0,
      standbyTasks: () => this.standbys.ids,
      ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}),
    });
    await this.consumer.subscribe(sourceTopics);
    // As Kafka Streams bootstraps global stores: know where every broadcast
    // input ends before any task is opened, so that a task replays all of it
    // before it processes a partitioned record (e.g. it knows which snapshot
    // is active before it handles an event).
    for (const spout of topology.broadcastSpouts) await this.broadcasts.bootstrap(spout);
    this.running = true;
    await this.consumer.run({
      onBatch: (batch, ctx) => this.onBatch(batch, ctx, gen),
      onAssignment: (assigned) => {
        if (gen !== this.generation) return;
        // Known at once, while the tasks are still being opened and restored in the queue: readiness counts them.
        this.assigned = new Set(assigned.filter((tp) => subOf.has(tp.topic)).map((tp) => taskId(subOf.get(tp.topic)!, tp.partition)));
        // Paused now, before the consumer's first fetch: a task not running yet restores first, and a batch of
        // its inputs fetched meanwhile would only be dropped (onBatch). Promotion resumes them.
        this.consumer?.pause(assigned.filter((tp) => subOf.has(tp.topic) && !this.tasks.has(taskId(subOf.get(tp.topic)!, tp.partition))));
        void this.queue.run(async () => (gen === this.generation && this.running ? this.onAssignment(assigned) : undefined)).catch((err) => this.die(err, gen));
      },
      onStandbyAssignment: (ids) => {
        void this.queue
          .run(async () => {
            if (gen !== this.generation || !this.running) return;
            // A task active (or restoring) here is no standby here, whatever a stale answer says.
            const wanted = standbyPlacements(ids, this.topology);
            for (const id of [...wanted.keys()]) if (this.tasks.has(id) || this.restoring.has(id)) wanted.delete(id);
            await this.standbys.assign(wanted);
          })
          .catch((err) => this.die(err, gen));
      },
      onCrash: (err) => this.die(err, gen),
    });
    for (const spout of topology.broadcastSpouts) void this.broadcasts.follow(spout, gen).catch((err) => this.die(err, gen));
    this.timers.push(setInterval(() => void this.queue.run(() => this.tick()).catch((err) => this.die(err, gen)), Math.min(TICK_MS, this.commitIntervalMs)));
    this.metrics.kafkaConnected.set({ topology: topology.name }, 1);
    this.log('info', 'topology started', { topology: topology.name, instance: this.instanceId, guarantee: this.guarantee });
  }

  /** Learns partition counts, checks co-partitioning, fixes internal topics' counts. */
  private async planPartitions(admin: KafkaAdmin): Promise<void> {
    const { topology } = this;
    const external = [...topology.spouts.values()].map((s) => s.topic);
    for (const topic of new Set(external)) {
      const d = await admin.describeTopic(topic, []);
      if (!d) {
        throw new TopologyError(
          topology.name,
          `input topic '${topic}' does not exist. Create it first (e.g. \`npx vectors provision\`), with as many partitions as the topics it is joined with.`,
        );
      }
      this.partitionCounts.set(topic, d.partitions);
    }
    for (const sub of topology.subtopologies) {
      const counts = sub.sourceTopics.filter((t) => this.partitionCounts.has(t)).map((t) => [t, this.partitionCounts.get(t)!] as const);
      if (new Set(counts.map(([, n]) => n)).size > 1) {
        throw new TopologyError(
          topology.name,
          `inputs of one sub-topology must be co-partitioned, but ${counts.map(([t, n]) => `'${t}' has ${n}`).join(', ')} partitions`,
        );
      }
    }
    // Repartition topics: one partition for global, else as many as the other inputs of the consumer (or the producer's).
    for (const rep of topology.repartitions) {
      let n: number | undefined = rep.partitions === 1 ? 1 : undefined;
      const sub = topology.subtopologyOfTopic(rep.topic)!;
      n ??= sub.sourceTopics.map((t) => this.partitionCounts.get(t)).find((x) => x !== undefined);
      const fromSpout = topology.spouts.get(rep.from);
      n ??= fromSpout ? this.partitionCounts.get(fromSpout.topic) : undefined;
      n ??= 1;
      this.partitionCounts.set(rep.topic, n);
    }
  }

  private internalTopics(): TopicSpec[] {
    const { topology } = this;
    const rf = this.options.replicationFactor ?? 1;
    const specs: TopicSpec[] = [{ name: topology.dlqTopic, partitions: 1, replicationFactor: rf }];
    for (const rep of topology.repartitions) specs.push({ name: rep.topic, partitions: this.partitionCounts.get(rep.topic)!, replicationFactor: rf });
    for (const sub of topology.subtopologies) {
      const n = this.partitionCounts.get(sub.sourceTopics[0]!)!;
      for (const store of sub.stores) {
        if (!topology.stores.get(store)!.logged) continue;
        specs.push({ name: topology.changelogTopic(store), partitions: n, replicationFactor: rf, config: { 'cleanup.policy': 'compact' } });
      }
    }
    return specs;
  }

  /** What a dead-letter record may weigh: the DLQ topic's max.message.bytes (its own or the broker's default), less the framing. */
  private async readDlqLimit(admin: KafkaAdmin): Promise<number> {
    const d = await admin.describeTopic(this.topology.dlqTopic, ['max.message.bytes']).catch(() => undefined);
    const limit = Number(d?.config['max.message.bytes']);
    return Number.isFinite(limit) && limit > DLQ_FRAMING_BYTES * 2 ? limit - DLQ_FRAMING_BYTES : DEFAULT_DLQ_MAX_BYTES;
  }

  private partitionsOf(topic: string): number {
    const n = this.partitionCounts.get(topic);
    if (n === undefined) throw new Error(`partition count of '${topic}' unknown`);
    return n;
  }

  // --- assignment and restore ------------------------------------------------

  private async onAssignment(assigned: TopicPartition[]): Promise<void> {
    this.metrics.rebalances.inc({ topology: this.topology.name });
    this.owners = undefined;
    this.progress.lag.clear();
    const subOf = (topic: string) => this.topology.subtopologyOfTopic(topic)?.index ?? -1;
    const wanted = new Map<string, { sub: number; partition: number }>();
    for (const tp of assigned) wanted.set(taskId(subOf(tp.topic), tp.partition), { sub: subOf(tp.topic), partition: tp.partition });
    for (const [id, state] of this.tasks) {
      if (!wanted.has(id)) {
        await this.closeTask(state, false);
        this.tasks.delete(id);
      } else if (state.task.uncommittedBroadcast) {
        // Dropping its uncommitted work would drop what broadcast records wrote since its last commit, and those
        // are not read again: reopened (below), it restores its stores and replays the broadcast history.
        this.log('info', 'task kept by the rebalance reopens: it processed broadcast records since its last commit', {
          topology: this.topology.name,
          task: id,
        });
        await this.closeTask(state, false);
        this.tasks.delete(id);
      } else {
        // The group restarts kept partitions from their committed offsets: forget what came after.
        await this.abandon(state);
      }
    }
    // A task still restoring that stays here goes on restoring; one that moved away stops now.
    for (const [id, r] of [...this.restoring]) if (!wanted.has(id)) await this.cancelRestore(r);
    for (const [id, { sub, partition }] of wanted) {
      if (this.tasks.has(id) || this.restoring.has(id) || sub < 0) continue;
      // Kept warm here as a standby: its open stores become the task's, and the restore reads only the tail.
      this.startRestore(sub, partition, await this.standbys.takeOver(id));
    }
    await this.rewindToCommitted();
    this.metrics.tasks.set({ topology: this.topology.name }, this.tasks.size);
    this.log('info', 'tasks assigned', {
      topology: this.topology.name,
      instance: this.instanceId,
      tasks: [...this.tasks.keys(), ...this.restoring.keys()],
      restoring: [...this.restoring.keys()],
    });
  }

  /** The input partitions of a task: every source topic of its sub-topology, at its partition. */
  private inputsOf(sub: number, partition: number): TopicPartition[] {
    return this.topology.subtopologies[sub]!.sourceTopics.map((topic) => ({ topic, partition }));
  }

  /**
   * Opens a task in the RESTORING state: its inputs are paused and its
   * stores restore in the background, outside the processing queue, so the
   * running tasks go on processing (Kafka Streams' state updater). Once
   * restored it is promoted to running and its inputs resume. A failure while
   * restoring is handled as any processing failure ({@link die}).
   */
  private startRestore(sub: number, partition: number, warm?: WarmState, failedCommits?: number): void {
    const id = taskId(sub, partition);
    let cancel!: () => void;
    const cancelledSignal = new Promise<void>((fire) => (cancel = fire));
    const r: RestoringTask = {
      id,
      sub,
      partition,
      dir: join(this.options.stateDir, this.applicationId, id),
      backends: warm?.backends ?? new Map(),
      changelogOffsets: warm ? { ...warm.changelogOffsets } : {},
      warm: warm !== undefined,
      ...(failedCommits ? { failedCommits } : {}),
      cancelled: false,
      cancel,
      cancelledSignal,
      job: Promise.resolve(),
      settled: false,
    };
    this.restoring.set(id, r);
    this.metrics.restoringTasks.set({ topology: this.topology.name }, this.restoring.size);
    this.consumer!.pause(this.inputsOf(sub, partition));
    const gen = this.generation;
    r.job = this.restoreTask(r)
      .then(
        () => {
          if (!r.cancelled) void this.queue.run(() => this.promote(r, gen)).catch((err) => this.die(err, gen));
        },
        (err) => {
          if (!r.cancelled) this.die(err, gen);
        },
      )
      .catch(() => undefined)
      .finally(() => (r.settled = true));
  }

  /** The background part of a restoring task: fence (exactly-once), open its stores, replay their changelogs. */
  private async restoreTask(r: RestoringTask): Promise<void> {
    // A closed restore of this same task may still be finishing: its stores must be closed before they are opened again.
    await this.releasing.get(r.id);
    if (r.cancelled) return;
    const { topology } = this;
    const subtopology = topology.subtopologies[r.sub]!;
    // Exactly-once: initialising the task's transactional producer fences a
    // previous owner and aborts its open transaction, so the changelog's
    // committed end is final before we restore up to it.
    if (this.guarantee === 'exactly-once') r.producer = await this.options.kafka.transactionalProducer(`${this.applicationId}-${r.id}`);
    // A memory store opens empty whatever a checkpoint says: restore it in full. Stores handed over by a
    // standby are open already, and complete up to the offsets it handed over with them.
    const saved = r.warm ? { ...r.changelogOffsets } : this.persistentStores ? new Checkpoint(r.dir).read() : {};
    for (const name of subtopology.stores) {
      if (r.cancelled) return;
      let backend = r.backends.get(name);
      if (!backend) {
        backend = this.newBackend(name, join(r.dir, name));
        await backend.open();
        r.backends.set(name, backend);
      }
      if (!topology.stores.get(name)!.logged) continue;
      if (saved[name] !== undefined) r.changelogOffsets[name] = saved[name];
      if ((await this.restorer.restore(r, name, backend, saved[name])) === undefined) return;
    }
  }

  /** A new, unopened backend of the configured kind for one store of a task. */
  private newBackend(name: string, dir: string): BytesStore {
    return (this.options.storeBackend ?? 'rocksdb') === 'rocksdb' ? new RocksDBBytesStore(name, dir, this.options.rocksdb) : new MemoryBytesStore(name);
  }

  /** Promotes a restored task to running: it joins the processing paths, starts at its committed offsets, and its inputs resume. Runs in the queue. */
  private async promote(r: RestoringTask, gen: number): Promise<void> {
    // Closed meanwhile, or the runner stopping or reconnecting: whoever closed it (or shutDown) releases it.
    if (r.cancelled || this.restoring.get(r.id) !== r || gen !== this.generation || !this.running) return;
    let state: TaskState;
    try {
      state = await this.runningTask(r);
    } catch (err) {
      this.restoring.delete(r.id);
      await this.releaseRestoring(r);
      throw err;
    }
    this.restoring.delete(r.id);
    this.tasks.set(r.id, state);
    this.metrics.restoringTasks.set({ topology: this.topology.name }, this.restoring.size);
    this.metrics.tasks.set({ topology: this.topology.name }, this.tasks.size);
    // After fencing (exactly-once) and restore: the committed offsets are final now (see rewindToCommitted).
    await this.rewindToCommitted([state]);
    this.consumer!.resume(this.inputsOf(r.sub, r.partition));
    this.log('info', 'task restored; processing', { topology: this.topology.name, instance: this.instanceId, task: r.id });
  }

  /** The running task over the restored stores of `r`. */
  private async runningTask(r: RestoringTask): Promise<TaskState> {
    const { topology } = this;
    const subtopology = topology.subtopologies[r.sub]!;
    const checkpoint = new Checkpoint(r.dir);
    await this.committer.writeCheckpoint(checkpoint, r.backends, r.changelogOffsets);
    const stores = new Map<string, CachedKeyValueStore<unknown, unknown>>();
    for (const [name, backend] of r.backends) stores.set(name, typedStore(topology, name, backend));
    const task = new Task({
      topology,
      sub: subtopology,
      partition: r.partition,
      instanceId: this.instanceId,
      serdes: this.serdes,
      stores,
      partitionsOf: (t) => this.partitionsOf(t),
      metrics: this.metrics,
      now: () => Date.now(),
      dlqMaxBytes: this.dlqMaxBytes,
      misrouted: this.options.misrouted ?? 'reroute',
      onMisrouted: (record, expected, action) => this.warnMisrouted(record.topic, record.partition, expected, action),
      log: this.log,
      onDeadLetter: (record, component, err, truncated) =>
        this.log('warn', 'record dead-lettered', {
          topology: topology.name,
          component,
          source: `${record.topic}-${record.partition}@${record.offset}`,
          dlq: topology.dlqTopic,
          code: (err as VectorsError)?.code ?? 'VEC_ERR_PROCESSING',
          error: String((err as Error)?.message ?? err).slice(0, 500),
          ...(truncated ? { truncated: true, originalBytes: record.value?.length ?? 0 } : {}),
        }),
    });
    await task.init();
    const state: TaskState = {
      task,
      backends: r.backends,
      checkpoint,
      changelogOffsets: r.changelogOffsets,
      checkpointedAt: Date.now(),
      ...(r.producer ? { producer: r.producer } : {}),
      ...(r.failedCommits ? { failedCommits: r.failedCommits } : {}),
    };
    await this.broadcasts.replayInto(state.task);
    return state;
  }

  /**
   * Closes a restoring task (revoked, or the runner stopping): its restore
   * stops before its next write, then its stores close, leaving a checkpoint
   * at what they hold so that the next restore goes on from there. Waits for
   * that within a bound; past it the stores close when the restore's last
   * fetch returns (never while it writes). Runs in the queue.
   */
  private async cancelRestore(r: RestoringTask): Promise<void> {
    r.cancelled = true;
    r.cancel();
    if (this.restoring.get(r.id) === r) this.restoring.delete(r.id);
    this.metrics.restoringTasks.set({ topology: this.topology.name }, this.restoring.size);
    const released = (r.released ??= r.job.then(() => this.releaseRestoring(r)));
    this.releasing.set(r.id, released);
    void released.finally(() => {
      if (this.releasing.get(r.id) === released) this.releasing.delete(r.id);
    });
    await within(released, CLOSE_TIMEOUT_MS).catch(() =>
      this.log('warn', 'restore of a closed task still finishing; its stores close when it does', { topology: this.topology.name, task: r.id }),
    );
  }

  /** Closes what a restoring task opened, once its restore settled. */
  private async releaseRestoring(r: RestoringTask): Promise<void> {
    try {
      // Each backend holds its changelog up to these offsets (a prefix, as always): a checkpoint there saves the next restore the part already read.
      await this.committer.writeCheckpoint(new Checkpoint(r.dir), r.backends, r.changelogOffsets);
    } catch (err) {
      this.log('warn', 'could not write the checkpoint of a closed restore; the next one starts over', { task: r.id, error: String(err) });
    }
    for (const b of r.backends.values()) await b.close().catch(() => undefined);
    await within(r.producer?.close(), CLOSE_TIMEOUT_MS).catch(() => undefined);
  }

  /** One warning per topic and minute while misrouted records keep coming, naming the producer setting that fixes them. */
  private warnMisrouted(topic: string, partition: number, expected: number, action: MisroutedPolicy): void {
    const seen = this.misroutedSeen.get(topic) ?? { count: 0, warnedAt: 0 };
    seen.count++;
    this.misroutedSeen.set(topic, seen);
    const now = Date.now();
    if (now - seen.warnedAt < MISROUTED_WARN_EVERY_MS) return;
    this.log(
      'warn',
      `records of '${topic}' are not partitioned by murmur2(key): their producer uses another partitioner (librdkafka's default, in the Python, Go and C clients, is CRC32); set partitioner=murmur2_random in it`,
      {
        topology: this.topology.name,
        topic,
        example: `partition ${partition}, belongs on ${expected}`,
        action: action === 'reroute' ? 'rerouted to the murmur2 partition' : action === 'dead-letter' ? 'dead-lettered' : 'processed where found',
        records: seen.count,
      },
    );
    seen.warnedAt = now;
    seen.count = 0;
  }

  /**
   * Starts every task's inputs at the group's committed offsets, read now.
   * The consumer fetched committed offsets when it joined, but a commit may
   * have landed since: our own (exactly-once commits are not fenced by the
   * group generation) or, for a task that moved here, the previous owner's
   * last transaction, which our producer's initialisation waited for. Starting
   * from the stale position would process those records twice.
   */
  private async rewindToCommitted(states: TaskState[] = [...this.tasks.values()]): Promise<void> {
    const topics = new Set(states.flatMap((s) => s.task.sub.sourceTopics));
    for (const topic of topics) {
      const committed = await this.admin!.committedOffsets(this.applicationId, topic);
      for (const state of states) {
        if (!state.task.sub.sourceTopics.includes(topic)) continue;
        const c = committed.find((o) => o.partition === state.task.partition);
        if (!c || c.offset === '-1') continue;
        state.task.resetPosition(topic, c.offset);
        this.consumer!.seek({ topic, partition: state.task.partition, offset: c.offset });
      }
    }
  }

  private async closeTask(state: TaskState, commitFirst: boolean): Promise<void> {
    if (commitFirst) {
      try {
        await this.committer.commitTask(state);
      } catch (err) {
        this.log('warn', 'commit on close failed; uncommitted work will be reprocessed', { task: state.task.id, error: String(err) });
      }
    } else {
      await this.abandon(state);
    }
    await state.task.close();
    // The stores hold their changelogs up to these offsets (committed work only): the next restore starts there.
    await this.committer.writeCheckpoint(state.checkpoint, state.backends, state.changelogOffsets).catch((err) =>
      this.log('warn', 'could not write the checkpoint of a closed task; its next restore reads more of the changelog', {
        task: state.task.id,
        error: String(err),
      }),
    );
    for (const b of state.backends.values()) await b.close();
    await within(state.producer?.close(), CLOSE_TIMEOUT_MS).catch(() => undefined);
  }

  /**
   * Drops uncommitted work of a task (aborting its open transaction; while the
   * cluster is unavailable the transaction is left to the task's next
   * producer, whose initialisation aborts it).
   */
  private async abandon(state: TaskState): Promise<void> {
    state.task.abandonUncommitted();
    if (state.txn) {
      const txn = state.txn;
      delete state.txn;
      if (!this.recovering) await within(txn.abort(), CLOSE_TIMEOUT_MS).catch(() => undefined);
    }
  }

  // --- processing ----------------------------------------------------------------

  private async onBatch(batch: RecordBatch, ctx: BatchContext, gen: number): Promise<boolean> {
    const work = this.queue.run(async () => {
      if (!ctx.isRunning() || ctx.isStale() || gen !== this.generation || !this.running) return false;
      const sub = this.topology.subtopologyOfTopic(batch.topic);
      const state = sub ? this.tasks.get(taskId(sub.index, batch.partition)) : undefined;
      if (!state) {
        // Fetched before its task was paused for restoring: dropped unresolved, so the consumer reads it again once the task runs.
        if (sub && this.restoring.has(taskId(sub.index, batch.partition))) this.consumer?.pause([{ topic: batch.topic, partition: batch.partition }]);
        return false;
      }
      let lastYield = performance.now();
      const records = batch.records;
      try {
        for (let i = 0; i < records.length; i++) {
          if (i % PREFETCH_RECORDS === 0 && state.task.prefetches) await state.task.prefetch(records.slice(i, i + PREFETCH_RECORDS));
          const record = records[i]!;
          const processed = await this.retrying(
            () => state.task.process(record),
            () => ctx.isRunning() && !ctx.isStale(),
          );
          // Stopping, or the partition is being taken away: the task's position stays at this record.
          if (processed === undefined) return false;
          // Bolts may be CPU-bound and stores answer synchronously: without a
          // real yield, a large batch starves timers (heartbeats, punctuation)
          // for its whole duration and the group evicts this instance.
          if (performance.now() - lastYield > YIELD_EVERY_MS) {
            await new Promise((r) => setImmediate(r));
            await ctx.heartbeat().catch(() => undefined);
            if (!ctx.isRunning() || ctx.isStale()) return false;
            lastYield = performance.now();
          }
        }
      } finally {
        state.task.endBatch();
      }
      const last = batch.records[batch.records.length - 1];
      if (last) {
        // A transaction marker after the last record takes an offset too: count from the fetch's last entry.
        const end = batch.lastOffset !== undefined && BigInt(batch.lastOffset) > BigInt(last.offset) ? BigInt(batch.lastOffset) : BigInt(last.offset);
        const lag = BigInt(batch.highWatermark) - end - 1n;
        this.metrics.consumerLag.set({ topology: this.topology.name, topic: batch.topic, partition: String(batch.partition) }, Number(lag < 0n ? 0n : lag));
        this.progress.records += batch.records.length;
        this.progress.lag.set(`${batch.topic}-${batch.partition}`, Number(lag < 0n ? 0n : lag));
      }
      await this.flushOutputs();
      if (state.task.wantsCommit) await this.commitAll();
      else await this.commitDue(Date.now());
      return true;
    });
    // Keep the group membership alive while waiting behind a long restore.
    const beat = setInterval(() => void ctx.heartbeat().catch(() => undefined), HEARTBEAT_EVERY_MS);
    try {
      return await work;
    } catch (err) {
      this.die(err, gen);
      return false;
    } finally {
      clearInterval(beat);
    }
  }

  /**
   * Runs `job` (one record's processing) until it does not fail with a
   * {@link RetriableInputError}: a record is never dead-lettered because the
   * registry or the broker did not answer. Each failure is logged and counted,
   * and waits a doubling backoff. Returns undefined, without having applied
   * the record, once the runner stops or `stillWanted` says the partition is
   * no longer ours.
   */
  private async retrying(job: () => Promise<void>, stillWanted: () => boolean): Promise<true | undefined> {
    let backoff = RETRY_FIRST_MS;
    for (;;) {
      try {
        await job();
        return true;
      } catch (err) {
        if (!(err instanceof RetriableInputError)) throw err;
        this.metrics.retries.inc({ topology: this.topology.name, reason: err.code });
        this.log('warn', 'record held back by a retriable failure; retrying', {
          topology: this.topology.name,
          source: `${err.record.topic}-${err.record.partition}@${err.record.offset}`,
          code: err.code,
          error: String((err.cause as Error)?.message ?? err.cause),
          retryInMs: backoff,
        });
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, RETRY_MAX_MS);
        if (!this.running || !stillWanted()) return undefined;
      }
    }
  }

  /** Sends buffered outputs: right away at-least-once, into the open transaction exactly-once. */
  private async flushOutputs(): Promise<void> {
    for (const state of [...this.tasks.values()]) {
      state.task.flushMetrics();
      if (!state.task.hasOutputs) continue;
      const records = state.task.drainOutputs();
      if (this.guarantee === 'at-least-once') await this.committer.sendOutputsBehind(records);
      else {
        try {
          const txn = await this.committer.txnOf(state);
          await txn.send(records);
        } catch (err) {
          if (!isFenced(err)) throw err;
          await this.taskFenced(state, err);
        }
      }
    }
  }

  private async tick(): Promise<void> {
    if (!this.running) return;
    const now = Date.now();
    this.logProgress(now);
    for (const state of this.tasks.values()) await state.task.punctuate('wall-clock', now);
    await this.flushOutputs();
    await this.commitDue(now);
  }

  /**
   * The periodic commit. Exactly-once, every task's transaction commits each
   * interval. At-least-once, the tasks commit in turn: a slice of them every
   * interval / slices (one slice per tick at most, so each task still commits
   * about once per interval), which holds processing for one slice's commit
   * at a time instead of every task's together. At 5,000 records/s a commit
   * of all twelve tasks held processing for 110–200 ms once a second.
   */
  private async commitDue(now: number): Promise<void> {
    const slices = this.guarantee === 'at-least-once' ? Math.max(1, Math.min(this.tasks.size, Math.floor(this.commitIntervalMs / TICK_MS))) : 1;
    if (slices === 1) {
      if (now - this.lastCommit >= this.commitIntervalMs) await this.commitAll();
      return;
    }
    const spacing = this.commitIntervalMs / slices;
    if (now < this.nextSliceAt) return;
    // On a schedule, so that a tick arriving a little early does not skip a slice and stretch the cycle.
    this.nextSliceAt = Math.max(this.nextSliceAt, now - spacing) + spacing;
    this.commitSlice = (this.commitSlice + 1) % slices;
    const ids = [...this.tasks.keys()].sort();
    await this.commitTasks(ids.filter((_, i) => i % slices === this.commitSlice).map((id) => this.tasks.get(id)!));
  }

  /** The periodic progress line: records processed since the last one, their rate, the lag (quiet when idle and caught up). */
  private logProgress(now: number): void {
    const every = this.options.progressLogMs ?? 60_000;
    if (every <= 0 || now - this.progress.since < every) return;
    const lag = [...this.progress.lag.values()].reduce((a, b) => a + b, 0);
    if (this.progress.records > 0 || lag > 0) {
      this.log('info', 'progress', {
        topology: this.topology.name,
        records: this.progress.records,
        perSecond: Math.round((this.progress.records * 1000) / (now - this.progress.since)),
        lag,
        tasks: this.tasks.size,
      });
    }
    this.progress.since = now;
    this.progress.records = 0;
  }

  /** Entries per store, summed over this instance's tasks (for the store-size gauge, when scraped). */
  private async storeSizes(): Promise<{ topology: string; store: string; entries: number }[]> {
    const sums = new Map<string, number>();
    for (const state of this.tasks.values()) {
      for (const [name, backend] of state.backends) {
        const n = await backend.approximateCount().catch(() => 0); // a store closing meanwhile counts as empty
        sums.set(name, (sums.get(name) ?? 0) + n);
      }
    }
    return [...sums].map(([store, entries]) => ({ topology: this.topology.name, store, entries }));
  }

  /** Commits every task. Runs inside the queue. */
  private async commitAll(): Promise<void> {
    await this.commitTasks([...this.tasks.values()]);
  }

  /** Commits these tasks (at-least-once together, exactly-once each in its transaction). Runs inside the queue. */
  private async commitTasks(states: TaskState[]): Promise<void> {
    const started = performance.now();
    this.lastCommit = Date.now();
    if (this.guarantee === 'at-least-once') {
      await this.committer.commitAtLeastOnce(states);
    } else {
      for (const state of states) await this.commitTaskGuarded(state);
    }
    reportCacheStats(
      this.metrics,
      this.topology.name,
      states.flatMap((s) => [...s.task.stores.values()]),
    );
    this.metrics.commits.inc({ topology: this.topology.name, guarantee: this.guarantee });
    this.outagesSinceCommit = 0;
    this.metrics.commitLatency.observe({ topology: this.topology.name, guarantee: this.guarantee }, (performance.now() - started) / 1000);
  }

  private async commitTaskGuarded(state: TaskState): Promise<void> {
    try {
      await this.committer.commitTask(state);
      state.failedCommits = 0;
    } catch (err) {
      if (isFenced(err)) {
        await this.taskFenced(state, err);
        return;
      }
      this.log('error', 'transaction failed; dropping uncommitted work of the task', {
        task: state.task.id,
        error: String((err as Error).message),
      });
      // Reprocessing the same records fails the same way when the cause is in them (e.g. an output
      // the broker refuses): then it is fatal, and nothing is committed past them.
      const failed = (state.failedCommits ?? 0) + 1;
      if (state.task.uncommittedBroadcast) {
        // What broadcast records wrote since the last commit is not read again: reopened, the task restores
        // its stores and replays the broadcast history (as a kept task after a rebalance), counting on.
        await this.dropTask(state);
        if (failed >= MAX_FAILED_COMMITS) throw new KafkaError(`transaction of task ${state.task.id} (${failed} in a row)`, err);
        if (this.assigned.has(state.task.id) && this.running) this.startRestore(state.task.sub.index, state.task.partition, undefined, failed);
      } else {
        await this.committer.renewProducer(state);
        state.failedCommits = failed;
        if (failed >= MAX_FAILED_COMMITS) throw new KafkaError(`transaction of task ${state.task.id} (${failed} in a row)`, err);
      }
      // Rewind the inputs to the committed offsets and reprocess.
      for (const topic of state.task.sub.sourceTopics) {
        const committed = (await this.admin!.committedOffsets(this.applicationId, topic)).find((o) => o.partition === state.task.partition);
        this.consumer!.seek({ topic, partition: state.task.partition, offset: committed && committed.offset !== '-1' ? committed.offset : '0' });
      }
    }
  }

  /**
   * Exactly-once: another producer of this task's transactional id started —
   * the task's owner now, or an instance that still believed so during a
   * rebalance. The task closes without committing (its uncommitted work is
   * dropped). The group then takes it from us or, when it still assigns it
   * here, the task opens again and its new producer fences the other (Kafka
   * Streams: task migrated, closed dirty, reassigned). Closing it for good
   * left it processed by nobody until the next rebalance.
   */
  private async taskFenced(state: TaskState, err: unknown): Promise<void> {
    const id = state.task.id;
    const reopen = this.assigned.has(id) && this.running;
    this.log('warn', reopen ? 'task fenced by another producer while assigned here; opening it again' : 'task fenced by another producer; closing it', {
      task: id,
      error: String((err as Error)?.message ?? err),
    });
    await this.dropTask(state);
    if (reopen) this.startRestore(state.task.sub.index, state.task.partition);
  }

  /** Closes a running task without committing (its uncommitted work is dropped) and forgets it; the caller decides whether it opens again. */
  private async dropTask(state: TaskState): Promise<void> {
    await this.closeTask(state, false).catch(() => undefined);
    this.tasks.delete(state.task.id);
    this.metrics.tasks.set({ topology: this.topology.name }, this.tasks.size);
  }

  private get persistentStores(): boolean {
    return (this.options.storeBackend ?? 'rocksdb') === 'rocksdb';
  }

  // --- queries and lifecycle -------------------------------------------------------

  /**
   * A read-only view of a store over the tasks of this instance. Reads see
   * committed and not yet committed writes of the local tasks.
   */
  store<K, V>(name: string): ReadOnlyKeyValueStore<K, V> {
    if (!this.topology.stores.has(name)) throw new TopologyError(this.topology.name, `no store '${name}'`);
    return readOnlyView(name, () =>
      [...this.tasks.values()].map((s) => s.task.stores.get(name)).filter((s): s is CachedKeyValueStore<unknown, unknown> => s !== undefined),
    );
  }

  /**
   * Which partition a key of `store` belongs to, whether this instance holds
   * it, and otherwise the endpoint of the instance that does (learned from the
   * group coordinator, cached for two seconds and dropped on every rebalance).
   * The key is serialised with the store's key serde and hashed like Kafka's
   * default partitioner, so inputs must be keyed the same way as the store.
   */
  async queryMetadataForKey<K>(store: string, key: K): Promise<KeyQueryMetadata> {
    const def = this.topology.stores.get(store);
    const sub = this.topology.subtopologies.find((s) => s.stores.includes(store));
    if (!def || !sub) throw new TopologyError(this.topology.name, `no store '${store}'`);
    if (!this.admin || !this.running) throw new TopologyError(this.topology.name, 'not running: start() it before querying');
    const partition = partitionForKey(def.key.serialize(key), this.partitionsOf(sub.sourceTopics[0]!));
    const id = taskId(sub.index, partition);
    if (this.tasks.has(id)) return { partition, local: true, endpoint: this.options.endpoint ?? null };
    if (!this.owners || Date.now() - this.owners.at > OWNERS_TTL_MS) {
      const byTask = new Map<string, string | null>();
      for (const m of await this.admin.groupMembers(this.applicationId)) {
        for (const tp of m.assignment) {
          const s = this.topology.subtopologyOfTopic(tp.topic);
          if (s) byTask.set(taskId(s.index, tp.partition), m.endpoint);
        }
      }
      this.owners = { at: Date.now(), byTask };
    }
    return { partition, local: false, endpoint: this.owners.byTask.get(id) ?? null };
  }

  /** True while running with at least one task restored and processing. */
  get serving(): boolean {
    return this.running && this.tasks.size > 0;
  }

  /**
   * The tasks the group assigned to this instance, and those of them not yet
   * restored and processing (their stores still replaying the changelog in
   * the background, their inputs paused). An instance is ready only when
   * `restoring` is empty and `assigned` is not; the tasks not listed in
   * `restoring` process and answer queries meanwhile.
   */
  get taskReadiness(): { assigned: string[]; restoring: string[] } {
    const assigned = this.running ? [...this.assigned].sort((a, b) => a.localeCompare(b, 'en', { numeric: true })) : [];
    return { assigned, restoring: assigned.filter((id) => !this.tasks.has(id)) };
  }

  /** The local task holding `partition` of sub-topology `sub`, if any. */
  hasTask(sub: number, partition: number): boolean {
    return this.tasks.has(taskId(sub, partition));
  }

  /**
   * A fatal failure: stop without committing anything more (the failed work
   * may include records neither processed nor dead-lettered), then reject
   * {@link done}, so that the process exits non-zero and health checks fail.
   */
  private die(err: unknown, gen = this.generation): void {
    const e = err instanceof Error ? err : new Error(String(err));
    // Errors of an older connection's clients, or any while stopping or already reconnecting, change nothing.
    if (gen !== this.generation || !this.running || this.failure || this.stopRequested || this.recovering) return;
    // Both guarantees reconnect in-process. (Exactly-once did not from 0b26be3: lists committed twice in the
    // chaos runs were blamed on it. Their cause was the one-broker test cluster's controlled shutdown, which
    // drops the commit markers of the transaction completing at that moment; docs/RELIABILITY.md.)
    if (this.options.kafka.isClusterUnavailable(e) && ++this.outagesSinceCommit <= MAX_OUTAGES_WITHOUT_COMMIT) {
      this.recovering = this.recover(e).finally(() => {
        this.recovering = undefined;
        if (this.failure) void this.stop();
      });
      return;
    }
    this.failure = e;
    // At once, not when stop() gets to it: a commit already queued behind the failed job would otherwise still run
    // (the transaction it would commit refuses since it lost a send, but nothing else should start either).
    this.running = false;
    this.log('error', 'topology runner failed', { topology: this.topology.name, error: e.message, code: (e as VectorsError).code });
    void this.stop();
  }

  /**
   * The cluster is unavailable: close every task without committing (their
   * uncommitted work is dropped, as when a partition moves to another
   * instance), then reconnect with a backoff until the cluster answers or the
   * runner is stopped. A failure other than unavailability while reconnecting
   * is fatal.
   */
  private async recover(cause: Error): Promise<void> {
    const since = Date.now();
    this.metrics.kafkaOutages.inc({ topology: this.topology.name });
    this.metrics.kafkaConnected.set({ topology: this.topology.name }, 0);
    this.log('warn', 'Kafka unavailable: tasks closed without committing; reconnecting', {
      topology: this.topology.name,
      instance: this.instanceId,
      error: cause.message,
    });
    await this.shutDown(false);
    let backoff = RECONNECT_FIRST_MS;
    for (let attempt = 1; !this.stopRequested; attempt++) {
      await sleep(backoff, this.stopSignal.promise);
      if (this.stopRequested) return;
      try {
        await this.connect();
        this.log('info', 'reconnected to Kafka; tasks restore from local state and changelogs', {
          topology: this.topology.name,
          instance: this.instanceId,
          unavailableMs: Date.now() - since,
          attempts: attempt,
        });
        return;
      } catch (err) {
        this.running = false;
        await this.disconnect();
        if (!this.options.kafka.isClusterUnavailable(err)) {
          this.failure = err instanceof Error ? err : new Error(String(err));
          this.log('error', 'topology runner failed while reconnecting', { topology: this.topology.name, error: this.failure.message });
          return;
        }
        this.log('warn', 'Kafka still unavailable; retrying', {
          topology: this.topology.name,
          attempt,
          error: String((err as Error).message),
          retryInMs: backoff,
        });
        backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
      }
    }
  }

  /**
   * Stops processing and closes every task and client. With `commit`, the
   * work in progress is committed first (at-least-once: outputs and offsets;
   * exactly-once: each task's transaction); without, it is dropped.
   */
  private async shutDown(commit: boolean): Promise<void> {
    this.running = false;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.queue.run(async () => {
      if (commit && this.guarantee === 'at-least-once') {
        try {
          await this.flushOutputs();
          await this.commitAll();
        } catch (err) {
          // Outputs (or DLQ copies) that were not written: commit no offset past their inputs.
          commit = false;
          this.log('warn', 'final commit failed; uncommitted records will be processed again', { error: String(err) });
        }
      }
      for (const state of this.tasks.values()) await this.closeTask(state, commit && this.guarantee === 'exactly-once');
      this.tasks.clear();
      for (const r of [...this.restoring.values()]) await this.cancelRestore(r);
      await this.standbys.closeAll();
      this.assigned = new Set();
      this.metrics.tasks.set({ topology: this.topology.name }, 0);
    });
    await this.disconnect();
  }

  /** Closes the clients, each within a bound: towards an unavailable cluster a close can wait for long. */
  private async disconnect(): Promise<void> {
    const clients = [this.consumer, this.producer, this.reader, this.standbyReader, this.followReader, this.admin];
    this.consumer = this.producer = this.reader = this.standbyReader = this.followReader = this.admin = undefined;
    for (const c of clients) await within(c?.close(), CLOSE_TIMEOUT_MS).catch(() => undefined);
  }

  /**
   * Graceful stop: finish the batch in progress, commit, close tasks and
   * stores, leave the group. Idempotent; also ends a wait for an unavailable
   * cluster. After a fatal failure it commits nothing, and {@link done}
   * rejects with that failure.
   */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopRequested = true;
    this.stopSignal.fire();
    this.stopping = (async () => {
      await this.recovering;
      // Stopped while waiting for the cluster: there are no tasks and nothing to commit.
      await this.shutDown(!this.failure && this.consumer !== undefined);
      this.metrics.kafkaConnected.set({ topology: this.topology.name }, 0);
      this.log(this.failure ? 'error' : 'info', 'topology stopped', {
        topology: this.topology.name,
        instance: this.instanceId,
        ...(this.failure ? { error: this.failure.message } : {}),
      });
      if (this.failure) this.rejectDone(this.failure);
      else this.resolveDone();
    })();
    return this.stopping;
  }
}
