/**
 * The query API on the real broker and registry: two user-vectors instances,
 * each with its HTTP server; any instance answers any user (forwarding to the
 * partition's owner), and every answer is computed in one snapshot (I6), also
 * while the doorman switches snapshots and when a snapshot is pinned.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiMetricNames, QueryServer, SERVED_BY_HEADER } from '../../src/api/query-server';
import type { CandidatesAnswer, SimilarAnswer, UserVectorAnswer } from '../../src/api/queries';
import { ControlLog, KafkaSnapshotSource, publishSnapshot, readControlView } from '../../src/app/snapshots';
import type { KafkaAdmin, KafkaClient, KafkaProducer } from '../../src/runtime/kafka/client';
import { TopologyRunner } from '../../src/runtime/runner/topology-runner';
import { AvroSerde } from '../../src/runtime/serde/avro-serde';
import { loadSchema } from '../../src/vectors/contracts';
import { planMember } from '../../src/vectors/doorman/doorman-state';
import type { ListenEvent } from '../../src/vectors/records';
import { SnapshotCatalog } from '../../src/vectors/snapshot-catalog';
import type { EntityMatrix } from '../../src/vectors/snapshot/entity-matrix';
import { writeJsonlSnapshot } from '../../src/vectors/snapshot/formats';
import { writeControl } from '../../src/app/snapshots';
import { doorman } from '../../topologies/doorman';
import { userVectors } from '../../topologies/user-vectors';
import { clusteredSnapshot } from '../unit/topologies/vectors-fixtures';
import { createVectorsTopics, freePort, kafkaClient, registry, uniqueName, waitFor } from './helpers';

jest.setTimeout(240_000);

const PARTITIONS = 4;
const DIMS = 16;
const USERS = 24;

let kafka: KafkaClient;
let admin: KafkaAdmin;
let producer: KafkaProducer;
const runners: TopologyRunner[] = [];
const servers: QueryServer[] = [];
const logs: ControlLog[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  kafka = kafkaClient('query-api');
  admin = await kafka.admin();
  producer = await kafka.producer();
});
afterAll(async () => {
  for (const s of servers) await s.close();
  for (const r of runners) await r.stop();
  for (const l of logs) await l.close();
  await producer?.close();
  await admin?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

async function getJson<T>(url: string): Promise<{ status: number; body: T; servedBy: string | null }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T, servedBy: res.headers.get(SERVED_BY_HEADER) };
}

/** GET with the path sent exactly as given: fetch, like any URL-parsing client, would normalise it first. */
function rawGet(base: string, path: string): Promise<{ status: number; body: { error?: { code: string; message: string } }; servedBy: string | undefined }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method: 'GET' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text), servedBy: res.headers[SERVED_BY_HEADER] as string | undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** GET that retries 503s (a partition between owners) for up to 20 s. */
async function getOk<T>(url: string): Promise<{ body: T; servedBy: string | null }> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await getJson<T>(url);
    if (r.status === 200) return r;
    if (r.status !== 503 || Date.now() > deadline) throw new Error(`GET ${url}: ${r.status} ${JSON.stringify(r.body)}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

it('answers any user on any instance, each answer in one snapshot, pinned or across a switch (I6)', async () => {
  const tag = uniqueName('qapi');
  const { t, snapTopics } = await createVectorsTopics(admin, tag, PARTITIONS);
  const reg = registry();
  const uvName = `${tag}-uv`;
  await writeControl(kafka, reg, [planMember(uvName, PARTITIONS, Date.now())], snapTopics);

  const dir = mkdtempSync(join(tmpdir(), 'vectors-qapi-'));
  dirs.push(dir);
  const ids = { s1: `${tag}-s1`, s2: `${tag}-s2` };
  const matrices: Record<string, EntityMatrix> = { [ids.s1]: clusteredSnapshot(ids.s1, 500, DIMS, 11), [ids.s2]: clusteredSnapshot(ids.s2, 500, DIMS, 12) };
  for (const id of [ids.s1, ids.s2]) await writeJsonlSnapshot(join(dir, `${id}.jsonl`), matrices[id]!);

  const door = new TopologyRunner({
    topology: doorman({ name: `${tag}-doorman`, controlTopic: t.control, timeoutMs: 120_000 }),
    kafka,
    registry: reg,
    stateDir: join(dir, 'doorman'),
    guarantee: 'exactly-once',
    sessionTimeoutMs: 6000,
  });
  runners.push(door);
  await door.start();
  // Two instances of the topology in one group, each with its own catalog and query API, as two processes would have.
  const urls: string[] = [];
  const instances: TopologyRunner[] = [];
  for (const name of ['a', 'b']) {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const catalog = new SnapshotCatalog(new KafkaSnapshotSource(kafka, reg, snapTopics));
    const runner = new TopologyRunner({
      topology: userVectors({ catalog, name: uvName, topics: t }),
      kafka,
      registry: reg,
      stateDir: join(dir, name),
      sessionTimeoutMs: 6000,
      commitIntervalMs: 200,
      endpoint,
    });
    const control = new ControlLog(kafka, reg, snapTopics);
    const server = new QueryServer({ runner, catalog, control, port });
    runners.push(runner);
    servers.push(server);
    logs.push(control);
    urls.push(await server.listen());
    instances.push(runner);
  }
  expect(urls[0]).not.toBe(urls[1]);
  for (const r of instances) await r.start();
  const [a, b] = urls as [string, string];

  // Nothing active yet: a user query says so and asks to retry.
  await waitFor(() => instances.every((r) => r.serving), 60_000, 'both instances to get tasks');
  const early = await getJson<{ error: { code: string; message: string } }>(`${a}/v1/users/u0/vector`);
  expect(early.status).toBe(503);

  await publishSnapshot(kafka, reg, { file: join(dir, `${ids.s1}.jsonl`), snapshotId: ids.s1, model: 'test', topics: snapTopics });
  await waitFor(async () => (await readControlView(kafka, reg, snapTopics)).active === ids.s1, 90_000, 'S1 to become active');

  const listenSerde = new AvroSerde<ListenEvent>({ registry: reg, subject: `${t.listens}-value`, schema: loadSchema('ListenEvent') });
  await listenSerde.prepare();
  let seq = 0;
  const sendListens = async (perUser: number) => {
    const records = [];
    for (let u = 0; u < USERS; u++) {
      for (let i = 0; i < perUser; i++, seq++) {
        const userId = `u${u}`;
        records.push({
          topic: t.listens,
          key: userId,
          value: listenSerde.serialize({
            eventId: `ev${seq}`,
            userId,
            entityId: `e${(seq * 7) % 500}`,
            msPlayed: 180_000,
            durationMs: 200_000,
            context: 'radio',
            timestamp: Date.now(),
          }),
        });
      }
    }
    await producer.send(records);
  };
  await sendListens(5);
  const vectorOf = async (base: string, user: string, pin?: string) =>
    (await getOk<UserVectorAnswer>(`${base}/v1/users/${user}/vector${pin ? `?snapshot=${pin}` : ''}`)).body;
  await waitFor(
    async () => {
      for (let u = 0; u < USERS; u++) {
        const r = await getJson<UserVectorAnswer>(`${a}/v1/users/u${u}/vector`);
        if (r.status !== 200 || r.body.eventCount < 5) return false;
      }
      return true;
    },
    60_000,
    'every user to be queryable with all 5 events',
  );

  // Any instance answers any user: both instances serve some users, and both give the same answer for each.
  const servedBy = new Set<string | null>();
  for (let u = 0; u < USERS; u++) {
    const viaA = await getOk<UserVectorAnswer>(`${a}/v1/users/u${u}/vector`);
    const viaB = await getOk<UserVectorAnswer>(`${b}/v1/users/u${u}/vector`);
    servedBy.add(viaA.servedBy);
    expect(viaA.servedBy).toBe(viaB.servedBy);
    expect(viaB.body).toEqual(viaA.body);
    expect(viaA.body.snapshotId).toBe(ids.s1);
    expect(viaA.body.vector).toHaveLength(DIMS);
  }
  expect(servedBy).toEqual(new Set([a, b]));

  /**
   * I6 for one user: the candidates answer names a snapshot, and every score
   * is the inner product of the user's vector in that snapshot (same version)
   * with that snapshot's entity vector — not the other snapshot's.
   */
  const checkConsistent = async (base: string, user: string, pin?: string) => {
    const c = (await getOk<CandidatesAnswer>(`${base}/v1/users/${user}/candidates?k=10${pin ? `&snapshot=${pin}` : ''}`)).body;
    const u = await vectorOf(base, user, c.snapshotId);
    expect(u.snapshotId).toBe(c.snapshotId);
    expect(u.version).toBe(c.userVectorVersion);
    expect(c.items).toHaveLength(10);
    const own = matrices[c.snapshotId]!;
    const other = matrices[c.snapshotId === ids.s1 ? ids.s2 : ids.s1]!;
    let mismatchesInOther = 0;
    for (const item of c.items) {
      expect(item.score).toBeCloseTo(dot(u.vector, own.vectorOf(item.entityId)!), 4);
      if (Math.abs(item.score - dot(u.vector, other.vectorOf(item.entityId)!)) > 1e-3) mismatchesInOther++;
    }
    expect(mismatchesInOther).toBeGreaterThan(0);
    return c;
  };
  for (let u = 0; u < USERS; u += 3) expect((await checkConsistent(b, `u${u}`)).snapshotId).toBe(ids.s1);

  // Recently consumed entities are not candidates.
  const c0 = (await getOk<CandidatesAnswer>(`${a}/v1/users/u0/candidates?k=50`)).body;
  const consumedByU0 = new Set(Array.from({ length: 5 }, (_, i) => `e${(i * 7) % 500}`)); // u0 sent events 0..4
  expect(c0.items.filter((i) => consumedByU0.has(i.entityId))).toEqual([]);

  // Switch to S2 while querying: every answer, before, during and after, is consistent in the snapshot it names.
  await publishSnapshot(kafka, reg, { file: join(dir, `${ids.s2}.jsonl`), snapshotId: ids.s2, model: 'test', topics: snapTopics });
  const seen = new Set<string>();
  let n = 0;
  await waitFor(
    async () => {
      seen.add((await checkConsistent(n % 2 === 0 ? a : b, `u${n % USERS}`)).snapshotId);
      n++;
      return (await readControlView(kafka, reg, snapTopics)).active === ids.s2;
    },
    120_000,
    'S2 to become active',
    50,
  );
  // Each instance reads the control log itself, so it may follow the switch a moment later (controlMaxAgeMs
  // plus a read); users live on both instances, so this waits for both.
  await waitFor(
    async () => {
      for (let u = 0; u < USERS; u++) if ((await checkConsistent(a, `u${u}`)).snapshotId !== ids.s2) return false;
      return true;
    },
    10_000,
    'every answer in S2',
  );
  seen.add(ids.s2);
  expect(seen).toEqual(new Set([ids.s1, ids.s2]));

  // Pinned: S1 is still live (previous, not retired), and its answers stay in S1.
  for (let u = 0; u < USERS; u += 4) {
    const pinned = await checkConsistent(a, `u${u}`, ids.s1);
    expect(pinned.snapshotId).toBe(ids.s1);
    const v1 = await vectorOf(b, `u${u}`, ids.s1);
    const v2 = await vectorOf(b, `u${u}`);
    expect(v1.snapshotId).toBe(ids.s1);
    expect(v2.snapshotId).toBe(ids.s2);
    expect(v1.version).toBe(v2.version);
    expect(v1.vector).not.toEqual(v2.vector);
  }

  // Similar entities: scores in the named snapshot, never the entity itself.
  const sim = (await getOk<SimilarAnswer>(`${b}/v1/entities/e3/similar?k=5&snapshot=${ids.s1}`)).body;
  expect(sim.snapshotId).toBe(ids.s1);
  expect(sim.items).toHaveLength(5);
  expect(sim.items.map((i) => i.entityId)).not.toContain('e3');
  for (const item of sim.items) expect(item.score).toBeCloseTo(dot(matrices[ids.s1]!.vectorOf('e3')!, matrices[ids.s1]!.vectorOf(item.entityId)!), 4);
  const exact = [...matrices[ids.s1]!]
    .filter((e) => e.entityId !== 'e3')
    .map((e) => dot(matrices[ids.s1]!.vectorOf('e3')!, e.vector))
    .sort((x, y) => y - x);
  expect(sim.items[0]!.score).toBeCloseTo(exact[0]!, 4);

  // Snapshots, health, readiness, metrics.
  const snaps = (await getOk<{ active: string; previous: string; snapshots: { id: string; phase: string; loadedHere: boolean }[] }>(`${a}/v1/snapshots`)).body;
  expect(snaps.active).toBe(ids.s2);
  expect(snaps.previous).toBe(ids.s1);
  expect(snaps.snapshots.find((s) => s.id === ids.s2)).toMatchObject({ phase: 'ACTIVE', loadedHere: true });
  expect((await getJson(`${a}/healthz`)).status).toBe(200);
  expect((await getJson<{ status: string; active: string }>(`${b}/readyz`)).body).toMatchObject({ status: 'ready', active: ids.s2 });
  const metrics = await (await fetch(`${a}/metrics`)).text();
  expect(metrics).toContain(`${ApiMetricNames.activeSnapshot}{snapshot="${ids.s2}"} 1`);
  expect(metrics).toMatch(new RegExp(`${ApiMetricNames.requests}\\{route="user_candidates",status="200"\\} [1-9]`));

  // Bad requests say what was wrong.
  const bad = async (path: string, status: number, message: RegExp) => {
    const r = await getJson<{ error: { message: string } }>(`${a}${path}`);
    expect(r.status).toBe(status);
    expect(r.body.error.message).toMatch(message);
  };
  await bad('/v1/users/u1/candidates?k=0', 400, /k must be an integer from 1 to 1000, got '0'/);
  await bad('/v1/users/nobody-here/vector', 404, /unknown user 'nobody-here'/);
  await bad('/v1/users/u1/vector?snapshot=nope', 404, /unknown snapshot 'nope'/);
  await bad('/v1/entities/nope/similar', 404, /entity 'nope' is not in snapshot/);
  await bad('/v1/things', 404, /no such resource/);
  expect((await fetch(`${a}/v1/snapshots`, { method: 'POST' })).status).toBe(405);

  // A user B owns, asked on A with a path the URL parser reads as `//v1/users/...` (host 'v1'): no route, and A
  // fetches nothing; a malformed escape is a 400. The same user on a well-formed path is still forwarded to B.
  let remote: string | undefined;
  for (let u = 0; u < USERS && !remote; u++) if ((await getJson(`${a}/v1/users/u${u}/vector`)).servedBy === b) remote = `u${u}`;
  expect(remote).toBeDefined();
  const fetches = jest.spyOn(globalThis, 'fetch');
  try {
    const odd = await rawGet(a, `/.//v1/users/${remote}/vector`);
    expect(fetches.mock.calls.map(([u]) => new URL(String(u)).origin)).toEqual([]);
    expect([odd.status, odd.servedBy, odd.body.error?.code]).toEqual([404, a, 'NOT_FOUND']);
    const malformed = await rawGet(a, '/v1/users/%E0%A4%A/vector');
    expect([malformed.status, malformed.body.error?.code]).toEqual([400, 'BAD_ENCODING']);
    expect(malformed.body.error?.message).toContain("path segment '%E0%A4%A' is not valid percent-encoding");
    const forwarded = await rawGet(a, `/v1/users/${remote}/vector?snapshot=${ids.s1}&unknown=1`);
    expect([forwarded.status, forwarded.servedBy]).toEqual([200, b]);
    expect(fetches.mock.calls.map(([u]) => String(u))).toEqual([`${b}/v1/users/${remote}/vector?snapshot=${ids.s1}`]);
  } finally {
    fetches.mockRestore();
  }

  // One instance leaves: the other takes its partitions and answers everyone itself.
  await servers[1]!.close();
  await instances[1]!.stop();
  await waitFor(
    async () => {
      for (let u = 0; u < USERS; u++) {
        const r = await getJson<UserVectorAnswer>(`${a}/v1/users/u${u}/vector`);
        if (r.status !== 200 || r.servedBy !== a) return false;
      }
      return true;
    },
    60_000,
    'instance A to serve every user after B left',
  );
  expect((await vectorOf(a, 'u5')).eventCount).toBe(5);
});
