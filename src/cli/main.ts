#!/usr/bin/env node
/**
 * `vectors` — one CLI for operators.
 *
 *   vectors provision [--partitions 12]         create the core topics and register the schemas (idempotent)
 *   vectors run <topology> [--opt key=value] [--http HOST:PORT]   run a topology instance (and its query API) until SIGTERM/SIGINT
 *   vectors publish | status | activate-when-ready | rollback | retire   operate snapshot switches
 *
 * Common options (or environment): --brokers (KAFKA_BROKERS), --registry (SCHEMA_REGISTRY_URL),
 * --state-dir (VECTORS_STATE_DIR, default ./.state), --guarantee at-least-once|exactly-once
 * (VECTORS_GUARANTEE), --application-id, --commit-interval-ms, --store memory|rocksdb.
 */
import { ConfigError, VectorsError } from '../errors';
import { provisionTopics, registerSchemas } from '../runtime/admin/provision';
import { KafkajsClient } from '../runtime/kafka/kafkajs-client';
import { TopologyRunner, type ProcessingGuarantee } from '../runtime/runner/topology-runner';
import type { MisroutedPolicy } from '../runtime/task';
import { ConfluentSchemaRegistry } from '../runtime/serde/confluent-registry';
import { coreSubjects, coreTopicSpecs, Topics } from '../vectors/contracts';
import { planMember, planRetire, planRollback, readiness } from '../vectors/doorman/doorman-state';
import { ControlLog, KafkaSnapshotSource, publishSnapshot, readControlView, writeControl } from '../app/snapshots';
import { QueryServer } from '../api/query-server';
import { startMetricsServer } from '../runtime/metrics/metrics-server';
import { SnapshotCatalog } from '../vectors/snapshot-catalog';
import type { EntityType } from '../vectors/records';
import type { ParquetColumnOptions } from '../vectors/snapshot/parquet';
import { topologies, type TopologyContext } from '../../topologies';
import { intSetting, parseArgs, requiredSetting, setting, type ParsedArgs } from './args';
import { catalogOptions } from './model-options';

const SHUTDOWN_DEADLINE_MS = 10_000;

function logLine(level: string, message: string, fields: Record<string, unknown> = {}): void {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`);
}

function kafkaFrom(args: ParsedArgs, clientId: string): KafkajsClient {
  return new KafkajsClient({ brokers: requiredSetting(args, 'brokers', 'KAFKA_BROKERS').split(','), clientId, logLevel: 'error' });
}

function registryFrom(args: ParsedArgs): ConfluentSchemaRegistry {
  return new ConfluentSchemaRegistry(requiredSetting(args, 'registry', 'SCHEMA_REGISTRY_URL'));
}

async function provision(args: ParsedArgs): Promise<void> {
  const partitions = intSetting(args, 'partitions', 'VECTORS_PARTITIONS', 12);
  const kafka = kafkaFrom(args, 'vectors-provision');
  const admin = await kafka.admin();
  try {
    const report = await provisionTopics(admin, coreTopicSpecs({ partitions }));
    const registry = registryFrom(args);
    const ids = await registerSchemas(registry, coreSubjects());
    // Both topologies that hold a snapshot take part in every switch, one report per partition:
    // the doorman activates only once user vectors are computed and the candidates index is built.
    // Members are application ids (the topology names unless run with --application-id).
    const members = (setting(args, 'members', 'VECTORS_MEMBERS') ?? 'user-vectors,candidates')
      .split(',')
      .map((m) => m.trim())
      .filter(Boolean);
    const now = Date.now();
    await writeControl(
      kafka,
      registry,
      members.map((member) => planMember(member, partitions, now)),
    );
    console.log(JSON.stringify({ created: report.created, existing: report.existing, schemaIds: Object.fromEntries(ids) }, null, 2));
  } finally {
    await admin.close();
  }
}

/** `--cutoff 2024-06-01T00:00:00Z` or epoch ms: the training cut-off of the user factors. */
function cutoffSetting(args: ParsedArgs): number | undefined {
  const raw = args.flags.get('cutoff');
  if (raw === undefined) return undefined;
  const ms = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isSafeInteger(ms) || ms < 0) throw new ConfigError(`--cutoff must be an ISO-8601 time or epoch milliseconds, got '${raw}'`);
  return ms;
}

async function publish(args: ParsedArgs): Promise<void> {
  const file = args.positional[1];
  if (!file)
    throw new ConfigError(
      'usage: vectors publish <file.jsonl | file.parquet | Parquet directory | base of .f32/.ids/.json> --snapshot-id ID --model NAME [--opt param=value]',
    );
  const snapshotId = args.flags.get('snapshot-id');
  if (!snapshotId) throw new ConfigError('missing --snapshot-id (letters, digits, ".", "_", "-": it becomes part of a topic name)');
  const parquet: ParquetColumnOptions = {
    idColumn: args.flags.get('id-column'),
    vectorColumn: args.flags.get('vector-column'),
    entityTypeColumn: args.flags.get('entity-type-column'),
    entityType: args.flags.get('entity-type') as EntityType | undefined, // checked by the reader
  };
  const usersFile = args.flags.get('users');
  const usersPartitions = args.flags.get('users-partitions');
  const users = usersFile
    ? {
        file: usersFile,
        ...(usersPartitions !== undefined ? { partitions: intSetting(args, 'users-partitions', 'VECTORS_USERS_PARTITIONS', 12) } : {}),
        parquet: { idColumn: args.flags.get('users-id-column'), vectorColumn: args.flags.get('users-vector-column') },
      }
    : undefined;
  const cutoff = cutoffSetting(args);
  const manifest = await publishSnapshot(kafkaFrom(args, 'vectors-publish'), registryFrom(args), {
    file,
    snapshotId,
    model: args.flags.get('model') ?? 'unknown',
    params: args.opts,
    parquet,
    ...(users ? { users } : {}),
    ...(cutoff !== undefined ? { cutoff } : {}),
  });
  console.log(JSON.stringify({ staged: manifest }, null, 2));
}

async function status(args: ParsedArgs): Promise<void> {
  const view = await readControlView(kafkaFrom(args, 'vectors-status'), registryFrom(args));
  const snapshots = [...view.snapshots.values()].map((s) => ({
    id: s.id,
    phase: s.phase,
    reason: s.reason,
    count: s.manifest?.count,
    dims: s.manifest?.dims,
    ...(s.phase === 'STAGED' ? { readiness: readiness(view, s.id) } : {}),
  }));
  console.log(JSON.stringify({ active: view.active, previous: view.previous, members: Object.fromEntries(view.members), snapshots }, null, 2));
}

async function activateWhenReady(args: ParsedArgs): Promise<void> {
  const id = args.positional[1];
  if (!id) throw new ConfigError('usage: vectors activate-when-ready <snapshot-id> [--timeout-ms N]');
  const timeout = intSetting(args, 'timeout-ms', 'VECTORS_ACTIVATE_TIMEOUT_MS', 600_000);
  const kafka = kafkaFrom(args, 'vectors-activate');
  const registry = registryFrom(args);
  const deadline = Date.now() + timeout;
  for (;;) {
    const view = await readControlView(kafka, registry);
    const s = view.snapshots.get(id);
    if (view.active === id) return void console.log(JSON.stringify({ active: id }));
    if (s && s.phase !== 'STAGED')
      throw new ConfigError(`snapshot '${id}' ended ${s.phase}${s.reason ? `: ${s.reason}` : ''}; the active snapshot is still '${view.active ?? 'none'}'`);
    if (Date.now() > deadline)
      throw new ConfigError(
        `snapshot '${id}' is not active after ${timeout} ms (${s ? JSON.stringify(readiness(view, id)) : 'not staged'}); the doorman aborts it at its own timeout`,
      );
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function rollback(args: ParsedArgs): Promise<void> {
  const kafka = kafkaFrom(args, 'vectors-rollback');
  const registry = registryFrom(args);
  const writes = planRollback(await readControlView(kafka, registry), Date.now());
  await writeControl(kafka, registry, writes);
  console.log(JSON.stringify({ active: writes[0]!.value.snapshotId }));
}

async function retire(args: ParsedArgs): Promise<void> {
  const id = args.positional[1];
  if (!id) throw new ConfigError('usage: vectors retire <snapshot-id>');
  const kafka = kafkaFrom(args, 'vectors-retire');
  const registry = registryFrom(args);
  await writeControl(kafka, registry, planRetire(await readControlView(kafka, registry), id, Date.now()));
  const admin = await kafka.admin();
  try {
    const existing = new Set(await admin.listTopics());
    await admin.deleteTopics([Topics.entityVectors(id), Topics.userFactors(id)].filter((t) => existing.has(t)));
  } finally {
    await admin.close();
  }
  console.log(JSON.stringify({ retired: id }));
}

/** `--FLAG HOST:PORT` or `--FLAG PORT` (host 127.0.0.1). */
function listenSetting(args: ParsedArgs, flag: string, env: string, example: string): { host: string; port: number } | undefined {
  const raw = setting(args, flag, env);
  if (!raw) return undefined;
  const m = /^(?:(.+):)?(\d+)$/.exec(raw);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) throw new ConfigError(`--${flag} must be HOST:PORT or PORT (e.g. ${example}), got '${raw}'`);
  return { host: m[1] ?? '127.0.0.1', port };
}

/** `--http HOST:PORT` (VECTORS_HTTP) and `--advertise URL` (VECTORS_ADVERTISE, default http://HOST:PORT). */
function httpSetting(args: ParsedArgs): { host: string; port: number; advertised: string } | undefined {
  const l = listenSetting(args, 'http', 'VECTORS_HTTP', '127.0.0.1:8090');
  return l && { ...l, advertised: setting(args, 'advertise', 'VECTORS_ADVERTISE') ?? `http://${l.host}:${l.port}` };
}

/** `--misrouted reroute|dead-letter|process` (VECTORS_MISROUTED): keyed input records on another partition than murmur2(key). */
function misroutedSetting(args: ParsedArgs): MisroutedPolicy {
  const v = setting(args, 'misrouted', 'VECTORS_MISROUTED', 'reroute')!;
  if (v !== 'reroute' && v !== 'dead-letter' && v !== 'process') throw new ConfigError(`--misrouted must be reroute, dead-letter or process, got '${v}'`);
  return v;
}

async function runTopology(args: ParsedArgs): Promise<void> {
  const name = args.positional[1];
  const factory = name ? topologies[name] : undefined;
  if (!factory) throw new ConfigError(`unknown topology '${name ?? ''}'; known: ${Object.keys(topologies).join(', ')}`);
  const kafka = kafkaFrom(args, `vectors-${name}`);
  const registry = registryFrom(args);
  const snapshotTopics = {
    ...(args.opts['topic.control'] ? { control: args.opts['topic.control'] } : {}),
    ...(args.opts['snapshot-prefix'] ? { prefix: args.opts['snapshot-prefix'] } : {}),
  };
  // One catalog per process, shared by the topology's tasks and the query API.
  let catalog: SnapshotCatalog | undefined;
  const ctx: TopologyContext = {
    options: args.opts,
    catalog: () => (catalog ??= new SnapshotCatalog(new KafkaSnapshotSource(kafka, registry, snapshotTopics), catalogOptions(args.opts))),
  };
  const topology = factory(ctx);
  const http = httpSetting(args);
  if (http && (!catalog || !topology.stores.has('users')))
    throw new ConfigError(`--http serves the query API of a topology with user state (user-vectors); '${name}' has none`);
  const guarantee = setting(args, 'guarantee', 'VECTORS_GUARANTEE', 'at-least-once') as ProcessingGuarantee;
  const store = setting(args, 'store', 'VECTORS_STORE', 'rocksdb');
  if (store !== 'rocksdb' && store !== 'memory') throw new ConfigError(`--store must be rocksdb or memory, got '${store}'`);
  const interval = setting(args, 'commit-interval-ms', 'VECTORS_COMMIT_INTERVAL_MS');
  const runner = new TopologyRunner({
    topology,
    kafka,
    registry,
    stateDir: setting(args, 'state-dir', 'VECTORS_STATE_DIR', './.state')!,
    guarantee,
    storeBackend: store,
    ...(interval ? { commitIntervalMs: intSetting(args, 'commit-interval-ms', 'VECTORS_COMMIT_INTERVAL_MS', 1000) } : {}),
    ...(setting(args, 'application-id', 'VECTORS_APPLICATION_ID') ? { applicationId: setting(args, 'application-id', 'VECTORS_APPLICATION_ID')! } : {}),
    sessionTimeoutMs: intSetting(args, 'session-timeout-ms', 'VECTORS_SESSION_TIMEOUT_MS', 30_000),
    log: logLine,
    ...(http ? { endpoint: http.advertised } : {}),
    misrouted: misroutedSetting(args),
  });
  const control = http ? new ControlLog(kafka, registry, snapshotTopics) : undefined;
  const api = http && catalog && control ? new QueryServer({ runner, catalog, control, host: http.host, port: http.port, log: logLine }) : undefined;
  let failed: string | undefined;
  runner.done.catch((err: Error) => (failed = `the topology stopped: ${err.message}`));
  const metricsAt = listenSetting(args, 'metrics', 'VECTORS_METRICS', '127.0.0.1:9101');
  const metrics = metricsAt ? await startMetricsServer({ registry: runner.metrics.registry, ...metricsAt, problem: () => failed }) : undefined;
  if (metrics) logLine('info', 'metrics listening', { url: `${metrics.url}/metrics` });
  let signalled = false;
  const shutdown = (signal: string) => {
    if (signalled) return;
    signalled = true;
    logLine('info', `received ${signal}; stopping`, { topology: topology.name });
    const deadline = setTimeout(() => {
      logLine('error', `shutdown took longer than ${SHUTDOWN_DEADLINE_MS} ms; exiting`);
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    void Promise.all([api?.close(), metrics?.close(), runner.stop()])
      .then(() => control?.close())
      .then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // Listen first: the endpoint the runner advertises to the group must answer.
  if (api) logLine('info', 'query API listening', { url: await api.listen(), advertised: http!.advertised });
  await runner.start();
  logLine('info', 'running', { topology: topology.name, instance: runner.instanceId, guarantee });
  await runner.done;
}

const USAGE = `usage: vectors <command> [options]
  provision [--partitions N] [--members user-vectors,candidates]
                                       create core topics, register schemas, register the members (application ids) with the doorman (idempotent)
  run <topology> [--opt key=value]     run a topology instance (${Object.keys(topologies).join(', ')})
      [--http HOST:PORT] [--advertise URL]   user-vectors: serve the query API there (GET /v1/users/{id}/vector, ..., /metrics)
      [--metrics HOST:PORT]                  any topology: serve GET /metrics and /healthz there
  publish <file> --snapshot-id ID --model NAME [--opt lambda=0.1 ...]   publish a snapshot file and stage it
      [--id-column C] [--vector-column C] [--entity-type-column C] [--entity-type TYPE]
                                             Parquet (file or directory): the columns (default id, features, entityType)
                                             and the type of rows without one (default OTHER)
      [--users users.jsonl|users.parquet] [--cutoff TIME] [--users-partitions N]
                                             the batch trainer's user factors (lifetime vectors), trained on events up to
                                             TIME, to topic user-factors.<id> with the user topics' partitions (default: listens')
  status                               the doorman's view: active, previous, every snapshot's phase and readiness
  activate-when-ready <id>             wait until the doorman activates <id> (exit 1 if it fails or times out)
  rollback                             return to the previous snapshot
  retire <id>                          retire a snapshot that is not active and delete its topic
options: --brokers, --registry, --state-dir, --guarantee at-least-once|exactly-once, --store rocksdb|memory,
         --application-id, --commit-interval-ms, --session-timeout-ms,
         --misrouted reroute|dead-letter|process (keyed input records not on their murmur2 partition; default reroute)
         (or KAFKA_BROKERS, SCHEMA_REGISTRY_URL, VECTORS_*)`;

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const command = args.positional[0];
  try {
    if (!command || args.flags.has('help')) {
      console.log(USAGE);
      return command ? 0 : 2;
    }
    if (command === 'provision') await provision(args);
    else if (command === 'run') await runTopology(args);
    else if (command === 'publish') await publish(args);
    else if (command === 'status') await status(args);
    else if (command === 'activate-when-ready') await activateWhenReady(args);
    else if (command === 'rollback') await rollback(args);
    else if (command === 'retire') await retire(args);
    else throw new ConfigError(`unknown command '${command}'\n${USAGE}`);
    return 0;
  } catch (err) {
    const e = err as VectorsError;
    logLine('error', e.message ?? String(err), { code: e.code });
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    if (code !== 0) process.exit(code);
  });
}
