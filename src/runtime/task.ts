import { MisroutedRecordError, RecordValidationError, TopologyError, VectorsError } from './errors';
import { DEFAULT_DLQ_MAX_BYTES, deadLetter, DlqHeaders, errorCodeOf } from './dlq';
import type { IncomingRecord, OutgoingRecord, TopicPartitionOffset } from './kafka/client';
import type { RuntimeMetrics } from './metrics/runtime-metrics';
import { partitionForKey } from './partitioner';
import { isPreparedSerde, type PreparedSerde, type Serde } from './serde/serde';
import type { CachedKeyValueStore } from './state/cached-store';
import type { WriteOp } from './state/store';
import type { Bolt, BoltContext, Cancellable, LogFn, PunctuationType, StreamRecord } from './topology/bolt';
import type { RepartitionDef, Route, SpoutDef, SubTopology, Topology } from './topology/topology';
import { DEFAULT_STREAM } from './topology/topology';
import type { TopologySerdes } from './topology/topology-serdes';

export interface TaskOptions {
  topology: Topology;
  sub: SubTopology;
  partition: number;
  instanceId: string;
  serdes: TopologySerdes;
  stores: Map<string, CachedKeyValueStore<unknown, unknown>>;
  /** Partition count of an internal or output topic. */
  partitionsOf(topic: string): number;
  metrics: RuntimeMetrics;
  now(): number;
  /** Largest dead-letter record the DLQ topic accepts, bytes; larger copies are cut to fit. Default {@link DEFAULT_DLQ_MAX_BYTES}. */
  dlqMaxBytes?: number;
  /** What to do with a keyed input record on another partition than murmur2(key) puts it. Default 'reroute'. */
  misrouted?: MisroutedPolicy;
  /** Told of every misrouted record and what was done with it (the runner warns, rate-limited). */
  onMisrouted?(record: IncomingRecord, expected: number, action: MisroutedPolicy): void;
  /** Told of every record sent to the dead-letter topic (the runner logs it). */
  onDeadLetter?(record: IncomingRecord, component: string, err: unknown, truncated: boolean): void;
  /** The instance's logger, for bolts' own lines. Default: none. */
  log?: LogFn;
}

/**
 * What a task does with a record of a keyed spout (one with `keyedBy`) that
 * sits on another partition than Kafka's default partitioner (murmur2 of the
 * key) would put it, as records of librdkafka producers do by default:
 * - `reroute`: write it unchanged to the partition where it belongs, on the
 *   same topic (header {@link REROUTED_HEADER} names its origin,
 *   {@link REROUTED_BY_HEADER} the application), and skip it here; the task
 *   owning the key processes it, and queries find it. Another application
 *   reading the topic reroutes the record itself and skips this copy;
 * - `dead-letter`: send it to the DLQ (`VEC_ERR_MISROUTED`);
 * - `process`: process it where it is (its key's state is then split
 *   between two tasks; only for topologies that do not mind).
 * Every case is counted (`vectors_runtime_misrouted_records_total`).
 */
export type MisroutedPolicy = 'reroute' | 'dead-letter' | 'process';

/** Header on a record the runtime moved to its murmur2 partition: `<topic>-<partition>@<offset>` of the original. */
export const REROUTED_HEADER = 'vectors.rerouted.from';

/**
 * Header on a rerouted record naming the application (id) that moved it.
 * Every application reading the topic reroutes each misrouted record itself,
 * so a copy is processed by the application that wrote it only: another's
 * copy would count the record twice.
 */
export const REROUTED_BY_HEADER = 'vectors.rerouted.by';

/**
 * A record could not be processed for a reason outside the record (the schema
 * registry or the broker did not answer). The task did not move past it: the
 * caller retries it after a backoff, and it never goes to the dead-letter topic.
 */
export class RetriableInputError extends Error {
  constructor(
    readonly record: IncomingRecord,
    override readonly cause: unknown,
  ) {
    super(`record ${record.topic}-${record.partition}@${record.offset} must be retried: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'RetriableInputError';
  }

  /** The code of the underlying failure, e.g. VEC_ERR_SCHEMA_REGISTRY. */
  get code(): string {
    return errorCodeOf(this.cause);
  }
}

interface Punctuator {
  type: PunctuationType;
  interval: number;
  next: number;
  callback: (ts: number) => void | Promise<void>;
  cancelled: boolean;
  bolt: string;
}

/** A decode waiting for the writer schema its serde fetches first (Task.decode). */
class SchemaFetch {
  constructor(readonly decoded: Promise<unknown>) {}
}

interface Pending {
  component: string;
  stream: string;
  record: StreamRecord;
}

/** What a commit must make durable for one task. */
export interface PreparedCommit {
  changelog: OutgoingRecord[];
  ops: Map<string, WriteOp[]>;
  offsets: TopicPartitionOffset[];
  /** {@link BoltContext.afterCommit} callbacks registered before this commit was prepared, run by `completeCommit`. */
  afterCommit: AfterCommit[];
}

interface AfterCommit {
  bolt: string;
  callback: () => void | Promise<void>;
}

export const taskId = (sub: number, partition: number): string => `${sub}_${partition}`;

/** The headers that have a value, as a new object (an emitted record's own headers usually have none). */
function definedHeaders(headers: Readonly<Record<string, Buffer | undefined>>): Record<string, Buffer> {
  for (const k in headers) {
    if (Object.hasOwn(headers, k)) return Object.fromEntries(Object.entries(headers).filter((kv): kv is [string, Buffer] => kv[1] !== undefined));
  }
  return {};
}

/** Rethrows what bolt `bolt` threw, as an Error naming the bolt (the dead-letter record's component). */
function throwAsBolt(err: unknown, bolt: string): never {
  throw Object.assign(err instanceof Error ? err : new Error(String(err)), { bolt });
}

/** The offset after `offset` (a decimal string): by number while exact, which is cheaper per record than a BigInt. */
function nextOffset(offset: string): string {
  const n = Number(offset);
  return n < Number.MAX_SAFE_INTEGER ? String(n + 1) : (BigInt(offset) + 1n).toString();
}

/**
 * One sub-topology instance for one partition. Transport-agnostic: the Kafka
 * runner and the test driver feed it records and drive its commits.
 * Not re-entrant: the caller serialises process, punctuate and commit calls.
 */
export class Task {
  readonly id: string;
  /** Each bolt with its context, and `failed`, which rethrows what its process rejected with as that bolt's error. */
  private readonly bolts = new Map<string, { bolt: Bolt; ctx: BoltContext; failed: (err: unknown) => never }>();
  private outputs: OutgoingRecord[] = [];
  private readonly nextOffsets = new Map<string, string>();
  private readonly committedOffsets = new Map<string, string>();
  private streamTime = -Infinity;
  private readonly punctuators: Punctuator[] = [];
  private pending: Pending[] = [];
  private current: IncomingRecord | undefined;
  private afterCommit: AfterCommit[] = [];
  commitRequested = false;
  /**
   * A broadcast record was processed since the last commit. Its store writes
   * are uncommitted like any others, but a broadcast input is not read again
   * from committed offsets: dropping that work ({@link abandonUncommitted})
   * would lose it for good, so such a task must be reopened instead (which
   * replays the broadcast history into fresh bolts and restored stores).
   */
  uncommittedBroadcast = false;
  // Counted locally and added to the Prometheus counters once per batch
  // (flushMetrics): a labelled counter increment per record is measurable.
  private readonly inCounts = new Map<string, number>();
  private readonly outCounts = new Map<string, number>();
  private readonly latency: { observe(v: number): void };

  /** What each input topic is: a spout's topic or a repartition topic (looked up per record). */
  private readonly sourceOf = new Map<string, { rep?: RepartitionDef; spout?: SpoutDef }>();
  /** Stores read ahead at record keys (StoreOptions.prefetch), with the input topics whose records they are read ahead for. */
  private readonly prefetching: { store: CachedKeyValueStore<unknown, unknown>; topics: Set<string> }[] = [];

  constructor(private readonly o: TaskOptions) {
    this.id = taskId(o.sub.index, o.partition);
    for (const spout of o.topology.spouts.values()) this.sourceOf.set(spout.topic, { spout });
    for (const rep of o.sub.repartitionSources) this.sourceOf.set(rep.topic, { rep });
    this.latency = o.metrics.processLatency.labels({ topology: o.topology.name });
    for (const [name, store] of o.stores) {
      const topics = new Set(o.topology.stores.get(name)!.prefetch.map((spout) => o.topology.spouts.get(spout)!.topic));
      if (topics.size > 0) this.prefetching.push({ store, topics });
    }
  }

  /**
   * Reads ahead, in one multi-get per store, the keys of `records` that
   * their stores' StoreOptions.prefetch names, for the records about to be
   * processed; {@link endBatch} drops what no record used. A performance
   * hint only: processing reads the same values without it.
   */
  async prefetch(records: readonly IncomingRecord[]): Promise<void> {
    for (const { store, topics } of this.prefetching) {
      const keys: Buffer[] = [];
      for (const r of records) if (r.key !== null && topics.has(r.topic)) keys.push(r.key);
      if (keys.length > 0) await store.prefetch(keys);
    }
  }

  /** True when some store of this task reads ahead (StoreOptions.prefetch). */
  get prefetches(): boolean {
    return this.prefetching.length > 0;
  }

  /** The end of a batch: drops what {@link prefetch} read and no record used. */
  endBatch(): void {
    for (const { store } of this.prefetching) store.clearPrefetched();
  }

  /** Adds the records counted since the last call to the runtime metrics. */
  flushMetrics(): void {
    const topology = this.o.topology.name;
    for (const [component, n] of this.inCounts) this.o.metrics.recordsIn.inc({ topology, component }, n);
    for (const [sink, n] of this.outCounts) this.o.metrics.recordsOut.inc({ topology, sink }, n);
    this.inCounts.clear();
    this.outCounts.clear();
  }

  get partition(): number {
    return this.o.partition;
  }

  get sub(): SubTopology {
    return this.o.sub;
  }

  get stores(): ReadonlyMap<string, CachedKeyValueStore<unknown, unknown>> {
    return this.o.stores;
  }

  async init(): Promise<void> {
    for (const name of this.o.sub.bolts) {
      const def = this.o.topology.bolts.get(name)!;
      const bolt = def.factory();
      const ctx = this.contextFor(name, def.stores);
      this.bolts.set(name, { bolt, ctx, failed: (err) => throwAsBolt(err, name) });
    }
    for (const { bolt, ctx } of this.bolts.values()) await bolt.init?.(ctx);
  }

  private contextFor(bolt: string, declared: string[]): BoltContext {
    const task = this;
    const o = this.o;
    const outputs = o.topology.bolts.get(bolt)!.outputs;
    return {
      topology: o.topology.name,
      applicationId: o.topology.applicationId,
      bolt,
      taskId: this.id,
      partition: o.partition,
      instanceId: o.instanceId,
      store<K, V>(name: string) {
        if (!declared.includes(name)) {
          throw new TopologyError(o.topology.name, `bolt '${bolt}' used store '${name}' without declaring it in stores: [...]`);
        }
        return o.stores.get(name) as unknown as CachedKeyValueStore<K, V>;
      },
      emit(key, value, options = {}) {
        const stream = options.stream ?? DEFAULT_STREAM;
        if (!(stream in outputs)) {
          throw new TopologyError(
            o.topology.name,
            `bolt '${bolt}' emitted on stream '${stream}', which is not in its outputs (${Object.keys(outputs).join(', ')})`,
          );
        }
        const origin = task.current
          ? { topic: task.current.topic, partition: task.current.partition, offset: task.current.offset }
          : { topic: '', partition: o.partition, offset: '-1' };
        task.pending.push({
          component: bolt,
          stream,
          record: {
            key,
            value,
            timestamp: options.timestamp ?? task.current?.timestamp ?? o.now(),
            source: { component: bolt, stream },
            origin,
            headers: options.headers ? Object.fromEntries(Object.entries(options.headers).map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(v)])) : {},
          },
        });
      },
      schedule(intervalMs, type, callback): Cancellable {
        if (!(intervalMs > 0)) throw new RangeError(`punctuation interval must be > 0 ms, got ${intervalMs}`);
        const base = type === 'wall-clock' ? o.now() : Number.isFinite(task.streamTime) ? task.streamTime : 0;
        const p: Punctuator = { type, interval: intervalMs, next: base + intervalMs, callback, cancelled: false, bolt };
        task.punctuators.push(p);
        return { cancel: () => void (p.cancelled = true) };
      },
      requestCommit() {
        task.commitRequested = true;
      },
      afterCommit(callback) {
        task.afterCommit.push({ bolt, callback });
      },
      now: () => o.now(),
      log: (level, message, fields = {}) => o.log?.(level, message, { topology: o.topology.name, task: task.id, ...fields }),
    };
  }

  /**
   * Decodes with a serde: at once, or (a {@link SchemaFetch}) once the serde
   * has fetched the writer schema it asks for. Synchronous in the common case:
   * an await per key and value is measurable at every record.
   */
  private decode(serde: Serde<unknown>, data: Buffer | null): unknown {
    if (data === null) return null;
    try {
      return serde.deserialize(data);
    } catch (err) {
      if ((err as VectorsError).retriable && isPreparedSerde(serde)) return new SchemaFetch(this.fetchThenDecode(serde, data));
      throw err;
    }
  }

  private async fetchThenDecode(serde: PreparedSerde<unknown>, data: Buffer): Promise<unknown> {
    try {
      await serde.prepareFor(data);
    } catch (fetchErr) {
      // The registry did not answer: nothing is known to be wrong with the record.
      if ((fetchErr as VectorsError).retriable) throw new RetriableInputError(this.current!, fetchErr);
      throw fetchErr;
    }
    return serde.deserialize(data);
  }

  /** {@link decode}, awaiting the schema fetch when there is one. */
  private async decodeFetching(serde: Serde<unknown>, data: Buffer | null): Promise<unknown> {
    const v = this.decode(serde, data);
    return v instanceof SchemaFetch ? v.decoded : v;
  }

  /**
   * Processes one record of one of this task's source topics. Never throws for
   * bad input: that goes to the DLQ.
   * @throws RetriableInputError when the record could not be decoded for a
   *   reason outside it (registry unavailable); the task's position stays at
   *   the record, nothing of it was applied, and the caller retries it later.
   */
  async process(record: IncomingRecord): Promise<void> {
    const started = performance.now();
    const { rep, spout } = this.sourceOf.get(record.topic) ?? {};
    const component = rep ? rep.from : spout?.name;
    this.current = record;
    let retry = false;
    try {
      if (!component) throw new Error(`task ${this.id} got a record of topic '${record.topic}', which it does not read`);
      if (spout?.keyedBy !== undefined && record.key !== null && (this.misrouted(record) || this.otherApplicationCopy(record))) return;
      let key: unknown;
      let value: unknown;
      const serdes = this.o.serdes.forTopic(record.topic);
      try {
        key = this.decode(serdes.key, record.key);
        if (key instanceof SchemaFetch) key = await key.decoded;
        value = this.decode(serdes.value, record.value);
        if (value instanceof SchemaFetch) value = await value.decoded;
        const problem = spout?.validate?.(key, value);
        if (problem !== undefined) throw new RecordValidationError(record.topic, problem);
      } catch (err) {
        if (err instanceof RetriableInputError) {
          retry = true;
          throw err;
        }
        this.toDlq(spout?.name ?? `${rep!.to}(repartition)`, record, err);
        return;
      }
      const counted = spout?.name ?? rep!.to;
      this.inCounts.set(counted, (this.inCounts.get(counted) ?? 0) + 1);
      const streamRecord: StreamRecord = {
        key,
        value,
        timestamp: record.timestamp,
        source: { component, stream: rep ? rep.stream : DEFAULT_STREAM },
        origin: { topic: record.topic, partition: record.partition, offset: record.offset },
        headers: record.headers,
      };
      // As runGuarded, without a closure per record.
      const mark = this.beginRecord();
      try {
        const routing = rep ? this.deliverToBolt(rep.to, streamRecord) : this.route(component, DEFAULT_STREAM, streamRecord, true);
        if (routing) await routing;
        const draining = this.drainPending();
        if (draining) await draining;
        this.endRecord();
      } catch (err) {
        this.rollbackRecord(mark);
        this.toDlq((err as { bolt?: string }).bolt ?? 'unknown', record, err);
      }
      if (record.timestamp > this.streamTime) {
        this.streamTime = record.timestamp;
        if (this.due('event-time', this.streamTime)) await this.punctuate('event-time', this.streamTime);
      }
    } finally {
      this.current = undefined;
      if (!retry) this.nextOffsets.set(record.topic, nextOffset(record.offset));
      this.latency.observe((performance.now() - started) / 1000);
    }
  }

  /** Applies the misrouted-record policy; true when the record was moved or dead-lettered and must not be processed here. */
  private misrouted(record: IncomingRecord): boolean {
    const expected = partitionForKey(record.key!, this.o.partitionsOf(record.topic));
    if (expected === record.partition) return false;
    const action = this.o.misrouted ?? 'reroute';
    this.o.metrics.misroutedRecords.inc({ topology: this.o.topology.name, topic: record.topic, action });
    this.o.onMisrouted?.(record, expected, action);
    if (action === 'process') return false;
    if (action === 'dead-letter') {
      this.toDlq(this.sourceOf.get(record.topic)!.spout!.name, record, new MisroutedRecordError(record.topic, record.partition, expected));
      return true;
    }
    const headers = Object.fromEntries(Object.entries(record.headers).filter((kv): kv is [string, Buffer] => kv[1] !== undefined));
    headers[REROUTED_HEADER] = Buffer.from(`${record.topic}-${record.partition}@${record.offset}`);
    headers[REROUTED_BY_HEADER] = Buffer.from(this.o.topology.applicationId);
    this.outputs.push({ topic: record.topic, key: record.key, value: record.value, partition: expected, timestamp: record.timestamp, headers });
    return true;
  }

  /** A copy that another application rerouted (it has processed it; this one has its own copy): skipped, and counted. */
  private otherApplicationCopy(record: IncomingRecord): boolean {
    const by = record.headers[REROUTED_BY_HEADER];
    if (by === undefined || by.toString('utf8') === this.o.topology.applicationId) return false;
    this.o.metrics.misroutedRecords.inc({ topology: this.o.topology.name, topic: record.topic, action: 'skip-other-application-copy' });
    return true;
  }

  /** Processes a record of a broadcast (grouping `all`) spout; offsets are not tracked. */
  async processBroadcast(spoutName: string, record: IncomingRecord): Promise<void> {
    const serdes = this.o.serdes.forTopic(record.topic);
    this.current = record;
    try {
      let key: unknown;
      let value: unknown;
      try {
        key = await this.decodeFetching(serdes.key, record.key);
        value = await this.decodeFetching(serdes.value, record.value);
      } catch (err) {
        // Broadcast records are replayed by position, not committed: one that must be retried stops the replay here.
        if (err instanceof RetriableInputError) throw err;
        // Every task sees a broadcast record; only task 0 of the first sub-topology reports it once.
        if (this.o.partition === 0 && this.o.sub.index === 0) this.toDlq(spoutName, record, err);
        return;
      }
      const streamRecord: StreamRecord = {
        key,
        value,
        timestamp: record.timestamp,
        source: { component: spoutName, stream: DEFAULT_STREAM },
        origin: { topic: record.topic, partition: record.partition, offset: record.offset },
        headers: record.headers,
      };
      await this.runGuarded(record, async () => {
        for (const route of this.o.topology.routes(spoutName, DEFAULT_STREAM)) {
          if (route.kind === 'bolt' && this.bolts.has(route.bolt)) await this.deliverToBolt(route.bolt, streamRecord);
        }
      });
    } finally {
      // Only work left uncommitted needs the reopen: a record that wrote and emitted nothing loses nothing when dropped.
      if (this.outputs.length > 0 || [...this.o.stores.values()].some((s) => s.dirtySize > 0)) this.uncommittedBroadcast = true;
      this.current = undefined;
    }
  }

  /** Runs `fn` with a savepoint: on an exception, undo its store writes and outputs and dead-letter the record. */
  private async runGuarded(record: IncomingRecord, fn: () => Promise<void>): Promise<void> {
    try {
      await this.withSavepoint(fn);
    } catch (err) {
      this.toDlq((err as { bolt?: string }).bolt ?? 'unknown', record, err);
    }
  }

  /** Runs `fn` and the emits it causes; on an exception undoes their store writes and outputs, then rethrows. */
  private async withSavepoint(fn: () => Promise<void> | void): Promise<void> {
    const mark = this.beginRecord();
    try {
      await fn();
      await this.drainPending();
      this.endRecord();
    } catch (err) {
      this.rollbackRecord(mark);
      throw err;
    }
  }

  /** Opens a savepoint in every store; returns the outputs' mark to roll back to. */
  private beginRecord(): number {
    for (const s of this.o.stores.values()) s.begin();
    return this.outputs.length;
  }

  private endRecord(): void {
    for (const s of this.o.stores.values()) s.commitRecord();
  }

  /** Undoes the store writes and outputs since {@link beginRecord} returned `mark`. */
  private rollbackRecord(mark: number): void {
    for (const s of this.o.stores.values()) s.rollbackRecord();
    this.outputs.length = mark;
    this.pending = [];
  }

  /**
   * Routes what the bolts emitted, in order. Synchronous (undefined) while
   * the records only go to sinks and repartition topics, as most emits do: a
   * promise only once one goes to a bolt.
   */
  private drainPending(): Promise<void> | undefined {
    while (this.pending.length > 0) {
      const p = this.pending.shift()!;
      const delivering = this.route(p.component, p.stream, p.record, false);
      if (delivering) return delivering.then(() => this.drainPending());
    }
    return undefined;
  }

  /** Sends `record` along its routes; a promise only from the first route to a bolt on (see {@link drainPending}). */
  private route(component: string, stream: string, record: StreamRecord, fromSpout: boolean): Promise<void> | undefined {
    const routes = this.o.topology.routes(component, stream);
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i]!;
      if (r.kind !== 'bolt') this.toOutput(r, record);
      else if (this.bolts.has(r.bolt)) return this.routeToBolts(routes, i, record, fromSpout);
    }
    return undefined;
  }

  /** {@link route} from `routes[from]`, a bolt's, on. */
  private async routeToBolts(routes: readonly Route[], from: number, record: StreamRecord, fromSpout: boolean): Promise<void> {
    for (let i = from; i < routes.length; i++) {
      const r = routes[i]!;
      if (r.kind !== 'bolt') {
        this.toOutput(r, record);
        continue;
      }
      if (!this.bolts.has(r.bolt)) continue;
      const delivering = this.deliverToBolt(r.bolt, record);
      if (delivering) await delivering;
      const draining = fromSpout ? this.drainPending() : undefined;
      if (draining) await draining;
    }
  }

  /** A sink's or repartition topic's route: the record is serialized into the task's outputs. */
  private toOutput(r: Exclude<Route, { kind: 'bolt' }>, record: StreamRecord): void {
    if (r.kind === 'sink') this.toSink(r.sink, record);
    else this.toRepartition(r.repartition, record);
  }

  /**
   * Hands `record` to bolt `name`: a promise when the bolt's process returns
   * one (not an async function of its own: this runs for every record). What
   * the bolt throws or rejects with is rethrown as that bolt's error.
   */
  private deliverToBolt(name: string, record: StreamRecord): Promise<void> | undefined {
    const entry = this.bolts.get(name);
    if (!entry) return undefined;
    if (record.source.component !== name) this.inCounts.set(name, (this.inCounts.get(name) ?? 0) + 1);
    let processing: void | Promise<void>;
    try {
      processing = entry.bolt.process(record, entry.ctx);
    } catch (err) {
      throwAsBolt(err, name);
    }
    return processing === undefined ? undefined : Promise.resolve(processing).then(undefined, entry.failed);
  }

  private toSink(sinkName: string, record: StreamRecord): void {
    const sink = this.o.topology.sinks.get(sinkName)!;
    const serdes = this.o.serdes.forSink(sinkName);
    let key: Buffer | null;
    let value: Buffer | null;
    try {
      key = record.key === null || record.key === undefined ? null : serdes.key.serialize(record.key);
      value = record.value === null || record.value === undefined ? null : serdes.value.serialize(record.value);
    } catch (err) {
      throw Object.assign(err as Error, { bolt: `${record.source.component} -> sink ${sinkName}` });
    }
    this.outputs.push({ topic: sink.topic, key, value, timestamp: record.timestamp, headers: definedHeaders(record.headers) });
    this.outCounts.set(sinkName, (this.outCounts.get(sinkName) ?? 0) + 1);
  }

  private toRepartition(rep: RepartitionDef, record: StreamRecord): void {
    const serdes = this.o.serdes.forTopic(rep.topic);
    let keyValue: unknown = record.key;
    if (rep.field !== undefined && rep.field !== 'key') {
      keyValue = (record.value as Record<string, unknown> | null)?.[rep.field];
      if (keyValue === undefined || keyValue === null) {
        throw Object.assign(new Error(`cannot repartition by '${rep.field}': the record's value has no such field`), {
          bolt: rep.to,
          code: 'VEC_ERR_REPARTITION_KEY',
        });
      }
      keyValue = String(keyValue);
    }
    const key = keyValue === null || keyValue === undefined ? null : serdes.key.serialize(keyValue);
    const value = record.value === null ? null : serdes.value.serialize(record.value);
    const partitions = rep.partitions === 1 ? 1 : this.o.partitionsOf(rep.topic);
    const partition = rep.partitions === 1 || key === null ? 0 : partitionForKey(key, partitions);
    this.outputs.push({ topic: rep.topic, key, value, partition, timestamp: record.timestamp });
  }

  private toDlq(component: string, record: IncomingRecord, err: unknown): void {
    const dead = deadLetter(this.o.topology.dlqTopic, this.o.topology.name, component, record, err, this.o.dlqMaxBytes ?? DEFAULT_DLQ_MAX_BYTES);
    const truncated = dead.headers?.[DlqHeaders.truncated] !== undefined;
    this.outputs.push(dead);
    this.o.metrics.dlqRecords.inc({ topology: this.o.topology.name, reason: errorCodeOf(err) });
    if (truncated) this.o.metrics.dlqTruncated.inc({ topology: this.o.topology.name });
    this.o.onDeadLetter?.(record, component, err, truncated);
  }

  /** True when some punctuator of `type` is due at `now`. */
  private due(type: PunctuationType, now: number): boolean {
    for (const p of this.punctuators) if (!p.cancelled && p.type === type && now >= p.next) return true;
    return false;
  }

  /** Fires due punctuators of `type` at `now`. */
  async punctuate(type: PunctuationType, now: number): Promise<void> {
    for (const p of this.punctuators) {
      if (p.cancelled || p.type !== type || now < p.next) continue;
      // Fire once even when several intervals passed (as Kafka Streams does for wall-clock time).
      p.next = now + p.interval - ((now - p.next) % p.interval);
      try {
        await this.withSavepoint(() => p.callback(now));
      } catch (err) {
        // A failing punctuator is a bug, not bad input: surface it.
        throw Object.assign(err as Error, { bolt: p.bolt });
      }
    }
  }

  /** Output records produced since the last drain (sinks, repartition topics, DLQ). */
  drainOutputs(): OutgoingRecord[] {
    const out = this.outputs;
    this.outputs = [];
    return out;
  }

  get hasOutputs(): boolean {
    return this.outputs.length > 0;
  }

  /** True when stores are near their cache bound or a bolt asked for a commit. */
  get wantsCommit(): boolean {
    if (this.commitRequested) return true;
    for (const s of this.o.stores.values()) if (s.full) return true;
    return false;
  }

  /** Changelog records, store ops and input offsets of everything processed since the last commit. */
  prepareCommit(): PreparedCommit {
    const changelog: OutgoingRecord[] = [];
    const ops = new Map<string, WriteOp[]>();
    for (const [name, store] of this.o.stores) {
      const storeOps = store.dirtyOps();
      ops.set(name, storeOps);
      if (this.o.topology.stores.get(name)!.logged) {
        const topic = this.o.topology.changelogTopic(name);
        for (const op of storeOps) changelog.push({ topic, key: op.key, value: op.value, partition: this.o.partition });
      }
    }
    const offsets: TopicPartitionOffset[] = [];
    for (const [topic, offset] of this.nextOffsets) {
      if (this.committedOffsets.get(topic) !== offset) offsets.push({ topic, partition: this.o.partition, offset });
    }
    const afterCommit = this.afterCommit;
    this.afterCommit = [];
    return { changelog, ops, offsets, afterCommit };
  }

  /** After the changelog records and offsets are durable: write the stores' backends. */
  async completeCommit(prepared: PreparedCommit): Promise<void> {
    for (const [name, ops] of prepared.ops) await this.o.stores.get(name)!.markFlushed(ops);
    for (const o of prepared.offsets) this.committedOffsets.set(o.topic, o.offset);
    this.commitRequested = false;
    this.uncommittedBroadcast = false;
    for (const a of prepared.afterCommit) {
      try {
        await this.withSavepoint(a.callback);
      } catch (err) {
        // As a failing punctuator: a bug, not bad input.
        throw Object.assign(err as Error, { bolt: a.bolt });
      }
    }
  }

  /** Forgets all uncommitted work (after a failed commit); the caller rewinds the input to the committed offsets. */
  abandonUncommitted(): void {
    for (const s of this.o.stores.values()) s.discardDirty();
    this.outputs = [];
    this.pending = [];
    this.afterCommit = [];
    this.nextOffsets.clear();
    for (const [t, o] of this.committedOffsets) this.nextOffsets.set(t, o);
  }

  /** Records the committed position of an input; processing resumes there. */
  resetPosition(topic: string, offset: string): void {
    this.committedOffsets.set(topic, offset);
    this.nextOffsets.set(topic, offset);
  }

  async close(): Promise<void> {
    for (const { bolt } of this.bolts.values()) await bolt.close?.();
    this.bolts.clear();
  }
}
