import { Option, type Command } from 'commander';
import { stat } from 'node:fs/promises';
import { ConfigError, UsageError } from '../../errors';
import { eventFormatOf, type EventKind } from '../../app/tools/event-file';
import { produceEvents } from '../../app/tools/produce';
import { Topics } from '../../vectors/contracts';
import { addKafkaOptions, bar, kafkaFrom, logLine, positiveNumber, printJson, ProgressLine, registryFrom, type CliIo, type KafkaOptions } from '../common';

interface ProduceCliOptions extends KafkaOptions {
  topic?: string;
  kind?: EventKind;
  listensTopic: string;
  feedbackTopic: string;
  format?: 'jsonl' | 'csv';
  rate?: number;
  skipInvalid?: boolean;
}

/** `vectors produce <file|->`: listens and feedback from a file or stdin to their topics. */
export function registerProduce(program: Command, io: CliIo): void {
  const cmd = program
    .command('produce')
    .summary('send listens and feedback from a JSONL or CSV file (or stdin) to their topics')
    .description(
      'Send events to Kafka as Avro (Confluent wire format), keyed by userId and partitioned by murmur2 as the Java client does. ' +
        'Without --topic each line goes to the topic of its kind (a "topic" or "type" field: listens or feedback); with --topic, every line ' +
        'of that kind goes there and lines of the other kind are passed over. The first invalid line stops the run (what was read before ' +
        'it is sent) unless --skip-invalid. Ctrl-C stops reading; what was read is sent.',
    )
    .argument('<file>', 'a .jsonl, .ndjson or .csv file, or - for stdin (JSON lines unless --format)')
    .addOption(new Option('--topic <topic>', 'send every line of one kind to this topic (kind from the name listens/feedback, or --kind)'))
    .addOption(new Option('--kind <kind>', 'with --topic: the kind of events it carries').choices(['listens', 'feedback']))
    .addOption(new Option('--listens-topic <topic>', 'without --topic: where listens go').default(Topics.listens))
    .addOption(new Option('--feedback-topic <topic>', 'without --topic: where feedback goes').default(Topics.feedback))
    .addOption(new Option('--format <format>', 'the file format (default by extension)').choices(['jsonl', 'csv']))
    .addOption(new Option('--rate <n>', 'at most this many events per second (default as fast as the broker takes them)').argParser(positiveNumber))
    .addOption(new Option('--skip-invalid', 'skip invalid lines (each is logged) instead of stopping at the first'));
  addKafkaOptions(cmd);
  cmd.addHelpText(
    'after',
    '\nExamples:\n  vectors produce world/events.jsonl --rate 2000\n  vectors produce feedback.csv --topic feedback\n  tail -f events.jsonl | vectors produce - --topic listens',
  );
  cmd.action(async (source: string, o: ProduceCliOptions) => {
    // The file is checked before anything connects, as publish does.
    if (source !== '-') {
      const found = await stat(source).catch(() => undefined);
      if (!found) throw new UsageError(`no such file: ${source}`);
    }
    try {
      eventFormatOf(source, o.format);
    } catch (err) {
      if (err instanceof ConfigError) throw new UsageError(err.message);
      throw err;
    }
    if (o.topic !== undefined && !o.kind && o.topic !== Topics.listens && o.topic !== Topics.feedback)
      throw new UsageError(`cannot tell whether --topic ${o.topic} carries listens or feedback: give --kind listens or --kind feedback`);
    const kafka = kafkaFrom(o, 'vectors-produce', true);
    const progress = new ProgressLine();
    const abort = new AbortController();
    const stop = () => abort.abort();
    process.once('SIGINT', stop);
    try {
      const result = await produceEvents({
        kafka,
        registry: registryFrom(o),
        source,
        topic: o.topic ?? { listens: o.listensTopic, feedback: o.feedbackTopic },
        ...(o.kind ? { kind: o.kind } : {}),
        ...(o.format ? { format: o.format } : {}),
        ...(o.rate !== undefined ? { rate: o.rate } : {}),
        skipInvalid: o.skipInvalid === true,
        onInvalid: (e) => logLine('warn', e.message, { code: e.code }),
        onProgress: (p) =>
          progress.update(
            `produce: ${p.total ? `${bar(p.read / p.total)} ` : ''}${p.sent} sent${p.total ? ` of ${p.total}` : ''}, ${Math.round(p.rate)} events/s` +
              (p.invalid ? `, ${p.invalid} invalid` : ''),
          ),
        signal: abort.signal,
      });
      progress.done();
      printJson(io, result);
    } finally {
      progress.done();
      process.removeListener('SIGINT', stop);
    }
  });
}
