/**
 * `npm run chaos -- --seed N [--duration 300s] [...]`: the chaos suite.
 *
 * Starts its own stack (Kafka and the registry on 19092/18081, STACK_DIR
 * .stack-chaos; never the shared one), runs the system's real processes,
 * injects the faults the seed schedules, checks the outputs against a
 * never-killed reference and prints the report. Exits 1 when a figure that
 * must be zero is not, 2 on a usage error.
 *
 * Options:
 *   --seed N            the schedule and the events (default: random, printed)
 *   --duration D        streaming time the faults are spread over: 300s, 5m, or seconds (default 300s)
 *   --rate N            good events per second (default 300)
 *   --users N           (default 1000)      --partitions N (default 12)
 *   --user-vectors N    exactly-once user-vectors instances (default 2)
 *   --alos N            at-least-once user-vectors instances of a second application (default 1; 0: none)
 *   --candidates N      candidates instances (default 1)
 *   --spacing D         time between faults (default 25s)
 *   --faults a,b,...    fault kinds that must appear (default all: kill-processing, kill-restore,
 *                       kill-switch, peer-restarts, rolling-restart, broker-restart, registry-restart, poison)
 *   --kafka-port, --kafka-controller-port, --registry-port, --registry-mgmt-port, --stack-dir
 *   --json FILE         also write the report as JSON
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatReport } from './report';
import { activeCleanups, type ChaosConfig, FULL_CONFIG, runChaos } from './run';
import { ALL_FAULT_KINDS, type FaultKind } from './schedule';

function duration(v: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new Error(`${flag} must be like 300s, 5m or 300 (seconds), got '${v}'`);
  const x = Number(m[1]);
  return Math.round(m[2] === 'ms' ? x : m[2] === 'm' ? x * 60_000 : x * 1000);
}

function parse(argv: string[]): { config: ChaosConfig; json?: string } {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}'`);
    const eq = a.indexOf('=');
    if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
    else {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--')) throw new Error(`${a} needs a value`);
      flags.set(a.slice(2), v);
      i++;
    }
  }
  const int = (name: string, dflt: number) => {
    const v = flags.get(name);
    flags.delete(name);
    if (v === undefined) return dflt;
    const x = Number(v);
    if (!Number.isInteger(x) || x < 0) throw new Error(`--${name} must be an integer ≥ 0, got '${v}'`);
    return x;
  };
  const take = (name: string) => {
    const v = flags.get(name);
    flags.delete(name);
    return v;
  };
  const seed = int('seed', Math.floor(Math.random() * 1_000_000));
  const durationRaw = take('duration');
  const spacing = take('spacing');
  const kinds = take('faults');
  const json = take('json');
  const stack = {
    ...(flags.has('kafka-port') ? { kafkaPort: int('kafka-port', 19092) } : {}),
    ...(flags.has('kafka-controller-port') ? { kafkaControllerPort: int('kafka-controller-port', 19093) } : {}),
    ...(flags.has('registry-port') ? { registryPort: int('registry-port', 18081) } : {}),
    ...(flags.has('registry-mgmt-port') ? { registryMgmtPort: int('registry-mgmt-port', 19081) } : {}),
    ...(flags.has('stack-dir') ? { dir: resolve(take('stack-dir')!) } : {}),
  };
  const config: ChaosConfig = {
    ...FULL_CONFIG,
    seed,
    durationMs: durationRaw !== undefined ? duration(durationRaw, '--duration') : FULL_CONFIG.durationMs,
    rate: int('rate', FULL_CONFIG.rate),
    users: int('users', FULL_CONFIG.users),
    partitions: int('partitions', FULL_CONFIG.partitions),
    userVectorsInstances: int('user-vectors', FULL_CONFIG.userVectorsInstances),
    alosInstances: int('alos', FULL_CONFIG.alosInstances),
    candidatesInstances: int('candidates', FULL_CONFIG.candidatesInstances),
    spacingMs: spacing !== undefined ? duration(spacing, '--spacing') : FULL_CONFIG.spacingMs,
    stack,
    ...(kinds !== undefined ? { kinds: kinds.split(',').map((k) => k.trim()) as FaultKind[] } : {}),
  };
  for (const k of config.kinds ?? []) if (!ALL_FAULT_KINDS.includes(k)) throw new Error(`unknown fault kind '${k}'; known: ${ALL_FAULT_KINDS.join(', ')}`);
  if (config.userVectorsInstances < 2) throw new Error('--user-vectors must be at least 2: a killed instance needs a peer to take its partitions');
  if (config.candidatesInstances < 1) throw new Error('--candidates must be at least 1');
  if (config.rate < 1 || config.users < 20 || config.partitions < 2) throw new Error('--rate must be ≥ 1, --users ≥ 20, --partitions ≥ 2');
  if (flags.size) throw new Error(`unknown option(s): ${[...flags.keys()].map((k) => `--${k}`).join(', ')}`);
  return { config, ...(json ? { json } : {}) };
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(
      `${(err as Error).message}\nusage: npm run chaos -- --seed N [--duration 300s] [--rate 300] [--faults kill-processing,...] (see test/chaos/main.ts)\n`,
    );
    return 2;
  }
  const stopOnSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`[chaos] ${signal}: killing the instances and stopping the chaos stack\n`);
    void Promise.all([...activeCleanups].map((c) => c())).finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  const report = await runChaos(parsed.config);
  const text = formatReport(report);
  process.stdout.write(`\n${text}\n`);
  if (parsed.json)
    writeFileSync(
      parsed.json,
      JSON.stringify(report, (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Float32Array ? [...v] : v), 2),
    );
  return report.failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`[chaos] the run could not complete: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
