import { RuntimeMetrics } from '../metrics/runtime-metrics';
import type { IncomingRecord, OutgoingRecord } from '../kafka/client';
import { partitionForKey } from '../partitioner';
import { InMemorySchemaRegistry, type SchemaRegistry } from '../serde/schema-registry';
import { MemoryBytesStore } from '../state/memory/memory-store';
import type { ReadOnlyKeyValueStore } from '../state/store';
import { readOnlyView, typedStore } from '../state/task-stores';
import { Task, type MisroutedPolicy } from '../task';
import type { LogFn } from '../topology/bolt';
import type { Topology } from '../topology/topology';
import { TopologySerdes } from '../topology/topology-serdes';

export interface TestDriverOptions {
  /** Partitions of every input topic (default 1), or per topic. */
  partitions?: number | Record<string, number>;
  /** Initial wall-clock time, epoch ms (default 0). */
  startTime?: number;
  /** Registry for Avro serdes (default: a fresh in-memory one). */
  registry?: SchemaRegistry;
  /** What tasks do with a keyed record piped to another partition than murmur2(key) (default 'reroute', as the runner). */
  misrouted?: MisroutedPolicy;
  /** Receives the bolts' log lines (`ctx.log`); default: dropped. */
  log?: LogFn;
}

/** A record written to an output topic, decoded. */
export interface OutputRecord<K, V> {
  key: K;
  value: V;
  timestamp: number;
  partition: number | undefined;
  headers: Record<string, string>;
}

/** A dead-letter record: the original bytes and the headers as strings. */
export interface DeadLetterRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/**
 * Runs a topology in process, without a broker: pipe records in, read the
 * outputs, inspect the stores, move the clock. The tasks, serdes, stores
 * (in memory) and routing are the same code the Kafka runner uses; each piped
 * record is committed before `pipe` returns, as in Kafka Streams'
 * TopologyTestDriver.
 */
export class TopologyTestDriver {
  private readonly tasks = new Map<string, Task>();
  private readonly outputs = new Map<string, OutgoingRecord[]>();
  private readonly offsets = new Map<string, bigint>();
  private clock: number;
  readonly metrics = new RuntimeMetrics();

  private constructor(
    readonly topology: Topology,
    private readonly serdes: TopologySerdes,
    private readonly options: TestDriverOptions,
  ) {
    this.clock = options.startTime ?? 0;
  }

  static async create(topology: Topology, options: TestDriverOptions = {}): Promise<TopologyTestDriver> {
    const serdes = new TopologySerdes(topology, options.registry ?? new InMemorySchemaRegistry());
    await serdes.prepare();
    const driver = new TopologyTestDriver(topology, serdes, options);
    for (const sub of topology.subtopologies) {
      const n = driver.partitionsOf(sub.sourceTopics[0]!);
      for (let p = 0; p < n; p++) await driver.task(sub.index, p);
    }
    return driver;
  }

  /** Partition count the driver uses for a topic. */
  partitionsOf(topic: string): number {
    const rep = this.topology.repartitions.find((r) => r.topic === topic);
    if (rep?.partitions === 1) return 1;
    const p = this.options.partitions;
    if (typeof p === 'number') return p;
    if (p && p[topic] !== undefined) return p[topic]!;
    if (rep) {
      // Inherit from the other inputs of the consuming sub-topology, or the producer's.
      const sub = this.topology.subtopologyOfTopic(topic)!;
      const other = sub.sourceTopics.find((t) => t !== topic && !this.topology.repartitions.some((r) => r.topic === t));
      if (other) return this.partitionsOf(other);
      const fromSpout = this.topology.spouts.get(rep.from);
      if (fromSpout) return this.partitionsOf(fromSpout.topic);
    }
    return 1;
  }

  private async task(sub: number, partition: number): Promise<Task> {
    const id = `${sub}_${partition}`;
    let t = this.tasks.get(id);
    if (t) return t;
    const subtopology = this.topology.subtopologies[sub]!;
    const stores = new Map();
    for (const name of subtopology.stores) {
      const backend = new MemoryBytesStore(name);
      await backend.open();
      stores.set(name, typedStore(this.topology, name, backend));
    }
    t = new Task({
      topology: this.topology,
      sub: subtopology,
      partition,
      instanceId: 'test-driver',
      serdes: this.serdes,
      stores,
      partitionsOf: (topic) => this.partitionsOf(topic),
      metrics: this.metrics,
      now: () => this.clock,
      ...(this.options.misrouted ? { misrouted: this.options.misrouted } : {}),
      ...(this.options.log ? { log: this.options.log } : {}),
    });
    await t.init();
    this.tasks.set(id, t);
    return t;
  }

  /** Serializes `key` and `value` with the spout's serdes and processes the record. */
  async pipe(topic: string, key: unknown, value: unknown, options: { timestamp?: number; headers?: Record<string, string> } = {}): Promise<void> {
    const serdes = this.serdes.forTopic(topic);
    const k = key === null || key === undefined ? null : serdes.key.serialize(key);
    const v = value === null || value === undefined ? null : serdes.value.serialize(value);
    await this.pipeRaw(topic, k, v, options);
  }

  /** Processes a record given as bytes, e.g. to test what happens to undecodable input. */
  async pipeRaw(
    topic: string,
    key: Buffer | null,
    value: Buffer | null,
    options: { timestamp?: number; headers?: Record<string, string>; partition?: number } = {},
  ): Promise<void> {
    const headers = Object.fromEntries(Object.entries(options.headers ?? {}).map(([h, s]) => [h, Buffer.from(s)]));
    if (!this.readsTopic(topic)) throw new Error(`topology '${this.topology.name}' does not read topic '${topic}'`);
    await this.deliver(topic, key, value, {
      timestamp: options.timestamp ?? this.clock,
      headers,
      ...(options.partition !== undefined ? { partition: options.partition } : {}),
    });
    await this.commitAll();
  }

  private readsTopic(topic: string): boolean {
    return this.topology.subtopologyOfTopic(topic) !== undefined || this.broadcastSpoutOf(topic) !== undefined;
  }

  private broadcastSpoutOf(topic: string): string | undefined {
    return [...this.topology.spouts.values()].find((s) => s.topic === topic && this.topology.broadcastSpouts.includes(s.name))?.name;
  }

  /** Hands one record to the task(s) that read its topic. */
  private async deliver(
    topic: string,
    key: Buffer | null,
    value: Buffer | null,
    o: { timestamp: number; headers: Record<string, Buffer>; partition?: number },
  ): Promise<void> {
    const broadcast = this.broadcastSpoutOf(topic);
    if (broadcast) {
      const record = this.incoming(topic, o.partition ?? 0, key, value, o.timestamp, o.headers);
      for (const t of this.tasks.values()) await t.processBroadcast(broadcast, record);
      return;
    }
    const sub = this.topology.subtopologyOfTopic(topic)!;
    const partition = o.partition ?? (key === null ? 0 : partitionForKey(key, this.partitionsOf(topic)));
    const task = await this.task(sub.index, partition);
    await task.process(this.incoming(topic, partition, key, value, o.timestamp, o.headers));
  }

  private incoming(
    topic: string,
    partition: number,
    key: Buffer | null,
    value: Buffer | null,
    timestamp: number,
    headers: Record<string, Buffer>,
  ): IncomingRecord {
    const tp = `${topic}:${partition}`;
    const offset = this.offsets.get(tp) ?? 0n;
    this.offsets.set(tp, offset + 1n);
    return { topic, partition, offset: offset.toString(), key, value, timestamp, headers };
  }

  /** Commits every task; internal (repartition) records are processed right away, in order. */
  private async commitAll(): Promise<void> {
    for (;;) {
      const internal: OutgoingRecord[] = [];
      for (const t of this.tasks.values()) {
        t.flushMetrics();
        for (const r of t.drainOutputs()) {
          // Repartition topics are internal. A sink to a topic the topology
          // also reads is an output and, as on Kafka, comes back as input.
          const isRepartition = this.topology.repartitions.some((rep) => rep.topic === r.topic);
          if (!isRepartition) (this.outputs.get(r.topic) ?? this.outputs.set(r.topic, []).get(r.topic)!).push(r);
          if (isRepartition || this.readsTopic(r.topic)) internal.push(r);
        }
        const prepared = t.prepareCommit();
        await t.completeCommit(prepared);
      }
      if (internal.length === 0) return;
      for (const r of internal) {
        const key = r.key === null ? null : Buffer.isBuffer(r.key) ? r.key : Buffer.from(r.key);
        await this.deliver(r.topic, key, r.value, {
          timestamp: r.timestamp ?? this.clock,
          headers: {},
          ...(r.partition !== undefined ? { partition: r.partition } : {}),
        });
      }
    }
  }

  /** Moves wall-clock time forward and fires due wall-clock punctuators. */
  async advanceWallClockTime(ms: number): Promise<void> {
    this.clock += ms;
    for (const t of this.tasks.values()) await t.punctuate('wall-clock', this.clock);
    await this.commitAll();
  }

  /** Decoded records written to an output topic since the last read of it. */
  readOutput<K = unknown, V = unknown>(topic: string): OutputRecord<K, V>[] {
    const records = this.outputs.get(topic) ?? [];
    this.outputs.set(topic, []);
    const sink = [...this.topology.sinks.values()].find((s) => s.topic === topic);
    if (!sink) throw new Error(`topology '${this.topology.name}' has no sink to topic '${topic}'`);
    const serdes = this.serdes.forSink(sink.name);
    return records.map((r) => ({
      key: (r.key === null ? null : serdes.key.deserialize(Buffer.isBuffer(r.key) ? r.key : Buffer.from(r.key))) as K,
      value: (r.value === null ? null : serdes.value.deserialize(r.value)) as V,
      timestamp: r.timestamp ?? 0,
      partition: r.partition,
      headers: stringHeaders(r.headers),
    }));
  }

  /**
   * Records written to `topic` since the last read of it, as bytes, whatever
   * wrote them (a sink, the DLQ, a record the runtime rerouted to its
   * partition). Reading a sink's topic here drains it for readOutput too.
   */
  readRaw(topic: string): (DeadLetterRecord & { partition: number | undefined })[] {
    const records = this.outputs.get(topic) ?? [];
    this.outputs.set(topic, []);
    return records.map((r) => ({
      key: r.key === null ? null : Buffer.isBuffer(r.key) ? r.key : Buffer.from(r.key),
      value: r.value,
      partition: r.partition,
      headers: stringHeaders(r.headers),
    }));
  }

  /** Dead-letter records since the last read. */
  readDeadLetters(): DeadLetterRecord[] {
    const records = this.outputs.get(this.topology.dlqTopic) ?? [];
    this.outputs.set(this.topology.dlqTopic, []);
    return records.map((r) => ({
      key: r.key === null ? null : Buffer.isBuffer(r.key) ? r.key : Buffer.from(r.key),
      value: r.value,
      headers: stringHeaders(r.headers),
    }));
  }

  /** A read-only view of a store over all tasks (each key lives in exactly one task). */
  store<K, V>(name: string): ReadOnlyKeyValueStore<K, V> {
    if (!this.topology.stores.has(name)) throw new Error(`topology '${this.topology.name}' has no store '${name}'`);
    return readOnlyView(name, () => [...this.tasks.values()].map((t) => t.stores.get(name)).filter((s) => s !== undefined));
  }

  /** Serde for reading raw bytes of a topic the topology reads, e.g. to build poison records. */
  valueSerdeOf(topic: string) {
    return this.serdes.forTopic(topic).value;
  }

  async close(): Promise<void> {
    for (const t of this.tasks.values()) await t.close();
    this.tasks.clear();
  }
}

function stringHeaders(h: OutgoingRecord['headers']): Record<string, string> {
  return Object.fromEntries(Object.entries(h ?? {}).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('utf8') : String(v)]));
}
