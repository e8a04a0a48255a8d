/**
 * The first fifteen minutes: `npm start` on a machine where no stack runs
 * starts one (here on ports and a STACK_DIR of its own; the shared stack is
 * never touched), runs the demo to its summary, serves, and a SIGTERM to the
 * npm process — not Ctrl-C to the whole group — stops every process it
 * started, the stack included.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers';

jest.setTimeout(600_000);

const ports = { KAFKA_PORT: '19492', KAFKA_CONTROLLER_PORT: '19493', REGISTRY_PORT: '18481', REGISTRY_MGMT_PORT: '19481' };
const stackDir = join(ROOT, '.stack-chaos', 'demo');
const work = mkdtempSync(join(tmpdir(), 'vectors-demo-'));
let npm: ChildProcess | undefined;

/** Processes whose command line names this run's stack or work directory (Kafka, the registry, the demo's services). */
function leftovers(): string[] {
  const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return ps
    .split('\n')
    .filter((l) => (l.includes(stackDir) || l.includes(work)) && !l.includes('ps -eo'))
    .map((l) => l.trim());
}

afterAll(() => {
  if (npm && npm.exitCode === null) npm.kill('SIGKILL');
  // Whatever a failed run left: stop this test's stack by its pids.
  execFileSync('bash', ['scripts/stack.sh', 'down'], { cwd: ROOT, env: { ...process.env, STACK_DIR: stackDir, ...ports }, stdio: 'ignore' });
  rmSync(work, { recursive: true, force: true });
});

it('npm start: the demo to its summary, then SIGTERM to npm leaves no process', async () => {
  execFileSync('bash', ['scripts/stack.sh', 'reset'], { cwd: ROOT, env: { ...process.env, STACK_DIR: stackDir, ...ports }, stdio: 'ignore' });
  const env: NodeJS.ProcessEnv = { ...process.env, STACK_DIR: stackDir, ...ports };
  delete env.KAFKA_BROKERS;
  delete env.SCHEMA_REGISTRY_URL;
  npm = spawn(
    'npm',
    [
      'start',
      '--',
      '--dir',
      join(work, 'demo'),
      '--http',
      '19490',
      '--doorman-metrics',
      '19491',
      '--candidates-metrics',
      '19489',
      '--events',
      '6000',
      '--rate',
      '1500',
    ],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  npm.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  npm.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<number | null>((r) => npm!.on('exit', (code) => r(code)));

  const deadline = Date.now() + 420_000;
  while (!out.includes('Serving until Ctrl-C')) {
    if (npm.exitCode !== null) throw new Error(`npm start exited (${npm.exitCode}) before serving:\n${out.slice(-4000)}`);
    if (Date.now() > deadline) throw new Error(`npm start did not reach its summary:\n${out.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  // The summary: both snapshots active in turn, the events, a user's candidates before and after a BAN of the first one.
  expect(out).toMatch(/S1 demo-\w+-s1: 2,000 entities × 32, staged → active in [\d.]+ s/);
  expect(out).toMatch(/S2 demo-\w+-s2: 2,000 entities × 32, staged → active in [\d.]+ s/);
  expect(out).toMatch(/events {5}6,000 sent/);
  const before = /before BAN of (e\d+): (.*)/.exec(out);
  const after = /after {2}BAN of (e\d+): (.*)/.exec(out);
  expect(before?.[2]?.startsWith(`${before[1]} (`)).toBe(true);
  expect(after?.[2]).toBeDefined();
  expect(after![2]).not.toContain(`${before![1]} (`);
  // What the summary points to answers.
  const page = await fetch('http://127.0.0.1:19490/');
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('<html');
  expect((await fetch('http://127.0.0.1:19490/readyz')).status).toBe(200);
  expect(leftovers().length).toBeGreaterThanOrEqual(5); // Kafka, the registry and the three services

  npm.kill('SIGTERM');
  await exited;
  // Give the demo, which npm does not wait for, the time to stop what it started.
  const gone = Date.now() + 60_000;
  while (leftovers().length && Date.now() < gone) await new Promise((r) => setTimeout(r, 500));
  expect(leftovers()).toEqual([]);
  expect(out).toContain('no process of this run is left');
});
