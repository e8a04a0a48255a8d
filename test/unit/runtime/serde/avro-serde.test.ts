import { AvroSerde } from '../../../../src/runtime/serde/avro-serde';
import { InMemorySchemaRegistry } from '../../../../src/runtime/serde/schema-registry';
import { readSchemaId } from '../../../../src/runtime/serde/wire-format';
import { loadSchema } from '../../../../src/vectors/contracts';
import type { ListenEvent, UserVector } from '../../../../src/vectors/records';
import { ErrorCodes, SchemaIncompatibleError, SchemaResolutionError, SchemaValidationError, VectorsError } from '../../../../src/errors';

const listen: ListenEvent = {
  eventId: 'e1',
  userId: 'u1',
  entityId: 't1',
  msPlayed: 120_000,
  durationMs: 180_000,
  context: 'radio',
  timestamp: 1_700_000_000_000,
};

async function serdeFor<T>(schema: string | object, registry = new InMemorySchemaRegistry(), subject = 'listens-value') {
  const serde = new AvroSerde<T>({ registry, subject, schema });
  await serde.prepare();
  return serde;
}

describe('AvroSerde', () => {
  it('writes the Confluent wire format and reads back the same value', async () => {
    const serde = await serdeFor<ListenEvent>(loadSchema('ListenEvent'));
    const bytes = serde.serialize(listen);
    expect(bytes[0]).toBe(0);
    expect(readSchemaId(bytes)).toBe(serde.id);
    expect(serde.deserialize(bytes)).toEqual(listen);
  });

  it('decodes array<float> to a Float32Array with the same values', async () => {
    const serde = await serdeFor<UserVector>(loadSchema('UserVector'), undefined, 'user-vectors-value');
    const vector = Float32Array.from({ length: 128 }, (_, i) => Math.sin(i));
    const value: UserVector = { userId: 'u', snapshotId: 's1', vector, updatedAt: 1, eventCount: 2, version: 3 };
    const back = serde.deserialize(serde.serialize(value));
    expect(back.vector).toBeInstanceOf(Float32Array);
    expect(Array.from(back.vector)).toEqual(Array.from(vector));
    // A plain number[] is accepted on write too.
    const fromArray = serde.deserialize(serde.serialize({ ...value, vector: Array.from(vector) as unknown as Float32Array }));
    expect(Array.from(fromArray.vector)).toEqual(Array.from(vector));
  });

  it.each([
    ['a missing field', { ...listen, msPlayed: undefined }, 'msPlayed'],
    ['a string where a long is expected', { ...listen, durationMs: 'long' }, 'durationMs'],
    ['a non-string id', { ...listen, userId: 42 }, 'userId'],
  ])('refuses %s, naming the field', async (_label, value, field) => {
    const serde = await serdeFor<ListenEvent>(loadSchema('ListenEvent'));
    let thrown: unknown;
    try {
      serde.serialize(value as unknown as ListenEvent);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(SchemaValidationError);
    expect((thrown as SchemaValidationError).code).toBe(ErrorCodes.SCHEMA_VALIDATION);
    expect((thrown as Error).message).toContain(`field '${field}'`);
    expect((thrown as SchemaValidationError).problems.map((p) => p.path)).toContain(field);
  });

  it('names a bad enum symbol and a bad vector element by path', async () => {
    const feedback = await serdeFor<object>(loadSchema('FeedbackEvent'), undefined, 'feedback-value');
    expect(() => feedback.serialize({ eventId: 'e', userId: 'u', entityId: 't', kind: 'LOVE', surface: 'home', timestamp: 1 })).toThrow(
      /field 'kind' expected FeedbackKind, found "LOVE"/,
    );
    const uv = await serdeFor<object>(loadSchema('UserVector'), undefined, 'user-vectors-value');
    expect(() => uv.serialize({ userId: 'u', snapshotId: 's', vector: [1, 'x', 3], updatedAt: 1, eventCount: 1, version: 1 })).toThrow(
      /field 'vector\.1' expected float/,
    );
  });

  it.each([
    ['too short', Buffer.from([0, 0, 0])],
    ['a wrong magic byte', Buffer.from([7, 0, 0, 0, 1, 2])],
  ])('rejects bytes that are %s with a wire-format error', async (_label, bytes) => {
    const serde = await serdeFor<ListenEvent>(loadSchema('ListenEvent'));
    expect(() => serde.deserialize(bytes)).toThrow(expect.objectContaining({ code: ErrorCodes.WIRE_FORMAT }));
  });

  it('rejects a truncated payload with a decode error', async () => {
    const serde = await serdeFor<ListenEvent>(loadSchema('ListenEvent'));
    const bytes = serde.serialize(listen);
    expect(() => serde.deserialize(bytes.subarray(0, bytes.length - 3))).toThrow(expect.objectContaining({ code: ErrorCodes.AVRO_DECODE }));
  });

  it('reads records written with an older compatible schema after fetching the writer schema by id', async () => {
    const registry = new InMemorySchemaRegistry();
    const v1 = { type: 'record', name: 'Click', fields: [{ name: 'id', type: 'string' }] };
    const v2 = { ...v1, fields: [...v1.fields, { name: 'weight', type: 'double', default: 1.5 }] };
    const writer = await serdeFor<object>(v1, registry, 'clicks-value');
    const reader = await serdeFor<object>(v2, registry, 'clicks-value');
    const bytes = writer.serialize({ id: 'a' });
    let thrown: VectorsError | undefined;
    try {
      reader.deserialize(bytes);
    } catch (err) {
      thrown = err as VectorsError;
    }
    expect(thrown?.code).toBe(ErrorCodes.UNKNOWN_SCHEMA_ID);
    expect(thrown?.retriable).toBe(true);
    await reader.prepareFor(bytes);
    expect(reader.deserialize(bytes)).toEqual({ id: 'a', weight: 1.5 });
  });

  it('refuses a record of a foreign schema, naming the schema it expected and the one that came (full name, registry id), once per id', async () => {
    const registry = new InMemorySchemaRegistry();
    const other = { type: 'record', name: 'Other', namespace: 'chaos', fields: [{ name: 'x', type: 'int' }] };
    // Registered under another subject (ids are global), as a producer writing to the wrong topic would.
    const writer = await serdeFor<object>(other, registry, 'chaos-value');
    const reader = await serdeFor<ListenEvent>(loadSchema('ListenEvent'), registry);
    const bytes = writer.serialize({ x: 1 });
    const fetches = jest.spyOn(registry, 'getSchema');
    const refusal = (err: unknown) => {
      const message = (err as Error).message;
      expect(message).toContain(`written with schema chaos.Other (registry id ${writer.id})`);
      expect(message).toContain('expected vectors.v1.ListenEvent');
      expect(message).toContain("subject 'listens-value'");
      expect(message).toMatch(/another record type was written to this topic: fix the producer/);
      expect(err).toBeInstanceOf(SchemaResolutionError);
      expect((err as VectorsError).code).toBe(ErrorCodes.SCHEMA_RESOLUTION);
      expect((err as VectorsError).retriable).toBe(false);
    };
    await reader
      .prepareFor(bytes)
      .then(() => reader.deserialize(bytes))
      .then(() => {
        throw new Error('a foreign record was decoded');
      }, refusal);
    // The writer schema of an id never changes: the next record of it is refused without asking the registry again.
    let again: unknown;
    try {
      reader.deserialize(bytes);
    } catch (err) {
      again = err;
    }
    refusal(again);
    await expect(reader.prepareFor(bytes)).rejects.toBeInstanceOf(SchemaResolutionError);
    expect(fetches).toHaveBeenCalledTimes(1);
  });

  it('refuses a same-named writer schema it cannot resolve, saying the versions are incompatible', async () => {
    const registry = new InMemorySchemaRegistry();
    await registry.setCompatibility('clicks-value', 'NONE');
    const v1 = { type: 'record', name: 'Click', namespace: 'ns', fields: [{ name: 'id', type: 'string' }] };
    const v2 = { ...v1, fields: [...v1.fields, { name: 'weight', type: 'double' }] }; // no default: cannot read v1
    const writer = await serdeFor<object>(v1, registry, 'clicks-value');
    const reader = await serdeFor<object>(v2, registry, 'clicks-value');
    const bytes = writer.serialize({ id: 'a' });
    await expect(reader.prepareFor(bytes)).rejects.toThrow(
      new RegExp(
        `written with schema ns\\.Click \\(registry id ${writer.id}\\).*expected ns\\.Click \\(registry id ${reader.id}\\).*versions are not compatible`,
      ),
    );
  });

  it('grows its scratch buffer for values larger than 64 KiB', async () => {
    const serde = await serdeFor<UserVector>(loadSchema('UserVector'), undefined, 'user-vectors-value');
    const vector = new Float32Array(40_000).fill(0.25);
    const value: UserVector = { userId: 'u', snapshotId: 's', vector, updatedAt: 1, eventCount: 1, version: 1 };
    expect(serde.deserialize(serde.serialize(value)).vector.length).toBe(40_000);
  });
});

describe('InMemorySchemaRegistry', () => {
  it('gives the same id for the same schema and refuses a backward-incompatible change', async () => {
    const registry = new InMemorySchemaRegistry();
    const v1 = JSON.stringify({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'string' }] });
    const id = await registry.register('r-value', v1);
    expect(await registry.register('r-value', v1)).toBe(id);
    const bad = JSON.stringify({
      type: 'record',
      name: 'R',
      fields: [
        { name: 'a', type: 'string' },
        { name: 'b', type: 'long' },
      ],
    });
    await expect(registry.register('r-value', bad)).rejects.toBeInstanceOf(SchemaIncompatibleError);
    await expect(registry.register('r-value', bad)).rejects.toThrow(/subject 'r-value'.*give new fields a default/);
  });
});
