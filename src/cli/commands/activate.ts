import { Option, type Command } from 'commander';
import { waitUntilActive } from '../wait-active';
import {
  addKafkaOptions,
  addSnapshotTopicOptions,
  kafkaFrom,
  positiveInt,
  printJson,
  registryFrom,
  requireControlTopic,
  snapshotTopicsFrom,
  type CliIo,
  type KafkaOptions,
  type SnapshotTopicOptions,
} from '../common';

interface ActivateOptions extends KafkaOptions, SnapshotTopicOptions {
  timeoutMs: number;
  stageTimeoutMs: number;
}

/** `vectors activate-when-ready <id>`: wait until the doorman activates a staged snapshot. */
export function registerActivate(program: Command, io: CliIo): void {
  const cmd = program
    .command('activate-when-ready')
    .summary('wait until the doorman activates <id> (exit 1 if it fails, times out or was never staged)')
    .description(
      'Wait until the doorman activates the snapshot: it does so once every partition of every member reported READY. ' +
        'Exits 0 when it is active, 1 when it ended otherwise (ABORTED, ...), did not become active within --timeout-ms, ' +
        'or was never staged (after --stage-timeout-ms, which leaves time for a publish still being written).',
    )
    .argument('<id>', 'the staged snapshot')
    .addOption(
      new Option('--timeout-ms <ms>', 'how long to wait for the activation').env('VECTORS_ACTIVATE_TIMEOUT_MS').default(600_000).argParser(positiveInt),
    )
    .addOption(
      new Option('--stage-timeout-ms <ms>', 'how long to wait for <id> to be staged at all')
        .env('VECTORS_STAGE_TIMEOUT_MS')
        .default(10_000)
        .argParser(positiveInt),
    );
  addKafkaOptions(cmd);
  addSnapshotTopicOptions(cmd);
  cmd.addHelpText('after', '\nExample:\n  vectors publish vectors.jsonl --snapshot-id s1 && vectors activate-when-ready s1');
  cmd.action(async (id: string, o: ActivateOptions) => {
    const topics = snapshotTopicsFrom(o);
    const kafka = kafkaFrom(o, 'vectors-activate', true);
    await requireControlTopic(kafka, topics);
    await waitUntilActive(kafka, registryFrom(o), topics, id, o);
    printJson(io, { active: id }, true);
  });
}
