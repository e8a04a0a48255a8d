/**
 * `npm run bench:rolling-restart`: a rolling restart of three user-vectors
 * instances under load, on a stack of its own (Kafka and the registry on
 * 19892/18881, query APIs on 18591–18593, STACK_DIR .stack-chaos/rolling; never the shared one).
 *
 * The system runs as real CLI processes (`node bin/vectors.js run ...`): a
 * doorman and three user-vectors instances, each with its own query API and
 * state directory. A generated world's events stream in at a fixed rate and
 * an HTTP client asks `GET /v1/users/{id}/vector` round-robin across the three
 * APIs. Each instance in turn gets SIGTERM, is started again on the same
 * state directory once it exited, and has 10 s after its /readyz answers 200
 * before the next one goes. At the end the events stop, processing catches
 * up, and every user's `eventCount` is compared with the events produced for
 * them: nothing may be lost.
 *
 * Reported: requests by outcome, the share that got 503 and the seconds in
 * which any did (with and without connection errors, which a load balancer
 * would not have produced: it stops sending to a pod that is going away),
 * per-restart times, lost events. Written to /work/notes/rolling-restart.md
 * (ROLLING_OUT overrides) and printed. Exits 1 when an event was lost.
 *
 * Environment: ROLLING_USERS (2000), ROLLING_EVENTS (generated, 300000; the
 * run sends only what the restarts take), ROLLING_RATE (events/s, 1000),
 * ROLLING_QPS (requests/s, 200), ROLLING_SETTLE_S (after each ready, 10).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, createReadStream, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { publishSnapshot } from '../src/app/snapshots';
import { generateWorldFiles } from '../src/app/tools/generate';
import { produceEvents, type ProduceResult } from '../src/app/tools/produce';
import { tailTopic } from '../src/app/tools/tail';
import { waitUntilActive } from '../src/cli/wait-active';
import { KafkajsClient } from '../src/runtime/kafka/kafkajs-client';
import { ConfluentSchemaRegistry } from '../src/runtime/serde/confluent-registry';
import { Topics } from '../src/vectors/contracts';
import { ChaosStack, ROOT } from '../test/chaos/stack';
import { machine, sleep } from './common';

const USERS = Number(process.env.ROLLING_USERS ?? 2000);
const EVENTS = Number(process.env.ROLLING_EVENTS ?? 300_000);
const RATE = Number(process.env.ROLLING_RATE ?? 1000);
const QPS = Number(process.env.ROLLING_QPS ?? 200);
const SETTLE_MS = Number(process.env.ROLLING_SETTLE_S ?? 10) * 1000;
const OUT = process.env.ROLLING_OUT ?? '/work/notes/rolling-restart.md';
const PARTITIONS = 12;
const WARMUP_MS = 15_000;
const API_PORTS = [18591, 18592, 18593];
const APPLICATION = 'user-vectors';
const BIN = join(ROOT, 'bin', 'vectors.js');
const RUN_DIR = join(ROOT, '.stack-chaos', 'rolling', 'run');

const log = (line: string) => process.stderr.write(`[rolling ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (n: number, of: number) => (of === 0 ? 'n/a' : `${((100 * n) / of).toFixed(2)} %`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** One CLI process (`node bin/vectors.js ...`), its output appended to a log file. */
class CliProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    readonly logFile: string,
  ) {
    const fd = openSync(logFile, 'a');
    writeFileSync(fd, `=== ${new Date().toISOString()} node bin/vectors.js ${args.join(' ')}\n`);
    this.child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.exited = new Promise((r) => this.child.on('exit', (code, signal) => r(code ?? (signal ? 128 : null))));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM; SIGKILL after `graceMs`. Resolves with the exit code and whether it had to be killed. */
  async stop(graceMs = 20_000): Promise<{ code: number | null; killed: boolean }> {
    if (!this.running) return { code: await this.exited, killed: false };
    this.child.kill('SIGTERM');
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      this.child.kill('SIGKILL');
    }, graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return { code, killed };
  }

  async waitForLog(re: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (re.test(readFileSync(this.logFile, 'utf8'))) return;
      if (!this.running) throw new Error(`${this.name} exited before logging ${re}: see ${this.logFile}`);
      if (Date.now() > deadline) throw new Error(`${this.name} did not log ${re} within ${secs(timeoutMs)}: see ${this.logFile}`);
      await sleep(250);
    }
  }
}

/** What one request ended in: an HTTP status, or the kind of connection error. */
type Outcome = number | 'refused' | 'reset' | 'timeout';

interface Sample {
  /** When it was sent, ms since the load started. */
  at: number;
  instance: number;
  outcome: Outcome;
  ms: number;
}

function connectionError(err: unknown): Outcome {
  const e = err as { name?: string; cause?: { code?: string; name?: string } };
  if (e.name === 'TimeoutError' || e.cause?.name === 'TimeoutError') return 'timeout';
  if (e.cause?.code === 'ECONNREFUSED') return 'refused';
  return 'reset';
}

/** Round-robin `GET /v1/users/{id}/vector` at a fixed rate, every outcome recorded. */
class LoadLoop {
  readonly samples: Sample[] = [];
  private timer?: NodeJS.Timeout;
  private inFlight = new Set<Promise<void>>();
  private issued = 0;
  skipped = 0;
  t0 = 0;

  constructor(
    private readonly urls: string[],
    private readonly users: string[],
    private readonly perSecond: number,
  ) {}

  start(): void {
    this.t0 = Date.now();
    let seed = 12345;
    const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) % this.users.length;
    this.timer = setInterval(() => {
      const due = Math.floor(((Date.now() - this.t0) * this.perSecond) / 1000);
      while (this.issued < due) {
        const instance = this.issued % this.urls.length;
        this.issued++;
        // A client never queues without bound: beyond this many waiting answers, a request is not sent (and counted).
        if (this.inFlight.size >= 1000) {
          this.skipped++;
          continue;
        }
        const p = this.one(instance, this.users[next()]!);
        this.inFlight.add(p);
        void p.finally(() => this.inFlight.delete(p));
      }
    }, 10);
  }

  private async one(instance: number, user: string): Promise<void> {
    const sent = Date.now();
    let outcome: Outcome;
    try {
      const res = await fetch(`${this.urls[instance]}/v1/users/${encodeURIComponent(user)}/vector`, { signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      outcome = res.status;
    } catch (err) {
      outcome = connectionError(err);
    }
    this.samples.push({ at: sent - this.t0, instance, outcome, ms: Date.now() - sent });
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.inFlight]);
  }
}

interface Restart {
  instance: number;
  /** ms since the load started. */
  sigterm: number;
  exitMs: number;
  exitCode: number | null;
  killed: boolean;
  readyMs: number;
  allReadyMs: number;
  /** End of the settle time after it, ms since the load started. */
  until: number;
}

async function readyz(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

async function waitReady(urls: string[], timeoutMs: number, proc?: CliProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await Promise.all(urls.map(readyz))).every(Boolean)) return;
    if (proc && !proc.running) throw new Error(`${proc.name} exited while starting: see ${proc.logFile}`);
    if (Date.now() > deadline) throw new Error(`${urls.join(', ')} not all ready after ${secs(timeoutMs)}`);
    await sleep(200);
  }
}

/** Per user, the distinct event ids among the first `n` events of the file (what was produced). */
async function expectedCounts(file: string, n: number): Promise<Map<string, number>> {
  const ids = new Map<string, Set<string>>();
  let read = 0;
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    if (read++ >= n) break;
    const e = JSON.parse(line) as { userId: string; eventId: string };
    let s = ids.get(e.userId);
    if (!s) ids.set(e.userId, (s = new Set()));
    s.add(e.eventId);
  }
  lines.close();
  return new Map([...ids].map(([u, s]) => [u, s.size]));
}

/** The users among the first `n` events of the file. */
async function earlyUsers(file: string, n: number): Promise<string[]> {
  return [...(await expectedCounts(file, n)).keys()];
}

/** Fails naming the ports on 127.0.0.1 something else listens on (other stacks and tests share this machine). */
async function checkPortsFree(ports: number[]): Promise<void> {
  const busy: number[] = [];
  for (const port of ports) {
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (!free) busy.push(port);
  }
  if (busy.length) throw new Error(`port${busy.length > 1 ? 's' : ''} ${busy.join(', ')} on 127.0.0.1 already in use: stop what listens there first`);
}

/** Longest run of consecutive integers in a set, and its first element. */
function longestRun(seconds: Set<number>): { length: number; from: number } {
  let best = { length: 0, from: 0 };
  for (const s of seconds) {
    if (seconds.has(s - 1)) continue;
    let n = 1;
    while (seconds.has(s + n)) n++;
    if (n > best.length) best = { length: n, from: s };
  }
  return best;
}

function childEnv(stack: ChaosStack): NodeJS.ProcessEnv {
  // The shell's VECTORS_* settings (ports, tokens, state dirs) are not this run's.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VECTORS_')));
  return { ...env, ...stack.clientEnv() };
}

interface Outcomes {
  total: number;
  ok: number;
  unavailable: number;
  notFound: number;
  otherStatus: Map<number, number>;
  refused: number;
  reset: number;
  timeout: number;
}

function outcomes(samples: Sample[]): Outcomes {
  const o: Outcomes = { total: samples.length, ok: 0, unavailable: 0, notFound: 0, otherStatus: new Map(), refused: 0, reset: 0, timeout: 0 };
  for (const s of samples) {
    if (s.outcome === 200) o.ok++;
    else if (s.outcome === 503) o.unavailable++;
    else if (s.outcome === 404) o.notFound++;
    else if (typeof s.outcome === 'number') o.otherStatus.set(s.outcome, (o.otherStatus.get(s.outcome) ?? 0) + 1);
    else o[s.outcome]++;
  }
  return o;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<number> {
  const started = new Date();
  const stack = new ChaosStack({
    dir: join(ROOT, '.stack-chaos', 'rolling'),
    kafkaPort: 19892,
    kafkaControllerPort: 19893,
    registryPort: 18881,
    registryMgmtPort: 19881,
    log: (l) => log(`  ${l}`),
  });
  rmSync(RUN_DIR, { recursive: true, force: true });
  const logDir = join(RUN_DIR, 'logs');
  mkdirSync(logDir, { recursive: true });
  const kafka = new KafkajsClient({ brokers: [stack.brokers], clientId: 'rolling-restart', logLevel: 'nothing' });
  const registry = new ConfluentSchemaRegistry(stack.registryUrl);
  const urls = API_PORTS.map((p) => `http://127.0.0.1:${p}`);
  const procs: (CliProcess | undefined)[] = [];
  let doorman: CliProcess | undefined;
  const produceAbort = new AbortController();
  let load: LoadLoop | undefined;

  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      produceAbort.abort();
      await load?.stop().catch(() => undefined);
      await Promise.all([...procs, doorman].map((p) => p?.stop(15_000).catch(() => undefined)));
      log('stopping the stack (scripts/stack.sh down, STACK_DIR .stack-chaos/rolling)');
      await stack.down().catch((err: Error) => log(`stack down failed: ${err.message}`));
    })());
  const onSignal = (signal: string) => {
    log(`received ${signal}: stopping everything this run started`);
    void cleanup().then(() => process.exit(1));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const env = childEnv(stack);
    await checkPortsFree([stack.kafkaPort, stack.kafkaControllerPort, stack.registryPort, stack.registryMgmtPort, ...API_PORTS]);
    log(`starting the stack: Kafka ${stack.brokers}, registry ${stack.registryUrl}, STACK_DIR ${relative(ROOT, stack.dir)}; logs in ${relative(ROOT, logDir)}`);
    await stack.up();

    const provision = new CliProcess('provision', ['provision', '--partitions', String(PARTITIONS), '--members', APPLICATION], env, join(logDir, 'cli.log'));
    if ((await provision.exited) !== 0) throw new Error(`vectors provision failed: see ${provision.logFile}`);

    log(`generating a world: ${fmt(USERS)} users, ${fmt(EVENTS)} events`);
    const world = await generateWorldFiles({ out: join(RUN_DIR, 'world'), seed: 7, users: USERS, items: 2000, dims: 32, events: EVENTS, second: false });
    const s1 = world.snapshots[0]!;

    doorman = new CliProcess(
      'doorman',
      ['run', 'doorman', '--guarantee', 'exactly-once', '--state-dir', join(RUN_DIR, 'state', 'doorman')],
      env,
      join(logDir, 'doorman.log'),
    );
    const uvArgs = (i: number) => [
      'run',
      APPLICATION,
      '--http',
      `127.0.0.1:${API_PORTS[i]}`,
      '--advertise',
      urls[i]!,
      '--state-dir',
      join(RUN_DIR, 'state', `uv-${i}`),
      '--session-timeout-ms',
      '10000',
    ];
    const startInstance = (i: number) => (procs[i] = new CliProcess(`user-vectors #${i}`, uvArgs(i), env, join(logDir, `user-vectors-${i}.log`)));
    for (let i = 0; i < API_PORTS.length; i++) startInstance(i);
    await Promise.all([doorman, ...procs].map((p) => p!.waitForLog(/"message":"running"/, 180_000)));
    log('doorman and three user-vectors instances running');

    const staged = Date.now();
    await publishSnapshot(kafka, registry, {
      file: s1.file,
      snapshotId: s1.id,
      model: 'synthetic',
      ...(s1.users ? { users: { file: s1.users.file, partitions: PARTITIONS } } : {}),
      ...(world.cutoff !== null ? { cutoff: world.cutoff } : {}),
    });
    await waitUntilActive(kafka, registry, {}, s1.id, { timeoutMs: 300_000 });
    await waitReady(urls, 120_000);
    log(`snapshot ${s1.id} active after ${secs(Date.now() - staged)}; all three /readyz answer 200`);

    // Users whose events are among the first sent: the load asks for users that have events.
    const early = 5000;
    const users = await earlyUsers(world.events.file, early);
    let sentSoFar = 0;
    const producing: Promise<ProduceResult> = produceEvents({
      kafka,
      registry,
      source: world.events.file,
      topic: { listens: Topics.listens, feedback: Topics.feedback },
      rate: RATE,
      signal: produceAbort.signal,
      onProgress: (p) => (sentSoFar = p.sent),
    });
    let produceFailed: Error | undefined;
    producing.catch((err: Error) => (produceFailed = err));
    while (sentSoFar < early) {
      if (produceFailed) throw produceFailed;
      await sleep(100);
    }
    await sleep(2000);
    load = new LoadLoop(urls, users, QPS);
    load.start();
    // The machine is shared: the load average says how much else ran beside this measurement.
    const loads: number[] = [loadavg()[0]!];
    const loadSampler = setInterval(() => loads.push(loadavg()[0]!), 5000);
    log(`producing ${fmt(RATE)} events/s; load ${QPS} requests/s over ${urls.length} APIs (${fmt(users.length)} users); warm-up ${secs(WARMUP_MS)}`);
    await sleep(WARMUP_MS);

    const restarts: Restart[] = [];
    for (let i = 0; i < API_PORTS.length; i++) {
      const t = Date.now();
      log(`restart #${i}: SIGTERM to user-vectors #${i} (pid ${procs[i]!.child.pid})`);
      const { code, killed } = await procs[i]!.stop(20_000);
      const exitMs = Date.now() - t;
      log(`  exited ${code}${killed ? ' (killed after 20 s)' : ''} after ${secs(exitMs)}; starting it again on the same state directory`);
      const proc = startInstance(i);
      await waitReady([urls[i]!], 180_000, proc);
      const readyMs = Date.now() - t;
      await waitReady(urls, 180_000);
      const allReadyMs = Date.now() - t;
      log(`  ready after ${secs(readyMs)} (all three after ${secs(allReadyMs)}); waiting ${secs(SETTLE_MS)}`);
      await sleep(SETTLE_MS);
      restarts.push({ instance: i, sigterm: t - load.t0, exitMs, exitCode: code, killed, readyMs, allReadyMs, until: Date.now() - load.t0 });
    }

    await sleep(5000);
    produceAbort.abort();
    const produced = await producing;
    await load.stop();
    clearInterval(loadSampler);
    const loadMs = Date.now() - load.t0;
    log(
      `sent ${fmt(produced.sent)} events (${fmt(produced.rate)}/s, read ${fmt(produced.read)}, invalid ${produced.invalid}); ${fmt(load.samples.length)} requests`,
    );
    if (produced.sent !== produced.read || produced.invalid !== 0) throw new Error('some lines read were not sent: the expected counts would be wrong');
    if (!produced.aborted) log('  warning: the event file ran out before the restarts ended (raise ROLLING_EVENTS)');

    log('waiting for user-vectors to commit every event');
    const admin = await kafka.admin();
    const caughtUpStart = Date.now();
    let behind = Infinity;
    try {
      while (behind > 0) {
        behind = 0;
        for (const topic of [Topics.listens, Topics.feedback]) {
          const [ends, committed] = await Promise.all([admin.topicOffsets(topic), admin.committedOffsets(APPLICATION, topic)]);
          for (const e of ends) {
            const c = committed.find((x) => x.partition === e.partition)?.offset ?? '-1';
            behind += Number(e.high) - Math.max(Number(e.low), Number(c));
          }
        }
        if (behind > 0 && Date.now() - caughtUpStart > 300_000) throw new Error(`user-vectors still ${behind} events behind after 5 minutes`);
        if (behind > 0) await sleep(1000);
      }
    } finally {
      await admin.close();
    }
    log(`caught up in ${secs(Date.now() - caughtUpStart)}`);

    const expected = await expectedCounts(world.events.file, produced.sent);
    let seen = 0;
    let short = 0;
    let over = 0;
    let usersShort = 0;
    let usersOver = 0;
    let unanswered = 0;
    let k = 0;
    const userIds = [...expected.keys()];
    for (let at = 0; at < userIds.length; at += 20) {
      await Promise.all(
        userIds.slice(at, at + 20).map(async (u) => {
          const url = urls[k++ % urls.length]!;
          // Nothing restarts any more: a 503 here would be a defect, but is retried a few times before it counts.
          let res: Response | undefined;
          for (let attempt = 0; attempt < 10; attempt++) {
            res = await fetch(`${url}/v1/users/${encodeURIComponent(u)}/vector`, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
            if (res && (res.status === 200 || res.status === 404)) break;
            await res?.arrayBuffer();
            await sleep(500);
          }
          if (!res || (res.status !== 200 && res.status !== 404)) unanswered++;
          const body = res?.status === 200 ? ((await res.json()) as { eventCount?: number }) : undefined;
          if (res?.status === 404) await res.arrayBuffer();
          const n = body?.eventCount ?? 0;
          const want = expected.get(u)!;
          seen += n;
          if (n < want) {
            short += want - n;
            usersShort++;
          }
          if (n > want) {
            over += n - want;
            usersOver++;
          }
        }),
      );
    }
    let dlq = 0;
    const dlqReasons = new Map<string, number>();
    for await (const r of tailTopic({ kafka, registry, topic: `${APPLICATION}-dlq`, from: 'beginning', idleMs: 2000 })) {
      dlq++;
      const code = r.headers?.['dlq.error.code'] ?? 'unknown';
      dlqReasons.set(code, (dlqReasons.get(code) ?? 0) + 1);
    }
    const lost = Math.max(0, short - dlq);
    log(`events produced ${fmt(produced.sent)}, sum of eventCount ${fmt(seen)}, dead-lettered ${dlq}, short ${short}, over ${over}`);

    // ── the figures ──
    const all = outcomes(load.samples);
    const conn = all.refused + all.reset + all.timeout;
    const answered = all.total - conn;
    const bad = new Set(load.samples.filter((s) => s.outcome === 503).map((s) => Math.floor(s.at / 1000)));
    const badOrConn = new Set(load.samples.filter((s) => s.outcome === 503 || typeof s.outcome !== 'number').map((s) => Math.floor(s.at / 1000)));
    const run503 = longestRun(bad);
    const runAny = longestRun(badOrConn);
    const latency200 = load.samples.filter((s) => s.outcome === 200).map((s) => s.ms);
    const connOnRestarting = load.samples.filter(
      (s) => typeof s.outcome !== 'number' && restarts.some((r) => r.instance === s.instance && s.at >= r.sigterm && s.at <= r.sigterm + r.readyMs),
    ).length;
    const other = [...all.otherStatus].map(([s, n]) => `${s}: ${n}`).join(', ') || 'none';
    const perRestart = restarts.map((r) => {
      const window = load!.samples.filter((s) => s.at >= r.sigterm && s.at < r.until);
      const w = outcomes(window);
      const secs503 = new Set(window.filter((s) => s.outcome === 503).map((s) => Math.floor(s.at / 1000))).size;
      return { r, w, secs503 };
    });
    const md = [
      '## Rolling restart under load',
      '',
      `Command: \`npm run bench:rolling-restart\` (bench/rolling-restart.ts). Run ${started.toISOString().slice(0, 16)} UTC on ${machine()}; its own Kafka and registry on the same machine, shared with other work (1-minute load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} during the load, on ${cpus().length} cores).`,
      `Three user-vectors instances (\`vectors run user-vectors --http … --session-timeout-ms 10000\`, at-least-once, RocksDB, ${PARTITIONS} partitions) and a doorman, as CLI processes; a generated world of ${fmt(USERS)} users (snapshot ${s1.id} with batch user factors). Events produced at ${fmt(RATE)}/s throughout (${fmt(produced.sent)} in all, ${fmt(produced.rate)}/s achieved); \`GET /v1/users/{id}/vector\` at ${QPS} requests/s, round-robin over the three APIs, for ${fmt(users.length)} users that have events (any instance forwards to the owner). Each instance in turn: SIGTERM, wait for its exit, start it again on the same state directory, wait for its \`/readyz\` to answer 200, then ${secs(SETTLE_MS)} more. Load ran ${secs(loadMs)}: ${secs(WARMUP_MS)} before the first restart, 5 s after the last.`,
      '',
      '| figure | value |',
      '| --- | --- |',
      `| requests | ${fmt(all.total)} (${fmt(all.ok)} × 200, ${fmt(all.unavailable)} × 503, ${fmt(all.notFound)} × 404, other statuses ${other}; ${fmt(load.skipped)} not sent, over 1000 in flight) |`,
      `| **503, share of all requests** | **${pct(all.unavailable, all.total)}** |`,
      `| 503, share of answered requests (without connection errors: what clients behind a load balancer see) | ${pct(all.unavailable, answered)} |`,
      `| connection errors, share of all requests | ${pct(conn, all.total)} (${fmt(all.refused)} refused, ${fmt(all.reset)} reset/closed, ${fmt(all.timeout)} timed out after 5 s) — ${fmt(connOnRestarting)} of them sent straight to the instance while it was stopped or starting |`,
      `| 503 or connection error, share of all requests | ${pct(all.unavailable + conn, all.total)} |`,
      `| **seconds with any 503** | **${bad.size} of ${Math.ceil(loadMs / 1000)}**; longest stretch ${run503.length} s |`,
      `| seconds with any 503 or connection error | ${badOrConn.size}; longest stretch ${runAny.length} s |`,
      `| latency of 200 answers | p50 ${percentile(latency200, 50)} ms, p99 ${percentile(latency200, 99)} ms, max ${percentile(latency200, 100)} ms |`,
      `| **events lost** | **${lost}** (produced ${fmt(produced.sent)}; sum of the users' \`eventCount\` ${fmt(seen)}; short ${short} in ${usersShort} users, counted twice ${over} in ${usersOver} users; dead-lettered ${dlq}${dlq ? ` (${[...dlqReasons].map(([c, n]) => `${c}: ${n}`).join(', ')})` : ''}; users not answered at the check ${unanswered}) |`,
      '',
      '| restart | SIGTERM → exit | exit code | SIGTERM → its /readyz 200 | SIGTERM → all three ready | requests in window | 503 | connection errors | seconds with 503 |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...perRestart.map(
        ({ r, w, secs503 }) =>
          `| #${r.instance} | ${secs(r.exitMs)} | ${r.exitCode}${r.killed ? ' (SIGKILL)' : ''} | ${secs(r.readyMs)} | ${secs(r.allReadyMs)} | ${fmt(w.total)} | ${fmt(w.unavailable)} (${pct(w.unavailable, w.total)}) | ${fmt(w.refused + w.reset + w.timeout)} | ${secs503} |`,
      ),
      '',
      'A window runs from the SIGTERM to the end of the settle time after the instance was ready again. ' +
        `The check: after the load stopped, user-vectors committed every input offset; then each user's \`eventCount\` was read through the API and compared with the distinct events produced for them (${fmt(expected.size)} users). ` +
        `Logs: \`${relative(ROOT, logDir)}/\`.`,
      '',
    ].join('\n');
    mkdirSync(dirname(OUT), { recursive: true });
    writeFileSync(OUT, md);
    process.stdout.write(`\n${md}\n`);
    log(`written to ${OUT}`);
    return lost === 0 && unanswered === 0 ? 0 : 1;
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    log(`failed: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
