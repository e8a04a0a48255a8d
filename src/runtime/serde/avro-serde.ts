import * as avsc from 'avsc';
import { AvroDecodeError, type FieldProblem, SchemaResolutionError, SchemaValidationError, UnknownSchemaIdError, VectorsError } from '../errors';
import { float32ArrayTypeHook } from './float32-array-type';
import type { PreparedSerde } from './serde';
import type { SchemaRegistry } from './schema-registry';
import { HEADER_SIZE, readSchemaId, writeHeader } from './wire-format';

/** Options of {@link AvroSerde}. */
export interface AvroSerdeOptions {
  /** The registry that assigns and resolves schema ids. */
  registry: SchemaRegistry;
  /** Subject to register under, by convention `<topic>-value`. */
  subject: string;
  /** The Avro schema (JSON text or parsed) values are written with and read into. */
  schema: string | object;
  /**
   * Register the schema on `prepare()` (default). With false, the serde looks
   * up the id of an already registered identical schema instead, which also
   * registers it if missing — both are idempotent in the registry.
   */
  autoRegister?: boolean;
}

/** Where to render a value briefly in an error message. */
function brief(v: unknown): string {
  if (v === undefined) return 'undefined (field missing)';
  if (v === null) return 'null';
  if (v instanceof Float32Array) return `Float32Array(${v.length})`;
  let s: string;
  try {
    s = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : `${s} (${Array.isArray(v) ? 'array' : typeof v})`;
}

/** The full name of a named type (`namespace.Name`), else the type's name (`string`, `array`, ...). */
function fullName(t: avsc.Type): string {
  return (t as { name?: string }).name ?? t.typeName;
}

function typeLabel(t: avsc.Type): string {
  const named = (t as { name?: string }).name;
  if (named) return named.split('.').pop()!;
  if (t.typeName === 'union') {
    return (t as unknown as { types: avsc.Type[] }).types.map(typeLabel).join(' | ');
  }
  return t.typeName;
}

// A fresh options object per parse: avsc records named types in `opts.registry`.
const typeOpts = () => ({ typeHook: float32ArrayTypeHook as never });

/**
 * Avro values in the Confluent wire format, with ids from a schema registry and
 * encoding by avsc (about ten times faster than the registry client's own
 * serializer). `array<float>` fields decode to `Float32Array`.
 *
 * Writes validate the value first: a value that does not match the schema
 * throws {@link SchemaValidationError} naming every bad field, and no bytes are
 * produced. Reads resolve the writer schema named by the record's id against
 * this serde's schema, so records written with an older compatible version
 * decode into the current shape.
 */
export class AvroSerde<T> implements PreparedSerde<T> {
  readonly type: avsc.Type;
  readonly subject: string;
  private readonly schemaText: string;
  private readonly registry: SchemaRegistry;
  private schemaId: number | undefined;
  /**
   * Writer schema id → resolver into `type` (or `type` itself for our own id),
   * or why records of that id cannot be read: an id's schema never changes, so
   * the refusal is kept rather than asking the registry again for every record.
   */
  private readonly readers = new Map<number, avsc.Type | avsc.Resolver | VectorsError>();
  private scratch = Buffer.allocUnsafe(64 * 1024);

  constructor(options: AvroSerdeOptions) {
    this.schemaText = typeof options.schema === 'string' ? options.schema : JSON.stringify(options.schema);
    this.type = avsc.Type.forSchema(JSON.parse(this.schemaText), typeOpts());
    this.subject = options.subject;
    this.registry = options.registry;
  }

  /** The id this serde writes with; defined after `prepare()`. */
  get id(): number | undefined {
    return this.schemaId;
  }

  async prepare(): Promise<void> {
    if (this.schemaId !== undefined) return;
    const id = await this.registry.register(this.subject, this.schemaText);
    this.schemaId = id;
    this.readers.set(id, this.type);
  }

  /**
   * Fetches the writer schema of `data`'s id and prepares to read it.
   * @throws SchemaResolutionError when that schema cannot be read as this
   *   serde's (another record type, an incompatible version); `deserialize`
   *   throws the same for every record of that id.
   * @throws AvroDecodeError when the id names a schema that is not Avro.
   */
  async prepareFor(data: Buffer): Promise<void> {
    const id = readSchemaId(data);
    const known = this.readers.get(id);
    if (known instanceof VectorsError) throw known;
    if (known !== undefined) return;
    const writerText = await this.registry.getSchema(this.subject, id);
    const reader = this.readerFor(id, writerText);
    this.readers.set(id, reader);
    if (reader instanceof VectorsError) throw reader;
  }

  /** How to read records written with schema `id`, or the error every such record fails with. */
  private readerFor(id: number, writerText: string): avsc.Type | avsc.Resolver | VectorsError {
    let writer: avsc.Type;
    try {
      writer = avsc.Type.forSchema(JSON.parse(writerText), typeOpts());
    } catch (err) {
      // The registry holds other schema types too (JSON Schema, Protobuf).
      return new AvroDecodeError(
        typeLabel(this.type),
        id,
        new Error(`its writer schema is not an Avro schema this serde can parse: ${(err as Error).message}`),
      );
    }
    if (writer.equals(this.type)) return this.type;
    try {
      return this.type.createResolver(writer);
    } catch (err) {
      // avsc says only e.g. "no alias found for chaos.Other": name both sides and what to do.
      const expected = { name: fullName(this.type), ...(this.schemaId === undefined ? {} : { id: this.schemaId }) };
      return new SchemaResolutionError(this.subject, expected, { name: fullName(writer), id }, (err as Error).message, err);
    }
  }

  /** Returns the problems of a value against the schema, empty when it is valid. */
  validate(value: unknown): FieldProblem[] {
    const problems: FieldProblem[] = [];
    this.type.isValid(value, {
      errorHook: (path: string[], v: unknown, t: avsc.Type) => {
        problems.push({ path: path.join('.'), expected: typeLabel(t), found: brief(v) });
      },
    });
    return problems;
  }

  serialize(value: T): Buffer {
    const id = this.schemaId;
    if (id === undefined) {
      throw new VectorsError('VEC_ERR_SCHEMA_REGISTRY', `serde for '${this.subject}' used before prepare(): no schema id yet`);
    }
    if (!this.type.isValid(value)) {
      throw new SchemaValidationError(typeLabel(this.type), this.validate(value));
    }
    let end = this.type.encode(value, this.scratch, HEADER_SIZE);
    if (end < 0) {
      // encode returns minus the missing byte count when the scratch is too small.
      this.scratch = Buffer.allocUnsafe(Math.max(this.scratch.length * 2, this.scratch.length - end + HEADER_SIZE));
      end = this.type.encode(value, this.scratch, HEADER_SIZE);
    }
    const out = Buffer.allocUnsafe(end);
    this.scratch.copy(out, 0, 0, end);
    writeHeader(out, id);
    return out;
  }

  deserialize(data: Buffer): T {
    const id = readSchemaId(data);
    const reader = this.readers.get(id);
    if (reader === undefined) {
      // retriable: prepareFor(data) fetches the writer schema, then this succeeds.
      throw Object.assign(new UnknownSchemaIdError(id), { retriable: true });
    }
    if (reader instanceof VectorsError) throw reader;
    try {
      const body = data.subarray(HEADER_SIZE);
      return (reader === this.type ? this.type.fromBuffer(body) : this.type.fromBuffer(body, reader as avsc.Resolver)) as T;
    } catch (err) {
      throw new AvroDecodeError(typeLabel(this.type), id, err);
    }
  }
}
