/**
 * `tsx bench/profile-summary.ts file.cpuprofile [top]`: self time of a V8 CPU
 * profile grouped by area (Avro, JSON state serde, model math, store, Kafka
 * produce/fetch, ...), then the top functions. A built-in without a script
 * (JSON.parse, TypedArray constructors, ...) counts in the area of its nearest
 * caller that has one, so that `JSON.stringify` under the state serde counts
 * as state serde and not as "native"; Node's own modules (node:buffer, ...)
 * likewise. So do native addon calls: V8 names every N-API frame after one
 * N-API function of the process (they share one trampoline), so RocksDB's
 * gets showed up as `HierarchicalNSW` or `crc32c`; only the caller tells
 * what ran.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** First matching rule wins; order matters (specific before general). */
const AREAS: [string, (url: string, fn: string) => boolean][] = [
  ['idle', (_u, f) => f === '(idle)'],
  ['gc', (_u, f) => f === '(garbage collector)'],
  // By the caller's script, not by the native frame's name: see the note on N-API frames above.
  ['snapshot index build (HNSW, start-up)', (u) => u.includes('index/hnsw-index')],
  ['avro (avsc)', (u) => u.includes('node_modules/avsc') || u.includes('serde/avro-serde') || u.includes('float32-array-type') || u.includes('wire-format')],
  ['state serde (typed JSON)', (u) => u.includes('typed-json')],
  ['state serde (binary)', (u) => u.includes('user-state-serde') || u.includes('binary-state')],
  [
    'kafka produce (kafkajs encode/send)',
    (u) =>
      u.includes('kafkajs-encoder-patch') ||
      /kafkajs\/src\/(producer|protocol\/requests\/produce|protocol\/recordBatch|protocol\/encoder|protocol\/messageSet)/.test(u),
  ],
  ['kafka fetch/decode (kafkajs)', (u) => /kafkajs\/src\/(consumer|protocol\/requests\/fetch|protocol\/decoder)/.test(u)],
  ['kafka other (kafkajs network, crc, ...)', (u) => u.includes('node_modules/kafkajs')],
  ['store (rocksdb, cache)', (u) => u.includes('rocksdb') || u.includes('runtime/state/')],
  ['model math', (u) => u.includes('vectors/models/') || u.includes('vectors/math')],
  ['user state (history, consumed, seen)', (u) => /vectors\/(user-state|history|consumed|hash|signals|event-time)/.test(u)],
  ['candidate requests (user-state bolt emit)', (u) => u.includes('user-state-bolt')],
  ['candidates (search, refresh)', (u) => /candidate|index\/|hnsw/.test(u)],
  ['runtime (task, runner, metrics)', (u) => u.includes('src/runtime/')],
  ['node internals', (u) => u.startsWith('node:') || u.includes('internal/')],
  ['other js', (u) => u !== ''],
];

const NODE = 'node internals';

function areaOf(url: string, fn: string): string | undefined {
  for (const [name, test] of AREAS) if (test(url, fn)) return name;
  return undefined;
}

function main(): void {
  const [file, topArg] = process.argv.slice(2);
  if (!file) {
    console.error('usage: tsx bench/profile-summary.ts <file.cpuprofile> [top N]');
    process.exit(2);
  }
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const area = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  let busy = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    let a = areaOf(n.callFrame.url, n.callFrame.functionName);
    // Built-ins and Node's own modules count where they were called from (Buffer.concat under kafkajs is kafkajs').
    for (let up = parent.get(id); (a === undefined || a === NODE) && up !== undefined; up = parent.get(up)) {
      const f = byId.get(up)!.callFrame;
      const b = f.url ? areaOf(f.url, f.functionName) : undefined;
      if (b !== undefined && b !== NODE) a = b;
    }
    a ??= n.callFrame.functionName === '(program)' ? 'program (native, unattributed)' : 'native, unattributed';
    area.set(a, (area.get(a) ?? 0) + us);
    total += us;
    if (a !== 'idle') busy += us;
    const short = n.callFrame.url.replace(/^.*\/(node_modules\/)?/, '');
    const key = `${n.callFrame.functionName || '(anonymous)'} ${short}:${n.callFrame.lineNumber + 1} [${a}]`;
    fns.set(key, (fns.get(key) ?? 0) + us);
  }
  console.log(`total ${(total / 1e6).toFixed(1)} s, busy (not idle) ${(busy / 1e6).toFixed(1)} s`);
  console.log('\narea | share of busy | s');
  for (const [a, us] of [...area].sort((x, y) => y[1] - x[1]))
    if (a !== 'idle') console.log(`${a} | ${((us / busy) * 100).toFixed(1)}% | ${(us / 1e6).toFixed(2)}`);
  console.log(`(idle ${(((area.get('idle') ?? 0) / total) * 100).toFixed(1)}% of total)`);
  console.log('\ntop self time (share of busy)');
  for (const [k, us] of [...fns].sort((x, y) => y[1] - x[1]).slice(0, Number(topArg ?? 30))) console.log(`${((us / busy) * 100).toFixed(1)}%  ${k}`);
}

main();
