import { Argument, InvalidArgumentError, Option, type Command } from 'commander';
import { ConfigError } from '../../errors';
import { RuntimeMetrics } from '../../runtime/metrics/runtime-metrics';
import { registerProcessMetrics } from '../../runtime/metrics/process-metrics';
import { TopologyRunner, type ProcessingGuarantee } from '../../runtime/runner/topology-runner';
import type { Topology } from '../../runtime/topology/topology';
import type { MisroutedPolicy } from '../../runtime/task';
import { ControlLog, KafkaSnapshotSource } from '../../app/snapshots';
import { QueryServer } from '../../api/query-server';
import { startMetricsServer } from '../../runtime/metrics/metrics-server';
import { apiTokenFrom, exposureWarnings } from '../security';
import { SnapshotCatalog } from '../../vectors/snapshot-catalog';
import { topologies, type TopologyContext } from '../../../topologies';
import { CATALOG_OPTION_KEYS, catalogOptions } from '../model-options';
import { allocatorAdvice, describePlan, glibcVersion, parseMemorySize, planMemory } from '../memory-plan';
import {
  addKafkaOptions,
  addSnapshotTopicOptions,
  kafkaFrom,
  keyValue,
  listenAddress,
  logLine,
  positiveInt,
  registryFrom,
  type KafkaOptions,
  type SnapshotTopicOptions,
} from '../common';

const SHUTDOWN_DEADLINE_MS = 10_000;

function nonNegativeInt(raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected an integer >= 0');
  return n;
}

function memorySize(raw: string): number {
  try {
    return parseMemorySize(raw);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** Repeatable `--metrics-peer http://HOST:PORT/metrics`. */
function metricsPeer(raw: string, previous: string[] = []): string[] {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidArgumentError(`expected an http(s) URL such as http://127.0.0.1:9101/metrics, got '${raw}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError(`expected an http(s) URL, got '${raw}'`);
  return [...previous, url.toString()];
}

interface RunOptions extends KafkaOptions, SnapshotTopicOptions {
  opt?: Record<string, string>;
  http?: { host: string; port: number };
  advertise?: string;
  metrics?: { host: string; port: number };
  metricsPeer?: string[];
  apiTokenFile?: string;
  apiRateLimit: number;
  stateDir: string;
  guarantee: ProcessingGuarantee;
  store: 'rocksdb' | 'memory';
  applicationId?: string;
  commitIntervalMs?: number;
  sessionTimeoutMs: number;
  standbyReplicas: number;
  misrouted: MisroutedPolicy;
  memory?: number;
}

/** `vectors run <topology>`: one topology instance (and its query API) until SIGTERM or SIGINT. */
export function registerRun(program: Command): void {
  const cmd = program
    .command('run')
    .summary('run a topology instance until SIGTERM/SIGINT')
    .description(
      'Run one instance of a topology; instances of one application id share its partitions. Runs until SIGTERM or SIGINT, then stops gracefully ' +
        '(commits, closes stores) within 10 s. Topology options are --opt key=value: topic names (topic.listens=..., topic.control=..., ' +
        'snapshot-prefix=...), model and index settings (model=decayed|fold-in, tau-ms, fold-in-lambda, fold-in-alpha, fold-in-max-entities, ' +
        'prior-weight, lifetime-variant, index=hnsw|exact), and per topology (name=..., k, ef-search, exclude, timeout-ms, ...).',
    )
    .addArgument(
      new Argument(
        '<topology>',
        `the topology to run (${Object.keys(topologies).join(', ')}), or several joined by commas, run in one process that loads each snapshot once for all of them (e.g. user-vectors,candidates)`,
      ).argParser(topologyList),
    )
    .addOption(
      new Option(
        '--opt <key=value>',
        'a topology option; repeatable. With several topologies it applies to each; <topology>:key=value to one (e.g. candidates:k=50)',
      ).argParser(keyValue),
    )
    .addOption(
      new Option('--http <[host:]port>', 'user-vectors: serve the query API there (GET /v1/users/{id}/vector, ..., /metrics)')
        .env('VECTORS_HTTP')
        .argParser(listenAddress),
    )
    .addOption(new Option('--advertise <url>', 'the query API URL other instances forward to (default http://HOST:PORT of --http)').env('VECTORS_ADVERTISE'))
    .addOption(new Option('--metrics <[host:]port>', 'serve GET /metrics and /healthz there').env('VECTORS_METRICS').argParser(listenAddress))
    .addOption(
      new Option(
        '--metrics-peer <url>',
        "with --http: another process's /metrics URL (the doorman's, candidates'), shown on the status page at / beside this one; repeatable",
      ).argParser(metricsPeer),
    )
    .addOption(
      new Option(
        '--api-token-file <file>',
        'file holding the bearer token the query API and /metrics require (or set VECTORS_API_TOKEN); /healthz and /readyz stay open',
      ).env('VECTORS_API_TOKEN_FILE'),
    )
    .addOption(
      new Option('--api-rate-limit <per-second>', 'requests per second the query API answers before 429 (0: no limit)')
        .env('VECTORS_API_RATE_LIMIT')
        .default(1000)
        .argParser(nonNegativeInt),
    )
    .addOption(new Option('--state-dir <dir>', 'where the local state stores live').env('VECTORS_STATE_DIR').default('./.state'))
    .addOption(
      new Option('--guarantee <guarantee>', 'processing guarantee')
        .env('VECTORS_GUARANTEE')
        .choices(['at-least-once', 'exactly-once'])
        .default('at-least-once'),
    )
    .addOption(new Option('--store <backend>', 'state store backend').env('VECTORS_STORE').choices(['rocksdb', 'memory']).default('rocksdb'))
    .addOption(new Option('--application-id <id>', 'consumer group and state prefix (default the topology name)').env('VECTORS_APPLICATION_ID'))
    .addOption(
      new Option('--commit-interval-ms <ms>', 'how often to commit (default 1000 at-least-once, 100 exactly-once)')
        .env('VECTORS_COMMIT_INTERVAL_MS')
        .argParser(positiveInt),
    )
    .addOption(
      new Option('--session-timeout-ms <ms>', 'consumer group session timeout').env('VECTORS_SESSION_TIMEOUT_MS').default(30_000).argParser(positiveInt),
    )
    .addOption(
      new Option('--standby-replicas <n>', 'warm copies of each task on other instances, for fast failover (num.standby.replicas)')
        .env('VECTORS_STANDBY_REPLICAS')
        .default(0)
        .argParser(nonNegativeInt),
    )
    .addOption(
      new Option('--misrouted <policy>', 'keyed input records not on their murmur2 partition')
        .env('VECTORS_MISROUTED')
        .choices(['reroute', 'dead-letter', 'process'])
        .default('reroute'),
    )
    .addOption(
      new Option(
        '--memory <size>',
        'memory budget of the process (e.g. 1g, 768m): split between snapshots, RocksDB stores and the heap, logged at start; a snapshot that does not fit is refused (docs/ARCHITECTURE.md, "Memory budget")',
      )
        .env('VECTORS_MEMORY')
        .argParser(memorySize),
    );
  addKafkaOptions(cmd);
  addSnapshotTopicOptions(cmd);
  cmd.addHelpText(
    'after',
    '\nExamples:\n  vectors run doorman --guarantee exactly-once --metrics 9101\n  vectors run user-vectors --http 127.0.0.1:8090 --opt model=fold-in\n  vectors run candidates --opt k=100',
  );
  cmd.action(async (names: string[], o: RunOptions) => runTopologies(names, o));
}

/** `<topology>[,<topology>...]`: known names, each once. */
export function topologyList(raw: string): string[] {
  const names = raw.split(',').map((n) => n.trim());
  const known = Object.keys(topologies);
  for (const n of names) {
    if (!known.includes(n)) throw new InvalidArgumentError(`unknown topology '${n}'; choose from ${known.join(', ')}, or several joined by commas`);
  }
  if (new Set(names).size !== names.length) throw new InvalidArgumentError(`a topology is named twice in '${raw}'; name each once`);
  return names;
}

/**
 * The options of `name` among `names` run in one process: every unscoped
 * `--opt key=value`, then its own `name:key=value` ones, which win. Scoped
 * options of a topology that is not run are an error (a misspelt scope would
 * otherwise be ignored), and so is one unscoped `name=` for several
 * topologies (each needs its own application id).
 */
export function topologyOptions(opt: Record<string, string>, name: string, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(opt)) {
    const colon = key.indexOf(':');
    if (colon < 0) {
      if (key === 'name' && names.length > 1) {
        throw new ConfigError(`--opt name=${value} would give ${names.length} topologies one name; scope it: --opt ${names[0]}:name=...`);
      }
      out[key] = value;
      continue;
    }
    const scope = key.slice(0, colon);
    if (!names.includes(scope)) throw new ConfigError(`--opt ${key}=${value} is scoped to '${scope}', which this process does not run (${names.join(', ')})`);
    const bare = key.slice(colon + 1);
    if (CATALOG_OPTION_KEYS.includes(bare)) {
      throw new ConfigError(
        `--opt ${key}=${value}: ${bare} is a setting of the process's snapshot catalog, shared by its topologies; give it unscoped: --opt ${bare}=${value}`,
      );
    }
  }
  for (const [key, value] of Object.entries(opt)) if (key.startsWith(`${name}:`)) out[key.slice(name.length + 1)] = value;
  return out;
}

async function runTopologies(names: string[], o: RunOptions): Promise<void> {
  if (names.length > 1 && o.applicationId) {
    throw new ConfigError(`--application-id names one application, but ${names.length} topologies run here; name each with --opt <topology>:name=...`);
  }
  const label = names.join('+');
  const withTopics = (options: Record<string, string>) => {
    // --control-topic / --snapshot-prefix are the same settings as these options (an --opt given too wins).
    if (o.controlTopic) options['topic.control'] ??= o.controlTopic;
    if (o.snapshotPrefix) options['snapshot-prefix'] ??= o.snapshotPrefix;
    return options;
  };
  const optionsOf = (name: string) => withTopics(topologyOptions(o.opt ?? {}, name, names));
  // The snapshot topics and the catalog's model and index settings are the process's: the unscoped options.
  const processOptions = withTopics(Object.fromEntries(Object.entries(o.opt ?? {}).filter(([k]) => !k.includes(':'))));
  const kafka = kafkaFrom(o, `vectors-${label}`);
  const registry = registryFrom(o);
  const snapshotTopics = {
    ...(processOptions['topic.control'] ? { control: processOptions['topic.control'] } : {}),
    ...(processOptions['snapshot-prefix'] ? { prefix: processOptions['snapshot-prefix'] } : {}),
  };
  // One catalog per process, shared by every topology's tasks and the query API: each snapshot loaded (and indexed) once.
  let catalog: SnapshotCatalog | undefined;
  const sharedCatalog = () =>
    (catalog ??= new SnapshotCatalog(new KafkaSnapshotSource(kafka, registry, snapshotTopics), {
      // Only candidates and the query API search the snapshots.
      ...catalogOptions(processOptions, { searches: names.includes('candidates') || o.http !== undefined }),
      // The snapshots' share does not depend on the stores: known before the topology is built.
      ...(o.memory !== undefined ? { memoryLimitBytes: planMemory(o.memory, 0).snapshots } : {}),
    }));
  const built = names.map((name) => topologies[name]!({ options: optionsOf(name), catalog: sharedCatalog } satisfies TopologyContext));
  let stores = 0;
  if (o.memory !== undefined && o.store === 'rocksdb') for (const t of built) stores += await storeInstances(kafka, t);
  const memory = o.memory !== undefined ? planMemory(o.memory, stores) : undefined;
  if (memory) {
    logLine('info', 'memory plan', describePlan(memory));
    const advice = allocatorAdvice(process.env, glibcVersion());
    if (advice) logLine('warn', advice);
  }
  const http = o.http && { ...o.http, advertised: o.advertise ?? `http://${o.http.host}:${o.http.port}` };
  const served = built.find((t) => t.stores.has('users'));
  if (http && (!catalog || !served)) throw new ConfigError(`--http serves the query API of a topology with user state (user-vectors); '${label}' has none`);
  // One metrics registry for the process: every runner's metrics carry its topology's label.
  const shared = new RuntimeMetrics();
  // With Node's own (GC pauses, event-loop delay, heap): a collector pause holds every task's records at once.
  registerProcessMetrics(shared.registry);
  const runners = built.map(
    (topology) =>
      new TopologyRunner({
        topology,
        kafka,
        registry,
        stateDir: o.stateDir,
        guarantee: o.guarantee,
        storeBackend: o.store,
        metrics: shared,
        ...(o.commitIntervalMs !== undefined ? { commitIntervalMs: o.commitIntervalMs } : {}),
        ...(o.applicationId ? { applicationId: o.applicationId } : {}),
        sessionTimeoutMs: o.sessionTimeoutMs,
        standbyReplicas: o.standbyReplicas,
        log: logLine,
        ...(http && topology === served ? { endpoint: http.advertised } : {}),
        misrouted: o.misrouted,
        ...(memory ? { rocksdb: memory.rocksdb.perStore } : {}),
      }),
  );
  const runner = runners[built.indexOf(served ?? built[0]!)]!;
  const control = http ? new ControlLog(kafka, registry, snapshotTopics) : undefined;
  const apiToken = apiTokenFrom(o.apiTokenFile);
  for (const warning of exposureWarnings({ '--http': o.http, '--metrics': o.metrics }, apiToken))
    logLine('warn', warning, { fix: 'set VECTORS_API_TOKEN or --api-token-file (docs/SECURITY.md)' });
  const api =
    http && catalog && control
      ? new QueryServer({
          runner,
          catalog,
          control,
          host: http.host,
          port: http.port,
          log: logLine,
          metricsPeers: o.metricsPeer ?? [],
          rateLimitPerSecond: o.apiRateLimit,
          ...(apiToken !== undefined ? { apiToken } : {}),
        })
      : undefined;
  let failed: string | undefined;
  for (const r of runners) r.done.catch((err: Error) => (failed = `topology ${r.topology.name} stopped: ${err.message}`));
  const metrics = o.metrics
    ? await startMetricsServer({
        registry: shared.registry,
        ...o.metrics,
        problem: () => failed,
        ...(apiToken !== undefined ? { token: apiToken } : {}),
      })
    : undefined;
  if (metrics) logLine('info', 'metrics listening', { url: `${metrics.url}/metrics` });
  let signalled = false;
  const shutdown = (signal: string) => {
    if (signalled) return;
    signalled = true;
    logLine('info', `received ${signal}; stopping`, { topology: label });
    const deadline = setTimeout(() => {
      logLine('error', `shutdown took longer than ${SHUTDOWN_DEADLINE_MS} ms; exiting`);
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    void Promise.all([api?.close(), metrics?.close(), ...runners.map((r) => r.stop())])
      .then(() => control?.close())
      .then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // Listen first: the endpoint the runner advertises to the group must answer.
  if (api) logLine('info', 'query API listening', { url: await api.listen(), advertised: http!.advertised });
  for (const r of runners) {
    await r.start();
    logLine('info', 'running', { topology: r.topology.name, instance: r.instanceId, guarantee: o.guarantee });
  }
  // The first to fail ends the process (exit 1, with its error); the others stop with it.
  await Promise.all(runners.map((r) => r.done));
}

/** RocksDB stores this instance holds when it owns every task: each sub-topology's stores × its partitions. */
async function storeInstances(kafka: ReturnType<typeof kafkaFrom>, topology: Topology): Promise<number> {
  const admin = await kafka.admin();
  try {
    let n = 0;
    for (const sub of topology.subtopologies) {
      if (sub.stores.length === 0) continue;
      const topic = sub.sourceTopics[0]!;
      let partitions: number;
      try {
        partitions = (await admin.topicOffsets(topic)).length;
      } catch (err) {
        throw new ConfigError(`--memory: cannot read the partitions of '${topic}' to plan the stores (${(err as Error).message}); create the topic first`);
      }
      n += sub.stores.length * partitions;
    }
    return n;
  } finally {
    await admin.close();
  }
}
