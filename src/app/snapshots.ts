/**
 * Snapshots on Kafka: publishing a file to `entity-vectors.<id>` plus its
 * STAGE record, loading a snapshot topic back (validated), and reading and
 * writing the doorman's control log. Wiring between the runtime's Kafka
 * client and the vectors domain.
 */
import { provisionTopics } from '../runtime/admin/provision';
import type { KafkaAdmin, KafkaClient, OutgoingRecord, PartitionReader } from '../runtime/kafka/client';
import { readRange } from '../runtime/kafka/read-range';
import { AvroSerde } from '../runtime/serde/avro-serde';
import type { SchemaRegistry } from '../runtime/serde/schema-registry';
import { Topics, loadSchema, valueSubject } from '../vectors/contracts';
import { buildView, ControlKeys, type ControlWrite, type DoormanView, planStage } from '../vectors/doorman/doorman-state';
import type { EntityVector, SnapshotControl, SnapshotManifest, UserFactor, UserFactorsManifest } from '../vectors/records';
import { ConfigError, SnapshotValidationError } from '../errors';
import { partitionForKey } from '../runtime/partitioner';
import { SnapshotChecksum } from '../vectors/snapshot/checksum';
import { partitionFigures, type UserFactorTable, UserFactorTableBuilder } from '../vectors/snapshot/user-factors';
import { userFactorRows } from '../vectors/snapshot/user-factors-file';
import { ENTITY_TYPES, EntityMatrixBuilder, type EntityMatrix } from '../vectors/snapshot/entity-matrix';
import { buildManifest } from '../vectors/snapshot/manifest';
import { readSnapshotFile } from '../vectors/snapshot/formats';
import type { ParquetColumnOptions } from '../vectors/snapshot/parquet';
import { SnapshotValidator } from '../vectors/snapshot/validate';
import type { SnapshotSource } from '../vectors/snapshot-catalog';

export interface SnapshotTopics {
  control?: string;
  /** Prefix of snapshot topics; default `entity-vectors.` */
  prefix?: string;
}

/** The topic of a snapshot's entity vectors (with a prefix, `<prefix><id>`). */
export const snapshotTopic = (id: string, t: SnapshotTopics = {}) => (t.prefix !== undefined ? `${t.prefix}${id}` : Topics.entityVectors(id));
/** The topic of a snapshot's user factors (with a prefix, `<prefix><id>-users`). */
export const userFactorsTopic = (id: string, t: SnapshotTopics = {}) => (t.prefix !== undefined ? `${t.prefix}${id}-users` : Topics.userFactors(id));

function userFactorSerde(registry: SchemaRegistry, topic: string) {
  return new AvroSerde<UserFactor>({ registry, subject: valueSubject(topic), schema: loadSchema('UserFactor') });
}

function entitySerde(registry: SchemaRegistry, topic: string) {
  return new AvroSerde<EntityVector>({ registry, subject: valueSubject(topic), schema: loadSchema('EntityVector') });
}

function controlSerde(registry: SchemaRegistry, topic: string) {
  return new AvroSerde<SnapshotControl>({ registry, subject: valueSubject(topic), schema: loadSchema('SnapshotControl') });
}

/** One phase change read from the control log: an `active` pointer record counts as its snapshot becoming ACTIVE. */
export interface ControlChange {
  snapshotId: string;
  /** The command that wrote it (STAGE, ACTIVATE, ABORT, ROLLBACK, RETIRE, ...). */
  kind: string;
  phase: string;
  /** The record's timestamp, ms. */
  at: number;
}

/** How many phase changes a {@link ControlLog} keeps for its history. */
export const MAX_CONTROL_CHANGES = 1000;

/**
 * Follows the control log (one partition): each {@link refresh} reads what was
 * appended since the last one and rebuilds the doorman's view. For processes
 * that ask often (the query API); one-off readers use {@link readControlView}.
 */
export class ControlLog {
  private readonly topic: string;
  private readonly latest = new Map<string, SnapshotControl>();
  private next: bigint | undefined;
  private current: DoormanView = buildView([]);
  private io?: Promise<{ admin: KafkaAdmin; reader: PartitionReader; serde: AvroSerde<SnapshotControl> }>;
  private readonly changes: ControlChange[] = [];

  constructor(
    private readonly kafka: KafkaClient,
    private readonly registry: SchemaRegistry,
    t: SnapshotTopics = {},
  ) {
    this.topic = t.control ?? Topics.snapshotControl;
  }

  /** The view as of the last refresh. */
  get view(): DoormanView {
    return this.current;
  }

  /**
   * Phase changes and activations in the order they were read (the latest
   * {@link MAX_CONTROL_CHANGES}): the whole history since this process started
   * following the log, and before that what compaction kept. For timelines.
   */
  get history(): readonly ControlChange[] {
    return this.changes;
  }

  /** Reads the records appended since the last refresh (the whole log the first time). */
  async refresh(): Promise<DoormanView> {
    this.io ??= (async () => {
      const serde = controlSerde(this.registry, this.topic);
      await serde.prepare();
      return { admin: await this.kafka.admin(), reader: await this.kafka.partitionReader(), serde };
    })();
    const { admin, reader, serde } = await this.io;
    if (this.next === undefined) {
      const [p] = await admin.topicOffsets(this.topic);
      this.next = BigInt(p?.low ?? '0');
    }
    let changed = false;
    const end = await readRange(reader, { topic: this.topic, partition: 0 }, this.next, undefined, async (records) => {
      for (const r of records) {
        if (!r.key) continue;
        const key = r.key.toString('utf8');
        changed = true;
        this.latest.delete(key);
        if (r.value === null) continue;
        await serde.prepareFor(r.value);
        const rec = serde.deserialize(r.value);
        this.latest.set(key, rec);
        if (rec.snapshotId !== null && (key === ControlKeys.active || (key.startsWith('snapshot/') && rec.phase !== null))) {
          this.changes.push({ snapshotId: rec.snapshotId, kind: rec.kind, phase: key === ControlKeys.active ? 'ACTIVE' : rec.phase!, at: rec.timestamp });
          if (this.changes.length > MAX_CONTROL_CHANGES) this.changes.splice(0, this.changes.length - MAX_CONTROL_CHANGES);
        }
      }
    });
    this.next = end.offset;
    if (changed) this.current = buildView(this.latest);
    return this.current;
  }

  async close(): Promise<void> {
    const io = await this.io?.catch(() => undefined);
    await io?.reader.close();
    await io?.admin.close();
  }
}

/** Reads the whole control log (one partition) and builds the doorman's view. */
export async function readControlView(kafka: KafkaClient, registry: SchemaRegistry, t: SnapshotTopics = {}): Promise<DoormanView> {
  const log = new ControlLog(kafka, registry, t);
  try {
    return await log.refresh();
  } finally {
    await log.close();
  }
}

/** Appends control records, in order. */
export async function writeControl(kafka: KafkaClient, registry: SchemaRegistry, writes: ControlWrite[], t: SnapshotTopics = {}): Promise<void> {
  const topic = t.control ?? Topics.snapshotControl;
  const serde = controlSerde(registry, topic);
  await serde.prepare();
  const producer = await kafka.producer();
  try {
    await producer.send(writes.map((w) => ({ topic, key: w.key, value: serde.serialize(w.value), partition: 0 })));
  } finally {
    await producer.close();
  }
}

export interface PublishOptions {
  file: string;
  snapshotId: string;
  /** Parquet files: which columns hold id, vector and type (default `id`, `features`, `entityType`). */
  parquet?: ParquetColumnOptions;
  model: string;
  params?: Record<string, string>;
  /** The dims the file must have (a check against publishing another model's vectors). */
  dims?: number;
  topics?: SnapshotTopics;
  /** Changes to the manifest as published, e.g. a wrong checksum: only to test that workers refuse it. */
  manifestOverride?: Partial<SnapshotManifest>;
  /**
   * The batch trainer's user factors, published with the snapshot (lifetime
   * vectors): a JSONL or Parquet file (user-factors-file.ts), its topic's
   * partition count (default the `listens` topic's: the user topics' layout),
   * and the Parquet columns.
   */
  users?: { file: string; partitions?: number; parquet?: Pick<ParquetColumnOptions, 'idColumn' | 'vectorColumn'> };
  /** The training cut-off, epoch ms: events at or before it are in the user factors. */
  cutoff?: number;
}

/**
 * Publishes a snapshot file: validates it, writes every entity to
 * `entity-vectors.<id>` (one partition, so publish order — which the checksum
 * covers — is kept), then appends the STAGE record with the manifest.
 * Nothing is staged when the file is invalid.
 */
export async function publishSnapshot(kafka: KafkaClient, registry: SchemaRegistry, o: PublishOptions): Promise<SnapshotManifest> {
  const loaded = await readSnapshotFile(o.file, { snapshotId: o.snapshotId, parquet: o.parquet, ...(o.dims !== undefined ? { dims: o.dims } : {}) });
  const matrix = loaded.matrix;
  if (loaded.count === 0) throw new SnapshotValidationError(o.snapshotId, `${o.file} holds no entities: a snapshot needs at least one to be published`);
  if (o.dims !== undefined && matrix.dims !== o.dims) {
    throw new SnapshotValidationError(o.snapshotId, `${o.file} has dims=${matrix.dims}, but dims=${o.dims} were expected`);
  }
  const t = o.topics ?? {};
  // The user factors are validated in full before anything is written.
  const users = o.users ? await planUserFactors(kafka, o.snapshotId, matrix.dims, o.users) : undefined;
  const manifest = {
    ...buildManifest({
      snapshotId: o.snapshotId,
      model: o.model,
      dims: matrix.dims,
      count: loaded.count,
      checksum: loaded.checksum,
      params: o.params ?? {},
      ...(o.cutoff !== undefined ? { cutoff: o.cutoff } : {}),
      ...(users ? { users: users.figures } : {}),
    }),
    ...o.manifestOverride,
  };
  const topic = snapshotTopic(o.snapshotId, t);
  const view = await readControlView(kafka, registry, t);
  const writes = planStage(view, manifest, Date.now()); // refuses a reused id before anything is written
  const admin = await kafka.admin();
  try {
    await provisionTopics(admin, [{ name: topic, partitions: 1, config: { 'retention.ms': '-1' } }]);
  } finally {
    await admin.close();
  }
  if (users && o.users) await writeUserFactors(kafka, registry, userFactorsTopic(o.snapshotId, t), o.snapshotId, matrix.dims, o.users, users.figures);
  const serde = entitySerde(registry, topic);
  await serde.prepare();
  await produceAll(
    kafka,
    (function* () {
      for (let row = 0; row < matrix.count; row++) {
        const entityId = matrix.ids[row]!;
        yield {
          topic,
          partition: 0,
          key: entityId,
          value: serde.serialize({ snapshotId: o.snapshotId, entityId, entityType: ENTITY_TYPES[matrix.typeCodes[row]!]!, vector: matrix.row(row) }),
        };
      }
    })(),
  );
  await writeControl(kafka, registry, writes, t);
  return manifest;
}

/**
 * Loads a snapshot from its topic, validating while it streams in (dims,
 * finite values, duplicates, then count and checksum against the manifest).
 */
/**
 * Fails at once when a snapshot's topic is gone (deleted by `vectors retire`):
 * asked for its offsets, the client would retry "This server does not host
 * this topic-partition" for half a minute, for every task replaying the
 * control log's history of that snapshot.
 */
async function requireTopic(admin: KafkaAdmin, topic: string, snapshotId: string): Promise<void> {
  if (!(await admin.listTopics()).includes(topic))
    throw new SnapshotValidationError(snapshotId, `its topic '${topic}' does not exist (a retired snapshot's topic is deleted; publish it again to use it)`);
}

export class KafkaSnapshotSource implements SnapshotSource {
  constructor(
    private readonly kafka: KafkaClient,
    private readonly registry: SchemaRegistry,
    private readonly topics: SnapshotTopics = {},
  ) {}

  async load(manifest: SnapshotManifest): Promise<EntityMatrix> {
    const topic = snapshotTopic(manifest.snapshotId, this.topics);
    const serde = entitySerde(this.registry, topic);
    const builder = new EntityMatrixBuilder({ snapshotId: manifest.snapshotId, dims: manifest.dims, expectedCount: manifest.count });
    const validator = new SnapshotValidator({
      snapshotId: manifest.snapshotId,
      dims: manifest.dims,
      expectedCount: manifest.count,
      seen: builder,
      location: (row) => `record ${row} of topic '${topic}'`,
    });
    const admin = await this.kafka.admin();
    const reader = await this.kafka.partitionReader({ maxBytes: 16 * 1024 * 1024 });
    try {
      await requireTopic(admin, topic, manifest.snapshotId);
      const offsets = await admin.topicOffsets(topic);
      if (offsets.length !== 1)
        throw new Error(`snapshot topic '${topic}' must have exactly one partition (publish order is part of the checksum), found ${offsets.length}`);
      await readRange(reader, { topic, partition: 0 }, BigInt(offsets[0]!.low), BigInt(offsets[0]!.high), async (records) => {
        for (const r of records) {
          if (!r.value) continue;
          await serde.prepareFor(r.value);
          const e = serde.deserialize(r.value);
          validator.accept(e.entityId, e.vector);
          builder.add(e.entityId, e.entityType, e.vector);
        }
      });
    } finally {
      await reader.close();
      await admin.close();
    }
    validator.finish(manifest);
    return builder.build();
  }

  /** One partition of `user-factors.<id>`, validated against the manifest's figures for it. */
  async loadUserFactors(manifest: SnapshotManifest, partition: number): Promise<UserFactorTable> {
    const users = manifest.users;
    if (!users) throw new SnapshotValidationError(manifest.snapshotId, 'its manifest announces no user factors');
    const topic = userFactorsTopic(manifest.snapshotId, this.topics);
    const serde = userFactorSerde(this.registry, topic);
    const builder = new UserFactorTableBuilder(
      manifest.snapshotId,
      manifest.dims,
      partitionFigures(users, partition),
      (row) => `record ${row} of ${topic}-${partition}`,
    );
    const admin = await this.kafka.admin();
    const reader = await this.kafka.partitionReader({ maxBytes: 16 * 1024 * 1024 });
    try {
      await requireTopic(admin, topic, manifest.snapshotId);
      const offsets = (await admin.topicOffsets(topic)).find((o) => o.partition === partition);
      if (!offsets)
        throw new SnapshotValidationError(
          manifest.snapshotId,
          `topic '${topic}' has no partition ${partition}: it must have ${users.partitions}, like the user topics`,
        );
      await readRange(reader, { topic, partition }, BigInt(offsets.low), BigInt(offsets.high), async (records) => {
        for (const r of records) {
          if (!r.value) continue;
          await serde.prepareFor(r.value);
          const u = serde.deserialize(r.value);
          builder.add(u.userId, u.vector);
        }
      });
    } finally {
      await reader.close();
      await admin.close();
    }
    return builder.build();
  }
}

/**
 * Reads and validates a user-factors file (dims as the snapshot's), and
 * computes what the manifest says of each partition: count and checksum of
 * its users in file order, partitions as murmur2 of the user id (the Java
 * client's and kafkajs' partitioner, as for the user topics).
 */
async function planUserFactors(
  kafka: KafkaClient,
  snapshotId: string,
  dims: number,
  o: NonNullable<PublishOptions['users']>,
): Promise<{ figures: UserFactorsManifest }> {
  let partitions = o.partitions;
  if (partitions === undefined) {
    const admin = await kafka.admin();
    try {
      partitions = (await admin.describeTopic(Topics.listens, []))?.partitions;
    } finally {
      await admin.close();
    }
    if (!partitions)
      throw new ConfigError(
        `user factors need the partition count of the user topics: topic '${Topics.listens}' does not exist; give it (--users-partitions N)`,
      );
  }
  const sums = Array.from({ length: partitions }, () => new SnapshotChecksum());
  const counts: number[] = new Array<number>(partitions).fill(0);
  const rows = userFactorRows(o.file, { snapshotId, dims, ...(o.parquet ? { parquet: o.parquet } : {}) });
  for (;;) {
    const next = await rows.next();
    if (next.done) break;
    const p = partitionForKey(Buffer.from(next.value.userId, 'utf8'), partitions);
    sums[p]!.update(next.value.userId, next.value.vector);
    counts[p]!++;
  }
  const count = counts.reduce((a, b) => a + b, 0);
  if (count === 0) throw new SnapshotValidationError(snapshotId, `user factors: ${o.file} holds no users; leave out --users to publish without them`);
  return { figures: { count, partitions, counts, checksums: sums.map((s) => s.digest()) } };
}

/** Writes the user factors, in file order, to their topic (made anew, so no remnant of a failed publish stays in it). */
async function writeUserFactors(
  kafka: KafkaClient,
  registry: SchemaRegistry,
  topic: string,
  snapshotId: string,
  dims: number,
  o: NonNullable<PublishOptions['users']>,
  figures: UserFactorsManifest,
): Promise<void> {
  const admin = await kafka.admin();
  try {
    if (await admin.describeTopic(topic, [])) await admin.deleteTopics([topic]);
    await provisionTopics(admin, [{ name: topic, partitions: figures.partitions, config: { 'retention.ms': '-1' } }]);
  } finally {
    await admin.close();
  }
  const serde = userFactorSerde(registry, topic);
  await serde.prepare();
  await produceAll(
    kafka,
    (async function* () {
      for await (const u of userFactorRows(o.file, { snapshotId, dims, ...(o.parquet ? { parquet: o.parquet } : {}) })) {
        const key = Buffer.from(u.userId, 'utf8');
        yield { topic, key, partition: partitionForKey(key, figures.partitions), value: serde.serialize({ snapshotId, userId: u.userId, vector: u.vector }) };
      }
    })(),
  );
}

/** Sends records in order, 5,000 at a time, with one producer. */
async function produceAll(kafka: KafkaClient, records: Iterable<OutgoingRecord> | AsyncIterable<OutgoingRecord>): Promise<void> {
  const producer = await kafka.producer();
  try {
    let batch: OutgoingRecord[] = [];
    for await (const r of records) {
      batch.push(r);
      if (batch.length === 5000) {
        await producer.send(batch);
        batch = [];
      }
    }
    await producer.send(batch);
  } finally {
    await producer.close();
  }
}
