import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A task's local checkpoint: for each store, the changelog offset up to which
 * its local backend is complete. Written atomically (temp file, fsync, rename).
 */
export class Checkpoint {
  private readonly file: string;

  constructor(readonly dir: string) {
    this.file = join(dir, '.checkpoint');
  }

  read(): Record<string, string> {
    if (!existsSync(this.file)) return {};
    try {
      return JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, string>;
    } catch {
      // A torn or foreign file: trust nothing, restore in full.
      return {};
    }
  }

  write(offsets: Record<string, string>): void {
    mkdirSync(this.dir, { recursive: true });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(offsets));
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }
}
