/**
 * Typed errors of the runtime. Each carries a stable `code` a caller can
 * switch on and `retriable`, which says whether trying the same thing again
 * may succeed. Messages name the input that was wrong and what to do.
 *
 * An application built on the runtime derives its own errors from
 * {@link VectorsError} with codes of its own (the vectors code does, in
 * `src/errors.ts`); the codes here never change.
 */

/** Every error code the runtime throws. Stable: part of the public API. */
export const RuntimeErrorCodes = {
  CONFIG_INVALID: 'VEC_ERR_CONFIG_INVALID',
  SCHEMA_VALIDATION: 'VEC_ERR_SCHEMA_VALIDATION',
  SCHEMA_INCOMPATIBLE: 'VEC_ERR_SCHEMA_INCOMPATIBLE',
  SCHEMA_REGISTRY: 'VEC_ERR_SCHEMA_REGISTRY',
  UNKNOWN_SCHEMA_ID: 'VEC_ERR_UNKNOWN_SCHEMA_ID',
  WIRE_FORMAT: 'VEC_ERR_WIRE_FORMAT',
  AVRO_DECODE: 'VEC_ERR_AVRO_DECODE',
  SCHEMA_RESOLUTION: 'VEC_ERR_SCHEMA_RESOLUTION',
  TOPOLOGY_INVALID: 'VEC_ERR_TOPOLOGY_INVALID',
  RECORD_INVALID: 'VEC_ERR_RECORD_INVALID',
  STORE_CLOSED: 'VEC_ERR_STORE_CLOSED',
  STORE_TRANSACTION_FAILED: 'VEC_ERR_STORE_TRANSACTION_FAILED',
  KAFKA: 'VEC_ERR_KAFKA',
  GROUP_REBALANCE: 'VEC_ERR_GROUP_REBALANCE',
  MISROUTED: 'VEC_ERR_MISROUTED',
  TOPIC_PROVISIONING: 'VEC_ERR_TOPIC_PROVISIONING',
} as const;

export type RuntimeErrorCode = (typeof RuntimeErrorCodes)[keyof typeof RuntimeErrorCodes];

/**
 * Base class: `instanceof VectorsError` catches every error the runtime, and
 * an application deriving its errors from it, throws on purpose. `code` is
 * one of {@link RuntimeErrorCodes} or an application's own (`VEC_ERR_*` in
 * this project).
 */
export class VectorsError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** A configuration value is missing or out of range. */
export class ConfigError extends VectorsError {
  constructor(message: string) {
    super(RuntimeErrorCodes.CONFIG_INVALID, message);
  }
}

/** One field of a value that does not match its schema. */
export interface FieldProblem {
  /** Dotted path from the record root, e.g. `items.3.score`. */
  path: string;
  /** The Avro type the schema expects there, e.g. `long` or `FeedbackKind`. */
  expected: string;
  /** A short rendering of the value found. */
  found: string;
}

/** A value does not match the schema it is being written with. Nothing was written. */
export class SchemaValidationError extends VectorsError {
  readonly schemaName: string;
  readonly problems: FieldProblem[];

  constructor(schemaName: string, problems: FieldProblem[]) {
    const list = problems
      .slice(0, 5)
      .map((p) => `field '${p.path || '(root)'}' expected ${p.expected}, found ${p.found}`)
      .join('; ');
    const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : '';
    super(
      RuntimeErrorCodes.SCHEMA_VALIDATION,
      `value does not match schema ${schemaName}: ${list}${more}. Fix the value (or evolve the schema in schemas/); nothing was written.`,
    );
    this.schemaName = schemaName;
    this.problems = problems;
  }
}

/** The registry refused a schema because it breaks the subject's compatibility rule. */
export class SchemaIncompatibleError extends VectorsError {
  constructor(
    readonly subject: string,
    detail: string,
    cause?: unknown,
  ) {
    super(
      RuntimeErrorCodes.SCHEMA_INCOMPATIBLE,
      `schema for subject '${subject}' was refused as incompatible with the registered versions: ${detail}. ` +
        'Make the change backward compatible (e.g. give new fields a default) or register it under a new subject.',
      { cause },
    );
  }
}

/** The schema registry could not be reached or answered with an error. */
export class SchemaRegistryError extends VectorsError {
  constructor(message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(RuntimeErrorCodes.SCHEMA_REGISTRY, message, options);
  }
}

/** A record names a schema id the registry does not know. */
export class UnknownSchemaIdError extends VectorsError {
  constructor(
    readonly schemaId: number,
    cause?: unknown,
  ) {
    super(
      RuntimeErrorCodes.UNKNOWN_SCHEMA_ID,
      `record names schema id ${schemaId}, which the schema registry does not know. ` +
        'It was written against another registry, or the registry lost its schemas (in-memory storage restarted).',
      { cause },
    );
  }
}

/** Bytes that are not in the Confluent wire format (magic byte 0, 4-byte schema id, payload). */
export class WireFormatError extends VectorsError {
  constructor(detail: string) {
    super(RuntimeErrorCodes.WIRE_FORMAT, `record bytes are not in the Confluent wire format: ${detail}. Produce with a schema-registry serializer.`);
  }
}

/** Avro payload that cannot be decoded with the writer schema its id names. */
export class AvroDecodeError extends VectorsError {
  constructor(schemaName: string, schemaId: number, cause: unknown) {
    super(RuntimeErrorCodes.AVRO_DECODE, `cannot decode Avro payload as ${schemaName} (schema id ${schemaId}): ${(cause as Error)?.message ?? String(cause)}`, {
      cause,
    });
  }
}

/** A schema as named in a {@link SchemaResolutionError}: its Avro full name and, when known, its registry id. */
export interface SchemaRef {
  /** Full name (`namespace.Name`) of a named type, else the Avro type name (`string`, ...). */
  name: string;
  id?: number;
}

/**
 * A record's writer schema (named by the id in its header) cannot be read as
 * the schema the consumer expects: another record type was written to the
 * topic, or a version that is not compatible with the reader's, or the id
 * names a schema that is not Avro. The writer schema of an id never changes,
 * so every record with that id fails the same way: not retriable.
 */
export class SchemaResolutionError extends VectorsError {
  constructor(
    readonly subject: string,
    readonly expected: SchemaRef,
    readonly found: SchemaRef,
    detail: string,
    cause?: unknown,
  ) {
    const ref = (s: SchemaRef) => (s.id === undefined ? s.name : `${s.name} (registry id ${s.id})`);
    const advice =
      found.name === expected.name
        ? 'the two versions are not compatible: check the compatibility rule of the subject in the registry (BACKWARD at least) ' +
          'and evolve the schema compatibly, e.g. give new fields a default'
        : `another record type was written to this topic: fix the producer to write ${expected.name} (or a compatible version of it) here; ` +
          `if ${expected.name} was renamed from ${found.name}, list the old full name in the reader schema's aliases`;
    super(
      RuntimeErrorCodes.SCHEMA_RESOLUTION,
      `record of subject '${subject}' was written with schema ${ref(found)}, but the consumer expected ${ref(expected)} ` +
        `and cannot read one as the other (${detail}): ${advice}.`,
      { cause },
    );
  }
}

/** A topology definition is inconsistent; raised when the topology is built, before anything runs. */
export class TopologyError extends VectorsError {
  constructor(topology: string, detail: string) {
    super(RuntimeErrorCodes.TOPOLOGY_INVALID, `topology '${topology}' is invalid: ${detail}`);
  }
}

/** A decoded input record failed its spout's validation. */
export class RecordValidationError extends VectorsError {
  constructor(topic: string, detail: string) {
    super(RuntimeErrorCodes.RECORD_INVALID, `record of topic '${topic}' is invalid: ${detail}`);
  }
}

/** A store was used after close, or after a failed write batch poisoned it. */
export class StoreClosedError extends VectorsError {
  constructor(store: string, why: string) {
    super(RuntimeErrorCodes.STORE_CLOSED, `store '${store}' cannot be used: ${why}`);
  }
}

/** A store write batch failed; the batch is discarded and must not be reused. */
export class StoreTransactionError extends VectorsError {
  constructor(store: string, cause: unknown) {
    super(
      RuntimeErrorCodes.STORE_TRANSACTION_FAILED,
      `write batch on store '${store}' failed and was discarded: ${(cause as Error)?.message ?? String(cause)}`,
      {
        cause,
      },
    );
  }
}

/** A Kafka operation failed; `retriable` comes from the client. */
export class KafkaError extends VectorsError {
  constructor(operation: string, cause: unknown, retriable = false) {
    super(RuntimeErrorCodes.KAFKA, `Kafka ${operation} failed: ${(cause as Error)?.message ?? String(cause)}`, {
      retriable,
      cause,
    });
  }
}

/**
 * The consumer group moved on while this member was working (a member joined
 * or left, or this one missed a heartbeat): an offset commit of the old
 * generation is refused. Routine, not fatal: the member rejoins, and the
 * records since its last commit are processed again by their partition's
 * next owner (at-least-once).
 */
export class GroupRebalanceError extends VectorsError {
  constructor(operation: string, cause: unknown) {
    super(
      RuntimeErrorCodes.GROUP_REBALANCE,
      `Kafka ${operation} refused because the consumer group is rebalancing: ${(cause as Error)?.message ?? String(cause)}`,
      {
        retriable: true,
        cause,
      },
    );
  }
}

/**
 * A keyed input record sits on another partition than Kafka's default
 * partitioner (murmur2 of the key) puts its key: its producer partitions
 * otherwise (librdkafka's default is CRC32), so the task that owns the key,
 * and the query API, would never see it.
 */
export class MisroutedRecordError extends VectorsError {
  constructor(topic: string, partition: number, expected: number) {
    super(
      RuntimeErrorCodes.MISROUTED,
      `record on ${topic}-${partition} belongs on partition ${expected} (murmur2 of its key, as the Java client and kafkajs partition). ` +
        'Its producer partitions otherwise: set partitioner=murmur2_random in librdkafka clients (Python, Go, C), ' +
        'or run with --misrouted reroute to have the runtime move such records.',
    );
  }
}

/** A topic exists with settings that differ from what the project needs. */
export class TopicProvisioningError extends VectorsError {
  constructor(topic: string, detail: string) {
    super(RuntimeErrorCodes.TOPIC_PROVISIONING, `topic '${topic}': ${detail}`);
  }
}
