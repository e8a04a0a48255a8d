import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/cli/main';
import { type DemoOptions, whereToLook } from '../../../src/cli/demo';
import { Topics } from '../../../src/vectors/contracts';
import { PHASES } from '../../../src/vectors/doorman/lifecycle';
import type { CliIo } from '../../../src/cli/common';

const ROOT = join(__dirname, '..', '..', '..');

/** Runs the CLI in-process with captured output; the JSON log lines of failures go to process.stderr, captured too. */
async function cli(args: string[], env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (t) => void out.push(t), err: (t) => void err.push(t) };
  const log: string[] = [];
  const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (log.push(String(chunk)), true));
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env))
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  try {
    const code = await main(args, io);
    return { code, out: out.join(''), err: err.join(''), log: log.join('') };
  } finally {
    spy.mockRestore();
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}

/** Help text with its wrapping undone. */
const flat = (s: string) => s.replace(/\s+/g, ' ');
const NO_STACK = /\n\s+at /;
const COMMANDS = ['provision', 'run', 'publish', 'status', 'activate-when-ready', 'rollback', 'retire', 'generate', 'produce', 'tail', 'query'];

describe('vectors --help and the exit codes', () => {
  it('vectors --help lists every command and the exit codes, on stdout, exit 0', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.out).toContain(`  ${c}`);
    expect(flat(r.out)).toContain('Exit codes: 0 done 1 the command ran and failed');
    expect(flat(r.out)).toContain('2 usage');
    expect(r.err).toBe('');
  });

  it('no command: the usage on stderr, exit 2', async () => {
    const r = await cli([]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain('Usage: vectors <command>');
  });

  it('vectors query user --help: the nested command’s own options, exit 0', async () => {
    const r = await cli(['query', 'user', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Usage: vectors query user [options] <userId>');
    expect(flat(r.out)).toContain('(default: "http://127.0.0.1:8090", env: VECTORS_API)');
  });

  it('vectors query without a subcommand: its usage on stderr, exit 2', async () => {
    const r = await cli(['query']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('Usage: vectors query [options] [command]');
  });

  it('vectors help <command> prints that command’s help, exit 0', async () => {
    const r = await cli(['help', 'retire']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Usage: vectors retire [options] <id>');
  });

  // Each command's own help: its usage line and options of its own, with defaults and environment variables.
  it.each([
    ['provision', ['--partitions <n>', '(default: 12, env: VECTORS_PARTITIONS)', '(default: user-vectors,candidates, env: VECTORS_MEMBERS)']],
    [
      'run',
      [
        '<topology>',
        'event-counter',
        '--opt <key=value>',
        '(choices: "at-least-once", "exactly-once", default: "at-least-once", env: VECTORS_GUARANTEE)',
        '(env: VECTORS_HTTP)',
        '(default: "./.state", env: VECTORS_STATE_DIR)',
      ],
    ],
    ['publish', ['<file>', '--snapshot-id <id>', '--dims <n>', '.jsonl or .ndjson', '(env: KAFKA_BROKERS)', '(env: SCHEMA_REGISTRY_URL)']],
    ['status', ['--control-topic <topic>', '(env: VECTORS_CONTROL_TOPIC)']],
    [
      'activate-when-ready',
      ['<id>', '(default: 600000, env: VECTORS_ACTIVATE_TIMEOUT_MS)', '--stage-timeout-ms', '(default: 10000, env: VECTORS_STAGE_TIMEOUT_MS)'],
    ],
    ['rollback', ['previous snapshot', '--brokers']],
    ['retire', ['<id>', 'delete its topics']],
    ['generate', ['--out <dir>', '(default: "world")', '--events <n>', '(default: 20000)', '--no-second', '(default: s1,s2)']],
    ['produce', ['<file>', '- for stdin', '--rate <n>', '--skip-invalid', '(default: "listens")', '(default: "feedback")']],
    ['query', ['user [options] <userId>', 'similar [options] <entityId>', 'snapshots']],
    ['tail', ['<topic>', '(choices: "beginning", "end", default: "end")', '--limit <n>', '--idle-ms <ms>']],
  ])('vectors %s --help: its own usage and options, exit 0', async (command, fragments) => {
    const r = await cli([command, '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`Usage: vectors ${command} [options]`);
    for (const f of fragments) expect(flat(r.out)).toContain(f);
    expect(r.err).toBe('');
  });
});

describe('usage errors: one line naming the problem, exit 2', () => {
  it.each([
    [['frobnicate'], ["unknown command 'frobnicate'", 'commands: provision, run, publish']],
    [
      ['pubish', 'x.jsonl'],
      ["unknown command 'pubish'", 'did you mean publish?'],
    ],
    [['activate'], ["unknown command 'activate'", 'did you mean activate-when-ready?']],
    [
      ['publish', 'x.jsonl', '--snapshot-id'],
      ["option '--snapshot-id <id>' argument missing", "see 'vectors publish --help'"],
    ],
    [['publish', 'x.jsonl'], ["required option '--snapshot-id <id>' not specified"]],
    [['publish', '--snapshot-id', 's1'], ["missing required argument 'file'"]],
    [
      ['publish', 'x.jsonl', '--snapshot-id', 'a b'],
      ["'--snapshot-id <id>' argument 'a b' is invalid", 'A-Z a-z 0-9 . _ -'],
    ],
    [
      ['publish', 'x.jsonl', '--snapshot-id', 's1', '--dims', '0'],
      ["'--dims <n>' argument '0' is invalid", 'positive integer'],
    ],
    [
      ['publish', 'x.jsonl', '--snapshot-id', 's1', '--cutoff', 'yesterday'],
      ["'--cutoff <time>' argument 'yesterday' is invalid", 'ISO-8601'],
    ],
    [
      ['publish', 'x.jsonl', '--snapshot-id', 's1', '--entity-type', 'SONG'],
      ["'--entity-type <type>' argument 'SONG' is invalid", 'TRACK'],
    ],
    [
      ['provision', '--partitions', 'twelve'],
      ["'--partitions <n>' argument 'twelve' is invalid", 'positive integer'],
    ],
    [['run'], ["missing required argument 'topology'"]],
    [
      ['run', 'nope'],
      ["value 'nope' is invalid for argument 'topology'", 'event-counter, user-vectors, candidates, doorman'],
    ],
    [
      ['run', 'doorman', '--guarantee', 'twice'],
      ["'--guarantee <guarantee>' argument 'twice' is invalid", 'at-least-once, exactly-once'],
    ],
    [
      ['run', 'doorman', '--store', 'disk'],
      ["'--store <backend>' argument 'disk' is invalid", 'rocksdb, memory'],
    ],
    [
      ['run', 'doorman', '--misrouted', 'drop'],
      ["'--misrouted <policy>' argument 'drop' is invalid", 'reroute, dead-letter, process'],
    ],
    [
      ['run', 'user-vectors', '--http', 'localhost'],
      ["'--http <[host:]port>' argument 'localhost' is invalid", 'HOST:PORT or PORT'],
    ],
    [['run', 'doorman', '--metrics', '99999'], ["'--metrics <[host:]port>' argument '99999' is invalid"]],
    [
      ['run', 'doorman', '--opt', 'name'],
      ["'--opt <key=value>' argument 'name' is invalid", 'key=value'],
    ],
    [
      ['run', 'doorman', '--session-timeout-ms', '-1'],
      ["'--session-timeout-ms <ms>'", 'positive integer'],
    ],
    [['status', '--frobnicate'], ["unknown option '--frobnicate'"]],
    [
      ['status', '--control-topi', 'x'],
      ["unknown option '--control-topi'", '--control-topic'],
    ],
    [['retire'], ["missing required argument 'id'"]],
    [['activate-when-ready', 's1', '--timeout-ms', 'soon'], ["'--timeout-ms <ms>' argument 'soon' is invalid"]],
    [
      ['generate', '--users', '0'],
      ["'--users <n>' argument '0' is invalid", 'positive integer'],
    ],
    [
      ['generate', '--cutoff-share', '1.5'],
      ["'--cutoff-share <x>' argument '1.5' is invalid", '(0, 1]'],
    ],
    [
      ['generate', '--skip-feedback', '-0.1'],
      ["'--skip-feedback <x>' argument '-0.1' is invalid", 'from 0 to 1'],
    ],
    [
      ['generate', '--snapshot-ids', 's1,s1'],
      ["'--snapshot-ids <s1,s2>' argument 's1,s1' is invalid", 'two different snapshot ids'],
    ],
    [
      ['generate', '--events-format', 'xml'],
      ["'--events-format <format>' argument 'xml' is invalid", 'jsonl, csv'],
    ],
    [['produce'], ["missing required argument 'file'"]],
    [
      ['produce', '-', '--rate', '0'],
      ["'--rate <n>' argument '0' is invalid", 'number > 0'],
    ],
    [
      ['produce', '-', '--kind', 'plays'],
      ["'--kind <kind>' argument 'plays' is invalid", 'listens, feedback'],
    ],
    [
      ['produce', '-', '--topic', 'my-events'],
      ['--topic my-events carries listens or feedback', '--kind listens'],
    ],
    [['query', 'frob'], ["vectors query: error: unknown command 'frob'"]],
    [['query', 'user'], ["missing required argument 'userId'"]],
    [['query', 'user', 'u1', '--k', 'ten'], ["'--k <n>' argument 'ten' is invalid"]],
    [['query', 'user', 'u1', '--vector', '--k', '3'], ['--k and --exclude are for candidates']],
    [['query', 'similar', 'e1', '--exclude', 'none'], ["unknown option '--exclude'"]],
    [['tail'], ["missing required argument 'topic'"]],
    [
      ['tail', 'listens', '--from', 'middle'],
      ["'--from <where>' argument 'middle' is invalid", 'beginning, end'],
    ],
    [
      ['tail', 'listens', '--partitions', 'a,b'],
      ["'--partitions <list>' argument 'a,b' is invalid", 'partition numbers'],
    ],
  ])('vectors %j', async (args, fragments) => {
    const r = await cli(args, { KAFKA_BROKERS: undefined, SCHEMA_REGISTRY_URL: undefined });
    expect(r.code).toBe(2);
    for (const f of fragments) expect(r.err).toContain(f);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).not.toMatch(NO_STACK);
    expect(r.out).toBe('');
  });

  it('a bad value from the environment names the variable', async () => {
    const r = await cli(['provision'], { VECTORS_PARTITIONS: 'many' });
    expect(r.code).toBe(2);
    expect(r.err).toContain("'many' from env 'VECTORS_PARTITIONS' is invalid");
  });
});

describe('vectors publish: the file is checked before anything connects', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-'));
    writeFileSync(join(dir, 'vectors.csv'), 'entityId,x\nt1,0.5\n');
    writeFileSync(join(dir, 'ok.jsonl'), '{"entityId":"t1","vector":[1,2]}\n');
    writeFileSync(join(dir, 'half.json'), '{}');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const env = { KAFKA_BROKERS: undefined, SCHEMA_REGISTRY_URL: undefined };

  it('refuses a .csv naming the formats it reads (exit 2)', async () => {
    const r = await cli(['publish', join(dir, 'vectors.csv'), '--snapshot-id', 's1'], env);
    expect(r.code).toBe(2);
    expect(r.err).toContain("unsupported file type '.csv'");
    expect(r.err).toContain('.jsonl');
    expect(r.err).toContain('.parquet');
    expect(r.err).toContain('base.f32');
  });

  it('a missing file is "no such file: <path>", not ENOENT', async () => {
    const path = join(dir, 'missing.jsonl');
    const r = await cli(['publish', path, '--snapshot-id', 's1'], env);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`no such file: ${path}`);
    expect(r.err + r.log).not.toContain('ENOENT');
  });

  it('a binary snapshot with a part missing names that part', async () => {
    const r = await cli(['publish', join(dir, 'half.json'), '--snapshot-id', 's1'], env);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`no such file: ${join(dir, 'half.f32')}`);
  });

  it('a missing --users file is named too', async () => {
    const r = await cli(['publish', join(dir, 'ok.jsonl'), '--snapshot-id', 's1', '--users', join(dir, 'users.jsonl')], env);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`no such file: ${join(dir, 'users.jsonl')}`);
  });

  it('produce: a missing event file is named; a file of another kind says which it reads (exit 2)', async () => {
    const missing = await cli(['produce', join(dir, 'events.jsonl')], env);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain(`no such file: ${join(dir, 'events.jsonl')}`);
    const other = await cli(['produce', join(dir, 'half.json')], env);
    expect(other.code).toBe(2);
    expect(other.err).toContain('.jsonl, .ndjson or .csv');
  });

  it('a good file without a broker: a usage error (exit 2, as the README says of a missing value), one line naming --brokers and KAFKA_BROKERS', async () => {
    const r = await cli(['publish', join(dir, 'ok.jsonl'), '--snapshot-id', 's1'], env);
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toContain('missing --brokers (or KAFKA_BROKERS)');
    expect(r.err).toContain('scripts/stack.sh env');
    expect(r.log).toBe('');
  });
});

describe('the topics the hints name', () => {
  /** Every `vectors tail <topic>` in a text. */
  const tailed = (text: string) => [...text.matchAll(/vectors tail ([\w.-]+)/g)].map((m) => m[1]!);
  const topics = (Object.values(Topics) as unknown[]).filter((v): v is string => typeof v === 'string');

  it('every topic in the examples of `vectors --help` and `vectors tail --help` exists (a newcomer tried `tail candidates`)', async () => {
    const named = [...tailed((await cli(['--help'])).out), ...tailed((await cli(['tail', '--help'])).out)];
    expect(named.length).toBeGreaterThanOrEqual(3);
    for (const topic of named) expect(topics).toContain(topic);
  });

  it('every topic in the demo summary’s hints exists', () => {
    const lines: string[] = [];
    const o = { brokers: '127.0.0.1:9092', doormanMetrics: { host: '127.0.0.1', port: 9201 }, candidatesMetrics: { host: '127.0.0.1', port: 9202 } };
    whereToLook((l) => void lines.push(l ?? ''), o as unknown as DemoOptions, 'http://127.0.0.1:8090', '/tmp/logs');
    const named = tailed(lines.join('\n'));
    expect(named).toHaveLength(1);
    for (const topic of named) expect(topics).toContain(topic);
  });
});

describe('the curl lines shown to a newcomer', () => {
  /** Shell words on curl lines that hold a '?' without quotes: zsh refuses them as globs ("no matches found"). */
  const unquoted = (text: string) =>
    text
      .split('\n')
      .filter((line) => /\bcurl\b/.test(line))
      .flatMap((line) => line.split(/\s+/).filter((word) => word.includes('?') && !/^['"]/.test(word)));

  it('quote every URL with a query (the README’s candidates line failed in zsh)', () => {
    const lines: string[] = [];
    const o = { brokers: '127.0.0.1:9092', doormanMetrics: { host: '127.0.0.1', port: 9201 }, candidatesMetrics: { host: '127.0.0.1', port: 9202 } };
    whereToLook((l) => void lines.push(l ?? ''), o as unknown as DemoOptions, 'http://127.0.0.1:8090', '/tmp/logs');
    const docs = [
      'README.md',
      ...readdirSync(join(ROOT, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => join('docs', f)),
    ];
    const texts = [lines.join('\n'), ...docs.map((f) => readFileSync(join(ROOT, f), 'utf8'))];
    expect(texts.join('\n')).toMatch(/curl\b.*\?k=10/);
    expect(texts.flatMap(unquoted)).toEqual([]);
  });
});

it('vectors status --help names every phase a snapshot can be in, and no other (it listed SUPERSEDED and ABORTED, and not READY)', async () => {
  const text = flat((await cli(['status', '--help'])).out);
  for (const phase of PHASES) expect(text).toContain(phase);
  expect(text).not.toMatch(/SUPERSEDED|ABORTED/);
});
