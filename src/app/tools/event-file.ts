/**
 * Event files: listens and feedback as JSONL or CSV, the input of
 * `vectors produce` and the output of `vectors generate`. The formats are
 * documented in docs/TOOLS.md; this module reads lines into raw field maps,
 * turns a field map into a ListenEvent or FeedbackEvent (coercing CSV text
 * and ISO times, then validating against the Avro schema), and writes events.
 */
import { createReadStream } from 'node:fs';
import { extname } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import * as avsc from 'avsc';
import { ConfigError } from '../../errors';
import { loadSchema, type SchemaName } from '../../vectors/contracts';
import type { FeedbackEvent, ListenEvent } from '../../vectors/records';

/** The two line formats of an event file. */
export type EventFormat = 'jsonl' | 'csv';

/** Which of the two event topics a line is for; also the value of a line's `topic` (or `type`) field. */
export type EventKind = 'listens' | 'feedback';

export const EVENT_KINDS: readonly EventKind[] = ['listens', 'feedback'];

/** The Avro record type of each kind's topic (schemas/ListenEvent.avsc, schemas/FeedbackEvent.avsc). */
export const EVENT_SCHEMAS: Readonly<Record<EventKind, SchemaName>> = Object.freeze({ listens: 'ListenEvent', feedback: 'FeedbackEvent' });

/** The CSV columns `vectors generate` writes, in order: the kind, then the union of both schemas' fields. */
export const CSV_COLUMNS = ['topic', 'eventId', 'userId', 'entityId', 'timestamp', 'msPlayed', 'durationMs', 'context', 'kind', 'surface'] as const;

/**
 * The format of an event source: `format` when given (`jsonl` or `csv`),
 * else by extension (`.jsonl`, `.ndjson` → JSONL; `.csv` → CSV); `-` (a
 * stream such as stdin) is JSONL unless told.
 * @throws ConfigError for an unknown format or an extension that says none.
 */
export function eventFormatOf(source: string, format?: string): EventFormat {
  if (format !== undefined) {
    const f = format.toLowerCase();
    if (f === 'jsonl' || f === 'ndjson') return 'jsonl';
    if (f === 'csv') return 'csv';
    throw new ConfigError(`event format '${format}' is not supported: use jsonl or csv`);
  }
  if (source === '-') return 'jsonl';
  const ext = extname(source).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.csv') return 'csv';
  throw new ConfigError(
    `cannot tell the format of '${source}' from its extension${ext ? ` '${ext}'` : ''}: name the file .jsonl, .ndjson or .csv, or give the format (jsonl or csv)`,
  );
}

/** One non-blank line of an event file: its fields, or why it has none. */
export type RawLine = { lineNo: number; fields: Record<string, unknown>; problem?: undefined } | { lineNo: number; fields?: undefined; problem: string };

/**
 * The non-blank lines of an event stream as field maps, in order. JSONL: one
 * JSON object per line. CSV: a header line naming the columns, then one
 * event per line, RFC 4180 quoting (`"a, b"`, `""` for a quote; a cell
 * cannot span lines); an empty cell is an absent field. A line that cannot
 * be read comes with a `problem` instead of fields.
 * @throws ConfigError when a CSV header is missing or malformed (`label` names the source).
 */
export async function* rawEventLines(input: Readable, format: EventFormat, label = 'the input'): AsyncGenerator<RawLine, void, undefined> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  let header: string[] | undefined;
  try {
    for await (const line of lines) {
      lineNo++;
      if (line.trim() === '') continue;
      if (format === 'jsonl') {
        yield parseJsonLine(line, lineNo);
        continue;
      }
      const cells = parseCsvLine(line);
      if (typeof cells === 'string') {
        yield { lineNo, problem: cells };
        continue;
      }
      if (!header) {
        const problem = headerProblem(cells);
        if (problem) throw new ConfigError(`line ${lineNo} of ${label}: ${problem}`);
        header = cells.map((c) => c.trim());
        continue;
      }
      if (cells.length !== header.length) {
        yield { lineNo, problem: `has ${cells.length} cells but the header has ${header.length} columns (${header.join(',')})` };
        continue;
      }
      const fields: Record<string, unknown> = {};
      header.forEach((name, i) => {
        if (cells[i] !== '') fields[name] = cells[i];
      });
      yield { lineNo, fields };
    }
  } finally {
    lines.close();
  }
}

function parseJsonLine(line: string, lineNo: number): RawLine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (err) {
    return { lineNo, problem: `is not valid JSON (${(err as Error).message}); each line must be one JSON object` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return { lineNo, problem: 'is not a JSON object; each line must be one JSON object' };
  return { lineNo, fields: parsed as Record<string, unknown> };
}

function headerProblem(cells: string[]): string | undefined {
  const names = cells.map((c) => c.trim());
  if (!names.includes('userId')) {
    return `the CSV header must name the columns (e.g. ${CSV_COLUMNS.join(',')}), got '${cells.join(',')}' with no userId column`;
  }
  const empty = names.indexOf('');
  if (empty >= 0) return `the CSV header has an empty column name at column ${empty + 1}`;
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) return `the CSV header names column '${dup}' twice`;
  return undefined;
}

/** The cells of one CSV line (RFC 4180 quoting), or what is wrong with it. */
export function parseCsvLine(line: string): string[] | string {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let cell = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return `has an unterminated quoted cell at column ${cells.length + 1} (a cell cannot span lines)`;
        cell += line.slice(i, q);
        if (line[q + 1] === '"') {
          cell += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      cells.push(cell);
      if (i === line.length) return cells;
      if (line[i] !== ',') return `has text after the closing quote of column ${cells.length}; quote the whole cell`;
      i++;
    } else {
      const comma = line.indexOf(',', i);
      const cell = comma < 0 ? line.slice(i) : line.slice(i, comma);
      if (cell.includes('"')) return `has a quote inside unquoted cell ${cells.length + 1}; quote the cell and double the quote ("")`;
      cells.push(cell);
      if (comma < 0) return cells;
      i = comma + 1;
    }
  }
}

/** Quotes a CSV cell when it needs it. */
export function csvCell(value: string | number | undefined): string {
  if (value === undefined) return '';
  const s = String(value);
  return /[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

interface FieldInfo {
  name: string;
  timestamp: boolean;
  type: avsc.Type;
}

/** Reads field maps into one kind's events (see {@link EventReader.read}). */
export class EventReader {
  readonly kind: EventKind;
  readonly schemaName: SchemaName;
  private readonly type: avsc.Type;
  private readonly fields: FieldInfo[];

  constructor(kind: EventKind) {
    this.kind = kind;
    this.schemaName = EVENT_SCHEMAS[kind];
    const schema = JSON.parse(loadSchema(this.schemaName)) as { fields: { name: string; type: unknown }[] };
    this.type = avsc.Type.forSchema(schema as avsc.Schema);
    const recordFields = (this.type as unknown as { fields: { name: string; type: avsc.Type }[] }).fields;
    this.fields = schema.fields.map((f, i) => ({
      name: f.name,
      timestamp: typeof f.type === 'object' && (f.type as { logicalType?: string }).logicalType === 'timestamp-millis',
      type: recordFields[i]!.type,
    }));
  }

  /**
   * The event a line's fields describe, or the problems, one per bad field,
   * each naming the field, what it must be and what it was. Text from CSV is
   * coerced: integer text for long fields, and a timestamp may be epoch ms or
   * an ISO 8601 time (`2024-05-01T12:00:00Z`) in either format. Fields the
   * schema does not have (`topic`, `type`, others) are ignored.
   */
  read(raw: Record<string, unknown>): { event: ListenEvent | FeedbackEvent; problems?: undefined } | { event?: undefined; problems: string[] } {
    const value: Record<string, unknown> = {};
    const problems: string[] = [];
    for (const f of this.fields) {
      let v = raw[f.name];
      if (v === '') v = undefined;
      if (f.type.typeName === 'long' && typeof v === 'string') {
        if (/^-?\d+$/.test(v.trim())) v = Number(v.trim());
        else if (f.timestamp && /^\d{4}-\d\d-\d\d/.test(v)) {
          const ms = Date.parse(v);
          if (Number.isFinite(ms)) v = ms;
        }
      }
      value[f.name] = v;
      if (!f.type.isValid(v)) problems.push(`field '${f.name}' must be ${expectation(f)}, got ${render(v)}`);
    }
    if (problems.length > 0) return { problems };
    return { event: value as unknown as ListenEvent | FeedbackEvent };
  }
}

function expectation(f: FieldInfo): string {
  if (f.timestamp) return 'a time: integer epoch milliseconds or an ISO 8601 date-time';
  switch (f.type.typeName) {
    case 'long':
    case 'int':
      return 'an integer';
    case 'string':
      return 'a string';
    case 'enum':
      return `one of ${(f.type as unknown as { symbols: string[] }).symbols.join(', ')}`;
    default:
      return `an Avro ${f.type.typeName}`;
  }
}

function render(v: unknown): string {
  if (v === undefined) return 'nothing (the field is missing)';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * The kind a line names in its `topic` (or `type`) field; `undefined` when it
 * names none; a problem when it names something else.
 */
export function kindOfLine(raw: Record<string, unknown>): EventKind | undefined | { problem: string } {
  const field = raw.topic !== undefined ? 'topic' : raw.type !== undefined ? 'type' : undefined;
  if (field === undefined) return undefined;
  const v = raw[field];
  if (v === 'listens' || v === 'feedback') return v;
  return { problem: `field '${field}' must be "listens" or "feedback", got ${render(v)}` };
}

/** A file's data lines (non-blank, less a CSV header): the total a progress bar needs. */
export async function countDataLines(path: string, format: EventFormat): Promise<number> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) if (line.trim() !== '') n++;
  return format === 'csv' ? Math.max(0, n - 1) : n;
}

/** An event's kind: feedback has a `kind`, a listen has `msPlayed`. */
export function kindOfEvent(e: ListenEvent | FeedbackEvent): EventKind {
  return 'kind' in e ? 'feedback' : 'listens';
}

/** One JSONL line of an event file: `topic` first, then the record's fields in schema order. */
export function eventJsonLine(e: ListenEvent | FeedbackEvent): string {
  return `${JSON.stringify({ topic: kindOfEvent(e), ...e })}\n`;
}

/** One CSV line of an event file, in {@link CSV_COLUMNS} order (fields of the other kind empty). */
export function eventCsvLine(e: ListenEvent | FeedbackEvent): string {
  const row = { topic: kindOfEvent(e), ...e } as Record<string, string | number | undefined>;
  return `${CSV_COLUMNS.map((c) => csvCell(row[c])).join(',')}\n`;
}
