import { AvroSerde } from './avro-serde';
import type { SchemaRegistry } from './schema-registry';
import type { Serde } from './serde';

/** What a serde factory is told about where it is used. */
export interface SerdeContext {
  topic: string;
  isKey: boolean;
  registry: SchemaRegistry;
}

/** Builds a serde once the topic and registry are known (e.g. an Avro serde registering `<topic>-value`). */
export interface SerdeFactory<T> {
  readonly kind: 'serde-factory';
  create(ctx: SerdeContext): Serde<T>;
}

/** A serde, or a factory for one. */
export type SerdeSpec<T> = Serde<T> | SerdeFactory<T>;

export function isSerdeFactory<T>(spec: SerdeSpec<T>): spec is SerdeFactory<T> {
  return (spec as SerdeFactory<T>).kind === 'serde-factory';
}

export function resolveSerde<T>(spec: SerdeSpec<T>, ctx: SerdeContext): Serde<T> {
  return isSerdeFactory(spec) ? spec.create(ctx) : spec;
}

/**
 * Avro in the Confluent wire format, registered under `<topic>-value` (or
 * `<topic>-key`) in the registry the runtime is given.
 */
export function avro<T>(schema: string | object): SerdeFactory<T> {
  return {
    kind: 'serde-factory',
    create: ({ topic, isKey, registry }) => new AvroSerde<T>({ registry, subject: `${topic}-${isKey ? 'key' : 'value'}`, schema }),
  };
}
