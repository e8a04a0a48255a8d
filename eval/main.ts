/**
 * `npm run eval -- [--data PATH | --data synthetic] [--quick] [--write] [--seed N]`:
 * recommendation quality of the product's user vectors against batch
 * baselines (docs/EVALUATION.md). Without `--data`, or with
 * `--data synthetic`, on the synthetic world.
 */
import { loadRatings, loadWorld, type Dataset } from './data';
import { runEvaluation, type EvalConfig } from './evaluate';
import { formatReport, writeReport } from './report';

export interface CliOptions {
  data: string;
  quick: boolean;
  write: boolean;
  seed: number;
}

const USAGE = 'usage: npm run eval -- [--data PATH|synthetic] [--quick] [--write] [--seed N]';

export function parseArgs(argv: readonly string[]): CliOptions {
  const o: CliOptions = { data: 'synthetic', quick: false, write: false, seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value; ${USAGE}`);
      return v;
    };
    if (a === '--data') o.data = value();
    else if (a.startsWith('--data=')) o.data = a.slice(7);
    else if (a === '--quick') o.quick = true;
    else if (a === '--write') o.write = true;
    else if (a === '--seed') o.seed = Number(value());
    else throw new Error(`unknown argument '${a}'; ${USAGE}`);
  }
  if (!Number.isSafeInteger(o.seed)) throw new Error(`--seed must be an integer, got ${o.seed}`);
  if (o.write && o.quick) throw new Error('--write records the full run only; drop --quick');
  return o;
}

/** The quick configuration: a small world (or the first users of a file), fewer factors, sweeps and resamples. */
export const QUICK_WORLD = { users: 120, entities: 500, clusters: 10, dims: 10, sessionsPerUser: 8 } as const;
export const FULL_WORLD = {} as const;

export function configFor(o: CliOptions, log?: (line: string) => void): EvalConfig {
  const dataset: Dataset =
    o.data === 'synthetic' ? loadWorld({ seed: o.seed, ...(o.quick ? QUICK_WORLD : FULL_WORLD) }) : quickSubset(loadRatings(o.data), o.quick);
  const synthetic = dataset.name === 'synthetic';
  return {
    dataset,
    als: o.quick ? { factors: 16, lambda: 0.05, alpha: 10, iterations: 6 } : { factors: synthetic ? 32 : 64, lambda: 0.05, alpha: 10, iterations: 15 },
    seed: o.seed,
    bootstrap: o.quick ? 200 : 1000,
    protocols: ['per-user', 'global'],
    priorWeights: o.quick ? [0.01, 0.1, 1, 10] : [0.001, 0.01, 0.1, 0.3, 1, 3, 10, 100],
    lifetimeVariants: ['anchored', 'ridge'],
    batchWithNegatives: !o.quick,
    ...(log ? { log } : {}),
  };
}

/** With `--quick` on a file: the events of the first 100 users to appear (in time order). */
function quickSubset(d: Dataset, quick: boolean): Dataset {
  if (!quick) return d;
  const keep = new Set<string>();
  for (const e of d.events) if (keep.size < 100) keep.add(e.userId);
  return { ...d, name: `${d.name} (quick: 100 users)`, events: d.events.filter((e) => keep.has(e.userId)) };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const config = configFor(o, log);
  log(`${config.dataset.name}: ${config.dataset.events.length} events${o.quick ? ' (quick)' : ''}`);
  const report = await runEvaluation(config);
  process.stdout.write(formatReport(report));
  if (o.write) writeReport(report);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
