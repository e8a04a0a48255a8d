import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** One object line of a JSONL file. */
export interface JsonlLine {
  obj: Record<string, unknown>;
  /** 1-based line number. */
  lineNo: number;
  /** `line N of PATH`, for messages. */
  where: string;
}

/**
 * The object lines of a JSONL file, streamed: blank lines are skipped; a line
 * that is not valid JSON or not a JSON object goes to `fail` with its line
 * number and `shape` (what each line must be, e.g. `{"userId", "vector"}`).
 * The file is closed when the caller stops reading.
 */
export async function* jsonlObjects(path: string, shape: string, fail: (detail: string) => never): AsyncGenerator<JsonlLine, void, undefined> {
  const input = createReadStream(path, { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const line of lines) {
      lineNo++;
      if (line.trim() === '') continue;
      const where = `line ${lineNo} of ${path}`;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch (err) {
        fail(`${where} is not valid JSON (${(err as Error).message}); each line must be one object ${shape}`);
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) fail(`${where} is not a JSON object; each line must be one object ${shape}`);
      yield { obj: parsed as Record<string, unknown>, lineNo, where };
    }
  } finally {
    lines.close();
    input.destroy();
  }
}
