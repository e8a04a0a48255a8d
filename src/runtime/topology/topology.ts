import { TopologyError } from '../errors';
import { StringSerde } from '../serde/serde';
import type { SerdeSpec } from '../serde/serde-spec';
import type { Serde } from '../serde/serde';
import type { Bolt } from './bolt';
import type { Grouping } from './grouping';

export const DEFAULT_STREAM = 'default';

export interface SpoutOptions<K, V> {
  topic: string;
  /** Key serde; default UTF-8 string. */
  key?: SerdeSpec<K>;
  value: SerdeSpec<V>;
  /** The value field the Kafka key carries (e.g. 'userId'); makes `fields(that)` groupings free. */
  keyedBy?: string;
  /**
   * Checks a decoded record before any bolt sees it; returns what is wrong,
   * or undefined when it is fine. Invalid records go to the dead-letter topic.
   */
  validate?: (key: K, value: V) => string | undefined;
}

export interface StreamOptions {
  /** The value field the key of this stream carries. */
  keyedBy?: string;
  /** Serdes for this stream when it must cross a topic (repartition). */
  key?: SerdeSpec<unknown>;
  value?: SerdeSpec<unknown>;
}

export interface InputOptions {
  from: string;
  stream?: string;
  /** Default: shuffle (the record stays in its task). */
  grouping?: Grouping;
}

export interface BoltOptions {
  inputs: InputOptions[];
  /** Names of stores the bolt uses; each must be declared with `store()`. */
  stores?: string[];
  /** Streams the bolt emits on; default `{ default: {} }`. */
  outputs?: Record<string, StreamOptions>;
}

export interface StoreOptions<K, V> {
  key: Serde<K>;
  value: Serde<V>;
  /** Entries cached per task (dirty ones count too). Default 10,000. */
  cacheEntries?: number;
  /** Keep a changelog topic (default true). Without one, state is lost when a task moves. */
  logged?: boolean;
  /**
   * Spouts whose records read this store at their own record key (a bolt
   * keyed by that key looks its state up first). Before a task processes a
   * batch of their records, the runtime reads the keys it does not cache in
   * one multi-get: cheaper per key than one get per record (docs/BENCHMARKS.md,
   * "Session 14"). Reads only; what the bolts see does not change. Each spout
   * must have this store's key serde and be read by a bolt that uses the store.
   * Default none.
   */
  prefetch?: string[];
}

export interface SinkOptions<K, V> {
  topic: string;
  from: string;
  stream?: string;
  key?: SerdeSpec<K>;
  value: SerdeSpec<V>;
}

export interface SpoutDef {
  name: string;
  topic: string;
  key: SerdeSpec<unknown>;
  value: SerdeSpec<unknown>;
  keyedBy: string | undefined;
  validate: ((key: unknown, value: unknown) => string | undefined) | undefined;
}
export interface BoltDef {
  name: string;
  factory: () => Bolt<any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  inputs: Required<InputOptions>[];
  stores: string[];
  outputs: Record<string, StreamOptions>;
}
export interface StoreDef {
  name: string;
  key: Serde<unknown>;
  value: Serde<unknown>;
  cacheEntries: number;
  logged: boolean;
  /** Spouts whose batches are read ahead at their record keys (StoreOptions.prefetch). */
  prefetch: string[];
}
export interface SinkDef {
  name: string;
  topic: string;
  from: string;
  stream: string;
  key: SerdeSpec<unknown>;
  value: SerdeSpec<unknown>;
}

/** An internal topic a fields/global grouping routes through. */
export interface RepartitionDef {
  topic: string;
  from: string;
  stream: string;
  to: string;
  /** Value field whose value becomes the key; undefined for global. */
  field: string | undefined;
  /** 'inherit': as many partitions as the consuming sub-topology's other inputs, or the producer's. */
  partitions: 'inherit' | 1;
  key: SerdeSpec<unknown>;
  value: SerdeSpec<unknown>;
}

/** Where records of one component's stream go inside a task. */
export type Route = { kind: 'bolt'; bolt: string } | { kind: 'sink'; sink: string } | { kind: 'repartition'; repartition: RepartitionDef };

/**
 * A connected part of the topology that runs as one task per partition:
 * the topics it reads are co-partitioned, and records move between its bolts
 * in-process.
 */
export interface SubTopology {
  index: number;
  /** Spout topics and repartition topics read by the group consumer. */
  sourceTopics: string[];
  /** Components in this sub-topology. */
  spouts: string[];
  bolts: string[];
  stores: string[];
  /** Repartition topics this sub-topology reads: topic → def. */
  repartitionSources: RepartitionDef[];
}

/** A validated topology, ready to run on Kafka or in the test driver. */
export interface Topology {
  readonly name: string;
  readonly spouts: ReadonlyMap<string, SpoutDef>;
  readonly bolts: ReadonlyMap<string, BoltDef>;
  readonly stores: ReadonlyMap<string, StoreDef>;
  readonly sinks: ReadonlyMap<string, SinkDef>;
  readonly repartitions: readonly RepartitionDef[];
  readonly subtopologies: readonly SubTopology[];
  /** Spouts read whole by every instance and given to every task of their bolts (grouping `all`). */
  readonly broadcastSpouts: readonly string[];
  /** Routes of `<component>/<stream>`. */
  routes(component: string, stream: string): readonly Route[];
  /** The sub-topology that reads `topic`. */
  subtopologyOfTopic(topic: string): SubTopology | undefined;
  /**
   * The namespace of everything the topology keeps on the cluster: its
   * consumer group, transactional ids and internal topics. The topology's name
   * unless {@link forApplication} chose another (Kafka Streams' `application.id`).
   */
  readonly applicationId: string;
  /** Internal topic names: `<applicationId>-<store>-changelog`. */
  changelogTopic(store: string): string;
  /** `<applicationId>-dlq`. */
  readonly dlqTopic: string;
  /**
   * The same topology under another application id: its changelog, DLQ and
   * repartition topics are named from `applicationId`, so two applications
   * running one topology on one cluster never read or write each other's
   * state. Returns this topology when the id is already its own.
   */
  forApplication(applicationId: string): Topology;
}

const NAME_RE = /^[A-Za-z0-9._-]+$/;
const NO_ROUTES: readonly Route[] = [];

/**
 * Declares a topology: spouts, bolts, stores and sinks, then `build()`
 * validates the graph and plans its sub-topologies and internal topics.
 */
export class TopologyBuilder {
  private readonly spoutDefs = new Map<string, SpoutDef>();
  private readonly boltDefs = new Map<string, BoltDef>();
  private readonly storeDefs = new Map<string, StoreDef>();
  private readonly sinkDefs = new Map<string, SinkDef>();

  constructor(readonly name: string) {
    if (!NAME_RE.test(name)) throw new TopologyError(name, 'names may use only letters, digits, ".", "_" and "-" (they become topic names)');
  }

  private checkNew(kind: string, name: string): void {
    if (!NAME_RE.test(name)) throw new TopologyError(this.name, `${kind} name '${name}' may use only letters, digits, ".", "_" and "-"`);
    if (this.spoutDefs.has(name) || this.boltDefs.has(name) || this.sinkDefs.has(name) || (kind === 'store' && this.storeDefs.has(name))) {
      throw new TopologyError(this.name, `the name '${name}' is used twice; component and store names must be unique`);
    }
  }

  spout<K, V>(name: string, options: SpoutOptions<K, V>): this {
    this.checkNew('spout', name);
    this.spoutDefs.set(name, {
      name,
      topic: options.topic,
      key: (options.key ?? StringSerde) as SerdeSpec<unknown>,
      value: options.value as SerdeSpec<unknown>,
      keyedBy: options.keyedBy,
      validate: options.validate as SpoutDef['validate'],
    });
    return this;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  bolt(name: string, factory: () => Bolt<any, any>, options: BoltOptions): this {
    this.checkNew('bolt', name);
    this.boltDefs.set(name, {
      name,
      factory,
      inputs: options.inputs.map((i) => ({ from: i.from, stream: i.stream ?? DEFAULT_STREAM, grouping: i.grouping ?? { type: 'shuffle' } })),
      stores: options.stores ?? [],
      outputs: options.outputs ?? { [DEFAULT_STREAM]: {} },
    });
    return this;
  }

  store<K, V>(name: string, options: StoreOptions<K, V>): this {
    this.checkNew('store', name);
    this.storeDefs.set(name, {
      name,
      key: options.key as Serde<unknown>,
      value: options.value as Serde<unknown>,
      cacheEntries: options.cacheEntries ?? 10_000,
      logged: options.logged ?? true,
      prefetch: [...(options.prefetch ?? [])],
    });
    return this;
  }

  sink<K, V>(name: string, options: SinkOptions<K, V>): this {
    this.checkNew('sink', name);
    this.sinkDefs.set(name, {
      name,
      topic: options.topic,
      from: options.from,
      stream: options.stream ?? DEFAULT_STREAM,
      key: (options.key ?? StringSerde) as SerdeSpec<unknown>,
      value: options.value as SerdeSpec<unknown>,
    });
    return this;
  }

  /**
   * Validates and plans the topology.
   * @throws TopologyError naming the component and what is wrong.
   */
  build(): Topology {
    // forApplication re-plans from the definitions as they are now, not as later calls change them.
    const frozen = new TopologyBuilder(this.name);
    for (const [from, to] of [
      [this.spoutDefs, frozen.spoutDefs],
      [this.boltDefs, frozen.boltDefs],
      [this.storeDefs, frozen.storeDefs],
      [this.sinkDefs, frozen.sinkDefs],
    ] as [Map<string, unknown>, Map<string, unknown>][]) {
      for (const [k, v] of from) to.set(k, v);
    }
    return frozen.plan(this.name);
  }

  private plan(applicationId: string): Topology {
    if (!NAME_RE.test(applicationId)) {
      throw new TopologyError(this.name, `application id '${applicationId}' may use only letters, digits, ".", "_" and "-" (it becomes part of topic names)`);
    }
    const fail = (detail: string): never => {
      throw new TopologyError(this.name, detail);
    };
    if (this.spoutDefs.size === 0) fail('it has no spout; add one with spout(name, { topic, value })');

    const streamsOf = (component: string): string[] | undefined => {
      if (this.spoutDefs.has(component)) return [DEFAULT_STREAM];
      const b = this.boltDefs.get(component);
      return b ? Object.keys(b.outputs) : undefined;
    };
    const keyedByOf = (component: string, stream: string): string | undefined =>
      this.spoutDefs.get(component)?.keyedBy ?? this.boltDefs.get(component)?.outputs[stream]?.keyedBy;

    // Union-find over components joined by in-task (local) edges.
    const parent = new Map<string, string>();
    const find = (x: string): string => {
      let p = parent.get(x) ?? x;
      if (p !== x) {
        p = find(p);
        parent.set(x, p);
      }
      return p;
    };
    const union = (a: string, b: string) => parent.set(find(a), find(b));

    const repartitions: RepartitionDef[] = [];
    // By component, then stream: looked up for every record a task routes, without building a key string.
    const routes = new Map<string, Map<string, Route[]>>();
    const addRoute = (component: string, stream: string, route: Route) => {
      let byStream = routes.get(component);
      if (!byStream) routes.set(component, (byStream = new Map()));
      const list = byStream.get(stream);
      if (list) list.push(route);
      else byStream.set(stream, [route]);
    };
    const broadcast = new Set<string>();
    const nonBroadcastSpouts = new Set<string>();
    const boltEdges = new Map<string, string[]>();

    for (const bolt of this.boltDefs.values()) {
      if (bolt.inputs.length === 0) fail(`bolt '${bolt.name}' has no inputs`);
      for (const store of bolt.stores) {
        if (!this.storeDefs.has(store)) fail(`bolt '${bolt.name}' uses store '${store}', which is not declared; add store('${store}', { key, value })`);
      }
      for (const input of bolt.inputs) {
        const streams = streamsOf(input.from);
        if (!streams) fail(`bolt '${bolt.name}' reads from '${input.from}', which is neither a spout nor a bolt`);
        if (!streams!.includes(input.stream)) {
          fail(`bolt '${bolt.name}' reads stream '${input.stream}' of '${input.from}', which declares only: ${streams!.join(', ')}`);
        }
        if (input.from === bolt.name) fail(`bolt '${bolt.name}' reads its own output`);
        const g = input.grouping;
        const fromSpout = this.spoutDefs.has(input.from);
        if (g.type === 'all') {
          if (!fromSpout) fail(`bolt '${bolt.name}': grouping all() is only supported on a spout, not on bolt '${input.from}'`);
          broadcast.add(input.from);
          addRoute(input.from, input.stream, { kind: 'bolt', bolt: bolt.name });
          continue;
        }
        if (fromSpout) nonBroadcastSpouts.add(input.from);
        const keyedBy = keyedByOf(input.from, input.stream);
        const local = g.type === 'shuffle' || (g.type === 'fields' && (g.field === 'key' || g.field === keyedBy));
        if (local) {
          union(input.from, bolt.name);
          addRoute(input.from, input.stream, { kind: 'bolt', bolt: bolt.name });
          if (!fromSpout) (boltEdges.get(input.from) ?? boltEdges.set(input.from, []).get(input.from)!).push(bolt.name);
          continue;
        }
        if (g.type === 'fields' && !g.repartition) {
          fail(
            `bolt '${bolt.name}' groups '${input.from}' by field '${g.field}', but '${input.from}' is ${keyedBy ? `keyed by '${keyedBy}'` : 'not declared keyed by any field'}. ` +
              `Key the input by '${g.field}' (keyedBy), or use fields('${g.field}', { repartition: true }) to route through a repartition topic.`,
          );
        }
        const serdes = fromSpout
          ? { key: StringSerde as SerdeSpec<unknown>, value: this.spoutDefs.get(input.from)!.value }
          : { key: this.boltDefs.get(input.from)!.outputs[input.stream]!.key, value: this.boltDefs.get(input.from)!.outputs[input.stream]!.value };
        if (!serdes.value) {
          fail(
            `bolt '${bolt.name}' needs a repartition of stream '${input.stream}' of bolt '${input.from}'; declare its serdes: outputs: { ${input.stream}: { key, value } }`,
          );
        }
        const rep: RepartitionDef = {
          topic: `${applicationId}-${bolt.name}-${input.from}-${input.stream}-repartition`,
          from: input.from,
          stream: input.stream,
          to: bolt.name,
          field: g.type === 'fields' ? g.field : undefined,
          partitions: g.type === 'global' ? 1 : 'inherit',
          key: (serdes.key ?? StringSerde) as SerdeSpec<unknown>,
          value: serdes.value as SerdeSpec<unknown>,
        };
        repartitions.push(rep);
        addRoute(input.from, input.stream, { kind: 'repartition', repartition: rep });
        parent.set(`topic:${rep.topic}`, find(bolt.name));
      }
    }

    // Local bolt-to-bolt edges must not form a cycle: records would loop inside a task.
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (b: string, path: string[]) => {
      if (done.has(b)) return;
      if (visiting.has(b)) fail(`bolts form a cycle: ${[...path, b].join(' -> ')}`);
      visiting.add(b);
      for (const next of boltEdges.get(b) ?? []) visit(next, [...path, b]);
      visiting.delete(b);
      done.add(b);
    };
    for (const b of this.boltDefs.keys()) visit(b, []);

    for (const store of this.storeDefs.values()) {
      for (const name of store.prefetch) {
        const spout = this.spoutDefs.get(name);
        if (!spout) fail(`store '${store.name}' prefetches for '${name}', which is not a spout`);
        if (spout!.key !== store.key) {
          fail(`store '${store.name}' prefetches for spout '${name}', whose key serde is not the store's: give both the same key serde, or do not prefetch`);
        }
        const readers = [...this.boltDefs.values()].filter((b) => b.stores.includes(store.name) && b.inputs.some((i) => i.from === name));
        if (readers.length === 0) fail(`store '${store.name}' prefetches for spout '${name}', but no bolt that uses the store reads that spout`);
      }
    }

    for (const sink of this.sinkDefs.values()) {
      const streams = streamsOf(sink.from);
      if (!streams) fail(`sink '${sink.name}' reads from '${sink.from}', which is neither a spout nor a bolt`);
      if (!streams!.includes(sink.stream))
        fail(`sink '${sink.name}' reads stream '${sink.stream}' of '${sink.from}', which declares only: ${streams!.join(', ')}`);
      if (this.spoutDefs.has(sink.from)) nonBroadcastSpouts.add(sink.from);
      addRoute(sink.from, sink.stream, { kind: 'sink', sink: sink.name });
    }

    for (const spout of this.spoutDefs.values()) {
      if (!broadcast.has(spout.name) && !nonBroadcastSpouts.has(spout.name)) fail(`spout '${spout.name}' is read by no bolt or sink`);
      if (broadcast.has(spout.name) && nonBroadcastSpouts.has(spout.name)) {
        fail(`spout '${spout.name}' is read both with grouping all() and with another grouping; declare two spouts on the topic`);
      }
    }

    // Group components into sub-topologies.
    const groups = new Map<string, SubTopology>();
    const groupOf = (component: string): SubTopology => {
      const root = find(component);
      let g = groups.get(root);
      if (!g) {
        g = { index: groups.size, sourceTopics: [], spouts: [], bolts: [], stores: [], repartitionSources: [] };
        groups.set(root, g);
      }
      return g;
    };
    const bySpoutTopic = new Map<string, string>();
    for (const spout of this.spoutDefs.values()) {
      if (broadcast.has(spout.name)) continue;
      const g = groupOf(spout.name);
      g.spouts.push(spout.name);
      const other = bySpoutTopic.get(spout.topic);
      if (other) fail(`spouts '${other}' and '${spout.name}' read the same topic '${spout.topic}'; use one spout with several readers`);
      bySpoutTopic.set(spout.topic, spout.name);
      if (!g.sourceTopics.includes(spout.topic)) g.sourceTopics.push(spout.topic);
    }
    for (const rep of repartitions) {
      const g = groupOf(rep.to);
      g.sourceTopics.push(rep.topic);
      g.repartitionSources.push(rep);
    }
    const storeGroup = new Map<string, number>();
    for (const bolt of this.boltDefs.values()) {
      const local = bolt.inputs.filter((i) => i.grouping.type !== 'all');
      if (local.length === 0 && !repartitions.some((r) => r.to === bolt.name)) {
        // Fed only by broadcast spouts: it still needs tasks; it runs in the
        // sub-topology of any bolt it sends to, or in its own otherwise.
      }
      const g = groupOf(bolt.name);
      g.bolts.push(bolt.name);
      for (const store of bolt.stores) {
        const prev = storeGroup.get(store);
        if (prev !== undefined && prev !== g.index) {
          fail(`store '${store}' is used by bolts in different sub-topologies (their inputs are not co-partitioned); give each its own store`);
        }
        storeGroup.set(store, g.index);
        if (!g.stores.includes(store)) g.stores.push(store);
      }
    }
    const subtopologies = [...groups.values()].sort((a, b) => a.index - b.index);
    for (const g of subtopologies) {
      if (g.sourceTopics.length === 0) {
        fail(`bolt(s) ${g.bolts.join(', ')} read only broadcast (all) inputs; give them a partitioned input too, so they have tasks`);
      }
    }
    const topicToGroup = new Map<string, SubTopology>();
    for (const g of subtopologies) for (const t of g.sourceTopics) topicToGroup.set(t, g);

    const name = this.name;
    const topology: Topology = {
      name,
      applicationId,
      spouts: new Map(this.spoutDefs),
      bolts: new Map(this.boltDefs),
      stores: new Map(this.storeDefs),
      sinks: new Map(this.sinkDefs),
      repartitions,
      subtopologies,
      broadcastSpouts: [...broadcast],
      routes: (component, stream) => routes.get(component)?.get(stream) ?? NO_ROUTES,
      subtopologyOfTopic: (topic) => topicToGroup.get(topic),
      changelogTopic: (store) => `${applicationId}-${store}-changelog`,
      dlqTopic: `${applicationId}-dlq`,
      forApplication: (id) => (id === applicationId ? topology : this.plan(id)),
    };
    return topology;
  }
}
