/**
 * The `vectors` binary as a user runs it: `node bin/vectors.js ...` as a child
 * process against the shared stack. Every command's happy path and one bad
 * input (non-zero exit, a message naming the problem, no stack trace), and
 * every `--help`.
 *
 * Isolation: the snapshot commands work on this run's own control log and
 * snapshot topics (--control-topic, --snapshot-prefix). `provision` also
 * creates the core topics (or finds them); its members go to the private
 * control log only. The members' READY reports are written by the test in a
 * worker's place; the doorman that activates is the real one, run by `vectors run`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeControl } from '../../src/app/snapshots';
import type { KafkaAdmin, KafkaClient } from '../../src/runtime/kafka/client';
import { ProcessMetricNames } from '../../src/runtime/metrics/names';
import { Topics } from '../../src/vectors/contracts';
import { planReport } from '../../src/vectors/doorman/doorman-state';
import { createVectorsTopics, freePort, kafkaClient, registry, ROOT, stackEnv, uniqueName } from './helpers';

jest.setTimeout(240_000);

const BIN = join(ROOT, 'bin', 'vectors.js');
const STACK_TRACE = /\n\s+at .+\(?.+:\d+:\d+\)?/;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function env(): NodeJS.ProcessEnv {
  const { brokers, registryUrl } = stackEnv();
  return { ...process.env, KAFKA_BROKERS: brokers.join(','), SCHEMA_REGISTRY_URL: registryUrl };
}

/** Runs the bin to its end. */
function vectors(args: string[], timeoutMs = 60_000): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`vectors ${args.join(' ')} did not exit within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      // 'exit' can come before the pipes are drained.
      setImmediate(() => resolve({ code, stdout, stderr }));
    });
  });
}

/** A failure as a user sees it: the exit code, one line naming the problem, no stack trace. */
function expectFailure(r: Result, code: 1 | 2, ...fragments: string[]): void {
  const context = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  expect({ code: r.code, context }).toEqual({ code, context });
  for (const f of fragments) expect(r.stderr).toContain(f);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).not.toMatch(STACK_TRACE);
  if (code === 1) expect(JSON.parse(r.stderr)).toMatchObject({ level: 'error' });
}

function expectOk(r: Result): void {
  const context = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  expect({ code: r.code, context }).toEqual({ code: 0, context });
}

const tag = uniqueName('cli');
const control = `${tag}-control`;
const prefix = `${tag}-ev.`;
const member = `${tag}-member`;
const ids = { s0: `${tag}-s0`, s1: `${tag}-s1`, s2: `${tag}-s2` };
/** The snapshot commands' isolation from other tests and runs. */
const topics = ['--control-topic', control, '--snapshot-prefix', prefix];

let dir: string;
let kafka: KafkaClient;
let admin: KafkaAdmin;
let partitions = 12;
let doorman: ChildProcess | undefined;
let doormanLog = '';

function snapshotFile(name: string, seed: number): string {
  const path = join(dir, name);
  const lines = Array.from({ length: 20 }, (_, i) =>
    JSON.stringify({ entityId: `t${i}`, entityType: 'TRACK', vector: [Math.sin(i + seed), Math.cos(i * seed), (i % 3) - 1, 0.5] }),
  );
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/** What a member's workers write once they loaded a snapshot: READY for every partition. */
async function reportReady(id: string): Promise<void> {
  const now = Date.now();
  const reports = Array.from({ length: partitions }, (_, p) => planReport(id, member, p, 'READY', `${tag}-test`, now));
  await writeControl(kafka, registry(), reports, { control });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cli-it-'));
  kafka = kafkaClient('cli-it');
  admin = await kafka.admin();
  // provision refuses to change an existing topic's partition count: use the one the shared stack has.
  partitions = (await admin.describeTopic(Topics.listens))?.partitions ?? 12;
});

afterAll(async () => {
  if (doorman && doorman.exitCode === null) doorman.kill('SIGKILL');
  const mine = (await admin.listTopics()).filter((t) => t.startsWith(tag));
  if (mine.length) await admin.deleteTopics(mine);
  await admin.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('help', () => {
  it('vectors --help: every command and the exit codes, exit 0', async () => {
    const r = await vectors(['--help']);
    expectOk(r);
    for (const c of [
      'provision',
      'run',
      'publish',
      'status',
      'activate-when-ready',
      'rollback',
      'rollforward',
      'retire',
      'generate',
      'produce',
      'tail',
      'query',
    ]) {
      expect(r.stdout).toContain(`  ${c} `);
    }
    expect(r.stdout).toContain('Exit codes:');
    expect(r.stderr).toBe('');
  });

  it.each([
    ['provision', '--partitions'],
    ['run', '--guarantee'],
    ['publish', '--snapshot-id'],
    ['status', '--control-topic'],
    ['activate-when-ready', '--stage-timeout-ms'],
    ['rollback', '--brokers'],
    ['rollforward', '--no-wait'],
    ['retire', '--snapshot-prefix'],
    ['produce', '--rate'],
    ['tail', '--from'],
    ['query similar', '--api'],
  ])('vectors %s --help: its own options, exit 0', async (command, option) => {
    const r = await vectors([...command.split(' '), '--help']);
    expectOk(r);
    expect(r.stdout).toContain(`Usage: vectors ${command} [options]`);
    expect(r.stdout).toContain(option);
    // Commander wraps descriptions at the terminal's width: compare the text, not its line breaks.
    expect(r.stdout.replace(/\s+/g, ' ')).toMatch(/env: (KAFKA_BROKERS|VECTORS_API)\)/);
  });

  it('vectors generate --help: its own options, exit 0', async () => {
    const r = await vectors(['generate', '--help']);
    expectOk(r);
    expect(r.stdout).toContain('Usage: vectors generate [options]');
    expect(r.stdout).toContain('--events <n>');
  });

  it('no command: usage on stderr, exit 2; an unknown one is named with the known ones', async () => {
    const none = await vectors([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: vectors <command>');
    expectFailure(await vectors(['frobnicate']), 2, "unknown command 'frobnicate'", 'commands: provision, run, publish');
  });
});

describe('the commands on the real stack, in the order of a switch', () => {
  it('provision: creates the topics and registers the members; a bad --partitions is refused', async () => {
    expectFailure(await vectors(['provision', '--partitions', '0', ...topics]), 2, "'--partitions <n>'", 'positive integer');

    const r = await vectors(['provision', '--partitions', String(partitions), '--members', member, ...topics]);
    expectOk(r);
    const report = JSON.parse(r.stdout) as { created: string[]; existing: string[]; members: string[] };
    expect([...report.created, ...report.existing]).toEqual(expect.arrayContaining([Topics.listens, control]));
    expect(report.created).toContain(control);
    expect(report.members).toEqual([member]);

    // Existing topics are not changed: another partition count fails at run time, naming the topic (exit 1).
    expectFailure(await vectors(['provision', '--partitions', String(partitions + 1), '--members', member, ...topics]), 1, `partitions but ${partitions + 1}`);
  });

  it('status: the members of this control log; an unknown control topic says to provision', async () => {
    const r = await vectors(['status', ...topics]);
    expectOk(r);
    expect(JSON.parse(r.stdout)).toEqual({ active: null, previous: null, members: { [member]: partitions }, snapshots: [] });

    expectFailure(
      await vectors(['status', '--control-topic', `${tag}-nope`]),
      1,
      `the control topic '${tag}-nope' does not exist`,
      `run 'vectors provision --control-topic ${tag}-nope'`,
    );
  });

  it('rollback with nothing active fails, saying why', async () => {
    expectFailure(await vectors(['rollback', ...topics]), 1, 'no active snapshot');
  });

  it('publish: stages a JSONL snapshot; a .csv, a missing file, an empty file and other dims are refused', async () => {
    const csv = join(dir, 'vectors.csv');
    writeFileSync(csv, 'entityId,x\n');
    expectFailure(await vectors(['publish', csv, '--snapshot-id', ids.s1, ...topics]), 2, "unsupported file type '.csv'", '.jsonl', '.parquet');
    expectFailure(await vectors(['publish', join(dir, 'nope.jsonl'), '--snapshot-id', ids.s1, ...topics]), 2, `no such file: ${join(dir, 'nope.jsonl')}`);
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, '');
    expectFailure(await vectors(['publish', empty, '--snapshot-id', ids.s0, ...topics]), 1, `${empty} holds no entities`, 'needs at least one');
    expectFailure(await vectors(['publish', empty, '--snapshot-id', ids.s0, '--dims', '4', ...topics]), 1, `${empty} holds no entities`, 'needs at least one');

    const r = await vectors([
      'publish',
      snapshotFile('s1.jsonl', 1),
      '--snapshot-id',
      ids.s1,
      '--model',
      'als',
      '--opt',
      'lambda=0.1',
      '--opt',
      'alpha=40',
      ...topics,
    ]);
    expectOk(r);
    const { staged } = JSON.parse(r.stdout) as { staged: { snapshotId: string; count: number; dims: number; model: string; params: Record<string, string> } };
    expect(staged).toMatchObject({ snapshotId: ids.s1, count: 20, dims: 4, model: 'als', params: { lambda: '0.1', alpha: '40' } });
    expect(await admin.listTopics()).toContain(`${prefix}${ids.s1}`);

    // --dims: a file with other dims is refused.
    expectFailure(await vectors(['publish', snapshotFile('s2.jsonl', 2), '--snapshot-id', ids.s2, '--dims', '8', ...topics]), 1, 'expected dims=8');

    const status = JSON.parse((await vectors(['status', ...topics])).stdout) as {
      snapshots: { id: string; phase: string; readiness?: { missing: string[] } }[];
    };
    const s1 = status.snapshots.find((s) => s.id === ids.s1)!;
    expect(s1.phase).toBe('STAGED');
    expect(s1.readiness!.missing).toHaveLength(partitions);
  });

  it('run: the doorman runs until SIGTERM, its --metrics page with Node’s process metrics beside the runtime’s; an unknown topology is named with the known ones', async () => {
    expectFailure(await vectors(['run', 'nope', ...topics]), 2, "'nope' is invalid for argument 'topology'", 'doorman');
    const metricsPort = await freePort();

    doorman = spawn(
      process.execPath,
      [
        BIN,
        'run',
        'doorman',
        '--opt',
        `name=${tag}-doorman`,
        '--guarantee',
        'exactly-once',
        '--state-dir',
        join(dir, 'doorman'),
        '--session-timeout-ms',
        '6000',
        '--metrics',
        `127.0.0.1:${metricsPort}`,
        ...topics,
      ],
      { cwd: ROOT, env: env(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const capture = (d: Buffer) => (doormanLog += d.toString('utf8'));
    doorman.stdout!.on('data', capture);
    doorman.stderr!.on('data', capture);
    const deadline = Date.now() + 60_000;
    while (!/"message":"running"/.test(doormanLog)) {
      if (doorman.exitCode !== null) throw new Error(`the doorman exited (${doorman.exitCode}):\n${doormanLog}`);
      if (Date.now() > deadline) throw new Error(`the doorman did not start:\n${doormanLog}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const page = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(page).toContain('# TYPE vectors_runtime_tasks gauge');
    for (const name of Object.values(ProcessMetricNames)) expect(page).toContain(`# HELP ${name} `);
  });

  it('activate-when-ready: returns once the doorman activated; fails fast for an id never staged', async () => {
    const started = Date.now();
    expectFailure(
      await vectors(['activate-when-ready', `${tag}-never`, '--stage-timeout-ms', '1500', ...topics]),
      1,
      `snapshot '${tag}-never' was never staged`,
      ids.s1,
    );
    expect(Date.now() - started).toBeLessThan(30_000);

    await reportReady(ids.s1);
    const r = await vectors(['activate-when-ready', ids.s1, '--timeout-ms', '90000', ...topics], 120_000);
    expectOk(r);
    expect(JSON.parse(r.stdout)).toEqual({ active: ids.s1 });
  });

  it('rollback: back to the previous snapshot', async () => {
    // The wait starts before the publish: within --stage-timeout-ms an id not staged yet is waited for.
    const waiting = vectors(['activate-when-ready', ids.s2, '--stage-timeout-ms', '30000', '--timeout-ms', '90000', ...topics], 120_000);
    expectOk(await vectors(['publish', snapshotFile('s2.jsonl', 2), '--snapshot-id', ids.s2, ...topics]));
    await reportReady(ids.s2);
    expectOk(await waiting);

    const r = await vectors(['rollback', ...topics]);
    expectOk(r);
    expect(JSON.parse(r.stdout)).toEqual({ active: ids.s1 });
    const status = JSON.parse((await vectors(['status', ...topics])).stdout) as { active: string; snapshots: { id: string; phase: string }[] };
    expect(status.active).toBe(ids.s1);
    expect(status.snapshots.find((s) => s.id === ids.s2)?.phase).toBe('ROLLED_BACK');
  });

  it('rollforward: a rolled-back snapshot is active again once every partition reported READY afresh; an active one is refused', async () => {
    expectFailure(await vectors(['rollforward', ids.s1, ...topics]), 1, `snapshot '${ids.s1}': 'restage' is not allowed in phase ACTIVE`);
    const waiting = vectors(['rollforward', ids.s2, '--timeout-ms', '90000', ...topics], 120_000);
    // Its first READY reports no longer count: it stays staged until the members report again.
    const staged = async () => (JSON.parse((await vectors(['status', ...topics])).stdout) as { snapshots: { id: string; phase: string }[] }).snapshots;
    const deadline = Date.now() + 60_000;
    while ((await staged()).find((s) => s.id === ids.s2)?.phase !== 'STAGED') {
      if (Date.now() > deadline) throw new Error(`${ids.s2} was not staged again`);
      await new Promise((r) => setTimeout(r, 300));
    }
    await new Promise((r) => setTimeout(r, 2000));
    expect((await staged()).find((s) => s.id === ids.s2)?.phase).toBe('STAGED');
    await reportReady(ids.s2);
    const r = await waiting;
    expectOk(r);
    expect(JSON.parse(r.stdout)).toEqual({ active: ids.s2 });
    // Back to s1, for the next test.
    expect(JSON.parse((await vectors(['rollback', ...topics])).stdout)).toEqual({ active: ids.s1 });
  });

  it('retire: drops a snapshot that is not active and its topic; the active one is refused', async () => {
    expectFailure(await vectors(['retire', ids.s1, ...topics]), 1, 'it is active');
    expect(await admin.listTopics()).toContain(`${prefix}${ids.s1}`);

    const r = await vectors(['retire', ids.s2, ...topics]);
    expectOk(r);
    expect(JSON.parse(r.stdout)).toEqual({ retired: ids.s2 });
    expect(await admin.listTopics()).not.toContain(`${prefix}${ids.s2}`);
  });

  it('query: an entity’s neighbours from a user-vectors instance run with --http; an unknown entity fails with the API’s code', async () => {
    const q = await createVectorsTopics(admin, `${tag}-q`, 2);
    const port = await freePort();
    const api = `http://127.0.0.1:${port}`;
    const opts = ['listens', 'feedback', 'userVectors', 'candidates', 'candidateRequests'].flatMap((k) => [
      '--opt',
      `topic.${k}=${q.t[k as keyof typeof q.t]}`,
    ]);
    const worker = spawn(
      process.execPath,
      [
        BIN,
        'run',
        'user-vectors',
        '--opt',
        `name=${tag}-uv`,
        ...opts,
        '--http',
        `127.0.0.1:${port}`,
        '--store',
        'memory',
        '--state-dir',
        join(dir, 'uv'),
        '--session-timeout-ms',
        '6000',
        ...topics,
      ],
      { cwd: ROOT, env: env(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let log = '';
    worker.stdout!.on('data', (d: Buffer) => (log += d.toString('utf8')));
    worker.stderr!.on('data', (d: Buffer) => (log += d.toString('utf8')));
    try {
      expectFailure(await vectors(['query', 'similar', 't1', '--api', 'http://127.0.0.1:1']), 1, 'the query API at http://127.0.0.1:1 is not reachable');
      // Until the instance has its tasks and S1 loaded it answers 503 (exit 1): asked again until it answers.
      let r: Result | undefined;
      const deadline = Date.now() + 90_000;
      while (!r || r.code !== 0) {
        if (worker.exitCode !== null) throw new Error(`user-vectors exited (${worker.exitCode}):\n${log}`);
        if (Date.now() > deadline) throw new Error(`no answer from ${api}: ${r?.stderr}\n${log.slice(-3000)}`);
        r = await vectors(['query', 'similar', 't1', '--k', '3', '--api', api]);
        if (r.code !== 0) await new Promise((res) => setTimeout(res, 500));
      }
      const body = JSON.parse(r.stdout) as { snapshotId: string; entityId: string; items: { entityId: string }[] };
      expect(body).toMatchObject({ snapshotId: ids.s1, entityId: 't1' });
      expect(body.items).toHaveLength(3);

      // Its own code, not a configuration error (a newcomer's trial read VEC_ERR_CONFIG_INVALID for an unknown user).
      expectFailure(await vectors(['query', 'similar', 'no-such-entity', '--api', api]), 1, 'HTTP 404 NOT_FOUND', '"code":"VEC_ERR_API_REFUSED"');
    } finally {
      worker.kill('SIGTERM');
      await new Promise((res) => (worker.exitCode !== null ? res(undefined) : worker.on('exit', res)));
    }
  });

  it('run: SIGTERM stops the doorman gracefully (exit 0)', async () => {
    expect(doorman?.exitCode).toBeNull();
    const exited = new Promise<number | null>((resolve) => doorman!.on('exit', (code) => resolve(code)));
    doorman!.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(doormanLog).toContain('received SIGTERM; stopping');
  });
});

describe('data in and out: generate, produce, tail', () => {
  const events = { listens: `${tag}-listens`, feedback: `${tag}-feedback` };
  let world: { events: { file: string; count: number; listens: number }; snapshots: { id: string; file: string; checksum: string }[]; next: string[] };

  beforeAll(async () => {
    await admin.createTopics([
      { name: events.listens, partitions: 3 },
      { name: events.feedback, partitions: 3 },
    ]);
  });

  it('generate: a small seeded world; a bad option is refused', async () => {
    expectFailure(await vectors(['generate', '--out', join(dir, 'bad'), '--events', 'many']), 2, "'--events <n>' argument 'many' is invalid");

    const args = ['generate', '--users', '20', '--items', '60', '--dims', '8', '--events', '400', '--end-time', '2024-06-01T00:00:00Z'];
    const r = await vectors([...args, '--out', join(dir, 'world')]);
    expectOk(r);
    world = JSON.parse(r.stdout) as typeof world;
    expect(world.events.count).toBe(400);
    expect(world.snapshots.map((x) => x.id)).toEqual(['s1', 's2']);
    expect(world.next[0]).toMatch(/^vectors publish .*snapshot-s1\.jsonl --snapshot-id s1 /);
    // Seeded: the same options write the same snapshot.
    const again = JSON.parse((await vectors([...args, '--out', join(dir, 'world2')])).stdout) as { snapshots: { checksum: string }[] };
    expect(again.snapshots.map((x) => x.checksum)).toEqual(world.snapshots.map((x) => x.checksum));
  });

  it('produce: the event file to its topics; an invalid line stops it, naming the line', async () => {
    const r = await vectors(['produce', world.events.file, '--listens-topic', events.listens, '--feedback-topic', events.feedback]);
    expectOk(r);
    const result = JSON.parse(r.stdout) as { sent: number; byTopic: Record<string, number> };
    expect(result.sent).toBe(world.events.count);
    expect(result.byTopic[events.listens]).toBe(world.events.listens);

    const bad = join(dir, 'bad-events.jsonl');
    writeFileSync(bad, '{"topic":"listens","userId":"u1","entityId":"e1"}\n');
    expectFailure(
      await vectors(['produce', bad, '--listens-topic', events.listens, '--feedback-topic', events.feedback]),
      1,
      `line 1 of ${bad}`,
      "'msPlayed'",
      '--skip-invalid',
    );
  });

  it('tail: decoded records from the beginning; an unknown topic is named', async () => {
    const r = await vectors(['tail', events.listens, '--from', 'beginning', '--limit', '5']);
    expectOk(r);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { topic: string; key: string; value: { userId: string; entityId: string } });
    expect(lines).toHaveLength(5);
    for (const l of lines) {
      expect(l.topic).toBe(events.listens);
      expect(l.value.userId).toBe(l.key);
      expect(l.value.entityId).toMatch(/^e\d+$/);
    }

    expectFailure(await vectors(['tail', `${tag}-nope`, '--limit', '1']), 1, `topic '${tag}-nope' does not exist`);
  });
});
