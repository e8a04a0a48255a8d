import type { Command } from 'commander';
import { readControlView, snapshotTopic, userFactorsTopic, writeControl } from '../../app/snapshots';
import { planRetire } from '../../vectors/doorman/doorman-state';
import {
  addKafkaOptions,
  addSnapshotTopicOptions,
  kafkaFrom,
  printJson,
  registryFrom,
  requireControlTopic,
  snapshotTopicsFrom,
  type CliIo,
  type KafkaOptions,
  type SnapshotTopicOptions,
} from '../common';

/** `vectors retire <id>`: retire a snapshot that is not active and delete its topics. */
export function registerRetire(program: Command, io: CliIo): void {
  const cmd = program
    .command('retire')
    .summary('retire a snapshot that is not active and delete its topics')
    .description(
      'Mark a snapshot that is not active RETIRED (workers drop it) and delete its topics (entity vectors and user factors). ' +
        'Retiring the previous snapshot leaves nothing to roll back to.',
    )
    .argument('<id>', 'the snapshot to retire');
  addKafkaOptions(cmd);
  addSnapshotTopicOptions(cmd);
  cmd.action(async (id: string, o: KafkaOptions & SnapshotTopicOptions) => {
    const kafka = kafkaFrom(o, 'vectors-retire', true);
    const registry = registryFrom(o);
    const topics = snapshotTopicsFrom(o);
    await requireControlTopic(kafka, topics);
    await writeControl(kafka, registry, planRetire(await readControlView(kafka, registry, topics), id, Date.now()), topics);
    const admin = await kafka.admin();
    try {
      const existing = new Set(await admin.listTopics());
      await admin.deleteTopics([snapshotTopic(id, topics), userFactorsTopic(id, topics)].filter((t) => existing.has(t)));
    } finally {
      await admin.close();
    }
    printJson(io, { retired: id }, true);
  });
}
