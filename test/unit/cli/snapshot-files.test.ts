import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../../src/errors';
import { snapshotFileFormat, userFactorsFileFormat } from '../../../src/cli/snapshot-files';

describe('vectors publish: the format follows the file name', () => {
  let dir: string;
  const at = (name: string) => join(dir, name);
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'snapshot-files-'));
    for (const f of [
      'a.jsonl',
      'a.ndjson',
      'a.parquet',
      'bin.json',
      'bin.f32',
      'bin.ids',
      's.v2.json',
      's.v2.f32',
      's.v2.ids',
      'part.json',
      'part.ids',
      'a.csv',
      'a.txt',
    ]) {
      writeFileSync(at(f), '');
    }
    mkdirSync(at('spark-out'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['a.jsonl', 'jsonl'],
    ['a.ndjson', 'jsonl'],
    ['a.parquet', 'parquet'],
    ['spark-out', 'parquet'],
    ['bin', 'binary'],
    ['bin.json', 'binary'],
    ['bin.f32', 'binary'],
    ['bin.ids', 'binary'],
    ['s.v2', 'binary'],
  ])('%s is read as %s', async (name, format) => {
    await expect(snapshotFileFormat(at(name))).resolves.toBe(format);
  });

  it.each([
    ['a.csv', "unsupported file type '.csv'"],
    ['a.txt', "unsupported file type '.txt'"],
    ['gone.jsonl', 'no such file: '],
    ['gone.parquet', 'no such file: '],
    ['gone', 'no such file: '],
    ['part.f32', `no such file: `],
  ])('%s is refused: %s', async (name, message) => {
    const err = await snapshotFileFormat(at(name)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toContain(message);
    expect((err as Error).message).not.toContain('ENOENT');
  });

  it('names the missing part of a binary snapshot', async () => {
    await expect(snapshotFileFormat(at('part.json'))).rejects.toThrow(`no such file: ${at('part.f32')}`);
  });

  it('user factors: JSON lines or Parquet only', async () => {
    await expect(userFactorsFileFormat(at('a.jsonl'))).resolves.toBe('jsonl');
    await expect(userFactorsFileFormat(at('spark-out'))).resolves.toBe('parquet');
    await expect(userFactorsFileFormat(at('a.csv'))).rejects.toThrow("unsupported file type '.csv'");
    await expect(userFactorsFileFormat(at('bin'))).rejects.toThrow('no such file');
    await expect(userFactorsFileFormat(at('gone.jsonl'))).rejects.toThrow(`no such file: ${at('gone.jsonl')}`);
  });
});
