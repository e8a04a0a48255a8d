import { Option, type Command } from 'commander';
import { readControlView, writeControl } from '../../app/snapshots';
import { planRestage } from '../../vectors/doorman/doorman-state';
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

interface RollforwardOptions extends KafkaOptions, SnapshotTopicOptions {
  timeoutMs: number;
  wait: boolean;
}

/** `vectors rollforward <id>`: stage a rolled-back snapshot again and wait until the doorman activates it. */
export function registerRollforward(program: Command, io: CliIo): void {
  const cmd = program
    .command('rollforward')
    .summary('make a rolled-back snapshot active again (staged afresh, activated once every partition is READY)')
    .description(
      'Stage a ROLLED_BACK snapshot again (its topic is kept until it is retired): every member loads it, computes its users in ' +
        'its space and reports READY afresh, and the doorman activates it like any staged snapshot. Waits for the activation ' +
        'unless --no-wait. Fails at once for a snapshot that is not ROLLED_BACK (a retired one must be published again).',
    )
    .argument('<id>', 'the rolled-back snapshot')
    .addOption(
      new Option('--timeout-ms <ms>', 'how long to wait for the activation').env('VECTORS_ACTIVATE_TIMEOUT_MS').default(600_000).argParser(positiveInt),
    )
    .option('--no-wait', 'stage it and return without waiting');
  addKafkaOptions(cmd);
  addSnapshotTopicOptions(cmd);
  cmd.addHelpText('after', '\nExample:\n  vectors rollback && vectors rollforward s2');
  cmd.action(async (id: string, o: RollforwardOptions) => {
    const topics = snapshotTopicsFrom(o);
    const kafka = kafkaFrom(o, 'vectors-rollforward', true);
    const registry = registryFrom(o);
    await requireControlTopic(kafka, topics);
    await writeControl(kafka, registry, planRestage(await readControlView(kafka, registry, topics), id, Date.now()), topics);
    if (!o.wait) return printJson(io, { staged: id }, true);
    await waitUntilActive(kafka, registry, topics, id, o);
    printJson(io, { active: id }, true);
  });
}
