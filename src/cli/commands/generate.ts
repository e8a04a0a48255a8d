import { InvalidArgumentError, Option, type Command } from 'commander';
import { relative } from 'node:path';
import { generateWorldFiles } from '../../app/tools/generate';
import { instant, list, positiveInt, printJson, ProgressLine, share, snapshotId, type CliIo } from '../common';

interface GenerateCliOptions {
  out: string;
  seed: number;
  users: number;
  items: number;
  dims: number;
  clusters?: number;
  events: number;
  days: number;
  endTime?: number;
  userFactors: boolean;
  cutoffShare: number;
  second: boolean;
  skipFeedback: number;
  eventsFormat: 'jsonl' | 'csv';
  snapshotIds: [string, string];
}

function seed(raw: string): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected an integer ≥ 0');
  return n;
}

function cutoffShare(raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !(n > 0 && n <= 1)) throw new InvalidArgumentError('expected a number in (0, 1]');
  return n;
}

function twoSnapshotIds(raw: string): [string, string] {
  const ids = list(raw).map(snapshotId);
  if (ids.length !== 2 || ids[0] === ids[1]) throw new InvalidArgumentError('expected two different snapshot ids, e.g. s1,s2');
  return [ids[0]!, ids[1]!];
}

/** `vectors generate`: a synthetic world as files to publish and produce. */
export function registerGenerate(program: Command, io: CliIo): void {
  const cmd = program
    .command('generate')
    .summary('write a synthetic world: snapshots, user factors and events to publish and produce')
    .description(
      "Write a seeded synthetic world (the evaluation's): entity vectors in taste clusters as snapshot S1, the same entities in a retrained space as S2, " +
        "the users' batch factors at a training cut-off for each, and the listens and feedback (Zipf popularity, drifting tastes, skips, likes, bans) " +
        'as an event file, plus world.json describing them. The same options give the same files.',
    )
    .addOption(new Option('--out <dir>', 'directory to write into (created; files of the same names replaced)').default('world'))
    .addOption(new Option('--seed <n>', 'seed of every random draw').default(1).argParser(seed))
    .addOption(new Option('--users <n>', 'users u0, u1, ...').default(200).argParser(positiveInt))
    .addOption(new Option('--items <n>', 'entities (tracks) e0, e1, ...').default(1000).argParser(positiveInt))
    .addOption(new Option('--dims <n>', 'dimensions of the vectors').default(16).argParser(positiveInt))
    .addOption(new Option('--clusters <n>', 'taste clusters (default items / 25, from 2 to 24)').argParser(positiveInt))
    .addOption(new Option('--events <n>', 'events in the event file').default(20_000).argParser(positiveInt))
    .addOption(new Option('--days <n>', 'days the events span').default(28).argParser(positiveInt))
    .addOption(new Option('--end-time <time>', 'end of the world: ISO-8601 or epoch ms (default the start of today, UTC)').argParser(instant))
    .addOption(new Option('--no-user-factors', "do not write the users' batch factors"))
    .addOption(
      new Option('--cutoff-share <x>', 'where the training cut-off of the user factors falls, as a share of the events').default(0.5).argParser(cutoffShare),
    )
    .addOption(new Option('--no-second', 'do not write S2 (the retrained space)'))
    .addOption(new Option('--skip-feedback <x>', 'share of skips written as feedback SKIP instead of a short listen').default(0.5).argParser(share))
    .addOption(new Option('--events-format <format>', 'event file format').choices(['jsonl', 'csv']).default('jsonl'))
    .addOption(new Option('--snapshot-ids <s1,s2>', 'ids of the two snapshots').default(['s1', 's2'], 's1,s2').argParser(twoSnapshotIds))
    .addHelpText('after', '\nExample:\n  vectors generate --out world --users 500 --events 50000 && ls world');
  cmd.action(async (o: GenerateCliOptions) => {
    const progress = new ProgressLine();
    const result = await generateWorldFiles({
      out: o.out,
      seed: o.seed,
      users: o.users,
      items: o.items,
      dims: o.dims,
      ...(o.clusters !== undefined ? { clusters: o.clusters } : {}),
      events: o.events,
      days: o.days,
      ...(o.endTime !== undefined ? { endTime: o.endTime } : {}),
      userFactors: o.userFactors,
      cutoffShare: o.cutoffShare,
      second: o.second,
      skipFeedback: o.skipFeedback,
      eventsFormat: o.eventsFormat,
      snapshotIds: o.snapshotIds,
      onProgress: (p) => progress.update(`generate: ${p.step}${p.file ? ` ${relative(process.cwd(), p.file)}` : ''}`),
    });
    progress.done();
    const rel = (f: string) => relative(process.cwd(), f) || '.';
    const cutoff = result.cutoff === null ? '' : ` --cutoff ${new Date(result.cutoff).toISOString()}`;
    const next = [
      ...result.snapshots.map(
        (s) => `vectors publish ${rel(s.file)} --snapshot-id ${s.id} --model synthetic${s.users ? ` --users ${rel(s.users.file)}${cutoff}` : ''}`,
      ),
      `vectors activate-when-ready ${result.snapshots[0]!.id}`,
      `vectors produce ${rel(result.events.file)}`,
    ];
    printJson(io, { ...result, next });
  });
}
