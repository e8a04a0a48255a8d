import type { SchemaRegistry } from '../serde/schema-registry';
import { isPreparedSerde, type Serde } from '../serde/serde';
import { resolveSerde, type SerdeSpec } from '../serde/serde-spec';
import type { Topology } from './topology';

export interface KeyValueSerdes {
  key: Serde<unknown>;
  value: Serde<unknown>;
}

/**
 * Every serde a topology uses, resolved against one schema registry and
 * prepared (schemas registered) before the first record: per input topic and
 * per sink. Shared by all tasks of an instance.
 */
export class TopologySerdes {
  private readonly byTopic = new Map<string, KeyValueSerdes>();
  private readonly bySink = new Map<string, KeyValueSerdes>();

  constructor(
    readonly topology: Topology,
    private readonly registry: SchemaRegistry,
  ) {
    const make = (topic: string, key: SerdeSpec<unknown>, value: SerdeSpec<unknown>): KeyValueSerdes => ({
      key: resolveSerde(key, { topic, isKey: true, registry }),
      value: resolveSerde(value, { topic, isKey: false, registry }),
    });
    for (const s of topology.spouts.values()) this.byTopic.set(s.topic, make(s.topic, s.key, s.value));
    for (const r of topology.repartitions) {
      const serdes = make(r.topic, r.key, r.value);
      this.byTopic.set(r.topic, serdes);
    }
    for (const s of topology.sinks.values()) this.bySink.set(s.name, make(s.topic, s.key, s.value));
  }

  /** Registers schemas and fills id caches; call once before processing. */
  async prepare(): Promise<void> {
    const all = [...this.byTopic.values(), ...this.bySink.values()];
    for (const { key, value } of all) {
      if (isPreparedSerde(key)) await key.prepare();
      if (isPreparedSerde(value)) await value.prepare();
    }
  }

  forTopic(topic: string): KeyValueSerdes {
    const s = this.byTopic.get(topic);
    if (!s) throw new Error(`no serdes for topic '${topic}' in topology '${this.topology.name}'`);
    return s;
  }

  forSink(sink: string): KeyValueSerdes {
    return this.bySink.get(sink)!;
  }

  get registryUsed(): SchemaRegistry {
    return this.registry;
  }
}
