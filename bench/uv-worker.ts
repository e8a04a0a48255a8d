/**
 * One user-vectors instance for bench/growth.ts, in a process of its own:
 * `tsx bench/uv-worker.ts '<WorkerOptions as JSON>'`. It builds the runner
 * bench/bench.ts builds (same topology, application id = topology name, no
 * search index) on a state directory of its own, and reports on stdout, one
 * JSON line each:
 *
 * - `{"event":"pid","pid":N}` at once (the process to sample: tsx runs this
 *   file in a child of its own);
 * - `{"event":"ready"}` once the active snapshot is loaded and the runner started;
 * - `{"event":"tasks","assigned":[...],"restoring":[...],"standby":[...],"at":ms}` whenever its tasks change (epoch ms);
 * - `{"event":"standby","records":N,"lag":{"<partition>":N}}` whenever its standby replicas applied more changelog records or their lag changed;
 * - `{"event":"first","at":ms}` when it takes in its first listen (epoch ms);
 * - `{"event":"stopped","records":N}` after SIGTERM stopped it gracefully (exit 0).
 *
 * The runner's log goes to stderr as JSON lines (`at`: epoch ms).
 */
// First, as in bench.ts: the same kafkajs with the runtime's pooled encoder.
import '../src/runtime/kafka/kafkajs-encoder-patch';
import { KafkaSnapshotSource, readControlView, type SnapshotTopics } from '../src/app/snapshots';
import { KafkajsClient } from '../src/runtime/kafka/kafkajs-client';
import { TopologyRunner, type ProcessingGuarantee } from '../src/runtime/runner/topology-runner';
import { ConfluentSchemaRegistry } from '../src/runtime/serde/confluent-registry';
import { SnapshotCatalog } from '../src/vectors/snapshot-catalog';
import { userVectors } from '../topologies/user-vectors';
import { recordsIn, sleep } from './common';

export interface WorkerOptions {
  brokers: string[];
  registryUrl: string;
  /** Topology name, hence application id and consumer group. */
  name: string;
  topics: Record<'listens' | 'feedback' | 'control' | 'userVectors' | 'candidateRequests', string>;
  snapshotTopics: SnapshotTopics;
  stateDir: string;
  guarantee: ProcessingGuarantee;
  /** Standby replicas per task (default 0). */
  standbyReplicas?: number;
  /** Group session timeout (default the runner's, 30 s). */
  sessionTimeoutMs?: number;
}

const say = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2] ?? '') as WorkerOptions;
  // Installed first: a SIGTERM while the snapshot loads must still end in a graceful stop.
  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGTERM', () => {
      stopping = true;
      resolve();
    });
  });
  say({ event: 'pid', pid: process.pid });
  const kafka = new KafkajsClient({ brokers: o.brokers, clientId: `bench-${o.name}`, logLevel: 'nothing' });
  const registry = new ConfluentSchemaRegistry(o.registryUrl);
  const catalog = new SnapshotCatalog(new KafkaSnapshotSource(kafka, registry, o.snapshotTopics), { index: 'exact' }); // the update path does no search
  // Loaded before the runner starts, as bench.ts's runner finds it loaded in its catalog: the measured time is processing only.
  const view = await readControlView(kafka, registry, o.snapshotTopics);
  const manifest = view.active ? view.snapshots.get(view.active)?.manifest : undefined;
  if (!manifest) throw new Error(`no active snapshot with a manifest on ${o.snapshotTopics.control ?? 'the control topic'}`);
  await catalog.ensure(manifest);

  const runner = new TopologyRunner({
    topology: userVectors({ catalog, name: o.name, topics: o.topics }),
    kafka,
    registry,
    stateDir: o.stateDir,
    guarantee: o.guarantee,
    ...(o.standbyReplicas !== undefined ? { standbyReplicas: o.standbyReplicas } : {}),
    ...(o.sessionTimeoutMs !== undefined ? { sessionTimeoutMs: o.sessionTimeoutMs } : {}),
    log: (level, message, fields) => process.stderr.write(`${JSON.stringify({ at: Date.now(), level, message, ...fields })}\n`),
  });
  await runner.start();
  say({ event: 'ready' });

  // Assignment and the first record, polled: the runner has no events for either.
  let tasks = '';
  let first = false;
  let standby = '';
  const poll = setInterval(() => {
    const t = { ...runner.taskReadiness, standby: runner.standbyTaskIds };
    const now = JSON.stringify(t);
    if (now !== tasks) {
      tasks = now;
      say({ event: 'tasks', ...t, at: performance.timeOrigin + performance.now() });
    }
    void standbyProgress(runner).then((p) => {
      const now = JSON.stringify(p);
      if (now !== standby) say({ event: 'standby', ...p, lag: p.lag });
      standby = now;
    });
  }, 100);
  void (async () => {
    while (!stopping && !first) {
      if ((await recordsIn(runner, 'listens')) > 0) {
        first = true;
        say({ event: 'first', at: performance.timeOrigin + performance.now() });
      } else await sleep(5);
    }
  })();

  await stopped;
  clearInterval(poll);
  await runner.stop();
  say({ event: 'stopped', records: await recordsIn(runner, 'listens') });
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${JSON.stringify({ level: 'error', message: 'uv-worker failed', error: String((err as Error)?.stack ?? err) })}\n`);
    process.exit(1);
  },
);

/** Changelog records this instance's standby replicas applied so far, and each one's lag (by partition) as of its last read. */
async function standbyProgress(runner: TopologyRunner): Promise<{ records: number; lag: Record<string, number> }> {
  const applied = await runner.metrics.registry.getSingleMetric('vectors_runtime_standby_records_total')?.get();
  const lag = await runner.metrics.registry.getSingleMetric('vectors_runtime_standby_lag_records')?.get();
  return {
    records: (applied?.values ?? []).reduce((n, v) => n + v.value, 0),
    lag: Object.fromEntries((lag?.values ?? []).map((v) => [String(v.labels.partition), v.value])),
  };
}
