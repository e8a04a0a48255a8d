/**
 * The demo main job (`npm start`, `vectors demo`) and `vectors up`: the
 * system's three processes on the local stack, and, with nothing active yet,
 * a generated world streamed through it with a snapshot switch in the
 * middle, then a summary and where to look next. Serves until Ctrl-C,
 * SIGTERM or the end of its parent (npm), and then stops every process it
 * started.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createReadStream, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { publishSnapshot, readControlView } from '../app/snapshots';
import { generateWorldFiles, type GenerateResult } from '../app/tools/generate';
import { produceEvents, type ProduceProgress } from '../app/tools/produce';
import type { KafkaClient } from '../runtime/kafka/client';
import type { SchemaRegistry } from '../runtime/serde/schema-registry';
import { redactUrl } from '../runtime/serde/confluent-registry';
import { Topics } from '../vectors/contracts';
import { bar, type CliIo, type KafkaOptions, kafkaFrom, ProgressLine, registryFrom } from './common';
import { MALLOC_MMAP_THRESHOLD } from './memory-plan';
import { waitUntilActive } from './wait-active';

const ROOT = resolve(__dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'vectors.js');

export interface DemoOptions extends KafkaOptions {
  /** False (`--no-demo`, `vectors up`): start the services only. */
  demo: boolean;
  http: { host: string; port: number };
  doormanMetrics: { host: string; port: number };
  candidatesMetrics: { host: string; port: number };
  partitions: number;
  dir: string;
  seed: number;
  users: number;
  items: number;
  dims: number;
  events: number;
  rate: number;
  /** Stop everything after the summary instead of serving (tests, scripts). */
  exit: boolean;
  /** Also stop the local stack on the way out (scripts/start.sh sets it when it started the stack). */
  stopStack: boolean;
}

interface Service {
  name: string;
  child: ChildProcess;
  log: string;
  exited: Promise<number | null>;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const url = (a: { host: string; port: number }) => `http://${a.host}:${a.port}`;

/** The three processes of the system, each logging to its own file. */
class Services {
  readonly list: Service[] = [];

  constructor(
    private readonly o: DemoOptions,
    private readonly logDir: string,
  ) {}

  start(): void {
    const { o } = this;
    const api = `${o.http.host}:${o.http.port}`;
    const peers = [o.doormanMetrics, o.candidatesMetrics].flatMap((m) => ['--metrics-peer', `${url(m)}/metrics`]);
    this.spawn('doorman', [
      'run',
      'doorman',
      '--guarantee',
      'exactly-once',
      '--state-dir',
      join(o.dir, 'state', 'doorman'),
      '--metrics',
      `${o.doormanMetrics.host}:${o.doormanMetrics.port}`,
    ]);
    this.spawn('user-vectors', ['run', 'user-vectors', '--state-dir', join(o.dir, 'state', 'user-vectors'), '--http', api, ...peers]);
    this.spawn('candidates', [
      'run',
      'candidates',
      '--state-dir',
      join(o.dir, 'state', 'candidates'),
      '--metrics',
      `${o.candidatesMetrics.host}:${o.candidatesMetrics.port}`,
    ]);
  }

  private spawn(name: string, args: string[]): void {
    const log = join(this.logDir, `${name}.log`);
    const fd = openSync(log, 'a');
    const child = spawn(process.execPath, [BIN, ...args, ...connection(this.o)], {
      cwd: ROOT,
      stdio: ['ignore', fd, fd],
      // glibc's malloc otherwise raises its mmap threshold as large buffers are freed and keeps later ones in a heap it
      // cannot give back: ~100 MiB more at the peak of a snapshot switch (docs/ARCHITECTURE.md, "Memory budget").
      env: { MALLOC_MMAP_THRESHOLD_: String(MALLOC_MMAP_THRESHOLD), ...process.env },
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    this.list.push({ name, child, log, exited });
  }

  /** Resolves once every process logged that it runs; rejects naming one that exited or is late. */
  async running(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const pending = new Set(this.list);
    while (pending.size) {
      for (const s of pending) {
        if (s.child.exitCode !== null)
          throw new Error(
            `'${s.name}' exited (${s.child.exitCode}) while starting: see ${relative(process.cwd(), s.log)}; its last lines:\n${lastLines(s.log, 8)}`,
          );
        if (await logHas(s.log, /"message":"running"/)) pending.delete(s);
      }
      if (Date.now() > deadline)
        throw new Error(`${[...pending].map((s) => `'${s.name}'`).join(', ')} not running after ${seconds(timeoutMs)}: see ${this.logDir}`);
      await sleep(300);
    }
  }

  /** SIGTERM to each (a graceful stop commits and leaves the group), SIGKILL after 15 s. */
  async stop(): Promise<void> {
    await Promise.all(
      this.list.map(async (s) => {
        if (s.child.exitCode !== null || s.child.signalCode !== null) return;
        s.child.kill('SIGTERM');
        const timer = setTimeout(() => s.child.kill('SIGKILL'), 15_000);
        await s.exited;
        clearTimeout(timer);
      }),
    );
  }
}

/** The last `n` lines of a log file that are not debug lines, indented (for a failure message). */
function lastLines(file: string, n: number): string {
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l && !/"level":"(debug|DEBUG)"/.test(l));
  return lines
    .slice(-n)
    .map((l) => `    ${l.slice(0, 400)}`)
    .join('\n');
}

async function logHas(file: string, re: RegExp): Promise<boolean> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) if (re.test(line)) return true;
  return false;
}

/** The stack's address for a child command: given as flags here, or the environment it inherits. */
const connection = (o: KafkaOptions) => [...(o.brokers ? ['--brokers', o.brokers] : []), ...(o.registry ? ['--registry', o.registry] : [])];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function getJson<T>(href: string): Promise<{ status: number; body: T } | undefined> {
  try {
    // The services inherit VECTORS_API_TOKEN from this process: ask with it too.
    const token = process.env.VECTORS_API_TOKEN;
    const res = await fetch(href, { signal: AbortSignal.timeout(5000), headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: res.status, body: (await res.json()) as T };
  } catch {
    return undefined;
  }
}

interface StatusBody {
  topologies?: { topology: string; lag: number; processed: number; eventsPerSecond: number }[];
}
interface CandidatesBody {
  snapshotId: string;
  items: { entityId: string; score: number }[];
}

/** The user with the most events in the file (the demo's example user). */
async function busiestUser(file: string): Promise<string> {
  const counts = new Map<string, number>();
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) {
    const m = /"userId":"([^"]+)"/.exec(line);
    if (m) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1])[0]![0];
}

/** Runs the demo (or, with `demo: false`, the services only) until stopped; resolves with the exit code. */
export async function runDemo(o: DemoOptions, io: CliIo): Promise<number> {
  const say = (s = '') => io.out(`${s}\n`);
  const dir = resolve(o.dir);
  const logDir = join(dir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const services = new Services({ ...o, dir }, logDir);
  const api = url(o.http);

  let stopped: Promise<void> | undefined;
  let release!: () => void;
  const finished = new Promise<void>((r) => (release = r));
  const stop = (why: string): Promise<void> =>
    (stopped ??= (async () => {
      say(`\n${why}: stopping the doorman, user-vectors and candidates...`);
      await services.stop();
      if (o.stopStack) {
        say('stopping the local stack (Kafka and the registry) this run started...');
        spawnSync('bash', [join(ROOT, 'scripts', 'stack.sh'), 'down'], { stdio: 'ignore' });
      }
      say('stopped; no process of this run is left.');
      release();
    })());
  const onSignal = (signal: string) => void stop(`received ${signal}`);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // npm forwards SIGTERM to the shell that runs the script, not to this process: follow the parent.
  const parent = process.ppid;
  const watch = setInterval(() => process.ppid !== parent && void stop('the parent process ended'), 500);

  // Named at once when missing (one line saying how to set them), before anything starts.
  const kafka = kafkaFrom(o, 'vectors-demo', true);
  const registry = registryFrom(o);
  try {
    say(
      `vectors ${o.demo ? 'demo' : 'up'}: Kafka ${o.brokers ?? ''}, registry ${redactUrl(o.registry ?? '')}; logs in ${relative(process.cwd(), logDir) || '.'}/`,
    );
    say('• provisioning the topics, schemas and switch members');
    const provision = spawnSync(process.execPath, [BIN, 'provision', '--partitions', String(o.partitions), ...connection(o)], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    if (provision.status !== 0) throw new Error(`vectors provision failed: ${provision.stderr.trim()}`);
    say('• starting the doorman, user-vectors (query API and status page) and candidates');
    services.start();
    await services.running(120_000);
    const view = await readControlView(kafka, registry);
    if (o.demo && view.active) {
      say(`• snapshot '${view.active}' is already active, so the demo data is not generated again (for a fresh demo: bash scripts/stack.sh reset)`);
    } else if (o.demo) {
      await demo(o, io, kafka, registry, dir, api);
    }
    whereToLook(say, o, api, logDir);
    if (o.exit) await stop('done (--exit)');
    else say('Serving until Ctrl-C (or SIGTERM).');
  } catch (err) {
    say(`\nvectors demo failed: ${(err as Error).message}`);
    await stop('failed');
    return 1;
  }
  // A service that dies while serving ends the demo too: nothing would answer.
  let died = false;
  for (const s of services.list)
    void s.exited.then((code) => {
      if (stopped) return;
      died = true;
      void stop(`'${s.name}' exited (${code}): see ${relative(process.cwd(), s.log)}`);
    });
  await finished;
  clearInterval(watch);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return died ? 1 : 0;
}

async function demo(o: DemoOptions, io: CliIo, kafka: KafkaClient, registry: SchemaRegistry, dir: string, api: string): Promise<void> {
  const say = (s = '') => io.out(`${s}\n`);
  const run = Date.now().toString(36);
  const ids: [string, string] = [`demo-${run}-s1`, `demo-${run}-s2`];
  say(`• generating a world: ${fmt(o.users)} users, ${fmt(o.items)} tracks in ${o.dims} dimensions, ${fmt(o.events)} listens and feedback (seed ${o.seed})`);
  const world: GenerateResult = await generateWorldFiles({
    out: join(dir, 'world'),
    seed: o.seed,
    users: o.users,
    items: o.items,
    dims: o.dims,
    events: o.events,
    snapshotIds: ids,
  });
  const [s1, s2] = world.snapshots;
  const timeline: string[] = [];
  const switchTo = async (s: GenerateResult['snapshots'][number], label: string) => {
    const staged = Date.now();
    await publishSnapshot(kafka, registry, {
      file: s.file,
      snapshotId: s.id,
      model: 'synthetic',
      params: { seed: String(o.seed) },
      ...(s.users ? { users: { file: s.users.file, partitions: o.partitions } } : {}),
      ...(world.cutoff !== null ? { cutoff: world.cutoff } : {}),
    });
    await waitUntilActive(kafka, registry, {}, s.id, { timeoutMs: 300_000 });
    timeline.push(`${label} ${s.id}: ${fmt(s.count)} entities × ${s.dims}, staged → active in ${seconds(Date.now() - staged)}`);
    return Date.now() - staged;
  };
  say(`• publishing ${s1!.id} (with the users' batch factors) and waiting for every partition to report READY`);
  const s1Ms = await switchTo(s1!, 'S1');
  say(`  active after ${seconds(s1Ms)}`);

  say(`• streaming ${fmt(world.events.count)} events at up to ${fmt(o.rate)}/s; ${s2!.id} is published halfway`);
  const progress = new ProgressLine();
  const tty = process.stderr.isTTY === true;
  let lastPlain = 0;
  let lag = 0;
  let active = s1!.id;
  let switching: Promise<number> | undefined;
  const poll = setInterval(async () => {
    const status = await getJson<StatusBody>(`${api}/v1/status`);
    lag = status?.body.topologies?.find((t) => t.topology === 'user-vectors')?.lag ?? lag;
  }, 1000);
  const show = (p: ProduceProgress) => {
    const total = p.total ?? world.events.count;
    const line = `${bar(p.sent / total)} ${fmt(p.sent)}/${fmt(total)} events · ${fmt(p.rate)}/s · lag ${fmt(lag)} · active ${active}`;
    if (tty) progress.update(line);
    else if (Date.now() - lastPlain > 2000 || p.sent === total) {
      lastPlain = Date.now();
      say(`  ${line}`);
    }
    if (!switching && p.sent >= total / 2) {
      switching = switchTo(s2!, 'S2').then((ms) => {
        active = s2!.id;
        return ms;
      });
    }
  };
  const streamed = Date.now();
  const sent = await produceEvents({
    kafka,
    registry,
    source: world.events.file,
    topic: { listens: Topics.listens, feedback: Topics.feedback },
    rate: o.rate,
    onProgress: show,
  }).finally(() => progress.done());
  const s2Ms = await (switching ?? switchTo(s2!, 'S2'));
  active = s2!.id;
  const streamMs = Date.now() - streamed;
  say(`  sent ${fmt(sent.sent)} events in ${seconds(sent.elapsedMs)} (${fmt(sent.rate)}/s); ${s2!.id} was active ${seconds(s2Ms)} after it was staged`);
  say('• waiting for user-vectors to catch up');
  const caughtUp = Date.now() + 120_000;
  for (;;) {
    const status = await getJson<StatusBody>(`${api}/v1/status`);
    const uv = status?.body.topologies?.find((t) => t.topology === 'user-vectors');
    if (uv && uv.lag === 0) break;
    if (Date.now() > caughtUp) {
      say(`  still ${fmt(uv?.lag ?? NaN)} records behind after 2 minutes; going on`);
      break;
    }
    await sleep(500);
  }
  clearInterval(poll);

  const user = await busiestUser(world.events.file);
  const candidates = async () => (await getJson<CandidatesBody>(`${api}/v1/users/${encodeURIComponent(user)}/candidates?k=5`))?.body;
  const before = await candidates();
  const banned = before?.items[0]?.entityId;
  let after: CandidatesBody | undefined;
  if (banned) {
    const ban = { eventId: `demo-ban-${run}`, userId: user, entityId: banned, kind: 'BAN', surface: 'demo', timestamp: Date.now() };
    await produceEvents({ kafka, registry, source: Readable.from([`${JSON.stringify(ban)}\n`]), topic: Topics.feedback, format: 'jsonl' });
    const deadline = Date.now() + 30_000;
    do {
      await sleep(500);
      after = await candidates();
    } while (after?.items.some((i) => i.entityId === banned) && Date.now() < deadline);
  }

  say();
  say('── Summary ─────────────────────────────────────────────');
  say(
    `events     ${fmt(sent.sent)} sent in ${seconds(streamMs)} (${fmt(sent.rate)}/s), ${fmt(world.events.listens)} listens and ${fmt(sent.sent - world.events.listens)} feedback, ${fmt(world.events.users)} users`,
  );
  say('snapshots');
  for (const t of timeline) say(`  ${t}`);
  say(`  S2 was staged and activated while events were streaming: each user's vector moved to the new space with no pause`);
  if (before && banned) {
    const list = (c?: CandidatesBody) => (c ? c.items.map((i) => `${i.entityId} (${i.score.toFixed(3)})`).join(', ') : 'no answer');
    say(`user ${user}, top 5 candidates in ${before.snapshotId}`);
    say(`  before BAN of ${banned}: ${list(before)}`);
    say(`  after  BAN of ${banned}: ${list(after)}${after?.items.some((i) => i.entityId === banned) ? '  (the BAN was not applied within 30 s)' : ''}`);
  } else {
    say(`user ${user}: no candidates answered (see the logs)`);
  }
}

export function whereToLook(say: (s?: string) => void, o: DemoOptions, api: string, logDir: string): void {
  say();
  say('── Where to look next ──────────────────────────────────');
  say(`status page   ${api}/            (snapshots, throughput, lag, readiness, a user lookup)`);
  say(`query API     curl '${api}/v1/users/u1/candidates?k=10'   · ${api}/v1/users/u1/vector · ${api}/openapi.json`);
  say(`metrics       ${api}/metrics · ${url(o.doormanMetrics)}/metrics (doorman) · ${url(o.candidatesMetrics)}/metrics (candidates)`);
  say(`CLI           in another terminal: export KAFKA_BROKERS=${o.brokers ?? ''} SCHEMA_REGISTRY_URL=${o.registry ?? ''}`);
  say(
    `              npx vectors status · npx vectors tail ${Topics.candidates} --from beginning --limit 3 · npx vectors query user u1${api === 'http://127.0.0.1:8090' ? '' : ` --api ${api}`}`,
  );
  say('              npx vectors rollback · npx vectors rollforward <id> · npx vectors --help');
  say(`logs          ${relative(process.cwd(), logDir) || logDir}/{doorman,user-vectors,candidates}.log`);
}
