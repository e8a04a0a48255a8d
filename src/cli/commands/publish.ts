import { Option, type Command } from 'commander';
import { publishSnapshot } from '../../app/snapshots';
import { ENTITY_TYPES } from '../../vectors/snapshot/entity-matrix';
import type { EntityType } from '../../vectors/records';
import {
  addKafkaOptions,
  addSnapshotTopicOptions,
  instant,
  kafkaFrom,
  keyValue,
  positiveInt,
  printJson,
  registryFrom,
  requireControlTopic,
  snapshotId,
  snapshotTopicsFrom,
  type CliIo,
  type KafkaOptions,
  type SnapshotTopicOptions,
} from '../common';
import { snapshotFileFormat, SUPPORTED_SNAPSHOT_FILES, userFactorsFileFormat } from '../snapshot-files';

interface PublishCliOptions extends KafkaOptions, SnapshotTopicOptions {
  snapshotId: string;
  model: string;
  opt?: Record<string, string>;
  dims?: number;
  idColumn?: string;
  vectorColumn?: string;
  entityTypeColumn?: string;
  entityType?: EntityType;
  users?: string;
  usersPartitions?: number;
  usersIdColumn?: string;
  usersVectorColumn?: string;
  cutoff?: number;
}

/** `vectors publish <file>`: validate a snapshot file, write it to its topic and stage it. */
export function registerPublish(program: Command, io: CliIo): void {
  const cmd = program
    .command('publish')
    .summary('publish a snapshot file and stage it')
    .description(
      'Validate a snapshot of entity vectors, write it to its topic (entity-vectors.<id>) and stage it with the doorman. ' +
        'Nothing is staged when the file is invalid. The format follows the file name: ' +
        `${SUPPORTED_SNAPSHOT_FILES}. JSONL lines are {"entityId": "t1", "entityType": "TRACK", "vector": [0.1, ...]}.`,
    )
    .argument('<file>', 'the snapshot file (or Parquet directory, or binary base path)')
    .addOption(new Option('--snapshot-id <id>', 'the new snapshot id (A-Z a-z 0-9 . _ -; never reused)').argParser(snapshotId).makeOptionMandatory())
    .addOption(new Option('--model <name>', 'the model that trained the vectors, kept in the manifest').default('unknown'))
    .addOption(new Option('--opt <key=value>', 'a model parameter kept in the manifest (e.g. lambda=0.1); repeatable').argParser(keyValue))
    .addOption(new Option('--dims <n>', "the vectors' dimensions, checked against the file (default: the file's)").argParser(positiveInt))
    .addOption(new Option('--id-column <name>', 'Parquet: the id column (default id, else entityId)'))
    .addOption(new Option('--vector-column <name>', 'Parquet: the vector column (default features, else vector)'))
    .addOption(new Option('--entity-type-column <name>', 'Parquet: the entity type column (default entityType)'))
    .addOption(new Option('--entity-type <type>', 'Parquet: the type of rows without one (default OTHER)').choices(ENTITY_TYPES))
    .addOption(new Option('--users <file>', "the batch trainer's user factors (.jsonl or .parquet), published to user-factors.<id>"))
    .addOption(
      new Option('--users-partitions <n>', "partitions of the user factors' topic (default the listens topic's)")
        .env('VECTORS_USERS_PARTITIONS')
        .argParser(positiveInt),
    )
    .addOption(new Option('--users-id-column <name>', 'Parquet users: the id column (default id)'))
    .addOption(new Option('--users-vector-column <name>', 'Parquet users: the vector column (default features)'))
    .addOption(new Option('--cutoff <time>', 'the training cut-off of the user factors: ISO-8601 or epoch ms').argParser(instant));
  addKafkaOptions(cmd);
  addSnapshotTopicOptions(cmd);
  cmd.addHelpText(
    'after',
    '\nExamples:\n' +
      '  vectors publish vectors.jsonl --snapshot-id s1 --model als --opt lambda=0.1 --opt alpha=40\n' +
      '  vectors publish factors.parquet --snapshot-id s2 --model als --dims 128 --users users.parquet --cutoff 2024-06-01T00:00:00Z',
  );
  cmd.action(async (file: string, o: PublishCliOptions) => {
    // The files are checked before anything connects: a typo fails at once, naming the path.
    await snapshotFileFormat(file);
    if (o.users) await userFactorsFileFormat(o.users);
    const users = o.users
      ? {
          file: o.users,
          ...(o.usersPartitions !== undefined ? { partitions: o.usersPartitions } : {}),
          parquet: { idColumn: o.usersIdColumn, vectorColumn: o.usersVectorColumn },
        }
      : undefined;
    const kafka = kafkaFrom(o, 'vectors-publish', true);
    const topics = snapshotTopicsFrom(o);
    await requireControlTopic(kafka, topics);
    const manifest = await publishSnapshot(kafka, registryFrom(o), {
      file,
      snapshotId: o.snapshotId,
      model: o.model,
      params: o.opt ?? {},
      parquet: { idColumn: o.idColumn, vectorColumn: o.vectorColumn, entityTypeColumn: o.entityTypeColumn, entityType: o.entityType },
      topics,
      ...(o.dims !== undefined ? { dims: o.dims } : {}),
      ...(users ? { users } : {}),
      ...(o.cutoff !== undefined ? { cutoff: o.cutoff } : {}),
    });
    printJson(io, { staged: manifest });
  });
}
