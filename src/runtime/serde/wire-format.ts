import { WireFormatError } from '../errors';

/** Confluent wire format: magic byte 0, 4-byte big-endian schema id, then the payload. */
export const MAGIC_BYTE = 0;
export const HEADER_SIZE = 5;

/** The schema id of wire-format bytes. @throws WireFormatError */
export function readSchemaId(data: Buffer): number {
  if (data.length < HEADER_SIZE) {
    throw new WireFormatError(`only ${data.length} bytes, the header alone is ${HEADER_SIZE}`);
  }
  if (data[0] !== MAGIC_BYTE) {
    throw new WireFormatError(`first byte is ${data[0]}, expected magic byte ${MAGIC_BYTE}`);
  }
  return data.readUInt32BE(1);
}

/** Writes the header for `schemaId` at the start of `target`. */
export function writeHeader(target: Buffer, schemaId: number): void {
  target[0] = MAGIC_BYTE;
  target.writeUInt32BE(schemaId, 1);
}
