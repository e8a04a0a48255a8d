/**
 * `tsx bench/memory.ts`: where the memory of a `vectors run` process goes, on
 * the real local stack. The doorman and the load run here; each measured
 * topology runs as its own child `vectors run` process (or both in one,
 * MEM_TOPOLOGIES=user-vectors+candidates), whose resident memory is read from
 * /proc (VmRSS, and VmHWM: the kernel's peak) and whose JS heap, external and
 * array-buffer memory a preloaded probe (bench/mem-probe.cjs) samples every
 * 250 ms. Phases: S1 active (no users), every event processed, S2 active with
 * every user recomputed (two live snapshots). Prints one line per phase.
 *
 * Env: MEM_ENTITIES (100000), MEM_DIMS (128), MEM_USERS (100000), MEM_EVENTS
 * (200000), MEM_TOPOLOGIES (user-vectors; comma-separated processes, `+`
 * joins topologies in one process), MEM_ARGS (extra `vectors run` arguments,
 * e.g. "--store memory" or "--memory 1g"), MEM_HEAPSNAPSHOT=1 (a heap
 * snapshot of each child at the end, in MEM_DIR), MEM_SMAPS=1 (each phase
 * line followed by the child's mappings from /proc/<pid>/smaps, grouped:
 * code and libraries by file, the main malloc heap, and the anonymous
 * mappings by size, which tells malloc arenas of 64 MiB and single large
 * allocations such as an HNSW graph's or an array buffer's apart).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publishSnapshot, readControlView, writeControl } from '../src/app/snapshots';
import { KafkajsClient } from '../src/runtime/kafka/kafkajs-client';
import { TopologyRunner } from '../src/runtime/runner/topology-runner';
import { AvroSerde } from '../src/runtime/serde/avro-serde';
import { ConfluentSchemaRegistry } from '../src/runtime/serde/confluent-registry';
import { loadSchema } from '../src/vectors/contracts';
import { planMember } from '../src/vectors/doorman/doorman-state';
import type { ListenEvent } from '../src/vectors/records';
import { EntityMatrixBuilder } from '../src/vectors/snapshot/entity-matrix';
import { writeBinarySnapshot } from '../src/vectors/snapshot/formats';
import { doorman } from '../topologies/doorman';
import { mulberry32 } from '../test/support/random';
import { sleep } from './common';

const ENTITIES = Number(process.env.MEM_ENTITIES ?? 100_000);
const DIMS = Number(process.env.MEM_DIMS ?? 128);
const USERS = Number(process.env.MEM_USERS ?? 100_000);
const EVENTS = Number(process.env.MEM_EVENTS ?? 200_000);
const PROCESSES = (process.env.MEM_TOPOLOGIES ?? 'user-vectors').split(',').map((p) => p.split('+'));
const EXTRA = (process.env.MEM_ARGS ?? '').split(' ').filter(Boolean);
const PARTITIONS = 12;
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
const tag = `mem-${Date.now().toString(36)}`;
const MiB = (b: number) => (b / 2 ** 20).toFixed(0);

function snapshot(id: string, seed: number) {
  const r = mulberry32(seed);
  const centres = Array.from({ length: 1000 }, () => Float32Array.from({ length: DIMS }, () => r() * 2 - 1));
  const b = new EntityMatrixBuilder({ snapshotId: id, dims: DIMS, expectedCount: ENTITIES });
  const v = new Float32Array(DIMS);
  for (let i = 0; i < ENTITIES; i++) {
    const c = centres[i % 1000]!;
    let s = 0;
    for (let j = 0; j < DIMS; j++) s += (v[j] = c[j]! + (r() - 0.5) * 0.4) ** 2;
    for (let j = 0; j < DIMS; j++) v[j]! /= Math.sqrt(s);
    b.add(`e${i}`, 'TRACK', v);
  }
  return b.build();
}

interface Sample {
  t: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

class Measured {
  readonly child: ChildProcess;
  readonly probe: string;
  private from = Date.now();
  constructor(
    readonly label: string,
    readonly dir: string,
    args: string[],
  ) {
    this.probe = join(dir, `${label}.probe.jsonl`);
    this.child = spawn(
      process.execPath,
      ['--heapsnapshot-signal=SIGUSR2', '-r', join(__dirname, 'mem-probe.cjs'), join(__dirname, '..', 'bin', 'vectors.js'), 'run', ...args],
      { env: { ...process.env, MEM_PROBE_FILE: this.probe }, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (/"level":"(warn|error)"|memory|Error/.test(line)) console.log(`  [${label}] ${line.slice(0, 400)}`);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
  }

  private status(): { rss: number; hwm: number } {
    const s = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  }

  /** One line: the kernel's peak so far, and the probe's peaks over the phase since the last call. */
  phase(name: string): string {
    const { rss, hwm } = this.status();
    const samples: Sample[] = existsSync(this.probe)
      ? readFileSync(this.probe, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Sample)
          .filter((s) => s.t >= this.from)
      : [];
    this.from = Date.now();
    const max = (k: keyof Sample) => samples.reduce((m, s) => Math.max(m, s[k]), 0);
    const top = samples.reduce<Sample | undefined>((a, s) => (!a || s.rss > a.rss ? s : a), undefined);
    const at = top
      ? `at the phase's RSS peak ${MiB(top.rss)}: heap ${MiB(top.heapUsed)}/${MiB(top.heapTotal)}, array buffers ${MiB(top.arrayBuffers)}, other external ${MiB(top.external - top.arrayBuffers)}, rest (native: RocksDB, HNSW, malloc, code) ${MiB(top.rss - top.heapTotal - top.external)}`
      : '';
    return `${this.label} ${name}: RSS now ${MiB(rss)} MiB, peak so far (VmHWM) ${MiB(hwm)} MiB; phase max heap used ${MiB(max('heapUsed'))}, array buffers ${MiB(max('arrayBuffers'))}, external ${MiB(max('external'))}; ${at}`;
  }

  /** The child's resident memory by mapping kind (MEM_SMAPS=1). */
  smaps(): string {
    const groups = new Map<string, { n: number; rss: number }>();
    const anon: { size: number; rss: number }[] = [];
    let path = '';
    let size = 0;
    for (const line of readFileSync(`/proc/${this.child.pid}/smaps`, 'utf8').split('\n')) {
      const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
      if (head) {
        path = head[1] ?? '';
        continue;
      }
      const kb = /^(Size|Rss):\s+(\d+) kB/.exec(line);
      if (!kb) continue;
      const bytes = Number(kb[2]) * 1024;
      if (kb[1] === 'Size') {
        size = bytes;
        continue;
      }
      if (bytes === 0) continue;
      if (path === '') anon.push({ size, rss: bytes });
      const key = path === '' ? 'anonymous' : path.startsWith('[') ? path : (path.split('/').pop() ?? path);
      const g = groups.get(key) ?? { n: 0, rss: 0 };
      g.n++;
      g.rss += bytes;
      groups.set(key, g);
    }
    const bucket = (name: string, test: (a: { size: number }) => boolean) => {
      const xs = anon.filter(test);
      return `${name}: ${xs.length} mappings, ${MiB(xs.reduce((t, a) => t + a.rss, 0))} MiB`;
    };
    const top = [...groups].sort((a, b) => b[1].rss - a[1].rss).slice(0, 8);
    return [
      `  ${this.label} smaps: ${top.map(([k, g]) => `${k} ${MiB(g.rss)} MiB (${g.n})`).join(', ')}`,
      `  ${this.label} anonymous by mapping size: ${[
        bucket('≥ 60 MiB (malloc arenas, whole-graph allocations)', (a) => a.size >= 60 * 2 ** 20),
        bucket('8–60 MiB', (a) => a.size >= 8 * 2 ** 20 && a.size < 60 * 2 ** 20),
        bucket('1–8 MiB', (a) => a.size >= 2 ** 20 && a.size < 8 * 2 ** 20),
        bucket('< 1 MiB (V8 pages, small mmaps)', (a) => a.size < 2 ** 20),
      ].join('; ')}`,
      `  ${this.label} largest anonymous (size/resident MiB): ${anon
        .sort((a, b) => b.rss - a.rss)
        .slice(0, 12)
        .map((a) => `${MiB(a.size)}/${MiB(a.rss)}`)
        .join(' ')}`,
    ].join('\n');
  }

  async heapSnapshot(): Promise<string | undefined> {
    const before = new Set(readdirSync(this.dir));
    this.child.kill('SIGUSR2');
    for (let i = 0; i < 600; i++) {
      await sleep(500);
      const f = readdirSync(this.dir).find((n) => n.endsWith('.heapsnapshot') && !before.has(n));
      if (f) {
        // Written in chunks: done when its size stops changing.
        let size = -1;
        for (;;) {
          await sleep(3000);
          const now = statSync(join(this.dir, f)).size;
          if (now > 0 && now === size) return join(this.dir, f);
          size = now;
        }
      }
    }
    return undefined;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await Promise.race([exited, sleep(15_000)]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const dir = process.env.MEM_DIR ?? mkdtempSync(join(tmpdir(), 'vectors-mem-'));
  mkdirSync(dir, { recursive: true });
  const kafka = new KafkajsClient({ brokers, clientId: 'bench-memory', logLevel: 'nothing' });
  const reg = new ConfluentSchemaRegistry(registryUrl);
  const admin = await kafka.admin();
  const t = {
    listens: `${tag}-listens`,
    feedback: `${tag}-feedback`,
    control: `${tag}-control`,
    userVectors: `${tag}-uv`,
    candidates: `${tag}-cand`,
    candidateRequests: `${tag}-cand-req`,
  };
  const snapTopics = { control: t.control, prefix: `${tag}-ev.` };
  await admin.createTopics([
    ...[t.listens, t.feedback, t.userVectors, t.candidates, t.candidateRequests].map((name) => ({ name, partitions: PARTITIONS })),
    { name: t.control, partitions: 1, config: { 'cleanup.policy': 'compact' } },
  ]);
  const names: Record<string, string> = { 'user-vectors': `${tag}-uv`, candidates: `${tag}-cand` };
  const members = PROCESSES.flat();
  await writeControl(
    kafka,
    reg,
    members.map((m) => planMember(names[m]!, PARTITIONS, Date.now())),
    snapTopics,
  );
  console.log(
    `memory bench ${tag}: ${ENTITIES} × ${DIMS} snapshots, ${USERS} users, ${EVENTS} listens, processes ${PROCESSES.map((p) => p.join('+')).join(', ')}, args '${EXTRA.join(' ')}', dir ${dir}`,
  );
  for (const [id, seed] of [
    ['s1', 1],
    ['s2', 2],
  ] as const)
    await writeBinarySnapshot(join(dir, id), snapshot(`${tag}-${id}`, seed));

  const door = new TopologyRunner({
    topology: doorman({ name: `${tag}-doorman`, controlTopic: t.control }),
    kafka,
    registry: reg,
    stateDir: join(dir, 'doorman'),
    guarantee: 'exactly-once',
  });
  await door.start();
  const activeIs = async (id: string) => (await readControlView(kafka, reg, snapTopics)).active === id;

  const topicOpts = Object.entries(t).flatMap(([k, v]) => ['--opt', `topic.${k}=${v}`]);
  const measured = PROCESSES.map(
    (p) =>
      new Measured(p.join('+'), dir, [
        p.join(','),
        ...p.flatMap((m) => ['--opt', p.length > 1 ? `${m}:name=${names[m]}` : `name=${names[m]}`]),
        ...topicOpts,
        '--snapshot-prefix',
        snapTopics.prefix,
        '--state-dir',
        join(dir, `state-${p.join('+')}`),
        ...EXTRA,
      ]),
  );
  await sleep(15_000);
  for (const m of measured) console.log(m.phase('started, no snapshot'));

  let t0 = performance.now();
  await publishSnapshot(kafka, reg, { file: join(dir, 's1'), snapshotId: `${tag}-s1`, model: 'bench', topics: snapTopics });
  while (!(await activeIs(`${tag}-s1`))) await sleep(500);
  console.log(`S1 active in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  for (const m of measured) console.log(m.phase('S1 active'));
  if (process.env.MEM_SMAPS) for (const m of measured) console.log(m.smaps());

  const serde = new AvroSerde<ListenEvent>({ registry: reg, subject: `${t.listens}-value`, schema: loadSchema('ListenEvent') });
  await serde.prepare();
  const producer = await kafka.producer();
  let seq = 0;
  const event = (ts: number) => {
    const userId = `u${seq % USERS}`;
    const e = { eventId: `ev${seq}`, userId, entityId: `e${(seq * 7919) % ENTITIES}`, msPlayed: 180_000, durationMs: 200_000, context: 'radio', timestamp: ts };
    seq++;
    return { topic: t.listens, key: userId, value: serde.serialize(e) };
  };
  t0 = performance.now();
  for (let i = 0; i < EVENTS; i += 5000) await producer.send(Array.from({ length: Math.min(5000, EVENTS - i) }, () => event(Date.now())));
  const drained = async (group: string, topic: string) => {
    const ends = await admin.topicOffsets(topic);
    for (;;) {
      const committed = await admin.committedOffsets(group, topic);
      if (ends.every((e) => e.high === e.low || committed.find((c) => c.partition === e.partition)?.offset === e.high)) return;
      await sleep(500);
    }
  };
  await drained(names['user-vectors']!, t.listens);
  if (members.includes('candidates')) await drained(names.candidates!, t.candidateRequests);
  console.log(`events processed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  for (const m of measured) console.log(m.phase('events processed'));
  if (process.env.MEM_SMAPS) for (const m of measured) console.log(m.smaps());

  t0 = performance.now();
  await publishSnapshot(kafka, reg, { file: join(dir, 's2'), snapshotId: `${tag}-s2`, model: 'bench', topics: snapTopics });
  while (!(await activeIs(`${tag}-s2`))) await sleep(500);
  console.log(`S2 active (every user recomputed) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await sleep(5000);
  for (const m of measured) console.log(m.phase('S2 active, two live snapshots'));
  if (process.env.MEM_SMAPS) for (const m of measured) console.log(m.smaps());

  if (process.env.MEM_HEAPSNAPSHOT) for (const m of measured) console.log(`${m.label} heap snapshot: ${await m.heapSnapshot()}`);
  for (const m of measured) await m.stop();
  await producer.close();
  await door.stop();
  await admin.deleteTopics([...Object.values(t), `${tag}-ev.${tag}-s1`, `${tag}-ev.${tag}-s2`]).catch(() => undefined);
  await admin.close();
  if (!process.env.MEM_DIR) rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
