#!/usr/bin/env node
/**
 * `vectors` — one CLI for operators.
 *
 *   vectors provision [--partitions 12]         create the core topics and register the schemas (idempotent)
 *   vectors run <topology> [--opt key=value]    run a topology instance until SIGTERM/SIGINT
 *
 * Common options (or environment): --brokers (KAFKA_BROKERS), --registry (SCHEMA_REGISTRY_URL),
 * --state-dir (VECTORS_STATE_DIR, default ./.state), --guarantee at-least-once|exactly-once
 * (VECTORS_GUARANTEE), --application-id, --commit-interval-ms, --store memory|rocksdb.
 */
import { ConfigError, VectorsError } from '../errors';
import { provisionTopics, registerSchemas } from '../runtime/admin/provision';
import { KafkajsClient } from '../runtime/kafka/kafkajs-client';
import { TopologyRunner, type ProcessingGuarantee } from '../runtime/runner/topology-runner';
import { ConfluentSchemaRegistry } from '../runtime/serde/confluent-registry';
import { coreSubjects, coreTopicSpecs } from '../vectors/contracts';
import { topologies } from '../../topologies';
import { intSetting, parseArgs, requiredSetting, setting, type ParsedArgs } from './args';

const SHUTDOWN_DEADLINE_MS = 10_000;

function logLine(level: string, message: string, fields: Record<string, unknown> = {}): void {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`);
}

function kafkaFrom(args: ParsedArgs, clientId: string): KafkajsClient {
  return new KafkajsClient({ brokers: requiredSetting(args, 'brokers', 'KAFKA_BROKERS').split(','), clientId, logLevel: 'error' });
}

async function provision(args: ParsedArgs): Promise<void> {
  const partitions = intSetting(args, 'partitions', 'VECTORS_PARTITIONS', 12);
  const admin = await kafkaFrom(args, 'vectors-provision').admin();
  try {
    const report = await provisionTopics(admin, coreTopicSpecs({ partitions }));
    const ids = await registerSchemas(new ConfluentSchemaRegistry(requiredSetting(args, 'registry', 'SCHEMA_REGISTRY_URL')), coreSubjects());
    console.log(JSON.stringify({ created: report.created, existing: report.existing, schemaIds: Object.fromEntries(ids) }, null, 2));
  } finally {
    await admin.close();
  }
}

async function runTopology(args: ParsedArgs): Promise<void> {
  const name = args.positional[1];
  const factory = name ? topologies[name] : undefined;
  if (!factory) throw new ConfigError(`unknown topology '${name ?? ''}'; known: ${Object.keys(topologies).join(', ')}`);
  const topology = factory(args.opts);
  const guarantee = setting(args, 'guarantee', 'VECTORS_GUARANTEE', 'at-least-once') as ProcessingGuarantee;
  const store = setting(args, 'store', 'VECTORS_STORE', 'rocksdb');
  if (store !== 'rocksdb' && store !== 'memory') throw new ConfigError(`--store must be rocksdb or memory, got '${store}'`);
  const interval = setting(args, 'commit-interval-ms', 'VECTORS_COMMIT_INTERVAL_MS');
  const runner = new TopologyRunner({
    topology,
    kafka: kafkaFrom(args, `vectors-${topology.name}`),
    registry: new ConfluentSchemaRegistry(requiredSetting(args, 'registry', 'SCHEMA_REGISTRY_URL')),
    stateDir: setting(args, 'state-dir', 'VECTORS_STATE_DIR', './.state')!,
    guarantee,
    storeBackend: store,
    ...(interval ? { commitIntervalMs: intSetting(args, 'commit-interval-ms', 'VECTORS_COMMIT_INTERVAL_MS', 1000) } : {}),
    ...(setting(args, 'application-id', 'VECTORS_APPLICATION_ID') ? { applicationId: setting(args, 'application-id', 'VECTORS_APPLICATION_ID')! } : {}),
    sessionTimeoutMs: intSetting(args, 'session-timeout-ms', 'VECTORS_SESSION_TIMEOUT_MS', 30_000),
    log: logLine,
  });
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
    void runner.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  await runner.start();
  logLine('info', 'running', { topology: topology.name, instance: runner.instanceId, guarantee });
  await runner.done;
}

const USAGE = `usage: vectors <command> [options]
  provision [--partitions N]           create core topics and register schemas (idempotent)
  run <topology> [--opt key=value]     run a topology instance (${Object.keys(topologies).join(', ')})
options: --brokers, --registry, --state-dir, --guarantee at-least-once|exactly-once, --store rocksdb|memory,
         --application-id, --commit-interval-ms, --session-timeout-ms (or KAFKA_BROKERS, SCHEMA_REGISTRY_URL, VECTORS_*)`;

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
