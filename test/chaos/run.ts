/**
 * One chaos run: its own stack, the real processes of the system, a snapshot
 * switch mid-stream, seeded faults one after the other, then the checks
 * against the never-killed reference. `npm run chaos` (test/chaos/main.ts)
 * and the CI test (test/integration/chaos.test.ts) both call runChaos.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readControlView } from '../../src/app/snapshots';
import type { KafkaAdmin, PartitionReader } from '../../src/runtime/kafka/client';
import { KafkajsClient } from '../../src/runtime/kafka/kafkajs-client';
import { readRange } from '../../src/runtime/kafka/read-range';
import { AvroSerde } from '../../src/runtime/serde/avro-serde';
import { ConfluentSchemaRegistry } from '../../src/runtime/serde/confluent-registry';
import { refreshPolicy } from '../../src/vectors/candidate-refresh';
import { Topics, loadSchema } from '../../src/vectors/contracts';
import type { CandidateRequest, Candidates, SnapshotControl, UserVector } from '../../src/vectors/records';
import { readSnapshotFile, writeJsonlSnapshot } from '../../src/vectors/snapshot/formats';
import { readAll, readDecoded } from '../integration/helpers';
import { clusteredSnapshot } from '../unit/topologies/vectors-fixtures';
import {
  type At,
  type CandidateFigures,
  checkCandidates,
  checkControlLog,
  checkDeadLetters,
  checkUserVectors,
  type DeadLetterFigures,
  type Expected,
  type SwitchFigures,
  type UserVectorFigures,
} from './checks';
import { Feeder, type SentPoison } from './feeder';
import { EventGenerator, type UserKind } from './generator';
import { OutputObserver } from './observer';
import { droppedMarkerPartitions, repeatsFromDroppedMarkers } from './hanging';
import { type InstanceSpec, type Role, runCli, type SelfExit, sleep, Supervisor } from './processes';
import { referenceIn, type SnapshotRef } from './reference';
import { describeFault, type Fault, type FaultKind, planSchedule } from './schedule';
import { ChaosStack, type ChaosStackOptions, ROOT } from './stack';

export interface ChaosConfig {
  seed: number;
  /** Streaming time over which the faults are spread, ms. The run goes on until every fault is done. */
  durationMs: number;
  /** Good events per second. */
  rate: number;
  users: number;
  partitions: number;
  entities: number;
  dims: number;
  /** user-vectors instances, exactly-once. */
  userVectorsInstances: number;
  /** Instances of a second user-vectors application, at-least-once, on the same inputs (0: none). */
  alosInstances: number;
  candidatesInstances: number;
  /** Time between fault starts, ms. */
  spacingMs: number;
  kinds?: FaultKind[];
  /** How long the system may take to reflect a probe event on every partition after a fault. */
  recoveryTimeoutMs: number;
  /** Candidate list length. */
  k: number;
  stack?: ChaosStackOptions;
  /** Logs and state of the run; default `.stack-chaos/runs/<seed>-<time>`. */
  runDir?: string;
  log?: (line: string) => void;
}

export const FULL_CONFIG: Omit<ChaosConfig, 'seed'> = {
  durationMs: 300_000,
  rate: 300,
  users: 1000,
  partitions: 12,
  entities: 2000,
  dims: 16,
  userVectorsInstances: 2,
  alosInstances: 1,
  candidatesInstances: 1,
  spacingMs: 25_000,
  recoveryTimeoutMs: 180_000,
  k: 20,
};

/**
 * The short seeded version CI runs (test/integration/chaos.test.ts): every
 * kind of fault but the slowest two (a crash-looping peer, a rolling
 * restart), fewer events, and its own ports and STACK_DIR, so that it never
 * meets a manual `npm run chaos` either.
 */
export const CI_CONFIG: ChaosConfig = {
  ...FULL_CONFIG,
  seed: 6,
  durationMs: 60_000,
  rate: 100,
  users: 200,
  partitions: 4,
  spacingMs: 12_000,
  kinds: ['kill-processing', 'kill-restore', 'kill-switch', 'broker-restart', 'registry-restart', 'poison'],
  recoveryTimeoutMs: 90_000,
  stack: { dir: join(ROOT, '.stack-chaos', 'ci'), kafkaPort: 19192, kafkaControllerPort: 19193, registryPort: 18181, registryMgmtPort: 19181 },
};

export interface FaultResult {
  fault: Fault;
  description: string;
  /** Which instance was hit. */
  instance?: string;
  startedAt: number;
  endedAt: number;
  /** From the fault's start to its end (the restart, the service back up). */
  outageMs: number;
  /** From the fault's end until a fresh event on every partition is reflected, per output (undefined: not within the timeout). */
  recoveryMs: { userVectors?: number; alos?: number; candidates?: number };
  notes: string[];
  selfExits: SelfExit[];
  error?: string;
}

export interface ChaosReport {
  config: ChaosConfig;
  schedule: Fault[];
  runDir: string;
  startedAt: number;
  wallMs: number;
  eventsIn: number;
  eventsByTopic: Record<string, number>;
  users: number;
  misroutedIn: number;
  reroutedCopies: number;
  /** End offsets of each user-vectors application's state changelog (records and, exactly-once, transaction markers). */
  changelogOffsets: Record<string, number>;
  poison: SentPoison[];
  baseline: FaultResult['recoveryMs'];
  faults: FaultResult[];
  switchMs?: number;
  /** Users with events produced from 10 s after S2 became active: each must end in S2. */
  lateUsers: number;
  drained: boolean;
  userVectors: UserVectorFigures;
  alos?: UserVectorFigures;
  candidates: CandidateFigures;
  deadLetters: Record<string, DeadLetterFigures>;
  control: SwitchFigures;
  /** S2 records visible before the pointer to S2 was written, per output topic (1 when any). */
  earlyS2: Record<string, number>;
  referenceDeadLetters: number;
  selfExits: SelfExit[];
  stopCodes: Record<string, number | null>;
  /** Figures that must be zero and are not, each with its value. */
  failures: string[];
}

const ALOS_APP = 'user-vectors-alos';

/** Cleanups of runs in progress, for a signal handler (main.ts) to run before the process exits. */
export const activeCleanups = new Set<() => Promise<void>>();
const ALOS_TOPICS = { userVectors: 'user-vectors-alos', candidateRequests: 'candidate-requests-alos' };

export async function runChaos(config: ChaosConfig): Promise<ChaosReport> {
  const log = config.log ?? ((line: string) => process.stderr.write(`[chaos] ${line}\n`));
  const startedAt = Date.now();
  const runDir = config.runDir ?? join(ROOT, '.stack-chaos', 'runs', `${config.seed}-${new Date(startedAt).toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(runDir, { recursive: true });
  const schedule = planSchedule({
    seed: config.seed,
    durationMs: config.durationMs,
    spacingMs: config.spacingMs,
    alos: config.alosInstances > 0,
    ...(config.kinds ? { kinds: config.kinds } : {}),
  });
  log(`seed ${config.seed}: ${schedule.length} faults over ${config.durationMs / 1000} s (logs in ${runDir})`);
  for (const f of schedule) log(`  ${describeFault(f)}`);

  const stack = new ChaosStack({ ...config.stack, log: (l) => log(`  ${l}`) });
  const supervisor = new Supervisor(stack.clientEnv(), join(runDir, 'logs'), log);
  const kafka = new KafkajsClient({ brokers: [stack.brokers], clientId: 'chaos', logLevel: 'nothing' });
  const registry = new ConfluentSchemaRegistry(stack.registryUrl);
  const gen = new EventGenerator({
    seed: config.seed,
    users: config.users,
    entities: config.entities,
    partitions: config.partitions,
    t0: startedAt - 3_600_000,
  });
  const feeder = new Feeder(kafka, registry, gen, config.seed);
  const observed = [
    { topic: Topics.userVectors, schema: 'UserVector' as const, partitions: config.partitions },
    { topic: Topics.candidates, schema: 'Candidates' as const, partitions: config.partitions },
    ...(config.alosInstances > 0 ? [{ topic: ALOS_TOPICS.userVectors, schema: 'UserVector' as const, partitions: config.partitions }] : []),
  ];
  const observer = new OutputObserver(kafka, registry, observed);
  let admin: KafkaAdmin | undefined;
  let reader: PartitionReader | undefined;
  const dumps: { topic: string; partition: number }[] = [];
  let report: ChaosReport | undefined;
  let settleTimer: NodeJS.Timeout | undefined;
  const emergency = async () => {
    await supervisor.killAll().catch(() => undefined);
    await stack.down().catch(() => undefined);
  };
  activeCleanups.add(emergency);
  try {
    log(`starting the chaos stack (Kafka ${stack.brokers}, registry ${stack.registryUrl}, STACK_DIR ${stack.dir})`);
    await stack.up();
    const env = stack.clientEnv();
    await runCli('provision', ['provision', '--partitions', String(config.partitions)], env, supervisor.logStream('cli'));
    admin = await kafka.admin();
    if (config.alosInstances > 0) await admin.createTopics(Object.values(ALOS_TOPICS).map((name) => ({ name, partitions: config.partitions })));

    const files = { s1: join(runDir, 's1.jsonl'), s2: join(runDir, 's2.jsonl') };
    await writeJsonlSnapshot(files.s1, clusteredSnapshot('s1', config.entities, config.dims, config.seed * 2 + 1));
    await writeJsonlSnapshot(files.s2, clusteredSnapshot('s2', config.entities, config.dims, config.seed * 2 + 2));

    for (const spec of instanceSpecs(config, runDir)) supervisor.start(spec);
    // An instance that fails to start (a transient broker error while it creates its topics) is restarted by the supervisor: wait for whichever process is current.
    await Promise.all(supervisor.instances().map((n) => waitRunning(supervisor, n)));
    log(`running: ${supervisor.instances().join(', ')}`);
    await runCli('publish', ['publish', files.s1, '--snapshot-id', 's1', '--model', 'chaos'], env, supervisor.logStream('cli'));
    await runCli('activate', ['activate-when-ready', 's1', '--timeout-ms', '180000'], env, supervisor.logStream('cli'), 200_000);
    log('S1 active');

    await feeder.prepare();
    await observer.start();
    const probe = (from: number) => measureRecovery(feeder, observer, config, from);
    feeder.start(config.rate);
    const streamStart = Date.now();
    const baseline = await probe(Date.now());
    log(
      `streaming ${config.rate} events/s; baseline: a fresh event reaches user-vectors in ${fmt(baseline.userVectors)} s, candidates in ${fmt(baseline.candidates)} s`,
    );

    const results: FaultResult[] = [];
    let switchMs: number | undefined;
    // Events produced from 10 s after S2 became active on: their users must end in S2.
    let settledIndex = Number.POSITIVE_INFINITY;
    for (const fault of schedule) {
      const wait = streamStart + fault.atMs - Date.now();
      if (wait > 0) await sleep(wait);
      const selfExitsBefore = supervisor.selfExits.length;
      const r: FaultResult = {
        fault,
        description: describeFault(fault),
        startedAt: Date.now(),
        endedAt: 0,
        outageMs: 0,
        recoveryMs: {},
        notes: [],
        selfExits: [],
      };
      log(`fault ${describeFault(fault)}`);
      try {
        const out = await inject(fault, { supervisor, stack, feeder, config, env, files, log, r });
        if (out?.switchMs !== undefined) {
          switchMs = out.switchMs;
          settleTimer = setTimeout(() => (settledIndex = feeder.log.length), 10_000);
        }
      } catch (err) {
        r.error = (err as Error).message.slice(0, 2000);
        log(`  fault #${fault.index} failed: ${r.error}`);
      }
      r.endedAt = r.endedAt || Date.now();
      r.outageMs = r.endedAt - r.startedAt;
      r.recoveryMs = await probe(r.endedAt);
      r.selfExits = supervisor.selfExits.slice(selfExitsBefore);
      results.push(r);
      log(
        `  recovered: user-vectors ${fmt(r.recoveryMs.userVectors)} s, candidates ${fmt(r.recoveryMs.candidates)} s${config.alosInstances ? `, at-least-once ${fmt(r.recoveryMs.alos)} s` : ''}${r.selfExits.length ? `; exits by themselves: ${r.selfExits.map((e) => e.instance).join(', ')}` : ''}`,
      );
    }
    const rest = streamStart + config.durationMs - Date.now();
    if (rest > 0) await sleep(rest);
    await sleep(2000);
    await feeder.stop();
    await probe(Date.now());
    log(`streaming stopped after ${feeder.log.length} good events; waiting for every group to catch up`);

    reader = await kafka.partitionReader();
    const groups: [string, string][] = [
      ['user-vectors', Topics.listens],
      ['user-vectors', Topics.feedback],
      ['candidates', Topics.candidateRequests],
      ...(config.alosInstances > 0
        ? ([
            [ALOS_APP, Topics.listens],
            [ALOS_APP, Topics.feedback],
          ] as [string, string][])
        : []),
    ];
    const drained = await waitDrained(admin, reader, groups, 240_000, log);
    await sleep(1000);
    await observer.stop();
    const stopCodes = await supervisor.stopAll();
    log(`stopped every instance (exit codes ${JSON.stringify(stopCodes)}); reading the topics`);

    // What the topics hold, read_committed.
    const withKey = <T extends { userId: string }>(rs: (T & { partition: number; offset: bigint })[]): At<T>[] => rs.map((r) => ({ ...r, key: r.userId }));
    const uv = withKey(await readDecoded<UserVector>(kafka, admin, registry, Topics.userVectors, 'UserVector'));
    const alos = config.alosInstances > 0 ? withKey(await readDecoded<UserVector>(kafka, admin, registry, ALOS_TOPICS.userVectors, 'UserVector')) : undefined;
    const requests = withKey(await readDecoded<CandidateRequest>(kafka, admin, registry, Topics.candidateRequests, 'CandidateRequest'));
    const lists = withKey(await readDecoded<Candidates>(kafka, admin, registry, Topics.candidates, 'Candidates'));
    const controlSerde = new AvroSerde<SnapshotControl>({ registry, subject: `${Topics.snapshotControl}-value`, schema: loadSchema('SnapshotControl') });
    await controlSerde.prepare();
    const control: { key: string; value: SnapshotControl | null }[] = [];
    for (const r of (await readAll(kafka, admin, Topics.snapshotControl)).sort((a, b) => Number(BigInt(a.offset) - BigInt(b.offset)))) {
      if (!r.key) continue;
      if (r.value) await controlSerde.prepareFor(r.value);
      control.push({ key: r.key.toString(), value: r.value ? controlSerde.deserialize(r.value) : null });
    }
    const dead = async (app: string) =>
      (await readAll(kafka, admin!, `${app}-dlq`)).map((r) => ({
        key: r.key?.toString() ?? null,
        headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v?.toString('utf8') ?? ''])),
      }));
    const listens = await readAll(kafka, admin, Topics.listens);
    // What each guarantee writes to keep its state (exactly-once commits every 100 ms, at-least-once every 1 s).
    const endOf = async (topic: string) => (await admin!.topicOffsets(topic)).reduce((n, o) => n + Number(BigInt(o.high) - BigInt(o.low)), 0);
    const changelogOffsets = {
      'user-vectors': await endOf('user-vectors-users-changelog'),
      ...(config.alosInstances > 0 ? { [ALOS_APP]: await endOf(`${ALOS_APP}-users-changelog`) } : {}),
    };
    const reroutedCopies = listens.filter((r) => r.headers['vectors.rerouted.from'] !== undefined).length;

    // The reference, with the snapshots as published (manifests from the control log).
    const view = await readControlView(kafka, registry);
    const expected: Expected = new Map();
    for (const e of feeder.log) {
      const x = expected.get(e.key) ?? expected.set(e.key, { n: 0, kind: gen.kindOf(e.key) as UserKind }).get(e.key)!;
      x.n++;
    }
    const wanted = new Map<string, Set<string>>();
    for (const l of lists) (wanted.get(l.snapshotId) ?? wanted.set(l.snapshotId, new Set()).get(l.snapshotId)!).add(`${l.key}\u0000${l.userVectorVersion}`);
    log('computing the reference (the same events through the test driver, S1 and S2)');
    const refs = new Map<string, SnapshotRef>();
    const now = Date.now();
    for (const id of ['s1', 's2']) {
      const manifest = view.snapshots.get(id)?.manifest;
      if (!manifest) throw new Error(`snapshot ${id} has no manifest in the control log`);
      const { matrix } = await readSnapshotFile(files[id as 's1' | 's2'], { manifest });
      const want = wanted.get(id) ?? new Set();
      refs.set(id, await referenceIn({ manifest, matrix }, feeder.log, now, (u, v) => want.has(`${u}\u0000${v}`)));
    }
    const order = ['s1', 's2'];
    const mustEnd = new Set(feeder.log.slice(Math.min(settledIndex, feeder.log.length)).map((e) => e.key));
    const pointer = control.find((c) => c.key === 'active' && c.value?.snapshotId === 's2')?.value?.timestamp;
    const earlyS2: Record<string, number> = {};
    for (const t of observed) {
      const seen = observer.firstSeen.get(t.topic)?.get('s2');
      earlyS2[t.topic] = pointer !== undefined && seen !== undefined && seen < pointer ? 1 : 0;
    }
    const poisonIn = feeder.poison;
    report = {
      config,
      schedule,
      runDir,
      startedAt,
      wallMs: 0,
      eventsIn: feeder.log.length,
      eventsByTopic: { listens: feeder.log.filter((e) => e.topic === 'listens').length, feedback: feeder.log.filter((e) => e.topic === 'feedback').length },
      users: expected.size,
      misroutedIn: feeder.log.filter((e) => e.partition !== undefined).length,
      reroutedCopies,
      changelogOffsets,
      poison: poisonIn,
      baseline,
      faults: results,
      ...(switchMs !== undefined ? { switchMs } : {}),
      lateUsers: mustEnd.size,
      drained,
      userVectors: checkUserVectors(uv, expected, refs, order, true, mustEnd),
      ...(alos ? { alos: checkUserVectors(alos, expected, refs, order, false, mustEnd) } : {}),
      candidates: checkCandidates(lists, requests, expected, refs, order, {
        k: config.k,
        policy: refreshPolicy({ minMove: 0, minIntervalMs: 0 }),
        exactlyOnce: true,
      }),
      deadLetters: {
        'user-vectors': checkDeadLetters(await dead('user-vectors'), poisonIn),
        ...(alos ? { [ALOS_APP]: checkDeadLetters(await dead(ALOS_APP), poisonIn) } : {}),
        candidates: checkDeadLetters(await dead('candidates'), []),
        doorman: checkDeadLetters(await dead('doorman'), []),
      },
      control: checkControlLog(control),
      earlyS2,
      referenceDeadLetters: [...refs.values()].reduce((n, r) => n + r.deadLetters, 0),
      selfExits: supervisor.selfExits,
      stopCodes,
      failures: [],
    };
    report.failures = failuresOf(report);
    report.wallMs = Date.now() - startedAt;
    // Repeated records under exactly-once: keep Kafka's own view of those partitions (producer ids, sequences, markers),
    // read once the broker has stopped, to tell the repeats Kafka caused (hanging.ts) from ours.
    for (const [topic, f] of [
      [Topics.userVectors, report.userVectors],
      [Topics.candidates, report.candidates],
    ] as const) {
      for (const p of new Set(f.repeats.map((r) => r.partition))) dumps.push({ topic, partition: p });
    }
    return report;
  } finally {
    clearTimeout(settleTimer);
    await observer.stop().catch(() => undefined);
    await feeder.stop().catch(() => undefined);
    await supervisor.killAll().catch(() => undefined);
    await feeder.close();
    await reader?.close().catch(() => undefined);
    await admin?.close().catch(() => undefined);
    log('stopping the chaos stack');
    activeCleanups.delete(emergency);
    await stack.down().catch((err) => log(`stopping the chaos stack failed: ${(err as Error).message}`));
    const dumped = new Map<string, Map<number, string>>();
    for (const d of dumps) {
      const file = join(runDir, `dump-${d.topic}-${d.partition}.txt`);
      await stack.dumpPartition(d.topic, d.partition, file).catch(() => undefined);
      log(`Kafka's dump of ${d.topic}-${d.partition} (repeated records there): ${file}`);
      if (existsSync(file)) (dumped.get(d.topic) ?? dumped.set(d.topic, new Map()).get(d.topic)!).set(d.partition, readFileSync(file, 'latin1'));
    }
    if (report && dumps.length > 0) attributeRepeatsToKafka(report, stack.brokerLog(startedAt), dumped, log);
  }
}

function instanceSpecs(c: ChaosConfig, runDir: string): InstanceSpec[] {
  const state = (name: string) => join(runDir, 'state', name);
  const common = ['--session-timeout-ms', '6000'];
  const specs: InstanceSpec[] = [
    {
      name: 'doorman',
      role: 'doorman',
      stateDir: state('doorman'),
      args: ['run', 'doorman', '--guarantee', 'exactly-once', '--state-dir', state('doorman'), ...common],
    },
  ];
  for (let i = 1; i <= c.userVectorsInstances; i++) {
    const name = `uv-${i}`;
    specs.push({
      name,
      role: 'user-vectors',
      stateDir: state(name),
      args: ['run', 'user-vectors', '--guarantee', 'exactly-once', '--opt', 'index=exact', '--state-dir', state(name), ...common],
    });
  }
  for (let i = 1; i <= c.alosInstances; i++) {
    const name = `alos-${i}`;
    specs.push({
      name,
      role: 'user-vectors-alos',
      stateDir: state(name),
      args: [
        'run',
        'user-vectors',
        '--application-id',
        ALOS_APP,
        '--guarantee',
        'at-least-once',
        '--opt',
        'index=exact',
        '--opt',
        `topic.userVectors=${ALOS_TOPICS.userVectors}`,
        '--opt',
        `topic.candidateRequests=${ALOS_TOPICS.candidateRequests}`,
        '--state-dir',
        state(name),
        ...common,
      ],
    });
  }
  for (let i = 1; i <= c.candidatesInstances; i++) {
    const name = `cand-${i}`;
    // min-move 0 and min-interval 0: every request whose vector moved gets its list, so each list can be checked exactly.
    specs.push({
      name,
      role: 'candidates',
      stateDir: state(name),
      args: [
        'run',
        'candidates',
        '--guarantee',
        'exactly-once',
        '--opt',
        'index=exact',
        '--opt',
        `k=${c.k}`,
        '--opt',
        'min-move=0',
        '--opt',
        'min-interval-ms=0',
        '--state-dir',
        state(name),
        ...common,
      ],
    });
  }
  return specs;
}

interface InjectContext {
  supervisor: Supervisor;
  stack: ChaosStack;
  feeder: Feeder;
  config: ChaosConfig;
  env: Record<string, string>;
  files: { s1: string; s2: string };
  log: (line: string) => void;
  r: FaultResult;
}

function targetOf(sup: Supervisor, role: Role | undefined, instance: number | undefined): string {
  const names = sup.instances(role);
  if (names.length === 0) throw new Error(`no instance of ${role}`);
  return names[(instance ?? 0) % names.length]!;
}

async function waitRunning(sup: Supervisor, name: string, timeoutMs = 120_000): Promise<void> {
  // The supervisor may have restarted it meanwhile (it exited by itself): wait on whichever process is current.
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = sup.process(name);
    try {
      await p.waitForLog(/"running"/, Math.max(1000, deadline - Date.now()));
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
}

const HELD_BACK = /record held back by a retriable failure/;

/** Carries out one fault; sets r.endedAt when the fault is over (the process back, the service up). */
async function inject(f: Fault, c: InjectContext): Promise<{ switchMs?: number } | void> {
  const { supervisor: sup, r } = c;
  switch (f.kind) {
    case 'kill-processing': {
      const name = (r.instance = targetOf(sup, f.target, f.instance));
      const pid = (await sup.kill9(name)).pid;
      r.notes.push(`kill -9 ${name} (pid ${pid})`);
      await sleep(f.downMs ?? 0);
      sup.restart(name, { wipeState: f.wipeState ?? false });
      r.endedAt = Date.now();
      await waitRunning(sup, name);
      return;
    }
    case 'kill-restore': {
      const name = (r.instance = targetOf(sup, f.target, f.instance));
      await sup.kill9(name);
      const again = sup.restart(name, { wipeState: f.wipeState ?? false });
      await again.waitForLog(/"topology started"/, 120_000);
      await sleep(f.afterStartMs ?? 1000);
      const restored = /"tasks assigned"/.test(again.logs);
      await sup.kill9(name);
      r.notes.push(`killed ${name} (pid ${again.pid}) ${restored ? 'after its tasks were restored' : 'while it joined the group and restored its tasks'}`);
      await sleep(500);
      sup.restart(name);
      r.endedAt = Date.now();
      await waitRunning(sup, name);
      return;
    }
    case 'switch':
    case 'kill-switch': {
      const name = f.kind === 'kill-switch' ? (r.instance = targetOf(sup, f.target, f.instance)) : undefined;
      await runCli('publish', ['publish', c.files.s2, '--snapshot-id', 's2', '--model', 'chaos'], c.env, sup.logStream('cli'));
      const staged = Date.now();
      if (name) {
        await sleep(f.afterStageMs ?? 0);
        await sup.kill9(name);
        r.notes.push(`S2 staged; kill -9 ${name} ${Date.now() - staged} ms later`);
        await sleep(1000);
        sup.restart(name);
      }
      r.endedAt = Date.now();
      await runCli('activate', ['activate-when-ready', 's2', '--timeout-ms', '300000'], c.env, sup.logStream('cli'), 320_000);
      const switchMs = Date.now() - staged;
      r.notes.push(`S2 active ${(switchMs / 1000).toFixed(1)} s after it was staged`);
      c.log(`  S2 active ${(switchMs / 1000).toFixed(1)} s after it was staged`);
      if (name) await waitRunning(sup, name);
      return { switchMs };
    }
    case 'peer-restarts': {
      const name = (r.instance = targetOf(sup, f.target, f.instance));
      for (let i = 0; i < (f.times ?? 3); i++) {
        await sup.kill9(name);
        sup.restart(name);
        await sleep(f.gapMs ?? 2000);
      }
      r.endedAt = Date.now();
      await waitRunning(sup, name);
      return;
    }
    case 'rolling-restart': {
      const names = [...sup.instances('user-vectors'), ...sup.instances('user-vectors-alos'), ...sup.instances('candidates')];
      for (const name of names) {
        const code = await sup.stop(name);
        r.notes.push(`${name} stopped with ${code}`);
        sup.restart(name);
        await waitRunning(sup, name);
      }
      r.endedAt = Date.now();
      return;
    }
    case 'broker-restart': {
      // A crash, not a controlled shutdown: see ChaosStack.kafkaCrash for what a controlled
      // shutdown of a one-broker cluster does to transactions.
      await c.stack.kafkaCrash();
      await sleep(f.downMs ?? 3000);
      await c.stack.kafkaUp();
      r.endedAt = Date.now();
      return;
    }
    case 'registry-restart': {
      const next = await c.feeder.nextListenSchemaVersion();
      await c.stack.registryDown();
      next.use();
      r.notes.push(`listens written with schema version ${next.version}, new to the workers, while the registry is down`);
      const heldBefore = sup.countInLogs(HELD_BACK);
      await sleep(f.downMs ?? 5000);
      await c.stack.registryUp();
      r.endedAt = Date.now();
      // The log streams are asynchronous: give the lines a moment to land.
      await sleep(500);
      r.notes.push(`${sup.countInLogs(HELD_BACK) - heldBefore} "held back, retrying" log lines`);
      return;
    }
    case 'poison': {
      const sent = await c.feeder.sendPoison(f.poison ?? []);
      r.notes.push(sent.map((p) => `${p.kind}@${p.topic}-${p.partition}`).join(', '));
      r.endedAt = Date.now();
      return;
    }
  }
}

/** Probes every partition: the time from `from` until each output reflects the probe events. */
async function measureRecovery(feeder: Feeder, observer: OutputObserver, c: ChaosConfig, from: number): Promise<FaultResult['recoveryMs']> {
  const targets = await feeder.probe();
  const out: FaultResult['recoveryMs'] = {};
  const topics: [keyof FaultResult['recoveryMs'], string][] = [
    ['userVectors', Topics.userVectors],
    ['candidates', Topics.candidates],
    ...(c.alosInstances > 0 ? ([['alos', ALOS_TOPICS.userVectors]] as [keyof FaultResult['recoveryMs'], string][]) : []),
  ];
  const deadline = Date.now() + c.recoveryTimeoutMs;
  while (Date.now() < deadline) {
    for (const [name, topic] of topics) {
      if (out[name] !== undefined) continue;
      if ([...targets].every(([user, v]) => observer.versionOf(topic, user) >= v)) out[name] = Date.now() - from;
    }
    if (topics.every(([name]) => out[name] !== undefined)) break;
    await sleep(100);
  }
  return out;
}

/** Waits until no group has a committed record after its committed offset on any of its topics. */
async function waitDrained(
  admin: KafkaAdmin,
  reader: PartitionReader,
  groups: [string, string][],
  timeoutMs: number,
  log: (l: string) => void,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const pending: string[] = [];
    try {
      for (const [group, topic] of groups) {
        const ends = await admin.topicOffsets(topic);
        const committed = await admin.committedOffsets(group, topic);
        let n = 0;
        for (const e of ends) {
          const c = committed.find((x) => x.partition === e.partition)?.offset;
          const from = c !== undefined && c !== '-1' ? BigInt(c) : BigInt(e.low);
          if (from >= BigInt(e.high)) continue;
          await readRange(reader, { topic, partition: e.partition }, from, BigInt(e.high), (records) => void (n += records.length));
        }
        if (n) pending.push(`${group}/${topic}: ${n}`);
      }
    } catch (err) {
      pending.push(`(${(err as Error).message})`);
    }
    if (pending.length === 0) return true;
    const now = pending.join(', ');
    if (now !== last) log(`  pending: ${now}`);
    last = now;
    await sleep(1000);
  }
  log(`  not drained after ${timeoutMs / 1000} s: ${last}`);
  return false;
}

const fmt = (ms: number | undefined) => (ms === undefined ? '—' : (ms / 1000).toFixed(1));

/**
 * Counts the exactly-once repeats Kafka caused by dropping commit markers at
 * a restart (hanging.ts), and leaves only the others among the failures.
 */
function attributeRepeatsToKafka(report: ChaosReport, brokerLog: string, dumps: Map<string, Map<number, string>>, log: (line: string) => void): void {
  const dropped = droppedMarkerPartitions(brokerLog);
  for (const [topic, f] of [
    [Topics.userVectors, report.userVectors],
    [Topics.candidates, report.candidates],
  ] as const) {
    if (f.repeats.length === 0) continue;
    f.repeatedKafkaDroppedMarkers = repeatsFromDroppedMarkers(topic, f.repeats, dropped, dumps.get(topic) ?? new Map());
    log(
      `${topic}: ${f.repeated} repeated, ${f.repeatedKafkaDroppedMarkers} of them in transactions whose commit markers the broker dropped at its restart` +
        (dropped.size ? ` (it logged dropped markers for ${[...dropped.keys()].join(', ')})` : ' (it logged none)'),
    );
  }
  report.failures = failuresOf(report);
}

/** Every figure that must be zero and is not (and every promise not kept), one line each. */
export function failuresOf(r: ChaosReport): string[] {
  const out: string[] = [];
  const zero = (what: string, n: number) => void (n !== 0 && out.push(`${what}: ${n}`));
  for (const [name, f] of [['user-vectors (exactly-once)', r.userVectors], ...(r.alos ? [[`${ALOS_APP} (at-least-once)`, r.alos]] : [])] as [
    string,
    UserVectorFigures,
  ][]) {
    zero(`${name}: events lost`, f.lost);
    zero(`${name}: versions repeated (double-applied)`, f.repeated - (f.repeatedKafkaDroppedMarkers ?? 0));
    zero(`${name}: events applied twice to the state`, f.overApplied);
    zero(`${name}: records differing from the reference`, f.differs);
    zero(`${name}: records of keys that are no good user`, f.unexpectedKeys);
    zero(`${name}: partitions whose snapshots go back (I3)`, f.orderPartitions.length);
    zero(`${name}: users whose snapshots go back`, f.orderUsers);
    zero(`${name}: users not switched to S2`, f.notSwitched);
  }
  zero('candidates: last requests never answered', r.candidates.lost);
  zero('candidates: lists repeated', r.candidates.repeated - (r.candidates.repeatedKafkaDroppedMarkers ?? 0));
  zero('candidates: lists differing from the reference', r.candidates.differs);
  zero('candidates: partitions whose snapshots go back (I3)', r.candidates.orderPartitions.length);
  zero('candidates: users whose snapshots go back', r.candidates.orderUsers);
  for (const [app, d] of Object.entries(r.deadLetters)) {
    zero(`${app}-dlq: good records dead-lettered`, d.goodRecords);
    zero(`${app}-dlq: poison records not dead-lettered`, d.missing);
    zero(`${app}-dlq: poison records with the wrong code`, d.wrongCode);
    if (app !== ALOS_APP) zero(`${app}-dlq: poison records dead-lettered twice`, d.duplicates);
  }
  zero('S2 activated before every partition was READY (I1)', r.control.earlyActivations);
  zero('snapshots FAILED or aborted', r.control.failed.length);
  if (r.control.active !== 's2') out.push(`active snapshot at the end: ${r.control.active}, expected s2`);
  for (const [topic, n] of Object.entries(r.earlyS2)) zero(`${topic}: S2 records visible before S2 was active`, n);
  zero('good events dead-lettered by the reference (a harness error)', r.referenceDeadLetters);
  if (!r.drained) out.push('the groups did not catch up with their inputs');
  for (const f of r.faults) {
    if (f.error) out.push(`fault #${f.fault.index} ${f.fault.kind} could not be carried out: ${f.error.split('\n')[0]}`);
    const missing = Object.entries({
      userVectors: f.recoveryMs.userVectors,
      candidates: f.recoveryMs.candidates,
      ...(r.alos ? { alos: f.recoveryMs.alos } : {}),
    })
      .filter(([, v]) => v === undefined)
      .map(([k]) => k);
    if (missing.length) out.push(`fault #${f.fault.index} ${f.fault.kind}: no recovery of ${missing.join(', ')} within ${r.config.recoveryTimeoutMs / 1000} s`);
  }
  return out;
}
