import type { Command } from 'commander';
import { readControlView, writeControl } from '../../app/snapshots';
import { planRollback } from '../../vectors/doorman/doorman-state';
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

/** `vectors rollback`: back to the previous snapshot. */
export function registerRollback(program: Command, io: CliIo): void {
  const cmd = program
    .command('rollback')
    .summary('return to the previous snapshot')
    .description(
      'Make the previous snapshot active again and mark the current one ROLLED_BACK. Fails when there is no previous snapshot ' +
        '(none was active before, or it was retired).',
    );
  addKafkaOptions(cmd);
  addSnapshotTopicOptions(cmd);
  cmd.action(async (o: KafkaOptions & SnapshotTopicOptions) => {
    const kafka = kafkaFrom(o, 'vectors-rollback', true);
    const registry = registryFrom(o);
    const topics = snapshotTopicsFrom(o);
    await requireControlTopic(kafka, topics);
    const writes = planRollback(await readControlView(kafka, registry, topics), Date.now());
    await writeControl(kafka, registry, writes, topics);
    printJson(io, { active: writes[0]!.value.snapshotId }, true);
  });
}
