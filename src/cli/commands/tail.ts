import { InvalidArgumentError, Option, type Command } from 'commander';
import { tailTopic } from '../../app/tools/tail';
import { addKafkaOptions, kafkaFrom, list, positiveInt, registryFrom, type CliIo, type KafkaOptions } from '../common';

interface TailCliOptions extends KafkaOptions {
  from: 'beginning' | 'end';
  limit?: number;
  idleMs?: number;
  partitions?: number[];
}

function partitionList(raw: string): number[] {
  const ps = list(raw).map(Number);
  if (ps.length === 0 || !ps.every((p) => Number.isInteger(p) && p >= 0)) throw new InvalidArgumentError('expected partition numbers, e.g. 0,3');
  return ps;
}

/** `vectors tail <topic>`: a topic's records, decoded, as JSON lines. */
export function registerTail(program: Command, io: CliIo): void {
  const cmd = program
    .command('tail')
    .summary("print a topic's records as JSON lines (Avro decoded)")
    .description(
      "Print a topic's records as JSON lines on stdout: partition, offset, key, timestamp and the value decoded from Avro with its writer schema " +
        '(from the registry). Reads the partitions directly: no consumer group, nothing committed, the topologies are not disturbed. ' +
        'Runs until --limit records, --idle-ms without a new one, or Ctrl-C.',
    )
    .argument('<topic>', 'the topic, e.g. user-vectors, recommendation-candidates, listens')
    .addOption(new Option('--from <where>', 'start at the first record of each partition, or at its end').choices(['beginning', 'end']).default('end'))
    .addOption(new Option('--limit <n>', 'stop after this many records').argParser(positiveInt))
    .addOption(new Option('--idle-ms <ms>', 'stop after this long without a new record').argParser(positiveInt))
    .addOption(new Option('--partitions <list>', 'only these partitions, comma-separated (default all)').argParser(partitionList));
  addKafkaOptions(cmd);
  cmd.addHelpText(
    'after',
    '\nExamples:\n  vectors tail recommendation-candidates\n  vectors tail user-vectors --from beginning --limit 10\n  vectors tail snapshot-control --from beginning --idle-ms 2000',
  );
  cmd.action(async (topic: string, o: TailCliOptions) => {
    const abort = new AbortController();
    const stop = () => abort.abort();
    process.once('SIGINT', stop);
    try {
      for await (const record of tailTopic({
        kafka: kafkaFrom(o, 'vectors-tail', true),
        registry: registryFrom(o),
        topic,
        from: o.from,
        ...(o.limit !== undefined ? { limit: o.limit } : {}),
        ...(o.idleMs !== undefined ? { idleMs: o.idleMs } : {}),
        ...(o.partitions ? { partitions: o.partitions } : {}),
        signal: abort.signal,
      })) {
        io.out(`${JSON.stringify(record)}\n`);
      }
    } finally {
      process.removeListener('SIGINT', stop);
    }
  });
}
