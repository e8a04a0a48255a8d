import { Option, type Command } from 'commander';
import { ConfigError } from '../../errors';
import { runDemo, type DemoOptions } from '../demo';
import { addKafkaOptions, listenAddress, positiveInt, type CliIo } from '../common';

/** Options `demo` and `up` share: where the services listen and live. */
function addServiceOptions(cmd: Command): Command {
  cmd
    .addOption(
      new Option('--http <[host:]port>', 'the query API and status page of user-vectors')
        .env('VECTORS_HTTP')
        .default(listenAddress('8090'), '127.0.0.1:8090')
        .argParser(listenAddress),
    )
    .addOption(
      new Option('--doorman-metrics <[host:]port>', "the doorman's /metrics").default(listenAddress('9101'), '127.0.0.1:9101').argParser(listenAddress),
    )
    .addOption(
      new Option('--candidates-metrics <[host:]port>', "candidates' /metrics").default(listenAddress('9102'), '127.0.0.1:9102').argParser(listenAddress),
    )
    .addOption(new Option('--partitions <n>', 'partitions of the keyed topics').env('VECTORS_PARTITIONS').default(12).argParser(positiveInt))
    .addOption(new Option('--dir <dir>', 'state, logs and the generated world').default('.state/demo'))
    .addOption(new Option('--exit', 'stop every process after the summary instead of serving').default(false))
    .addOption(
      new Option('--stop-stack', 'also stop the local stack on the way out (npm start sets it when it started the stack)')
        .env('VECTORS_STOP_STACK')
        .default(false),
    );
  return addKafkaOptions(cmd);
}

/** `vectors demo` (what `npm start` runs) and `vectors up` (the services only). */
export function registerDemo(program: Command, io: CliIo): void {
  const demo = program
    .command('demo')
    .summary('the demo: the system on generated data, a snapshot switch mid-stream, a summary (npm start)')
    .description(
      'Start the doorman, user-vectors (query API and status page) and candidates; with no snapshot active yet, generate a world, publish and ' +
        'activate S1, stream its events with a progress line, publish S2 halfway and show the switch, then print a summary (events, rate, the ' +
        "snapshot timeline, one user's candidates before and after a BAN) and where to look next. Serves until Ctrl-C or SIGTERM, which stop every " +
        'process it started. --no-demo starts the services only (as vectors up).',
    )
    .option('--no-demo', 'start the services only')
    .addOption(new Option('--seed <n>', 'seed of the generated world').default(1).argParser(positiveInt))
    .addOption(new Option('--users <n>', 'users of the generated world').default(500).argParser(positiveInt))
    .addOption(new Option('--items <n>', 'tracks of the generated world').default(2000).argParser(positiveInt))
    .addOption(new Option('--dims <n>', 'dimensions of its vectors').default(32).argParser(positiveInt))
    .addOption(new Option('--events <n>', 'events to stream').default(20_000).argParser(positiveInt))
    .addOption(new Option('--rate <n>', 'events per second at most').default(2000).argParser(positiveInt));
  addServiceOptions(demo);
  demo.addHelpText('after', '\nExamples:\n  npm start\n  npx vectors demo --events 50000 --rate 5000 --exit');
  demo.action(async (o: DemoOptions) => {
    if ((await runDemo(o, io)) !== 0) throw new ConfigError('the demo failed (the reason is above)');
  });

  const up = program
    .command('up')
    .summary('start the doorman, user-vectors and candidates on the stack until Ctrl-C (npm start -- --no-demo)')
    .description('Provision the topics, then run the three processes of the system until Ctrl-C or SIGTERM, which stop them.');
  addServiceOptions(up);
  up.action(async (o: Omit<DemoOptions, 'demo'>) => {
    if ((await runDemo({ ...o, demo: false, seed: 1, users: 0, items: 0, dims: 0, events: 0, rate: 1 }, io)) !== 0)
      throw new ConfigError('the services failed to start (the reason is above)');
  });
}
