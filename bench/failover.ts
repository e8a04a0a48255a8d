/**
 * `npm run bench:failover`: how long the user-vectors application takes to
 * serve again after kill -9 of one of its two instances, without and with
 * standby replicas, in one run on the shared stack.
 *
 * Setup (the benchmark's data: `npm run bench`'s snapshot, 100,000 × 128,
 * and its listens, 200,000 of 100,000 users over 12 partitions, made active
 * and written once): for each configuration, two bench/uv-worker.ts
 * processes of a fresh application id (own changelogs, empty state
 * directories), group session timeout 6 s, process every listen; with
 * standbys, each then keeps the other's six tasks warm until its standbys
 * hold all of the other's changelog records. Then worker 1 gets SIGKILL.
 *
 * Measured: seconds from the kill until worker 0 runs all twelve tasks with
 * none restoring (as `restart-serving-s` of `npm run bench` counts "serving");
 * the floor is the session timeout, after which the group notices the
 * death. The row `failover-serving-s` goes to docs/benchmarks.json, ours
 * with standby replicas against the anchor without them, same run.
 *
 * Options: --users, --events, --entities, --dims, --partitions,
 * --session-timeout-ms (6000), --guarantee, --out (docs/benchmarks.json).
 */
// First, as in bench.ts: the same kafkajs with the runtime's pooled encoder.
import '../src/runtime/kafka/kafkajs-encoder-patch';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { KafkaAdmin } from '../src/runtime/kafka/client';
import { KafkajsClient } from '../src/runtime/kafka/kafkajs-client';
import type { ProcessingGuarantee } from '../src/runtime/runner/topology-runner';
import { ConfluentSchemaRegistry } from '../src/runtime/serde/confluent-registry';
import { activateSnapshot, type BenchmarkRow, deleteSubjects, listenBatches, vectorsSnapshotTopics, vectorsTopics } from './bench';
import { committedAll, machine, sleep } from './common';
import { UvWorker } from './uv-worker-process';

const ROOT = join(__dirname, '..');

interface Options {
  users: number;
  events: number;
  entities: number;
  dims: number;
  partitions: number;
  sessionTimeoutMs: number;
  guarantee: ProcessingGuarantee;
  out: string;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      users: { type: 'string', default: '100000' },
      events: { type: 'string', default: '200000' },
      entities: { type: 'string', default: '100000' },
      dims: { type: 'string', default: '128' },
      partitions: { type: 'string', default: '12' },
      'session-timeout-ms': { type: 'string', default: '6000' },
      guarantee: { type: 'string', default: 'at-least-once' },
      out: { type: 'string', default: join('docs', 'benchmarks.json') },
    },
  });
  const int = (name: 'users' | 'events' | 'entities' | 'dims' | 'partitions' | 'session-timeout-ms') => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be an integer ≥ 1, got '${values[name]}'`);
    return n;
  };
  if (values.guarantee !== 'at-least-once' && values.guarantee !== 'exactly-once') throw new Error(`--guarantee must be at-least-once or exactly-once`);
  return {
    users: int('users'),
    events: int('events'),
    entities: int('entities'),
    dims: int('dims'),
    partitions: int('partitions'),
    sessionTimeoutMs: int('session-timeout-ms'),
    guarantee: values.guarantee,
    out: values.out,
  };
}

async function until(what: string, check: () => boolean | Promise<boolean>, workers: UvWorker[], timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    const gone = workers.find((w) => w.exitCode !== undefined);
    if (gone) throw new Error(`worker ${gone.index} exited (${gone.exitCode}) while waiting for ${what}:\n${gone.tail()}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(50);
  }
}

interface FailoverRun {
  standbyReplicas: number;
  /** Seconds from the kill until the survivor runs every task, none restoring. */
  servingS: number;
  /** Changelog records the survivor's standbys had applied before the kill. */
  standbyRecords: number;
}

async function failover(
  o: Options,
  standbyReplicas: number,
  env: { brokers: string[]; registryUrl: string; admin: KafkaAdmin; tag: string; dir: string; t: ReturnType<typeof vectorsTopics> },
): Promise<FailoverRun> {
  const { admin, tag, dir, t } = env;
  const name = `${tag}-fo${standbyReplicas}`;
  const topics = { ...t, userVectors: `${name}-out` };
  await admin.createTopics([{ name: topics.userVectors, partitions: o.partitions }]);
  const workers = [0, 1].map(
    (i) =>
      new UvWorker(
        i,
        {
          brokers: env.brokers,
          registryUrl: env.registryUrl,
          name,
          topics,
          snapshotTopics: vectorsSnapshotTopics(tag, t),
          stateDir: join(dir, name, `worker-${i}`),
          guarantee: o.guarantee,
          standbyReplicas,
          sessionTimeoutMs: o.sessionTimeoutMs,
        },
        join(dir, `${name}-worker-${i}.log`),
      ),
  );
  const [survivor, victim] = workers as [UvWorker, UvWorker];
  try {
    const half = o.partitions / 2;
    await until(
      'the tasks split between the two workers, none restoring',
      () => workers.every((w) => w.ready && w.tasks.assigned.length >= Math.floor(half) && w.tasks.restoring.length === 0),
      workers,
    );
    const ends = await admin.topicOffsets(t.listens);
    await until('every listen committed', () => committedAll(admin, name, t.listens, ends), workers, 600_000);
    const changelog = `${name}-users-changelog`;
    const victimChangelog = async () =>
      (await admin.topicOffsets(changelog))
        .filter((p) => victim.tasks.assigned.includes(`0_${p.partition}`))
        .reduce((n, p) => n + Number(BigInt(p.high) - BigInt(p.low)), 0);
    if (standbyReplicas > 0) {
      await until('the survivor to keep the victim’s tasks as standbys', () => sameSet(survivor.tasks.standby, victim.tasks.assigned), workers);
      // Caught up: every standby read to the end of its changelog (a lag of 0 at its last read).
      await until('the survivor’s standbys to catch up', () => victim.tasks.assigned.every((t) => survivor.standbyLag[t.split('_')[1]!] === 0), workers);
    }
    console.log(
      `  standby ${standbyReplicas}: ${survivor.tasks.assigned.length} + ${victim.tasks.assigned.length} tasks, every listen committed; the victim's tasks hold ${await victimChangelog()} changelog records${standbyReplicas > 0 ? `, the survivor's standbys applied ${survivor.standbyRecords} of them${survivor.standbyRecords < (await victimChangelog()) ? ' (the rest it held from before the group split)' : ''} and are caught up` : ''}; kill -9 of worker 1`,
    );
    const standbyRecords = survivor.standbyRecords;
    const killedAt = performance.timeOrigin + performance.now();
    await victim.kill9();
    await until(
      'the survivor running every task, none restoring',
      () => survivor.tasks.assigned.length === o.partitions && survivor.tasks.restoring.length === 0,
      [survivor],
    );
    const servingS = (survivor.tasks.at - killedAt) / 1000;
    console.log(`  standby ${standbyReplicas}: the survivor runs all ${o.partitions} tasks ${servingS.toFixed(2)} s after the kill`);
    console.log(`    where the time went, from the survivor's log (s after the kill): ${timeline(survivor.logFile, killedAt)}`);
    return { standbyReplicas, servingS, standbyRecords };
  } finally {
    for (const w of workers) await w.stop();
  }
}

/** The survivor's assignment and promotions after the kill, from its log: when the group gave it every task, and when the moved ones began processing. */
function timeline(logFile: string, killedAt: number): string {
  const lines = readFileSync(logFile, 'utf8')
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as { at?: number; message?: string; task?: string; tasks?: string[] }];
      } catch {
        return [];
      }
    })
    .filter((l) => (l.at ?? 0) >= killedAt);
  const s = (at: number | undefined) => (at === undefined ? '?' : ((at - killedAt) / 1000).toFixed(2));
  const assigned = lines.find((l) => l.message === 'tasks assigned');
  const restored = lines.filter((l) => l.message === 'task restored; processing').map((l) => l.at!);
  const takenOver = lines.filter((l) => l.message?.startsWith('standby taken over')).length;
  return `tasks assigned ${s(assigned?.at)}; ${restored.length} tasks began processing from ${s(restored[0])} to ${s(restored[restored.length - 1])}; ${takenOver} standbys taken over`;
}

const sameSet = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join() === [...b].sort().join();

async function main(): Promise<void> {
  const o = options();
  const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
  const tag = `failover-${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), 'vectors-failover-'));
  const kafka = new KafkajsClient({ brokers, clientId: 'bench-failover', logLevel: 'nothing' });
  const reg = new ConfluentSchemaRegistry(registryUrl);
  const admin = await kafka.admin();
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  console.log(
    `${machine()}; load average ${load()}; ${o.events} listens of ${o.users} users, ${o.partitions} partitions, ${o.guarantee}, session timeout ${o.sessionTimeoutMs} ms; topics ${tag}-*`,
  );
  const runs: FailoverRun[] = [];
  try {
    const uvName = `${tag}-uv`;
    const t = vectorsTopics(tag, uvName);
    await admin.createTopics([
      ...[t.listens, t.feedback, t.userVectors, t.candidateRequests].map((name) => ({ name, partitions: o.partitions })),
      { name: t.control, partitions: 1, config: { 'cleanup.policy': 'compact' } },
    ]);
    await activateSnapshot(o, kafka, reg, tag, dir, uvName, t);
    const producer = await kafka.producer();
    for await (const batch of listenBatches(reg, t.listens, o)) await producer.send(batch);
    await producer.close();
    console.log(`snapshot ${o.entities} × ${o.dims} active, ${o.events} listens written`);
    for (const n of [0, 1]) runs.push(await failover(o, n, { brokers, registryUrl, admin, tag, dir, t }));
  } finally {
    const mine = (await admin.listTopics()).filter((x) => x.startsWith(tag));
    await admin.deleteTopics(mine).catch((err) => console.error(`could not delete topics ${tag}-*: ${String(err)}`));
    await deleteSubjects(registryUrl, tag).catch((err) => console.error(`could not delete registry subjects ${tag}-*: ${String(err)}`));
    await admin.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const anchor = runs.find((r) => r.standbyReplicas === 0)!.servingS;
  const rows: BenchmarkRow[] = runs.map((r) => ({
    scenario: `failover-serving-s${o.guarantee === 'exactly-once' ? '-eos' : ''}`,
    run: `vectors-standby-${r.standbyReplicas}`,
    value: Number(r.servingS.toFixed(2)),
    unit: 's',
    anchor: Number(anchor.toFixed(2)),
    ratio: Number((r.servingS / anchor).toFixed(3)),
  }));
  for (const r of rows) console.log(`  ${r.scenario} ${r.run}: ${r.value} s, ${r.ratio} of the run without standby replicas`);
  const out = resolve(ROOT, o.out);
  const kept = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as BenchmarkRow[]).filter((r) => !rows.some((n) => n.scenario === r.scenario)) : [];
  writeFileSync(out, `${JSON.stringify([...kept, ...rows], null, 2)}\n`);
  console.log(`wrote ${out}; load average now ${load()}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench:failover: ${(err as Error)?.stack ?? String(err)}`);
    process.exit(1);
  },
);
