import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// hyparquet-writer's own types: it pins an older hyparquet than the one the reader uses.
import { parquetWriteFile, type ParquetWriteOptions, type SchemaElement } from 'hyparquet-writer';

/** Rows of a factors file, column by column; `null` writes a null. */
export interface FactorRows {
  ids: (number | bigint | string | null)[];
  vectors: (ArrayLike<number | null> | null)[];
  types?: (string | null)[];
}

export interface FactorFileOptions {
  idColumn?: string;
  vectorColumn?: string;
  typeColumn?: string;
  /** INT32 is Spark's `int`; STRING is BYTE_ARRAY UTF8. */
  idType?: 'INT32' | 'INT64' | 'STRING' | 'FLOAT';
  elementType?: 'FLOAT' | 'DOUBLE';
  /** Spark's schema for `features` of ALS: the list is optional, its elements required. */
  nullableElements?: boolean;
  /** hyparquet-writer's default is SNAPPY, as Spark's. */
  codec?: ParquetWriteOptions['codec'];
  compressors?: ParquetWriteOptions['compressors'];
  rowGroupSize?: number;
  /** The vector column as a plain FLOAT column (one value per row), to test the type check. */
  scalarVector?: boolean;
}

/**
 * Writes a file shaped like Spark MLlib's `model.itemFactors.write.parquet`:
 * `id int` and `features array<float>` as the standard 3-level LIST, so the
 * reader is tested on the layout Spark writes, not on what a writer's
 * defaults would pick.
 */
export function writeFactors(path: string, rows: FactorRows, o: FactorFileOptions = {}): void {
  const idName = o.idColumn ?? 'id';
  const vectorName = o.vectorColumn ?? 'features';
  const typeName = o.typeColumn ?? 'entityType';
  const idType = o.idType ?? 'INT32';
  const nullableId = rows.ids.includes(null);
  const schema: SchemaElement[] = [{ name: 'spark_schema', num_children: rows.types ? 3 : 2 }];
  schema.push(
    idType === 'STRING'
      ? { name: idName, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: nullableId ? 'OPTIONAL' : 'REQUIRED' }
      : { name: idName, type: idType, repetition_type: nullableId ? 'OPTIONAL' : 'REQUIRED' },
  );
  if (o.scalarVector) {
    schema.push({ name: vectorName, type: o.elementType ?? 'FLOAT', repetition_type: 'OPTIONAL' });
  } else {
    schema.push(
      { name: vectorName, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
      { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
      { name: 'element', type: o.elementType ?? 'FLOAT', repetition_type: o.nullableElements ? 'OPTIONAL' : 'REQUIRED' },
    );
  }
  if (rows.types) schema.push({ name: typeName, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' });
  const ids = idType === 'INT64' ? rows.ids.map((v) => (v === null ? null : BigInt(v))) : rows.ids;
  const vectors = rows.vectors.map((v) => (v === null ? null : o.scalarVector ? v[0] : Array.from(v)));
  const columnData = [{ name: idName, data: ids }, { name: vectorName, data: vectors }, ...(rows.types ? [{ name: typeName, data: rows.types }] : [])];
  parquetWriteFile({
    filename: path,
    columnData,
    schema,
    codec: o.codec,
    compressors: o.compressors,
    rowGroupSize: o.rowGroupSize,
  });
}

/**
 * A directory as Spark leaves it: the part files (written last first, so a
 * reader that follows the directory's order rather than the names would
 * read them out of order), `_SUCCESS` and Hadoop's `.crc` files.
 * @returns the part files' paths, in name order.
 */
export function writeSparkDir(dir: string, parts: FactorRows[], o: FactorFileOptions = {}): string[] {
  mkdirSync(dir, { recursive: true });
  const names = parts.map((_, i) => `part-${String(i).padStart(5, '0')}-6b3c9d1e-4f2a-4c1b-9d3e-2f1a0b9c8d7e-c000.snappy.parquet`);
  for (let i = parts.length - 1; i >= 0; i--) {
    writeFactors(join(dir, names[i]!), parts[i]!, o);
    writeFileSync(join(dir, `.${names[i]}.crc`), 'crc of the part file');
  }
  writeFileSync(join(dir, '_SUCCESS'), '');
  writeFileSync(join(dir, '._SUCCESS.crc'), 'crc');
  return names.map((n) => join(dir, n));
}
