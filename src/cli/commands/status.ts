import type { Command } from 'commander';
import { readControlView } from '../../app/snapshots';
import { readiness } from '../../vectors/doorman/doorman-state';
import { PHASES } from '../../vectors/doorman/lifecycle';
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

/** `vectors status`: the doorman's view, as JSON. */
export function registerStatus(program: Command, io: CliIo): void {
  const cmd = program
    .command('status')
    .summary("the doorman's view: active, previous, every snapshot's phase and readiness")
    .description(
      "Print the doorman's view as JSON: the active and previous snapshot, the members and their partitions, and every snapshot's phase " +
        `(${PHASES.join(', ')}; READY is the one the active replaced, kept for a rollback), count and dims; ` +
        'for a STAGED one, which partitions have not reported READY yet.',
    );
  addKafkaOptions(cmd);
  addSnapshotTopicOptions(cmd);
  cmd.action(async (o: KafkaOptions & SnapshotTopicOptions) => {
    const kafka = kafkaFrom(o, 'vectors-status', true);
    const topics = snapshotTopicsFrom(o);
    await requireControlTopic(kafka, topics);
    const view = await readControlView(kafka, registryFrom(o), topics);
    const snapshots = [...view.snapshots.values()].map((s) => ({
      id: s.id,
      phase: s.phase,
      reason: s.reason,
      count: s.manifest?.count,
      dims: s.manifest?.dims,
      ...(s.phase === 'STAGED' ? { readiness: readiness(view, s.id) } : {}),
    }));
    printJson(io, { active: view.active, previous: view.previous, members: Object.fromEntries(view.members), snapshots });
  });
}
