/**
 * `npm run bench -- [--events N] ...`: our topologies against their Kafka
 * Streams peer (bench/anchors, Java, one stream thread, Processor API, RocksDB
 * stores with changelogs), in one run on the same broker and the same
 * records, with the raw kafkajs passthrough for context:
 *
 * - `counting`: events counted per key (topologies/event-counter.ts vs the
 *   peer's `counting` job) over the same pre-loaded CountedEvents;
 * - `user-vectors`: the user-vector update of the decayed model
 *   (topologies/user-vectors.ts vs the peer's `user-vectors` job) over the
 *   same ListenEvents and the same snapshot; afterwards every user's last
 *   vector from the peer is compared with ours (cosine ≥ 0.999), so that the
 *   two ran the same job; with it `peak-rss-mib` (the peak resident set of
 *   our process during its run, VmHWM reset at its start, against the peer's
 *   JVM), `restart-serving-s` (a restart on the state just built, with its
 *   state directory: seconds until every task is restored and processing;
 *   the peer until KafkaStreams is RUNNING, both leaving the group when they
 *   stop) and `restore-serving-s` (the same without the state directory:
 *   everything from the changelog);
 * - `latency` (with `user-vectors`, on its state): p99 event → user vector
 *   at `--rate` events/s offered for 10 s, after 3 s at that rate not
 *   measured (scenario `latency-p99-5k` at the default 5000/s), each system
 *   in turn, offered and measured by
 *   bench/latency-probe.ts in a process of its own, with the raw kafkajs
 *   passthrough (Avro in, a UserVector out, no state) as the client's floor;
 *   `--rate 500,1000,2000,5000` runs each rate in turn and adds
 *   `max-rate-p99-100ms`: the highest of those rates whose p99 stayed within
 *   100 ms, per system (0 if none). The probe offers each rate in one send
 *   every `--tick-ms` (100 by default: 500 events at once every 100 ms at
 *   5,000/s); another tick writes rows of its own (`latency-p99-5k-tick10ms`).
 *   `--instances N` (1 by default) runs ours in the latency scenario as N
 *   processes of one application id (bench/uv-worker.ts) and the peer with
 *   N stream threads (`num.stream.threads`), each system's way of using more
 *   than one core; their rows are named apart (`latency-p99-5k-instances2`).
 *
 * `--repeat N` runs the throughput of `counting` and `user-vectors` N times,
 * ours and the peer alternating, each from scratch (an application id and
 * state of its own), and compares the medians: the peer's rate alone moved by
 * a third between runs of the same code.
 *
 * Writes `docs/benchmarks.json` (or `--out`): an array of
 * `{ scenario, run, value, unit, anchor, ratio }`, anchor = the peer's value
 * in the same scenario, ratio = value / anchor. Rows of scenarios not run
 * this time are kept. Builds bench/anchors/target/anchors.jar with Maven when
 * it is missing or older than its sources.
 *
 * Environment: KAFKA_BROKERS, SCHEMA_REGISTRY_URL (the local stack's by
 * default); BENCH_JAVA_OPTS (JVM options of the peer, e.g. a JFR recording);
 * BENCH_PEER_CONFIG='k=v,k=v' (Kafka Streams settings of the peer; its
 * defaults otherwise); BENCH_PEER_TAU_MS (another τ for the peer: the vector
 * check must then fail); BENCH_LATENCY_PROFILE=file.cpuprofile (a V8 CPU
 * profile of this process while ours runs the latency probe, at the last
 * rate; summarise it with `tsx bench/profile-summary.ts`).
 */
// First: the anchor (raw kafkajs) and the topologies use the same kafkajs, with the runtime's pooled encoder.
import '../src/runtime/kafka/kafkajs-encoder-patch';
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { KafkaSnapshotSource, publishSnapshot, readControlView, writeControl } from '../src/app/snapshots';
import type { KafkaAdmin } from '../src/runtime/kafka/client';
import { KafkajsClient } from '../src/runtime/kafka/kafkajs-client';
import { TopologyRunner, type ProcessingGuarantee } from '../src/runtime/runner/topology-runner';
import { AvroSerde } from '../src/runtime/serde/avro-serde';
import { ConfluentSchemaRegistry } from '../src/runtime/serde/confluent-registry';
import { loadSchema } from '../src/vectors/contracts';
import { planMember } from '../src/vectors/doorman/doorman-state';
import { cosine } from '../src/vectors/math';
import type { ListenEvent, UserVector } from '../src/vectors/records';
import { SnapshotCatalog } from '../src/vectors/snapshot-catalog';
import { EntityMatrixBuilder } from '../src/vectors/snapshot/entity-matrix';
import { writeBinarySnapshot } from '../src/vectors/snapshot/formats';
import { mulberry32 } from '../test/support/random';
import { doorman } from '../topologies/doorman';
import { CountedEventSchema, eventCounter, type CountedEvent } from '../topologies/event-counter';
import { userVectors } from '../topologies/user-vectors';
import { drain, machine, memoryOf, passthrough, sleep, startProfile } from './common';
import type { ProbeOptions, ProbeResult } from './latency-probe';
import type { WorkerOptions } from './uv-worker';
import { awaitStableGroup, UvWorker } from './uv-worker-process';

const ROOT = join(__dirname, '..');
const ANCHORS = join(__dirname, 'anchors');
/** Seconds each latency probe offers its rate before it measures (see ProbeOptions.settleSeconds). */
const LATENCY_SETTLE_S = 3;
const JAR = join(ANCHORS, 'target', 'anchors.jar');
const SCENARIOS = ['counting', 'user-vectors', 'latency'] as const;
type Scenario = (typeof SCENARIOS)[number];

const USAGE = `usage: npm run bench -- [--events N] [--users N] [--entities N] [--dims N] [--partitions N]
  [--guarantee at-least-once|exactly-once] [--scenarios counting,user-vectors,latency] [--rate N[,N...]] [--tick-ms N] [--instances N] [--repeat N] [--out FILE]
defaults: --events 200000 --users 100000 --entities 100000 --dims 128 --partitions 12 --guarantee at-least-once
  --scenarios counting,user-vectors,latency --rate 5000 --tick-ms 100 --instances 1 --repeat 1 --out docs/benchmarks.json`;

/** One row of docs/benchmarks.json. */
export interface BenchmarkRow {
  scenario: string;
  /** `vectors` (ours), `kafka-streams` (the peer), `kafkajs-passthrough` (raw client, for context). */
  run: string;
  value: number;
  unit: string;
  /** The peer's value in the same scenario and run; null when it has none. */
  anchor: number | null;
  /** value / anchor. */
  ratio: number | null;
}

interface Options {
  events: number;
  users: number;
  entities: number;
  dims: number;
  partitions: number;
  /** Offered rates of the latency scenario, ascending. */
  rates: number[];
  /** The latency probe offers each rate in one send every tickMs (ProbeOptions.tickMs). */
  tickMs: number;
  /** Latency scenario: ours as this many processes, the peer with this many stream threads. */
  instances: number;
  /** Throughput runs of ours and the peer, alternating; the medians are compared. */
  repeat: number;
  guarantee: ProcessingGuarantee;
  scenarios: Scenario[];
  out: string;
}

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

function options(): Options {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        events: { type: 'string', default: '200000' },
        users: { type: 'string', default: '100000' },
        entities: { type: 'string', default: '100000' },
        dims: { type: 'string', default: '128' },
        partitions: { type: 'string', default: '12' },
        rate: { type: 'string', default: '5000' },
        'tick-ms': { type: 'string', default: '100' },
        instances: { type: 'string', default: '1' },
        repeat: { type: 'string', default: '1' },
        guarantee: { type: 'string', default: 'at-least-once' },
        scenarios: { type: 'string', default: SCENARIOS.join(',') },
        out: { type: 'string', default: join('docs', 'benchmarks.json') },
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
  const int = (name: 'events' | 'users' | 'entities' | 'dims' | 'partitions' | 'repeat' | 'instances') => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < 1) fail(`--${name} must be an integer ≥ 1, got '${values[name]}'`);
    return n;
  };
  const tickMs = Number(values['tick-ms']);
  if (!Number.isInteger(tickMs) || tickMs < 1 || 1000 % tickMs !== 0)
    fail(`--tick-ms must be a whole number of ms that divides 1000 (e.g. 10 or 100), got '${values['tick-ms']}'`);
  const ticks = 1000 / tickMs;
  const rates = values.rate.split(',').map((r) => Number(r.trim()));
  if (rates.some((r) => !Number.isInteger(r) || r < ticks || r % ticks !== 0))
    fail(`--rate takes events/s as a multiple of ${ticks} (offered in ${tickMs} ms ticks), or a comma-separated list of them; got '${values.rate}'`);
  if (values.guarantee !== 'at-least-once' && values.guarantee !== 'exactly-once') {
    fail(`--guarantee must be at-least-once or exactly-once, got '${values.guarantee}'`);
  }
  const scenarios = values.scenarios.split(',').map((s) => s.trim());
  const unknown = scenarios.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
  if (unknown.length > 0 || scenarios.length === 0)
    fail(`--scenarios takes a comma-separated list of ${SCENARIOS.join(', ')}; unknown: '${unknown.join(',')}'`);
  if (scenarios.includes('latency') && !scenarios.includes('user-vectors')) fail('--scenarios latency runs on the state of user-vectors: name both');
  return {
    events: int('events'),
    users: int('users'),
    entities: int('entities'),
    dims: int('dims'),
    partitions: int('partitions'),
    rates: [...new Set(rates)].sort((a, b) => a - b),
    tickMs,
    instances: int('instances'),
    repeat: int('repeat'),
    guarantee: values.guarantee,
    scenarios: scenarios as Scenario[],
    out: values.out,
  };
}

/** The jar, built with Maven when missing or older than its sources; fails with one line saying what to install when Java or Maven is missing. */
function ensureJar(): void {
  const has = (cmd: string, arg: string) => spawnSync(cmd, [arg], { stdio: 'ignore' }).status === 0;
  if (!has('java', '-version')) fail('Java is missing: the Kafka Streams peer needs Java 17+ (Debian: apt-get install -y openjdk-17-jdk-headless maven)');
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce(
      (m, e) => Math.max(m, e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs),
      0,
    );
  if (existsSync(JAR) && statSync(JAR).mtimeMs >= Math.max(newest(join(ANCHORS, 'src')), statSync(join(ANCHORS, 'pom.xml')).mtimeMs)) return;
  if (!has('mvn', '-v')) fail(`Maven is missing: it builds the Kafka Streams peer (${JAR}) (Debian: apt-get install -y maven)`);
  console.log(`building ${JAR} with Maven (offline from ~/.m2 first; online on a first build)`);
  for (const offline of [true, false]) {
    const r = spawnSync('mvn', ['-B', '-q', ...(offline ? ['-o'] : []), 'package'], { cwd: ANCHORS, stdio: offline ? 'ignore' : 'inherit' });
    if (r.status === 0 && existsSync(JAR)) return;
  }
  fail(`Maven could not build ${JAR}; run 'mvn package' in bench/anchors to see why (a first build needs Maven Central)`);
}

interface PeerResult {
  job: string;
  guarantee: string;
  events: number;
  elapsedMs: number;
  processedMs: number;
  eventsPerSec: number;
  peakRssMiB: number;
  /** With `until-running`: from start() until RUNNING (every task restored and processing). */
  restartMs?: number;
}

/** Runs one job of the peer to its end; its last stdout line is its JSON result. */
async function runPeer(
  job: 'counting' | 'user-vectors',
  args: Record<string, string | number>,
  logFile: string,
  signal?: AbortSignal,
  settings: Record<string, string | number> = {},
): Promise<PeerResult> {
  // BENCH_PEER_TAU_MS: another decay constant for the peer, to see the vector check fail.
  const tau = process.env.BENCH_PEER_TAU_MS ? { 'tau-ms': process.env.BENCH_PEER_TAU_MS } : {};
  // BENCH_PEER_CONFIG='k=v,k=v': Kafka Streams settings for the peer (e.g. producer.linger.ms=5); its defaults otherwise.
  const config = (process.env.BENCH_PEER_CONFIG ?? '')
    .split(',')
    .filter(Boolean)
    .map((kv) => kv.trim())
    .concat(Object.entries(settings).map(([k, v]) => `${k}=${v}`))
    .flatMap((kv) => ['--config', kv]);
  const argv = ['-jar', JAR, job, ...Object.entries({ ...args, ...(job === 'user-vectors' ? tau : {}) }).flatMap(([k, v]) => [`--${k}`, String(v)]), ...config];
  const extra = process.env.BENCH_JAVA_OPTS ? process.env.BENCH_JAVA_OPTS.split(/\s+/).filter(Boolean) : [];
  const child = spawn('java', [...extra, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], ...(signal ? { signal } : {}) });
  child.on('error', () => undefined); // an abort; 'exit' follows
  const log = createWriteStream(logFile);
  child.stderr.pipe(log);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const last = out.trim().split('\n').pop() ?? '';
  let parsed: (PeerResult & { error?: string }) | undefined;
  try {
    parsed = JSON.parse(last) as PeerResult & { error?: string };
  } catch {
    parsed = undefined;
  }
  if (code !== 0 || !parsed || parsed.error) throw new Error(`Kafka Streams peer '${job}' failed (exit ${code}): ${parsed?.error ?? last} — see ${logFile}`);
  rmSync(logFile, { force: true });
  return parsed;
}

const sum = (offsets: { low: string; high: string }[]) => offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);

async function main(): Promise<void> {
  const o = options();
  ensureJar();
  const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
  const tag = `bench-${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), 'vectors-bench-'));
  const kafka = new KafkajsClient({ brokers, clientId: 'bench', logLevel: 'nothing' });
  const reg = new ConfluentSchemaRegistry(registryUrl);
  const admin = await kafka.admin();
  const rows: BenchmarkRow[] = [];
  const suffix = o.guarantee === 'exactly-once' ? '-eos' : '';
  console.log(
    `${machine()}; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; ${o.events} events, ${o.partitions} partitions, ${o.guarantee}; topics ${tag}-*`,
  );
  const peerArgs = (name: string) => ({
    bootstrap: brokers.join(','),
    registry: registryUrl,
    'app-id': name,
    'state-dir': join(dir, name),
    guarantee: o.guarantee,
    expected: o.events,
    'commit-interval-ms': 1000, // as our runner's default
  });
  const record = (scenario: string, results: Measured[], unit = 'events/s') => {
    const round = (x: number) => (unit === 's' ? Number(x.toFixed(2)) : Math.round(x));
    const peer = results.find((r) => r.run === 'kafka-streams')!.value;
    for (const r of results)
      // Seconds keep two decimals (a restart takes a few); rates, milliseconds and MiB are whole.
      rows.push({ scenario, run: r.run, value: round(r.value), unit, anchor: round(peer), ratio: peer > 0 ? Number((r.value / peer).toFixed(3)) : null });
    console.log(
      results.map((r) => `  ${scenario} ${r.run}: ${round(r.value)} ${unit}${peer > 0 ? `, ${(r.value / peer).toFixed(2)} of kafka-streams` : ''}`).join('\n'),
    );
  };

  try {
    if (o.scenarios.includes('counting')) record(`counting${suffix}`, await counting(o, kafka, reg, admin, brokers, tag, dir, peerArgs));
    if (o.scenarios.includes('user-vectors')) {
      const r = await vectorsScenario(o, kafka, reg, admin, brokers, registryUrl, tag, dir, peerArgs);
      record(`user-vectors${suffix}`, r.throughput);
      if (r.memory) record(`peak-rss-mib${suffix}`, r.memory, 'MiB');
      record(`restart-serving-s${suffix}`, r.restart.withState, 's');
      record(`restore-serving-s${suffix}`, r.restart.fromChangelog, 's');
      // Rows of the default 100 ms ticks and one instance keep their names; other ticks and instances get rows of their own.
      const tick = `${o.tickMs === 100 ? '' : `-tick${o.tickMs}ms`}${o.instances > 1 ? `-instances${o.instances}` : ''}`;
      for (const l of r.latency ?? []) record(`latency-p99-${l.rate % 1000 === 0 ? `${l.rate / 1000}k` : l.rate}${tick}${suffix}`, l.p99, 'ms');
      if (r.latency && r.latency.length > 1) {
        // The issue's second latency figure: the highest offered rate (of those run) whose p99 stays within 100 ms; 0 if none.
        const best = (run: string) => Math.max(0, ...r.latency!.filter((l) => l.p99.find((m) => m.run === run)!.value <= 100).map((l) => l.rate));
        record(
          `max-rate-p99-100ms${tick}${suffix}`,
          ['kafkajs-passthrough', 'vectors', 'kafka-streams'].map((run) => ({ run, value: best(run) })),
        );
      }
    }
  } finally {
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(tag));
    await admin.deleteTopics(mine).catch((err) => console.error(`could not delete topics ${tag}-*: ${String(err)}`));
    await deleteSubjects(registryUrl, tag).catch((err) => console.error(`could not delete registry subjects ${tag}-*: ${String(err)}`));
    await admin.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const out = resolve(ROOT, o.out);
  const kept = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as BenchmarkRow[]).filter((r) => !rows.some((n) => n.scenario === r.scenario)) : [];
  writeFileSync(out, `${JSON.stringify([...kept, ...rows], null, 2)}\n`);
  console.log(
    `wrote ${out}; load average now ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

/** Starts `runner` and returns the seconds until every task assigned to it is restored and processing; then stops it. */
async function timeToServe(runner: TopologyRunner): Promise<number> {
  const t0 = performance.now();
  await runner.start();
  for (;;) {
    const { assigned, restoring } = runner.taskReadiness;
    if (assigned.length > 0 && restoring.length === 0) break;
    await sleep(5);
  }
  const seconds = (performance.now() - t0) / 1000;
  await runner.stop();
  return seconds;
}

/** Resets this process's peak resident set (VmHWM) so that it measures from now on; false where Linux does not allow it. */
function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** This process's peak resident set (VmHWM) in MiB. */
function peakRssMiB(): number {
  return memoryOf(process.pid).hwm / 2 ** 20;
}

/** Deletes (soft, then for good) the registry subjects of this run's topics. */
export async function deleteSubjects(registryUrl: string, prefix: string): Promise<void> {
  const subjects = (await (await fetch(`${registryUrl}/subjects`)).json()) as string[];
  for (const subject of subjects.filter((x) => x.startsWith(prefix))) {
    const url = `${registryUrl}/subjects/${encodeURIComponent(subject)}`;
    await fetch(url, { method: 'DELETE' });
    await fetch(`${url}?permanent=true`, { method: 'DELETE' });
  }
}

type PeerArgs = (name: string) => Record<string, string | number>;
interface Measured {
  run: string;
  value: number;
}

async function counting(
  o: Options,
  kafka: KafkajsClient,
  reg: ConfluentSchemaRegistry,
  admin: KafkaAdmin,
  brokers: string[],
  tag: string,
  dir: string,
  peerArgs: PeerArgs,
): Promise<{ run: string; value: number }[]> {
  const input = `${tag}-count-in`;
  const ours = `${tag}-count-vectors`;
  const peer = `${tag}-count-ks`;
  await admin.createTopics([input, `${tag}-count-raw-out`, `${ours}-out`, `${peer}-out`].map((name) => ({ name, partitions: o.partitions })));
  const serde = new AvroSerde<CountedEvent>({ registry: reg, subject: `${input}-value`, schema: CountedEventSchema });
  await serde.prepare();
  console.log(`counting: filling ${input} with ${o.events} events (keys: ${o.users})`);
  const producer = await kafka.producer();
  for (let i = 0; i < o.events; i += 5000) {
    const batch = [];
    for (let j = i; j < Math.min(o.events, i + 5000); j++) {
      const key = `user-${j % o.users}`;
      batch.push({ topic: input, key, value: serde.serialize({ id: String(j), key, timestamp: 1_700_000_000_000 + j }) });
    }
    await producer.send(batch);
  }
  await producer.close();

  const raw = await passthrough(brokers, input, `${tag}-count-raw-out`, o.events);
  console.log(`counting: raw kafkajs passthrough ${raw.toFixed(0)} events/s`);

  const runs = { ours: [] as number[], peer: [] as number[] };
  for (let i = 0; i < o.repeat; i++) {
    // Each repetition from scratch: an application id, group and state of its own, for both.
    const r = o.repeat > 1 ? `-r${i}` : '';
    const runner = new TopologyRunner({
      topology: eventCounter({ name: `${ours}${r}`, input, output: `${ours}-out` }),
      kafka,
      registry: reg,
      stateDir: join(dir, `${ours}${r}`),
      guarantee: o.guarantee,
    });
    await runner.start();
    const seconds = await drain(admin, runner, 'events', `${ours}${r}`, input);
    await runner.stop();
    runs.ours.push(o.events / seconds);
    console.log(`counting: ours ${runs.ours.at(-1)!.toFixed(0)} events/s`);

    const ks = await runPeer('counting', { ...peerArgs(`${peer}${r}`), input, output: `${peer}-out` }, join(dir, '..', `${tag}-peer-counting.log`));
    runs.peer.push(ks.eventsPerSec);
    console.log(
      `counting: kafka-streams ${ks.eventsPerSec.toFixed(0)} events/s (last record processed after ${(ks.processedMs / 1000).toFixed(1)} s, all committed after ${(ks.elapsedMs / 1000).toFixed(1)} s; peak RSS of its JVM ${ks.peakRssMiB.toFixed(0)} MiB)`,
    );
  }
  const [vectors, peerRate] = [medianOf('counting, ours', runs.ours), medianOf('counting, kafka-streams', runs.peer)];
  // Both wrote one count per event (per repetition).
  const written = { ours: sum(await admin.topicOffsets(`${ours}-out`)), peer: sum(await admin.topicOffsets(`${peer}-out`)) };
  // (Exactly-once, transaction markers take offsets too: at least one per event then.)
  if (written.ours < o.events || written.peer < o.events)
    console.warn(`counting: outputs hold ${written.ours} (ours) and ${written.peer} (peer) counts for ${o.events} events`);
  return [
    { run: 'kafkajs-passthrough', value: raw },
    { run: 'vectors', value: vectors },
    { run: 'kafka-streams', value: peerRate },
  ];
}

/** The median of a repeated measure (of two, their mean), with every run logged when there are several. */
function medianOf(what: string, values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  const m = v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  if (v.length > 1) console.log(`${what}: median ${m.toFixed(0)} of ${values.map((x) => x.toFixed(0)).join(', ')}`);
  return m;
}

export function snapshotMatrix(id: string, o: { entities: number; dims: number }, seed: number) {
  const r = mulberry32(seed);
  const clusters = Math.min(1000, o.entities);
  const centres = Array.from({ length: clusters }, () => Float32Array.from({ length: o.dims }, () => r() * 2 - 1));
  const b = new EntityMatrixBuilder({ snapshotId: id, dims: o.dims, expectedCount: o.entities });
  const v = new Float32Array(o.dims);
  for (let i = 0; i < o.entities; i++) {
    const c = centres[i % clusters]!;
    let s = 0;
    for (let j = 0; j < o.dims; j++) s += (v[j] = c[j]! + (r() - 0.5) * 0.4) ** 2;
    for (let j = 0; j < o.dims; j++) v[j]! /= Math.sqrt(s);
    b.add(`e${i}`, 'TRACK', v);
  }
  return b.build();
}

/** The topics of a user-vectors run under `tag` (topology `uvName`), as `userVectors({ topics })` takes them. */
export function vectorsTopics(tag: string, uvName: string) {
  return {
    listens: `${tag}-listens`,
    feedback: `${tag}-feedback`,
    control: `${tag}-control`,
    userVectors: `${uvName}-out`,
    candidateRequests: `${tag}-cand-req`,
  };
}

/** Where the snapshots of a run under `tag` are published and switched (control topic `t.control`). */
export const vectorsSnapshotTopics = (tag: string, t: { control: string }) => ({ control: t.control, prefix: `${tag}-ev.` });

/**
 * Makes snapshot `<tag>-s1` (`o.entities` × `o.dims`, seed 1, written to
 * `<dir>/s1`) the active one for topology `uvName` before any event:
 * registered as a doorman member, published, loaded and reported READY by a
 * first user-vectors runner, switched by a doorman; both stopped again. The
 * topics `t` must exist. Returns the catalog that holds the snapshot loaded.
 */
export async function activateSnapshot(
  o: { entities: number; dims: number; partitions: number; guarantee: ProcessingGuarantee },
  kafka: KafkajsClient,
  reg: ConfluentSchemaRegistry,
  tag: string,
  dir: string,
  uvName: string,
  t: ReturnType<typeof vectorsTopics>,
): Promise<{ catalog: SnapshotCatalog; snapshotId: string; snapshotBase: string }> {
  const snapTopics = vectorsSnapshotTopics(tag, t);
  await writeControl(kafka, reg, [planMember(uvName, o.partitions, Date.now())], snapTopics);
  const snapshotId = `${tag}-s1`;
  const snapshotBase = join(dir, 's1');
  await writeBinarySnapshot(snapshotBase, snapshotMatrix(snapshotId, o, 1));
  const catalog = new SnapshotCatalog(new KafkaSnapshotSource(kafka, reg, snapTopics), { index: 'exact' }); // the update path does no search
  const door = new TopologyRunner({
    topology: doorman({ name: `${tag}-doorman`, controlTopic: t.control }),
    kafka,
    registry: reg,
    stateDir: join(dir, 'doorman'),
    guarantee: 'exactly-once',
  });
  await door.start();
  await publishSnapshot(kafka, reg, { file: snapshotBase, snapshotId, model: 'bench', topics: snapTopics });
  const first = new TopologyRunner({
    topology: userVectors({ catalog, name: uvName, topics: t }),
    kafka,
    registry: reg,
    stateDir: join(dir, uvName),
    guarantee: o.guarantee,
  });
  await first.start();
  while ((await readControlView(kafka, reg, snapTopics)).active !== snapshotId) await sleep(200);
  await first.stop();
  await door.stop();
  return { catalog, snapshotId, snapshotBase };
}

/**
 * The benchmark's `o.events` listens of `o.users` users (`u<seq % users>`)
 * to `topic`, in batches of 5,000 records, always the same (seed 7): varied
 * completions (skips, partial and full plays) and times spread over two
 * weeks, out of order, so that the vector check tests the weights and the decay.
 */
export async function* listenBatches(
  reg: ConfluentSchemaRegistry,
  topic: string,
  o: { events: number; users: number; entities: number },
): AsyncGenerator<{ topic: string; key: string; value: Buffer }[]> {
  const serde = new AvroSerde<ListenEvent>({ registry: reg, subject: `${topic}-value`, schema: loadSchema('ListenEvent') });
  await serde.prepare();
  const r = mulberry32(7);
  const now = Date.now();
  for (let i = 0; i < o.events; i += 5000) {
    const batch = [];
    for (let seq = i; seq < Math.min(o.events, i + 5000); seq++) {
      const userId = `u${seq % o.users}`;
      const e: ListenEvent = {
        eventId: `ev${seq}`,
        userId,
        entityId: `e${Math.floor(r() * o.entities)}`,
        msPlayed: Math.floor(r() * 220_000),
        durationMs: 200_000,
        context: 'radio',
        timestamp: now - Math.floor(r() * 14 * 86_400_000),
      };
      batch.push({ topic, key: userId, value: serde.serialize(e) });
    }
    yield batch;
  }
}

async function vectorsScenario(
  o: Options,
  kafka: KafkajsClient,
  reg: ConfluentSchemaRegistry,
  admin: KafkaAdmin,
  brokers: string[],
  registryUrl: string,
  tag: string,
  dir: string,
  peerArgs: PeerArgs,
): Promise<{ throughput: Measured[]; latency?: LatencyAt[]; memory?: Measured[]; restart: { withState: Measured[]; fromChangelog: Measured[] } }> {
  const uvName = `${tag}-uv-vectors`;
  const peer = `${tag}-uv-ks`;
  const t = vectorsTopics(tag, uvName);
  await admin.createTopics([
    ...[t.listens, t.feedback, t.userVectors, t.candidateRequests, `${tag}-uv-raw-out`, `${peer}-out`].map((name) => ({ name, partitions: o.partitions })),
    { name: t.control, partitions: 1, config: { 'cleanup.policy': 'compact' } },
  ]);
  const { catalog, snapshotId, snapshotBase } = await activateSnapshot(o, kafka, reg, tag, dir, uvName, t);
  const mkRunner = (name = uvName) =>
    new TopologyRunner({
      topology: userVectors({ catalog, name, topics: t }),
      kafka,
      registry: reg,
      stateDir: join(dir, name),
      guarantee: o.guarantee,
    });

  const producer = await kafka.producer();
  console.log(`user-vectors: snapshot ${o.entities} × ${o.dims} active; filling ${t.listens} with ${o.events} listens of ${o.users} users`);
  for await (const batch of listenBatches(reg, t.listens, o)) await producer.send(batch);
  await producer.close();

  const raw = await passthrough(brokers, t.listens, `${tag}-uv-raw-out`, o.events);
  console.log(`user-vectors: raw kafkajs passthrough ${raw.toFixed(0)} events/s`);

  const runs = { ours: [] as number[], peer: [] as number[] };
  let oursPeakMiB = NaN;
  let ks!: PeerResult;
  for (let i = 0; i < o.repeat; i++) {
    // Each repetition from scratch (an application id, group and state of its own); the last one keeps the plain
    // names, whose state the restarts and the latency scenario below run on.
    const r = i < o.repeat - 1 ? `-r${i}` : '';
    const runner = r ? mkRunner(`${uvName}${r}`) : mkRunner();
    const peakReset = resetPeakRss();
    await runner.start();
    const seconds = await drain(admin, runner, 'listens', `${uvName}${r}`, t.listens);
    await runner.stop();
    oursPeakMiB = peakReset ? peakRssMiB() : NaN;
    runs.ours.push(o.events / seconds);
    console.log(
      `user-vectors: ours ${runs.ours.at(-1)!.toFixed(0)} events/s (each update also writes a candidate request); peak RSS of the process during the run ${oursPeakMiB.toFixed(0)} MiB`,
    );

    ks = await runPeer(
      'user-vectors',
      {
        ...peerArgs(`${peer}${r}`),
        input: t.listens,
        output: `${peer}-out`,
        schemas: join(ROOT, 'schemas'),
        snapshot: snapshotBase,
        'snapshot-id': snapshotId,
      },
      join(dir, '..', `${tag}-peer-user-vectors.log`),
    );
    runs.peer.push(ks.eventsPerSec);
    console.log(
      `user-vectors: kafka-streams ${ks.eventsPerSec.toFixed(0)} events/s (last record processed after ${(ks.processedMs / 1000).toFixed(1)} s, all committed after ${(ks.elapsedMs / 1000).toFixed(1)} s; peak RSS of its JVM ${ks.peakRssMiB.toFixed(0)} MiB)`,
    );
  }
  const [vectors, peerRate] = [medianOf('user-vectors, ours', runs.ours), medianOf('user-vectors, kafka-streams', runs.peer)];

  await checkSameVectors(kafka, reg, t.userVectors, `${peer}-out`);
  const throughput = [
    { run: 'kafkajs-passthrough', value: raw },
    { run: 'vectors', value: vectors },
    { run: 'kafka-streams', value: peerRate },
  ];
  // Peak memory: the last repetition's.
  const memory = Number.isNaN(oursPeakMiB)
    ? undefined
    : [
        { run: 'vectors', value: oursPeakMiB },
        { run: 'kafka-streams', value: ks.peakRssMiB },
      ];

  // Restarts on the state just built: with each one's state directory (a routine restart), then without it (a new
  // machine: everything from the changelog). Seconds from start until every task is restored and processing.
  const peerRestart = async (label: string) => {
    const r = await runPeer(
      'user-vectors',
      {
        ...peerArgs(peer),
        'until-running': 'true',
        input: t.listens,
        output: `${peer}-out`,
        schemas: join(ROOT, 'schemas'),
        snapshot: snapshotBase,
        'snapshot-id': snapshotId,
      },
      join(dir, '..', `${tag}-peer-${label}.log`),
    );
    return r.restartMs! / 1000;
  };
  const restart: { withState: Measured[]; fromChangelog: Measured[] } = { withState: [], fromChangelog: [] };
  for (const [key, wipe] of [
    ['withState', false],
    ['fromChangelog', true],
  ] as const) {
    if (wipe) for (const name of [uvName, peer]) rmSync(join(dir, name), { recursive: true, force: true });
    const oursS = await timeToServe(mkRunner());
    const peerS = await peerRestart(key);
    console.log(
      `user-vectors restart ${wipe ? 'without its state directory (from the changelog)' : 'with its state directory'}: ours ${oursS.toFixed(2)} s, kafka-streams ${peerS.toFixed(2)} s until every task processes`,
    );
    restart[key].push({ run: 'vectors', value: oursS }, { run: 'kafka-streams', value: peerS });
  }
  if (!o.scenarios.includes('latency')) return { throughput, memory, restart };

  // Latency, on the users just computed, at each offered rate: each system reads latency topics of its own (empty, so
  // it starts at once), in turn; the raw kafkajs passthrough (decode, encode, no state) gives the client's own floor.
  // One topic per system for every rate: each probe tells its own events apart by their timestamps, and gives them
  // ids and warm-up users of its own (a user drops an event id it has seen as a repeat).
  const latency: LatencyAt[] = [];
  const lat = { ours: `${tag}-lat-vectors`, peer: `${tag}-lat-ks`, raw: `${tag}-lat-raw` };
  await admin.createTopics(
    Object.values(lat)
      .flatMap((name) => [name, `${name}-out`])
      .map((name) => ({ name, partitions: o.partitions })),
  );
  const mkLive = () =>
    new TopologyRunner({
      topology: userVectors({ catalog, name: uvName, topics: { ...t, listens: lat.ours, userVectors: `${lat.ours}-out` } }),
      kafka,
      registry: reg,
      stateDir: join(dir, uvName),
      guarantee: o.guarantee,
    });
  for (const rate of o.rates) {
    const probe = (input: string) =>
      runProbe({
        brokers,
        registryUrl,
        input,
        output: `${input}-out`,
        rate,
        tickMs: o.tickMs,
        seconds: 10,
        warmup: 100,
        settleSeconds: LATENCY_SETTLE_S,
        users: o.users,
        entities: o.entities,
      });
    const say = (run: string, r: ProbeResult) =>
      console.log(
        `latency at ${rate}/s, ${run}: p50 ${r.p50} ms, p99 ${r.p99} ms, max ${r.max} ms (${r.seen} of ${r.offered} seen${r.seen < r.offered ? '; the others counted at their age 60 s after the last send: lower bounds' : ''}); worst by second sent: ${r.maxBySecond.join(' ')} ms`,
      );

    const raw = await latencyPassthrough(brokers, reg, lat.raw, `${lat.raw}-out`, o.dims);
    const rawLatency = await probe(lat.raw).finally(() => raw.stop());
    say('kafkajs-passthrough', rawLatency);

    // Ours runs only while its probe does, as the others: all three share the machine's two cores.
    let oursLatency: ProbeResult;
    if (o.instances === 1) {
      const live = mkLive();
      const profiling = process.env.BENCH_LATENCY_PROFILE && rate === o.rates.at(-1) ? await startProfile(500) : undefined;
      await live.start();
      oursLatency = await probe(lat.ours).finally(() => live.stop());
      if (profiling) await profiling.stop(process.env.BENCH_LATENCY_PROFILE!);
    } else {
      const workers = await liveInstances(o.instances, o.partitions, dir, {
        brokers,
        registryUrl,
        name: uvName,
        topics: { ...t, listens: lat.ours, userVectors: `${lat.ours}-out` },
        snapshotTopics: vectorsSnapshotTopics(tag, t),
        guarantee: o.guarantee,
      });
      oursLatency = await probe(lat.ours).finally(() => Promise.all(workers.map((w) => w.stop())));
    }
    say('vectors', oursLatency);

    const abort = new AbortController();
    const [peerLatency] = await Promise.all([
      probe(lat.peer).catch((err: unknown) => {
        abort.abort();
        throw err;
      }),
      runPeer(
        'user-vectors',
        // Stops by itself after the probe's warm-up and offered events (it resumes after the earlier rates' records).
        {
          ...peerArgs(peer),
          expected: 100 + rate * (10 + LATENCY_SETTLE_S),
          'timeout-s': 600,
          input: lat.peer,
          output: `${lat.peer}-out`,
          schemas: join(ROOT, 'schemas'),
          snapshot: snapshotBase,
          'snapshot-id': snapshotId,
        },
        join(dir, '..', `${tag}-peer-latency.log`),
        abort.signal,
        o.instances > 1 ? { 'num.stream.threads': o.instances } : {},
      ),
    ]);
    say('kafka-streams', peerLatency);
    latency.push({
      rate,
      p99: [
        { run: 'kafkajs-passthrough', value: rawLatency.p99 },
        { run: 'vectors', value: oursLatency.p99 },
        { run: 'kafka-streams', value: peerLatency.p99 },
      ],
    });
  }
  return { throughput, memory, restart, latency };
}

/**
 * Ours as `n` user-vectors processes of one application id (bench/uv-worker.ts),
 * returned once the group has settled (awaitStableGroup, for 2 s). The first
 * works on the in-process runners' state directory, the others on
 * directories of their own (restored from the changelog the first time).
 * Their logs go beside the bench's directory.
 */
async function liveInstances(n: number, partitions: number, dir: string, base: Omit<WorkerOptions, 'stateDir'>): Promise<UvWorker[]> {
  const workers = Array.from(
    { length: n },
    (_, i) => new UvWorker(i, { ...base, stateDir: join(dir, i === 0 ? base.name : `${base.name}-i${i}`) }, join(dir, '..', `${base.name}-i${i}.log`)),
  );
  try {
    await awaitStableGroup(workers, partitions, 180_000, 2000);
  } catch (err) {
    await Promise.all(workers.map((w) => w.stop(5000)));
    throw err;
  }
  console.log(`latency: ours as ${n} processes, tasks ${workers.map((w) => w.tasks.assigned.length).join(' + ')}`);
  return workers;
}

/** One offered rate of the latency scenario: p99 event → output (ms) per run. */
interface LatencyAt {
  rate: number;
  p99: Measured[];
}

/**
 * The latency scenario's floor: raw kafkajs, consuming ListenEvents and
 * producing a UserVector for each (Avro decode and encode, a zero vector; no
 * state, no changelog, offsets left to kafkajs's auto-commit), each fetched
 * batch's records sent and acknowledged before the next batch is handled.
 */
async function latencyPassthrough(
  brokers: string[],
  reg: ConfluentSchemaRegistry,
  input: string,
  output: string,
  dims: number,
): Promise<{ stop(): Promise<void> }> {
  const listens = new AvroSerde<ListenEvent>({ registry: reg, subject: `${input}-value`, schema: loadSchema('ListenEvent') });
  const vectors = new AvroSerde<UserVector>({ registry: reg, subject: `${output}-value`, schema: loadSchema('UserVector') });
  await vectors.prepare();
  const kafka = new Kafka({ clientId: 'bench-raw-latency', brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  const consumer = kafka.consumer({ groupId: `${input}-raw`, maxWaitTimeInMs: 100 });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [input], fromBeginning: true });
  // As many dimensions as ours writes: the same bytes per output record.
  const zero = new Float32Array(dims);
  await consumer.run({
    eachBatch: async ({ batch }) => {
      const messages = [];
      for (const m of batch.messages) {
        await listens.prepareFor(m.value!);
        const e = listens.deserialize(m.value!);
        const uv: UserVector = { userId: e.userId, snapshotId: 'raw', vector: zero, updatedAt: e.timestamp, eventCount: 1, version: 1 };
        messages.push({ key: m.key, partition: batch.partition, value: vectors.serialize(uv) });
      }
      if (messages.length > 0) await producer.send({ topic: output, acks: -1, messages });
    },
  });
  return {
    async stop() {
      await consumer.disconnect();
      await producer.disconnect();
    },
  };
}

/** Runs bench/latency-probe.ts in a process of its own; its last stdout line is its result. */
async function runProbe(o: ProbeOptions): Promise<ProbeResult> {
  const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(__dirname, 'latency-probe.ts'), JSON.stringify(o)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`latency probe failed (exit ${code}) on ${o.input}`);
  return JSON.parse(out.trim().split('\n').pop()!) as ProbeResult;
}

/** Each user's latest vector on `topic` (highest version). */
async function latestVectors(kafka: KafkajsClient, reg: ConfluentSchemaRegistry, topic: string): Promise<Map<string, UserVector>> {
  const serde = new AvroSerde<UserVector>({ registry: reg, subject: `${topic}-value`, schema: loadSchema('UserVector') });
  const reader = await kafka.partitionReader();
  const admin = await kafka.admin();
  const latest = new Map<string, UserVector>();
  try {
    for (const p of await admin.topicOffsets(topic)) {
      let offset = p.low;
      while (BigInt(offset) < BigInt(p.high)) {
        const f = await reader.fetch({ topic, partition: p.partition }, offset, 100);
        for (const rec of f.records) {
          await serde.prepareFor(rec.value!);
          const uv = serde.deserialize(rec.value!);
          if ((latest.get(uv.userId)?.version ?? -1) < uv.version) latest.set(uv.userId, uv);
        }
        offset = f.nextOffset;
      }
    }
  } finally {
    await reader.close();
    await admin.close();
  }
  return latest;
}

/**
 * The peer computes the same vectors as ours: for every user, the last vector
 * of each (same event count) has cosine ≥ 0.999. Throws when not, since the
 * throughput comparison would then be of different jobs.
 */
async function checkSameVectors(kafka: KafkajsClient, reg: ConfluentSchemaRegistry, oursTopic: string, peerTopic: string): Promise<void> {
  const [ours, peer] = [await latestVectors(kafka, reg, oursTopic), await latestVectors(kafka, reg, peerTopic)];
  let min = 1;
  let worst = '';
  const problems: string[] = [];
  for (const [userId, a] of ours) {
    const b = peer.get(userId);
    if (!b) {
      problems.push(`${userId}: no vector from the peer`);
      continue;
    }
    if (a.eventCount !== b.eventCount) problems.push(`${userId}: ${a.eventCount} events in ours, ${b.eventCount} in the peer's`);
    const c = cosine(a.vector, b.vector);
    if (c < min) [min, worst] = [c, userId];
    if (c < 0.999) problems.push(`${userId}: cosine ${c.toFixed(6)}`);
  }
  if (peer.size !== ours.size) problems.push(`${ours.size} users in ours, ${peer.size} in the peer's output`);
  console.log(`user-vectors check: ${ours.size} users compared, lowest cosine ${min.toFixed(6)}${worst ? ` (${worst})` : ''}`);
  if (problems.length > 0) throw new Error(`the peer's user vectors differ from ours (${problems.length} problems): ${problems.slice(0, 5).join('; ')}`);
}

// Only when run: bench/growth.ts imports the scenario's parts from here.
if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
