import { GroupRebalanceError, KafkaError } from '../errors';
import type {
  BatchContext,
  ConsumerHandlers,
  ConsumerOptions,
  FetchResult,
  GroupMember,
  IncomingRecord,
  KafkaAdmin,
  KafkaClient,
  KafkaConsumer,
  KafkaProducer,
  KafkaTransaction,
  OutgoingRecord,
  PartitionOffsets,
  PartitionReader,
  ProducedOffset,
  TopicDescription,
  TopicPartition,
  TopicPartitionOffset,
  TopicSpec,
  TransactionalProducer,
} from '../kafka/client';
import { assignStandbys, assignTasks, type AssignorMember } from '../kafka/task-assignor';
import { guardTransaction } from '../kafka/transaction-guard';
import { partitionForKey } from '../partitioner';

/** Records one consumer batch or one reader fetch returns at most. */
const MAX_RECORDS_PER_FETCH = 200;
/** Topic configs a describe reports for a topic that did not set them (the broker's defaults). */
const DEFAULT_CONFIGS: Record<string, string> = { 'cleanup.policy': 'delete', 'max.message.bytes': '1048588' };

interface Txn {
  status: 'open' | 'committed' | 'aborted';
}

interface StoredRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
  timestamp: number;
  /** Set on records written in a transaction. */
  txn?: Txn;
  /** A transaction marker: takes an offset, is never returned. */
  control?: boolean;
}

interface Partition {
  log: StoredRecord[];
  /** First offset of each transaction still open on this partition; the last stable offset is the least. */
  openFrom: Map<Txn, number>;
}

interface Topic {
  partitions: Partition[];
  config: Record<string, string>;
}

const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

function notFound(operation: string, topic: string, partition?: number): KafkaError {
  const where = partition === undefined ? `topic '${topic}'` : `${topic}-${partition}`;
  return new KafkaError(operation, new Error(`UNKNOWN_TOPIC_OR_PARTITION: this server does not host ${where}`));
}

/**
 * A Kafka cluster in memory, for tests of code that runs on a
 * {@link KafkaClient} (the topology runner above all) without a broker.
 * Each process under test gets its own {@link MemoryKafkaClient} from
 * {@link client}; they share the cluster's topics, groups and transactions.
 *
 * What it simulates: topics of partitions, each an array of records with
 * offsets from 0 (keys without a partition are placed by murmur2, as the
 * Java client and kafkajs do); idempotent and transactional producers, where
 * records of an open transaction are hidden from read_committed readers (and
 * hold back the last stable offset) until commit, an abort drops them,
 * commit and abort each leave a marker that takes an offset, and a new
 * producer with the same transactional id fences the older one and aborts
 * its open transaction; consumer groups with eager rebalancing (every
 * member rejoins, sending the tasks it owns, before anyone gets the new
 * assignment), the runtime's sticky task assignment when the members give
 * `taskOf`, round-robin otherwise; committed offsets (an at-least-once
 * commit is refused while the group rebalances, a transactional one is
 * applied when its transaction commits, without a generation check, as with
 * kafkajs); seeks, pauses and stale batches; partition readers outside any
 * group; topic and group administration.
 *
 * What it does not: replication, retention and compaction (every record is
 * kept; low offsets stay 0), sizes and byte limits, session timeouts and
 * heartbeats (a member leaves only when it closes), timestamps other than
 * the producer's or the wall clock, outages (see {@link MemoryKafkaClient.crash}
 * for the one failure it injects), and anything the interfaces in
 * `kafka/client.ts` do not expose.
 */
export class MemoryKafkaCluster {
  private readonly topics = new Map<string, Topic>();
  private readonly groups = new Map<string, Group>();
  /** Per transactional id: the epoch of its newest producer and that producer's open transaction. */
  private readonly transactional = new Map<string, { epoch: number; open?: OpenTransaction }>();
  private waiters = new Set<() => void>();
  private nextPartition = 0;
  /** Transactional ids whose next commit fails (fault injection), and how many times. */
  private readonly commitFaults = new Map<string, number>();

  /**
   * Fault injection: the next `times` commits of transactions of
   * `transactionalId` fail (the transaction is aborted; the error is neither
   * retriable nor a fence), as a broker refusing a transaction would.
   */
  failCommits(transactionalId: string, times = 1): void {
    this.commitFaults.set(transactionalId, (this.commitFaults.get(transactionalId) ?? 0) + times);
  }

  /** @internal Consumes one injected commit failure of `transactionalId`; true when there was one. */
  takeCommitFault(transactionalId: string): boolean {
    const n = this.commitFaults.get(transactionalId) ?? 0;
    if (n <= 0) return false;
    this.commitFaults.set(transactionalId, n - 1);
    return true;
  }

  /** A client on this cluster, as one process would have. */
  client(): MemoryKafkaClient {
    return new MemoryKafkaClient(this);
  }

  /** Creates a topic unless it exists; returns whether it did. */
  createTopic(spec: TopicSpec): boolean {
    if (this.topics.has(spec.name)) return false;
    if (!Number.isInteger(spec.partitions) || spec.partitions < 1) {
      throw new KafkaError('create topics', new Error(`INVALID_PARTITIONS: '${spec.name}' needs at least one partition, got ${spec.partitions}`));
    }
    const partitions = Array.from({ length: spec.partitions }, () => ({ log: [], openFrom: new Map() }));
    this.topics.set(spec.name, { partitions, config: { ...(spec.config ?? {}) } });
    return true;
  }

  deleteTopic(name: string): void {
    this.topics.delete(name);
  }

  topicNames(): string[] {
    return [...this.topics.keys()];
  }

  describeTopic(name: string, configNames?: string[]): TopicDescription | undefined {
    const topic = this.topics.get(name);
    if (!topic) return undefined;
    const config: Record<string, string> = {};
    if (configNames) {
      for (const c of configNames) {
        const v = topic.config[c] ?? DEFAULT_CONFIGS[c];
        if (v !== undefined) config[c] = v;
      }
    } else Object.assign(config, topic.config);
    return { name, partitions: topic.partitions.length, config };
  }

  /** Low (always 0) and high watermark (the log end, open transactions included) of every partition. */
  offsets(name: string): PartitionOffsets[] {
    const topic = this.topics.get(name);
    if (!topic) throw notFound('fetch topic offsets', name);
    return topic.partitions.map((p, partition) => ({ partition, low: '0', high: String(p.log.length) }));
  }

  /**
   * Every record of `topic` a reader would see now, partition by partition in
   * offset order: committed ones only unless `readUncommitted`. For tests.
   */
  read(topic: string, options: { readUncommitted?: boolean } = {}): IncomingRecord[] {
    const t = this.topics.get(topic);
    if (!t) throw notFound('read', topic);
    const out: IncomingRecord[] = [];
    t.partitions.forEach((_, partition) => {
      for (let offset = 0n; ;) {
        const res = this.scan(topic, partition, offset, !options.readUncommitted, Number.MAX_SAFE_INTEGER);
        out.push(...res.records);
        if (BigInt(res.nextOffset) === offset) break;
        offset = BigInt(res.nextOffset);
      }
    });
    return out;
  }

  /** The offsets `groupId` committed for `topic`, per partition; `-1` where none. */
  committedOffsets(groupId: string, topic: string): TopicPartitionOffset[] {
    const t = this.topics.get(topic);
    if (!t) return [];
    const committed = this.groups.get(groupId)?.committed;
    return t.partitions.map((_, partition) => ({ topic, partition, offset: committed?.get(tpKey(topic, partition))?.toString() ?? '-1' }));
  }

  // --- internals shared by the clients -----------------------------------------------------------

  /** @internal */
  partition(topic: string, partition: number, operation: string): Partition {
    const p = this.topics.get(topic)?.partitions[partition];
    if (!p) throw notFound(operation, topic, partition);
    return p;
  }

  /** @internal Appends records (in a transaction when `txn`); returns the last offset per partition. */
  append(records: OutgoingRecord[], txn?: { txn: Txn; touched: Set<string> }): ProducedOffset[] {
    // Check every record before writing any: a refused send writes nothing.
    const placed = records.map((r) => {
      const topic = this.topics.get(r.topic);
      if (!topic) throw notFound('produce', r.topic);
      const key = r.key === null ? null : typeof r.key === 'string' ? Buffer.from(r.key, 'utf8') : r.key;
      const n = topic.partitions.length;
      const partition = r.partition ?? (key === null ? this.nextPartition++ % n : partitionForKey(key, n));
      if (!Number.isInteger(partition) || partition < 0 || partition >= n) throw notFound('produce', r.topic, partition);
      return { r, key, partition: topic.partitions[partition]!, partitionNo: partition };
    });
    const last = new Map<string, ProducedOffset>();
    for (const { r, key, partition, partitionNo } of placed) {
      const headers: Record<string, Buffer> = {};
      for (const [k, v] of Object.entries(r.headers ?? {})) headers[k] = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
      const offset = partition.log.length;
      partition.log.push({ key, value: r.value, headers, timestamp: r.timestamp ?? Date.now(), ...(txn ? { txn: txn.txn } : {}) });
      if (txn) {
        if (!partition.openFrom.has(txn.txn)) partition.openFrom.set(txn.txn, offset);
        txn.touched.add(tpKey(r.topic, partitionNo));
      }
      last.set(tpKey(r.topic, partitionNo), { topic: r.topic, partition: partitionNo, lastOffset: String(offset) });
    }
    this.notify();
    return [...last.values()];
  }

  /** @internal Ends a transaction: a marker on every partition it wrote, its offsets applied on commit. */
  endTransaction(t: OpenTransaction, outcome: 'committed' | 'aborted'): void {
    t.txn.status = outcome;
    for (const key of t.touched) {
      const [topic, partition] = key.split('\u0000') as [string, string];
      const p = this.topics.get(topic)?.partitions[Number(partition)];
      if (!p) continue; // deleted meanwhile
      p.log.push({ key: null, value: null, headers: {}, timestamp: Date.now(), control: true });
      p.openFrom.delete(t.txn);
    }
    if (outcome === 'committed') {
      for (const [groupId, offsets] of t.offsets) for (const o of offsets) this.group(groupId).committed.set(tpKey(o.topic, o.partition), BigInt(o.offset));
    }
    const state = this.transactional.get(t.transactionalId);
    if (state?.open === t) delete state.open;
    this.notify();
  }

  /** @internal A new producer for `transactionalId`: fences the older one, aborting its open transaction. */
  initTransactional(transactionalId: string): number {
    const state = this.transactional.get(transactionalId) ?? { epoch: -1 };
    if (state.open) this.endTransaction(state.open, 'aborted');
    state.epoch++;
    this.transactional.set(transactionalId, state);
    return state.epoch;
  }

  /** @internal */
  transactionalState(transactionalId: string): { epoch: number; open?: OpenTransaction } {
    return this.transactional.get(transactionalId)!;
  }

  /**
   * @internal One fetch: records from `offset`, up to the last stable offset
   * (read committed) or the log end, without markers and (read committed)
   * aborted records; `nextOffset` is past everything it looked at.
   */
  scan(topic: string, partitionNo: number, offset: bigint, readCommitted: boolean, max: number): FetchResult {
    const p = this.partition(topic, partitionNo, `fetch ${topic}-${partitionNo}`);
    const high = p.log.length;
    const lso = p.openFrom.size ? Math.min(...p.openFrom.values()) : high;
    if (offset < 0n || offset > BigInt(high)) {
      throw new KafkaError(`fetch ${topic}-${partitionNo} at ${offset}`, new Error(`OFFSET_OUT_OF_RANGE: the log ends at ${high}`));
    }
    const limit = readCommitted ? lso : high;
    const records: IncomingRecord[] = [];
    let i = Number(offset);
    for (; i < limit && records.length < max; i++) {
      const r = p.log[i]!;
      if (r.control || (readCommitted && r.txn?.status === 'aborted')) continue;
      records.push({ topic, partition: partitionNo, offset: String(i), key: r.key, value: r.value, headers: { ...r.headers }, timestamp: r.timestamp });
    }
    return { records, nextOffset: String(Math.max(i, Number(offset))), highWatermark: String(high), lastStableOffset: String(lso) };
  }

  /** @internal */
  group(groupId: string): Group {
    let g = this.groups.get(groupId);
    if (!g) this.groups.set(groupId, (g = new Group(this)));
    return g;
  }

  /** @internal Resolves at the next change (records, a transaction's end, a group event) or after `ms`. */
  async changed(ms: number): Promise<void> {
    if (ms <= 0) return;
    let wake!: () => void;
    const woken = new Promise<void>((r) => (wake = r));
    this.waiters.add(wake);
    const timer = setTimeout(wake, ms);
    await woken;
    clearTimeout(timer);
    this.waiters.delete(wake);
  }

  /** @internal */
  notify(): void {
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const w of waiters) w();
  }
}

interface OpenTransaction {
  transactionalId: string;
  txn: Txn;
  touched: Set<string>;
  offsets: Map<string, TopicPartitionOffset[]>;
}

/** A consumer group: members, eager rebalances, committed offsets. */
class Group {
  readonly committed = new Map<string, bigint>();
  readonly members = new Map<string, MemoryConsumer>();
  generation = 0;
  rebalancing = false;
  /** Members that rejoined in the current rebalance, with the tasks they owned and kept as standby. */
  private readonly joined = new Map<string, { owned: string[]; standby: string[] }>();
  readonly assignment = new Map<string, TopicPartition[]>();
  /** Standby task ids per member, placed as the kafkajs client's leader places them. */
  readonly standby = new Map<string, string[]>();
  private nextMember = 0;

  constructor(private readonly cluster: MemoryKafkaCluster) {}

  join(member: MemoryConsumer): string {
    const id = `member-${++this.nextMember}`;
    this.members.set(id, member);
    this.startRebalance();
    return id;
  }

  leave(memberId: string): void {
    if (!this.members.delete(memberId)) return;
    this.assignment.delete(memberId);
    this.startRebalance();
  }

  private startRebalance(): void {
    this.rebalancing = true;
    this.joined.clear();
    if (this.members.size === 0) this.rebalancing = false;
    this.cluster.notify();
  }

  /** A member's poll while the group rebalances: it rejoins with what it owns; the last one to do so completes the rebalance. */
  rejoin(memberId: string, owned: string[], standby: string[] = []): void {
    if (!this.rebalancing || this.joined.has(memberId)) return;
    this.joined.set(memberId, { owned, standby });
    if ([...this.members.keys()].every((id) => this.joined.has(id))) this.complete();
  }

  private complete(): void {
    const members = [...this.members];
    const subscribed = [...new Set(members.flatMap(([, m]) => m.topics))].sort();
    const partitions: TopicPartition[] = [];
    for (const topic of subscribed) {
      const d = this.cluster.describeTopic(topic);
      for (let partition = 0; partition < (d?.partitions ?? 0); partition++) partitions.push({ topic, partition });
    }
    this.assignment.clear();
    this.standby.clear();
    const leader = members.find(([, m]) => m.options.taskOf)?.[1].options;
    const taskOf = leader?.taskOf;
    if (taskOf) {
      const tasks = new Map<string, TopicPartition[]>();
      for (const tp of partitions) {
        const id = taskOf(tp.topic, tp.partition);
        tasks.set(id, [...(tasks.get(id) ?? []), tp]);
      }
      const assignorMembers: AssignorMember[] = members.map(([memberId]) => ({ memberId, ...(this.joined.get(memberId) ?? { owned: [] }) }));
      const load = assignTasks(tasks.keys(), assignorMembers);
      for (const [memberId, ids] of assignStandbys(load, assignorMembers, leader?.standbyReplicas ?? 0)) this.standby.set(memberId, ids);
      for (const [memberId, ids] of load)
        this.assignment.set(
          memberId,
          ids.flatMap((t) => tasks.get(t)!),
        );
    } else {
      const ids = members.map(([id]) => id).sort();
      ids.forEach((id) => this.assignment.set(id, []));
      partitions.forEach((tp, i) => this.assignment.get(ids[i % ids.length]!)!.push(tp));
    }
    for (const [memberId, m] of members)
      this.assignment.set(
        memberId,
        (this.assignment.get(memberId) ?? []).filter((tp) => m.topics.includes(tp.topic)),
      );
    this.generation++;
    this.rebalancing = false;
    this.joined.clear();
    this.cluster.notify();
  }
}

class MemoryConsumer implements KafkaConsumer {
  topics: string[] = [];
  private memberId?: string;
  private group: Group;
  private generation = -1;
  private assigned: TopicPartition[] = [];
  private readonly positions = new Map<string, bigint>();
  private readonly paused = new Set<string>();
  /** Bumped by every seek of a partition: a batch fetched before it is stale. */
  private readonly seeks = new Map<string, number>();
  private closed = false;
  private loop?: Promise<void>;
  private handlers?: ConsumerHandlers;

  constructor(
    private readonly cluster: MemoryKafkaCluster,
    readonly options: ConsumerOptions,
    private readonly onClose: () => void,
  ) {
    this.group = cluster.group(options.groupId);
  }

  async subscribe(topics: string[]): Promise<void> {
    for (const t of topics) if (!this.cluster.describeTopic(t)) throw notFound(`subscribe to ${topics.join(', ')}`, t);
    this.topics = [...new Set([...this.topics, ...topics])];
  }

  async run(handlers: ConsumerHandlers): Promise<void> {
    if (this.closed) throw new KafkaError('run consumer', new Error('the consumer is closed'));
    this.handlers = handlers;
    this.memberId = this.group.join(this);
    this.loop = this.poll(handlers);
  }

  private get current(): boolean {
    return !this.closed && !this.group.rebalancing && this.generation === this.group.generation;
  }

  private async poll(handlers: ConsumerHandlers): Promise<void> {
    while (!this.closed) {
      if (this.group.rebalancing) {
        this.group.rejoin(this.memberId!, this.options.ownedTasks?.() ?? [], this.options.standbyTasks?.() ?? []);
        if (this.group.rebalancing) await this.cluster.changed(this.options.maxWaitTimeMs ?? 100);
        continue;
      }
      if (this.generation !== this.group.generation) this.assign(handlers);
      let delivered = false;
      for (const tp of this.assigned) {
        if (!this.current) break;
        const key = tpKey(tp.topic, tp.partition);
        if (this.paused.has(key)) continue;
        const position = this.positions.get(key)!;
        let res: FetchResult;
        try {
          res = this.cluster.scan(tp.topic, tp.partition, position, this.options.readCommitted ?? true, MAX_RECORDS_PER_FETCH);
        } catch (err) {
          return this.crash(err);
        }
        if (res.records.length === 0) {
          // Markers and aborted records only: move past them without a batch.
          if (BigInt(res.nextOffset) > position) this.positions.set(key, BigInt(res.nextOffset));
          continue;
        }
        const seekCount = this.seeks.get(key) ?? 0;
        const generation = this.generation;
        const ctx: BatchContext = {
          heartbeat: async () => undefined,
          isRunning: () => this.current && generation === this.generation,
          isStale: () => (this.seeks.get(key) ?? 0) !== seekCount,
        };
        let processed: boolean;
        try {
          processed = await handlers.onBatch({ topic: tp.topic, partition: tp.partition, records: res.records, highWatermark: res.highWatermark }, ctx);
        } catch (err) {
          return this.crash(err);
        }
        delivered = true;
        if (processed && !ctx.isStale() && generation === this.generation) {
          this.positions.set(key, BigInt(res.records[res.records.length - 1]!.offset) + 1n);
        }
        // A real turn of the event loop: the runner's commit timer must be able to fire between batches.
        await new Promise((r) => setImmediate(r));
      }
      if (!delivered) await this.cluster.changed(this.options.maxWaitTimeMs ?? 100);
    }
  }

  /** Takes the group's new assignment: positions from the committed offsets, then the assignment callback. */
  private assign(handlers: ConsumerHandlers): void {
    this.generation = this.group.generation;
    this.assigned = [...(this.group.assignment.get(this.memberId!) ?? [])];
    this.positions.clear();
    for (const tp of this.assigned) {
      const committed = this.group.committed.get(tpKey(tp.topic, tp.partition));
      const end = BigInt(this.cluster.offsets(tp.topic)[tp.partition]!.high);
      this.positions.set(tpKey(tp.topic, tp.partition), committed ?? ((this.options.fromBeginning ?? true) ? 0n : end));
    }
    // As kafkajs' GROUP_JOIN event: called before the first fetch of the new generation (kafkajs emits it
    // synchronously, so the handler's synchronous part runs first), not awaited: fetching goes on.
    const standby = [...(this.group.standby.get(this.memberId!) ?? [])];
    let assigned: Promise<void> | void;
    try {
      assigned = handlers.onAssignment?.([...this.assigned]);
    } catch (err) {
      return this.crash(err);
    }
    void Promise.resolve(assigned)
      .then(() => ((this.options.standbyReplicas ?? 0) > 0 ? handlers.onStandbyAssignment?.(standby) : undefined))
      .catch((err) => this.crash(err));
  }

  private crash(err: unknown): void {
    if (this.closed) return;
    this.closed = true;
    if (this.memberId) this.group.leave(this.memberId);
    this.handlers?.onCrash?.(err instanceof Error ? err : new Error(String(err)));
  }

  /** @internal Fault injection: see {@link MemoryKafkaClient.crash}. */
  injectCrash(err: Error): void {
    this.crash(err);
  }

  async commit(offsets: TopicPartitionOffset[]): Promise<void> {
    if (offsets.length === 0) return;
    if (this.closed) throw new KafkaError('commit offsets', new Error('the consumer is closed'));
    if (!this.current) {
      throw new GroupRebalanceError('commit offsets', new Error('REBALANCE_IN_PROGRESS: the group is rebalancing or this member is of an older generation'));
    }
    for (const o of offsets) this.group.committed.set(tpKey(o.topic, o.partition), BigInt(o.offset));
  }

  pause(partitions: TopicPartition[]): void {
    for (const tp of partitions) this.paused.add(tpKey(tp.topic, tp.partition));
  }

  resume(partitions: TopicPartition[]): void {
    for (const tp of partitions) this.paused.delete(tpKey(tp.topic, tp.partition));
    this.cluster.notify();
  }

  seek(target: TopicPartitionOffset): void {
    const key = tpKey(target.topic, target.partition);
    this.positions.set(key, BigInt(target.offset));
    this.seeks.set(key, (this.seeks.get(key) ?? 0) + 1);
    this.cluster.notify();
  }

  async close(): Promise<void> {
    this.onClose();
    if (!this.closed) {
      this.closed = true;
      if (this.memberId) this.group.leave(this.memberId);
    }
    this.cluster.notify();
    await this.loop;
  }

  /** @internal */
  get member(): { id: string | undefined; endpoint: string | null; assignment: TopicPartition[] } {
    return { id: this.memberId, endpoint: this.options.endpoint ?? null, assignment: this.assigned };
  }
}

class MemoryTransactionalProducer implements TransactionalProducer {
  private closed = false;

  constructor(
    private readonly cluster: MemoryKafkaCluster,
    readonly transactionalId: string,
    private readonly epoch: number,
  ) {}

  /** Throws when closed or when a newer producer with the same id fenced this one. */
  private check(operation: string): void {
    if (this.closed) throw new KafkaError(`${operation} (${this.transactionalId})`, new Error('the producer is closed'));
    if (this.cluster.transactionalState(this.transactionalId).epoch !== this.epoch) {
      throw new KafkaError(
        `${operation} (${this.transactionalId})`,
        new Error(`PRODUCER_FENCED: a newer producer with transactional id '${this.transactionalId}' fenced this one (epoch ${this.epoch})`),
      );
    }
  }

  async begin(): Promise<KafkaTransaction> {
    this.check('begin transaction');
    const state = this.cluster.transactionalState(this.transactionalId);
    if (state.open) throw new KafkaError(`begin transaction (${this.transactionalId})`, new Error('a transaction is already open'));
    const open: OpenTransaction = { transactionalId: this.transactionalId, txn: { status: 'open' }, touched: new Set(), offsets: new Map() };
    state.open = open;
    const active = (operation: string) => {
      this.check(operation);
      if (open.txn.status !== 'open') throw new KafkaError(`${operation} (${this.transactionalId})`, new Error(`the transaction is ${open.txn.status}`));
    };
    return guardTransaction(this.transactionalId, {
      send: async (records) => {
        active('transactional produce');
        return records.length ? this.cluster.append(records, open) : [];
      },
      sendOffsets: async (groupId, offsets) => {
        active('transactional offset commit');
        open.offsets.set(groupId, [...(open.offsets.get(groupId) ?? []), ...offsets]);
      },
      commit: async () => {
        active('commit transaction');
        if (this.cluster.takeCommitFault(this.transactionalId)) {
          this.cluster.endTransaction(open, 'aborted');
          throw new KafkaError(`commit transaction (${this.transactionalId})`, new Error('injected transaction failure'));
        }
        this.cluster.endTransaction(open, 'committed');
      },
      abort: async () => {
        active('abort transaction');
        this.cluster.endTransaction(open, 'aborted');
      },
    });
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/**
 * One process's {@link KafkaClient} on a {@link MemoryKafkaCluster}; see
 * there for what is simulated. {@link crash} injects the one failure the
 * runtime must survive without a broker: a consumer that dies.
 */
export class MemoryKafkaClient implements KafkaClient {
  private readonly consumers = new Set<MemoryConsumer>();

  constructor(readonly cluster: MemoryKafkaCluster) {}

  /** Retriable Kafka errors, as the kafkajs client; none is raised by the in-memory cluster itself. */
  isClusterUnavailable(err: unknown): boolean {
    return err instanceof KafkaError && err.retriable;
  }

  /**
   * Crashes every consumer of this client that runs: each leaves its group
   * and reports `error` to its `onCrash` handler, as a consumer that will not
   * restart (the topology runner dies on it, committing nothing more).
   */
  crash(error: Error = new Error('consumer crashed (injected by the test)')): void {
    for (const c of this.consumers) c.injectCrash(error);
  }

  async admin(): Promise<KafkaAdmin> {
    const { cluster } = this;
    return {
      async createTopics(specs: TopicSpec[]) {
        return specs.filter((s) => cluster.createTopic(s)).map((s) => s.name);
      },
      async deleteTopics(names: string[]) {
        for (const n of names) cluster.deleteTopic(n);
      },
      async listTopics() {
        return cluster.topicNames();
      },
      async describeTopic(name: string, configNames?: string[]) {
        return cluster.describeTopic(name, configNames);
      },
      async topicOffsets(topic: string) {
        return cluster.offsets(topic);
      },
      async committedOffsets(groupId: string, topic: string) {
        return cluster.committedOffsets(groupId, topic);
      },
      async groupMembers(groupId: string): Promise<GroupMember[]> {
        const group = cluster.group(groupId);
        if (group.rebalancing) return [];
        return [...group.members.values()]
          .map((c) => c.member)
          .filter((m) => m.id !== undefined)
          .map((m) => ({ memberId: m.id!, endpoint: m.endpoint, assignment: [...(group.assignment.get(m.id!) ?? [])] }));
      },
      async close() {},
    };
  }

  async producer(): Promise<KafkaProducer> {
    const { cluster } = this;
    let closed = false;
    return {
      async send(records: OutgoingRecord[]) {
        if (closed) throw new KafkaError('produce', new Error('the producer is closed'));
        return records.length ? cluster.append(records) : [];
      },
      async close() {
        closed = true;
      },
    };
  }

  async transactionalProducer(transactionalId: string): Promise<TransactionalProducer> {
    return new MemoryTransactionalProducer(this.cluster, transactionalId, this.cluster.initTransactional(transactionalId));
  }

  async consumer(options: ConsumerOptions): Promise<KafkaConsumer> {
    const consumer: MemoryConsumer = new MemoryConsumer(this.cluster, options, () => this.consumers.delete(consumer));
    this.consumers.add(consumer);
    return consumer;
  }

  async partitionReader(options: { readUncommitted?: boolean; maxBytes?: number } = {}): Promise<PartitionReader> {
    const { cluster } = this;
    const readCommitted = !options.readUncommitted;
    return {
      async fetch(tp: TopicPartition, offset: string, maxWaitMs = 0): Promise<FetchResult> {
        const first = cluster.scan(tp.topic, tp.partition, BigInt(offset), readCommitted, MAX_RECORDS_PER_FETCH);
        if (first.records.length > 0 || first.nextOffset !== offset || maxWaitMs <= 0) return first;
        await cluster.changed(maxWaitMs);
        return cluster.scan(tp.topic, tp.partition, BigInt(offset), readCommitted, MAX_RECORDS_PER_FETCH);
      },
      async close() {},
    };
  }
}
