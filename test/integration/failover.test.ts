/**
 * Failover with standby replicas, with real processes: two user-vectors
 * instances, each keeping a warm copy of the other's tasks
 * (`--standby-replicas 1`). One is killed with SIGKILL; the survivor must
 * answer queries for the users of the moved partitions, with their whole
 * state, within 30 s (the figure is printed; docs/BENCHMARKS.md has it), and
 * it must have taken the standbys over rather than restored from scratch.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publishSnapshot, readControlView, writeControl } from '../../src/app/snapshots';
import type { KafkaAdmin, KafkaClient, KafkaProducer } from '../../src/runtime/kafka/client';
import { partitionForKey } from '../../src/runtime/partitioner';
import { AvroSerde } from '../../src/runtime/serde/avro-serde';
import { loadSchema } from '../../src/vectors/contracts';
import { planMember } from '../../src/vectors/doorman/doorman-state';
import type { ListenEvent } from '../../src/vectors/records';
import { writeJsonlSnapshot } from '../../src/vectors/snapshot/formats';
import { clusteredSnapshot } from '../unit/topologies/vectors-fixtures';
import { createVectorsTopics, freePort, kafkaClient, registry, uniqueName, waitCaughtUp, waitFor } from './helpers';
import { Worker } from './workers';

jest.setTimeout(300_000);

const PARTITIONS = 4;
const USERS = 400;
const LISTENS_PER_USER = 5;
let kafka: KafkaClient;
let admin: KafkaAdmin;
let producer: KafkaProducer;
const procs: Worker[] = [];
let dir: string;

beforeAll(async () => {
  kafka = kafkaClient('failover');
  admin = await kafka.admin();
  producer = await kafka.producer();
  dir = mkdtempSync(join(tmpdir(), 'vectors-failover-'));
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await producer?.close();
  await admin?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The value of a metric summed over its series, from a Prometheus text page. */
async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/** A metric's value per `partition` label, from a Prometheus text page. */
async function series(url: string, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const l of text.split('\n')) {
    const m = new RegExp(`^${name}\\{.*partition="(\\d+)".*\\} (\\S+)$`).exec(l);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** The task ids of the last "tasks assigned" line a worker logged. */
function lastAssignment(w: Worker): string[] {
  const line = w.logs
    .trim()
    .split('\n')
    .filter((l) => l.includes('"tasks assigned"'))
    .pop();
  return line ? (JSON.parse(line) as { tasks: string[] }).tasks : [];
}

it('kill -9 of one of two instances: the survivor serves the moved users from its standby replicas within 30 s', async () => {
  const tag = uniqueName('failover');
  const { t, snapTopics } = await createVectorsTopics(admin, tag, PARTITIONS);
  const reg = registry();
  const uvName = `${tag}-uv`;
  await writeControl(kafka, reg, [planMember(uvName, PARTITIONS, Date.now())], snapTopics);
  const s1 = `${tag}-s1`;
  await writeJsonlSnapshot(join(dir, 's1.jsonl'), clusteredSnapshot(s1, 2000, 16, 1));

  const common = ['--opt', `topic.control=${t.control}`, '--session-timeout-ms', '6000'];
  procs.push(
    new Worker(
      'doorman',
      ['run', 'doorman', '--opt', `name=${tag}-doorman`, '--guarantee', 'exactly-once', '--state-dir', join(dir, 'doorman'), ...common],
      {},
      join(dir, 'doorman.log'),
    ),
  );
  const ports = [await freePort(), await freePort()];
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const [w1, w2] = ['w1', 'w2'].map((id, i) => {
    const w = new Worker(
      id,
      [
        'run',
        'user-vectors',
        '--opt',
        `name=${uvName}`,
        '--opt',
        'index=exact',
        '--opt',
        `snapshot-prefix=${snapTopics.prefix}`,
        ...Object.entries(t)
          .filter(([k]) => k !== 'control')
          .flatMap(([k, v]) => ['--opt', `topic.${k}=${v}`]),
        '--state-dir',
        join(dir, id),
        '--http',
        `127.0.0.1:${ports[i]}`,
        '--standby-replicas',
        '1',
        ...common,
      ],
      {},
      join(dir, `${id}.log`),
    );
    procs.push(w);
    return w;
  }) as [Worker, Worker];
  await Promise.all([w1, w2].map((w) => w.waitForLog(/"running"/, 60_000)));

  await publishSnapshot(kafka, reg, { file: join(dir, 's1.jsonl'), snapshotId: s1, model: 'test', topics: snapTopics });
  await waitFor(async () => (await readControlView(kafka, reg, snapTopics)).active === s1, 90_000, 'S1 active');
  const serde = new AvroSerde<ListenEvent>({ registry: reg, subject: `${t.listens}-value`, schema: loadSchema('ListenEvent') });
  await serde.prepare();
  const records = [];
  for (let seq = 0; seq < USERS * LISTENS_PER_USER; seq++) {
    const userId = `u${seq % USERS}`;
    const value = {
      eventId: `ev${seq}`,
      userId,
      entityId: `e${(seq * 7) % 2000}`,
      msPlayed: 200_000,
      durationMs: 200_000,
      context: 'radio',
      timestamp: Date.now(),
    };
    records.push({ topic: t.listens, key: userId, value: serde.serialize(value) });
  }
  await producer.send(records);
  await waitCaughtUp(admin, uvName, t.listens, 90_000);

  // Split two and two, each keeping the other's tasks warm, and the copies caught up with the changelogs.
  await waitFor(() => lastAssignment(w1).length === 2 && lastAssignment(w2).length === 2, 60_000, 'the tasks split two and two');
  const moved = lastAssignment(w2);
  const changelog = `${uvName}-users-changelog`;
  const movedChangelog = async () =>
    (await admin.topicOffsets(changelog)).filter((o) => moved.includes(`0_${o.partition}`)).reduce((n, o) => n + Number(BigInt(o.high) - BigInt(o.low)), 0);
  await waitFor(async () => (await metric(urls[0]!, 'vectors_runtime_standby_tasks')) === 2, 60_000, 'w1 keeping two standbys');
  // Caught up: each standby read its changelog to the end (lag 0 at its last read). (What it applied can be less than the
  // changelog: w1 may have run these tasks before w2 joined, and the standby starts from that checkpoint.)
  await waitFor(
    async () => {
      const lags = await series(urls[0]!, 'vectors_runtime_standby_lag_records');
      return moved.every((task) => lags.get(task.split('_')[1]!) === 0);
    },
    60_000,
    'w1’s standbys caught up with w2’s changelogs',
  );
  const movedUsers = Array.from({ length: USERS }, (_, i) => `u${i}`).filter((u) => moved.includes(`0_${partitionForKey(Buffer.from(u), PARTITIONS)}`));
  // One user per moved partition, asked of the survivor: answered by w2 through forwarding until it dies.
  const probes = moved.map((task) => movedUsers.find((u) => `0_${partitionForKey(Buffer.from(u), PARTITIONS)}` === task)!);
  const restoredBefore = await metric(urls[0]!, 'vectors_runtime_restore_records_total');

  const killedAt = Date.now();
  expect(await w2.kill9()).toBeNull();
  const answered = new Map<string, number>();
  await waitFor(
    async () => {
      for (const u of probes) {
        if (answered.has(u)) continue;
        const res = await fetch(`${urls[0]}/v1/users/${u}/vector`).catch(() => undefined);
        if (res?.status === 200 && ((await res.json()) as { eventCount: number }).eventCount === LISTENS_PER_USER) answered.set(u, Date.now());
      }
      return answered.size === probes.length;
    },
    60_000,
    'the survivor answering for a user of every moved partition',
    100,
  );
  const failoverS = (Math.max(...answered.values()) - killedAt) / 1000;
  console.log(`failover with standby replicas: the survivor answered for every moved partition ${failoverS.toFixed(1)} s after kill -9 (session timeout 6 s)`);
  expect(failoverS).toBeLessThanOrEqual(30);

  // Every moved user, with its whole state; the stores were the standbys', so almost nothing was read again.
  for (const u of movedUsers.slice(0, 50)) {
    const res = await fetch(`${urls[0]}/v1/users/${u}/vector`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { eventCount: number }).eventCount).toBe(LISTENS_PER_USER);
  }
  expect(w1.logs.match(/standby taken over/g)?.length).toBe(moved.length);
  expect((await metric(urls[0]!, 'vectors_runtime_restore_records_total')) - restoredBefore).toBeLessThan(await movedChangelog());
  expect(w1.child.exitCode).toBeNull();
});
