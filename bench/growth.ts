/**
 * `npm run bench:growth -- [options]`: how the cost of the user-vector update
 * grows with worker processes and with users (issue 11). Each configuration
 * is bench.ts's user-vectors throughput run (same snapshot, same listens,
 * same doorman activation) with ours as N processes of bench/uv-worker.ts
 * sharing one application id, and the raw kafkajs passthrough of the same
 * topic as anchor. See METHOD in bench/growth-report.ts for what is timed.
 *
 * Writes `<out-dir>/benchmarks-growth.json` (runs of other configurations
 * measured with the same settings are kept), `<out-dir>/growth-workers.svg`
 * and `.png`, `<out-dir>/growth-users.svg` and `.png`, and the section "How
 * cost grows" of `<out-dir>/BENCHMARKS.md` (docs/ by default). `--replot`
 * only redraws the figures and the section from the JSON.
 *
 * Environment: KAFKA_BROKERS, SCHEMA_REGISTRY_URL (the local stack's by
 * default); CHROMIUM_PATH (else `chromium` on the PATH) for the PNGs.
 */
// First: the passthrough, the fill and the workers use the same kafkajs, with the runtime's pooled encoder.
import '../src/runtime/kafka/kafkajs-encoder-patch';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { chromium } from 'playwright-core';
import type { KafkaAdmin } from '../src/runtime/kafka/client';
import { KafkajsClient } from '../src/runtime/kafka/kafkajs-client';
import { partitionForKey } from '../src/runtime/partitioner';
import type { ProcessingGuarantee } from '../src/runtime/runner/topology-runner';
import { ConfluentSchemaRegistry } from '../src/runtime/serde/confluent-registry';
import { activateSnapshot, deleteSubjects, listenBatches, vectorsSnapshotTopics, vectorsTopics } from './bench';
import { awaitCommitted, machine, memoryOf, passthrough, writeSection } from './common';
import {
  growthPlan,
  growthSection,
  keptText,
  parseCounts,
  SECTION_TITLE,
  usersChart,
  workersChart,
  type GrowthConfig,
  type GrowthResult,
  type GrowthRun,
} from './growth-report';
import { lineChart, type ChartSpec } from './svg-chart';
import type { WorkerOptions } from './uv-worker';
import { awaitStableGroup, UvWorker as Worker } from './uv-worker-process';

const ROOT = join(__dirname, '..');

const USAGE = `usage: npm run bench:growth -- [--workers 1,2,3] [--worker-users N] [--users 10000,100000,1000000]
  [--events-per-user N] [--min-events N] [--entities N] [--dims N] [--partitions N]
  [--guarantee at-least-once|exactly-once] [--out-dir DIR] [--replot]
defaults: --workers 1,2,3 --worker-users 100000 --users 10000,100000,1000000 --events-per-user 2 --min-events 200000
  --entities 100000 --dims 128 --partitions 12 --guarantee at-least-once --out-dir docs
listens per configuration: max(min-events, events-per-user × users); '' skips a sweep (e.g. --users '')`;

interface Options {
  workers: number[];
  workerUsers: number;
  users: number[];
  eventsPerUser: number;
  minEvents: number;
  entities: number;
  dims: number;
  partitions: number;
  guarantee: ProcessingGuarantee;
  outDir: string;
  replot: boolean;
}

function fail(message: string): never {
  console.error(`bench:growth: ${message}`);
  process.exit(2);
}

function options(): Options {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        workers: { type: 'string', default: '1,2,3' },
        'worker-users': { type: 'string', default: '100000' },
        users: { type: 'string', default: '10000,100000,1000000' },
        'events-per-user': { type: 'string', default: '2' },
        'min-events': { type: 'string', default: '200000' },
        entities: { type: 'string', default: '100000' },
        dims: { type: 'string', default: '128' },
        partitions: { type: 'string', default: '12' },
        guarantee: { type: 'string', default: 'at-least-once' },
        'out-dir': { type: 'string', default: 'docs' },
        replot: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (name: 'worker-users' | 'events-per-user' | 'min-events' | 'entities' | 'dims' | 'partitions', min = 1) => {
    const n = Number(values[name]);
    if (!Number.isSafeInteger(n) || n < min) fail(`--${name} must be an integer ≥ ${min}, got '${values[name]}'`);
    return n;
  };
  const list = (name: 'workers' | 'users') => {
    try {
      return parseCounts(name, values[name]);
    } catch (err) {
      return fail((err as Error).message);
    }
  };
  if (values.guarantee !== 'at-least-once' && values.guarantee !== 'exactly-once') {
    fail(`--guarantee must be at-least-once or exactly-once, got '${values.guarantee}'`);
  }
  const o: Options = {
    workers: list('workers'),
    workerUsers: int('worker-users'),
    users: list('users'),
    eventsPerUser: int('events-per-user'),
    minEvents: int('min-events', 0),
    entities: int('entities'),
    dims: int('dims'),
    partitions: int('partitions'),
    guarantee: values.guarantee,
    outDir: resolve(ROOT, values['out-dir']),
    replot: values.replot,
  };
  const tooMany = o.workers.filter((w) => w > o.partitions);
  if (tooMany.length) fail(`--workers ${tooMany.join(',')}: more workers than the ${o.partitions} partitions would leave some idle`);
  if (!o.replot && o.workers.length === 0 && o.users.length === 0) fail('nothing to run: --workers and --users are both empty');
  return o;
}

const MiB = (bytes: number) => bytes / 2 ** 20;

interface Env {
  brokers: string[];
  registryUrl: string;
  kafka: KafkajsClient;
  reg: ConfluentSchemaRegistry;
  admin: KafkaAdmin;
  run: string;
}

const now = () => performance.timeOrigin + performance.now();
const loads = () => loadavg().map((l) => Number(l.toFixed(2)));

async function runConfig(c: GrowthConfig, o: Options, env: Env): Promise<GrowthRun> {
  const { kafka, reg, admin, brokers, registryUrl } = env;
  const tag = `growth-${env.run}-${c.id}`;
  const dir = mkdtempSync(join(tmpdir(), `vectors-${tag}-`));
  const loadBefore = loads();
  const uvName = `${tag}-uv-vectors`;
  const t = vectorsTopics(tag, uvName);
  const rawOut = `${tag}-raw-out`;
  const workers: Worker[] = [];
  let peakRss = 0;
  let sampler: NodeJS.Timeout | undefined;
  let ok = false;
  console.log(`${c.id}: ${c.workers} worker(s), ${c.users} users, ${c.events} listens; topics ${tag}-*`);
  try {
    await admin.createTopics([
      ...[t.listens, t.feedback, t.userVectors, t.candidateRequests, rawOut].map((name) => ({ name, partitions: o.partitions })),
      { name: t.control, partitions: 1, config: { 'cleanup.policy': 'compact' } },
    ]);
    await activateSnapshot(o, kafka, reg, tag, dir, uvName, t);
    console.log(`  snapshot ${o.entities} × ${o.dims} active; starting ${c.workers} worker(s)`);

    for (let i = 0; i < c.workers; i++) {
      const options: WorkerOptions = {
        brokers,
        registryUrl,
        name: uvName,
        topics: t,
        snapshotTopics: vectorsSnapshotTopics(tag, t),
        stateDir: join(dir, `worker-${i}`),
        guarantee: o.guarantee,
      };
      workers.push(new Worker(i, options, join(dir, `worker-${i}.log`)));
    }
    // The sum of samples taken together, so the peak is of the workers' memory at one moment.
    sampler = setInterval(() => {
      const sum = workers.reduce((n, w) => n + (w.pid ? memoryOf(w.pid).rss : 0), 0);
      peakRss = Math.max(peakRss, sum);
    }, 500);
    await awaitStableGroup(workers, o.partitions);
    console.log(`  group stable (${workers.map((w) => w.tasks.assigned.length).join(' + ')} tasks); filling ${t.listens} in one open transaction`);

    // Read-committed consumers (the workers) see none of these records until the commit: every worker starts on them at once.
    const counts = new Array<number>(o.partitions).fill(0);
    const raw = new Kafka({ clientId: 'bench-growth-fill', brokers, logLevel: logLevel.NOTHING });
    const producer = raw.producer({
      transactionalId: `${tag}-fill`,
      idempotent: true,
      maxInFlightRequests: 1,
      // The broker's default ceiling (transaction.max.timeout.ms) is 15 min; a million users' listens take about a minute to write.
      transactionTimeout: 600_000,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    let t0: number;
    try {
      const txn = await producer.transaction();
      try {
        for await (const batch of listenBatches(reg, t.listens, { ...c, entities: o.entities })) {
          // Placed here, as kafkajs's default partitioner would (murmur2), to know where each partition's records end.
          const messages = batch.map(({ key, value }) => {
            const partition = partitionForKey(Buffer.from(key), o.partitions);
            counts[partition]!++;
            return { key, value, partition };
          });
          // In requests of 1,000 records: kafkajs slows down badly on much larger requests.
          for (let i = 0; i < messages.length; i += 1000) await txn.send({ topic: t.listens, acks: -1, messages: messages.slice(i, i + 1000) });
        }
      } catch (err) {
        await txn.abort().catch(() => undefined);
        throw err;
      }
      await txn.commit();
      t0 = now();
    } finally {
      await producer.disconnect();
    }

    // The topic held nothing before: partition p's last record is at counts[p] - 1 and the commit marker after it, so the group is done at counts[p].
    const ends = counts.map((n, partition) => ({ partition, low: '0', high: String(n) }));
    const gone = Promise.race(workers.map((w) => w.exited.then(() => w))).then((w) => {
      throw new Error(`worker ${w.index} exited (${w.exitCode}) before every listen was committed:\n${w.tail()}`);
    });
    // Rejects later too, when the workers are stopped on purpose: nobody waits for it then.
    gone.catch(() => undefined);
    await Promise.race([awaitCommitted(admin, uvName, t.listens, ends), gone]);
    const seconds = (now() - t0) / 1000;
    const firsts = workers.map((w) => w.first).filter((x): x is number => x !== undefined);
    const sumOfPeaks = workers.reduce((n, w) => n + (w.pid ? memoryOf(w.pid).hwm : 0), 0);
    clearInterval(sampler);
    sampler = undefined;
    await Promise.all(workers.map((w) => w.stop()));
    const updatesPerSec = c.events / seconds;
    console.log(
      `  ours: ${updatesPerSec.toFixed(0)} updates/s over ${seconds.toFixed(1)} s (${(updatesPerSec / c.workers).toFixed(0)} per worker; records taken in per worker ${workers.map((w) => w.records ?? '?').join(', ')}); peak RSS of all workers ${MiB(peakRss).toFixed(0)} MiB`,
    );

    const pass = await passthrough(brokers, t.listens, rawOut, c.events);
    console.log(`  raw kafkajs passthrough ${pass.toFixed(0)} events/s; ours ÷ passthrough ${(updatesPerSec / pass).toFixed(3)}`);
    ok = true;
    return {
      ...c,
      seconds: Number(seconds.toFixed(3)),
      updatesPerSec: Math.round(updatesPerSec),
      updatesPerSecPerWorker: Math.round(updatesPerSec / c.workers),
      passthroughPerSec: Math.round(pass),
      ratio: Number((updatesPerSec / pass).toFixed(3)),
      peakRssMiB: Math.round(MiB(peakRss)),
      sumOfPeaksMiB: Math.round(MiB(sumOfPeaks)),
      recordsPerWorker: workers.map((w) => w.records ?? -1),
      firstRecordAfterMs: firsts.length ? Math.round(Math.min(...firsts) - t0) : -1,
      loadAverage: { before: loadBefore, after: loads() },
      at: new Date().toISOString(),
    };
  } finally {
    if (sampler) clearInterval(sampler);
    await Promise.all(workers.map((w) => w.stop()));
    if (!ok) for (const w of workers) console.error(w.tail());
    const mine = (await admin.listTopics()).filter((x) => x.startsWith(tag));
    await admin.deleteTopics(mine).catch((err) => console.error(`could not delete topics ${tag}-*: ${String(err)}`));
    await deleteSubjects(registryUrl, tag).catch((err) => console.error(`could not delete registry subjects ${tag}-*: ${String(err)}`));
    rmSync(dir, { recursive: true, force: true });
  }
}

const sameSettings = (a: GrowthResult['settings'], b: GrowthResult['settings']) => JSON.stringify(a) === JSON.stringify(b);

/** Each chart as SVG and, rasterised by Chromium (no native build step), as PNG at twice its size. */
async function writeCharts(charts: { spec: ChartSpec; base: string }[]): Promise<boolean> {
  for (const c of charts) writeFileSync(`${c.base}.svg`, lineChart(c.spec));
  let executablePath = process.env.CHROMIUM_PATH;
  if (!executablePath) {
    try {
      executablePath = execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim() || undefined;
    } catch {
      executablePath = undefined;
    }
  }
  if (!executablePath || !existsSync(executablePath)) {
    console.warn('no Chromium (CHROMIUM_PATH, or `chromium` on the PATH; Debian: apt-get install chromium): SVGs written, PNGs not');
    return false;
  }
  const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
  try {
    for (const c of charts) {
      const page = await browser.newPage({ viewport: { width: c.spec.width ?? 900, height: c.spec.height ?? 520 }, deviceScaleFactor: 2 });
      await page.setContent(`<!doctype html><html><body style="margin:0">${lineChart(c.spec)}</body></html>`);
      await page.locator('svg').screenshot({ path: `${c.base}.png` });
      await page.close();
    }
  } finally {
    await browser.close();
  }
  return true;
}

/** The figures and the section, from the result. */
async function report(result: GrowthResult, outDir: string): Promise<void> {
  const charts = [
    { spec: workersChart(result), base: join(outDir, 'growth-workers') },
    { spec: usersChart(result), base: join(outDir, 'growth-users') },
  ].filter((c): c is { spec: ChartSpec; base: string } => c.spec !== undefined);
  const png = await writeCharts(charts);
  const ext = png ? 'png' : 'svg';
  const images = {
    ...(workersChart(result) ? { workers: `growth-workers.${ext}` } : {}),
    ...(usersChart(result) ? { users: `growth-users.${ext}` } : {}),
  };
  const doc = join(outDir, 'BENCHMARKS.md');
  const kept = existsSync(doc) ? keptText(readFileSync(doc, 'utf8')) : undefined;
  writeSection(SECTION_TITLE, growthSection(result, images, kept), doc);
  console.log(`wrote ${charts.map((c) => `${c.base}.svg${png ? ` and .png` : ''}`).join(', ')}; section "${SECTION_TITLE}" of ${doc}`);
}

async function main(): Promise<void> {
  const o = options();
  mkdirSync(o.outDir, { recursive: true });
  const jsonFile = join(o.outDir, 'benchmarks-growth.json');
  const settings: GrowthResult['settings'] = {
    entities: o.entities,
    dims: o.dims,
    partitions: o.partitions,
    guarantee: o.guarantee,
    eventsPerUser: o.eventsPerUser,
    minEvents: o.minEvents,
    workerUsers: o.workerUsers,
  };
  const previous = existsSync(jsonFile) ? (JSON.parse(readFileSync(jsonFile, 'utf8')) as GrowthResult) : undefined;
  if (o.replot) {
    if (!previous) fail(`--replot: ${jsonFile} does not exist`);
    await report(previous, o.outDir);
    return;
  }
  // Runs of other configurations measured under the same settings are kept; other settings start afresh.
  const result: GrowthResult = { machine: machine(), settings, runs: previous && sameSettings(previous.settings, settings) ? previous.runs : [] };
  const plan = growthPlan(o);
  const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
  const kafka = new KafkajsClient({ brokers, clientId: 'bench-growth', logLevel: 'nothing' });
  const admin = await kafka.admin();
  const env: Env = { brokers, registryUrl, kafka, reg: new ConfluentSchemaRegistry(registryUrl), admin, run: Date.now().toString(36) };
  console.log(
    `${result.machine}; load average ${loads().join(' ')}; ${plan.length} configurations: ${plan.map((c) => `${c.id} (${c.events} listens)`).join(', ')}; ${o.partitions} partitions, ${o.guarantee}`,
  );
  try {
    for (const c of plan) {
      const run = await runConfig(c, o, env);
      result.runs = [...result.runs.filter((r) => r.id !== run.id), run];
      result.machine = machine();
      // After every configuration: a failure later keeps what was measured.
      writeFileSync(jsonFile, `${JSON.stringify(result, null, 2)}\n`);
    }
  } finally {
    await admin.close();
  }
  console.log(`wrote ${jsonFile}; load average now ${loads().join(' ')}`);
  await report(result, o.outDir);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
