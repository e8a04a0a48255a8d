import { createHash } from 'node:crypto';
import type { IncomingRecord, OutgoingRecord } from './kafka/client';

/** Header names on dead-letter records. */
export const DlqHeaders = {
  errorCode: 'dlq.error.code',
  errorMessage: 'dlq.error.message',
  errorClass: 'dlq.error.class',
  topic: 'dlq.source.topic',
  partition: 'dlq.source.partition',
  offset: 'dlq.source.offset',
  topology: 'dlq.topology',
  component: 'dlq.component',
  timestamp: 'dlq.timestamp',
  /** Present ('true') when the payload was cut to fit the dead-letter topic; the original is at the source offset. */
  truncated: 'dlq.value.truncated',
  /** Byte length of the original value (on truncated records). */
  originalSize: 'dlq.value.original.size',
  /** Hex SHA-256 of the original value (on truncated records), to check a copy fetched from the source. */
  originalSha256: 'dlq.value.original.sha256',
} as const;

/**
 * Default bound of a dead-letter record's encoded size: the broker's default
 * `max.message.bytes` (1,048,588) less room for the batch framing. The runner
 * uses the dead-letter topic's own setting when it can read it.
 */
export const DEFAULT_DLQ_MAX_BYTES = 1_048_588 - 4096;

/** The error code for errors that carry none (a bolt's own exception). */
export const PROCESSING_ERROR = 'VEC_ERR_PROCESSING';

export function errorCodeOf(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? code : PROCESSING_ERROR;
}

/** Encoded size of a record as the broker counts it against its limit, generously rounded up. */
function recordSize(key: Buffer | null, value: Buffer | null, headers: Record<string, Buffer | string>): number {
  let n = 64 + (key?.length ?? 0) + (value?.length ?? 0);
  for (const [k, v] of Object.entries(headers)) n += 16 + Buffer.byteLength(k) + (typeof v === 'string' ? Buffer.byteLength(v) : v.length);
  return n;
}

/**
 * The dead-letter record for an input that failed: the original key and value
 * bytes untouched, and headers naming the error and the record's origin, so
 * it can be inspected and replayed.
 *
 * A copy that would exceed `maxBytes` (the dead-letter topic's limit) cannot
 * be written, and an input that is neither processed nor dead-lettered must
 * never be committed past; so its value is cut to fit, with headers saying so
 * ({@link DlqHeaders.truncated}, the original size and SHA-256): the source
 * topic, partition and offset in the headers point at the whole record.
 * Should the key and the record's own headers not fit either, those headers
 * are dropped, then the key cut, in that order.
 */
export function deadLetter(
  dlqTopic: string,
  topology: string,
  component: string,
  record: IncomingRecord,
  err: unknown,
  maxBytes: number = DEFAULT_DLQ_MAX_BYTES,
): OutgoingRecord {
  const e = err as Error;
  let original: Record<string, Buffer> = Object.fromEntries(Object.entries(record.headers).filter((kv): kv is [string, Buffer] => kv[1] !== undefined));
  const ours: Record<string, string> = {
    [DlqHeaders.errorCode]: errorCodeOf(err),
    [DlqHeaders.errorMessage]: String(e?.message ?? err).slice(0, 4000),
    [DlqHeaders.errorClass]: e?.name ?? typeof err,
    [DlqHeaders.topic]: record.topic,
    [DlqHeaders.partition]: String(record.partition),
    [DlqHeaders.offset]: record.offset,
    [DlqHeaders.topology]: topology,
    [DlqHeaders.component]: component,
    [DlqHeaders.timestamp]: String(Date.now()),
  };
  let key = record.key;
  let value = record.value;
  if (recordSize(key, value, { ...original, ...ours }) > maxBytes) {
    ours[DlqHeaders.truncated] = 'true';
    ours[DlqHeaders.originalSize] = String(value?.length ?? 0);
    ours[DlqHeaders.originalSha256] = value ? createHash('sha256').update(value).digest('hex') : '';
    const room = (h: Record<string, Buffer | string>) => maxBytes - recordSize(key, null, h);
    if (room({ ...original, ...ours }) < 0) original = {};
    if (room(ours) < 0) key = key ? key.subarray(0, Math.max(0, key.length + room(ours))) : key;
    value = value ? value.subarray(0, Math.max(0, room({ ...original, ...ours }))) : value;
  }
  return {
    topic: dlqTopic,
    key,
    value,
    partition: 0,
    timestamp: record.timestamp,
    headers: {
      ...original,
      ...ours,
    },
  };
}
