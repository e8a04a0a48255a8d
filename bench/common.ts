import { cpus, totalmem } from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One line describing the machine, for benchmark reports. */
export function machine(): string {
  const c = cpus();
  return `${c.length} × ${c[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}/${process.arch}`;
}

/** Replaces (or appends) the section `## <title>` of docs/BENCHMARKS.md. */
export function writeSection(title: string, body: string): void {
  const file = join(__dirname, '..', 'docs', 'BENCHMARKS.md');
  const header = '# Benchmarks\n\nFigures are ratios to an anchor measured in the same run on the same machine; absolute numbers are given for context only. Re-run with the commands shown.\n';
  let text = existsSync(file) ? readFileSync(file, 'utf8') : header;
  const start = text.indexOf(`\n## ${title}\n`);
  const section = `\n## ${title}\n\n${body.trim()}\n`;
  if (start === -1) text = text.trimEnd() + '\n' + section;
  else {
    const next = text.indexOf('\n## ', start + 1);
    text = text.slice(0, start) + section + (next === -1 ? '' : text.slice(next));
  }
  writeFileSync(file, text);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
