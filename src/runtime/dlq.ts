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
} as const;

/** The error code for errors that carry none (a bolt's own exception). */
export const PROCESSING_ERROR = 'VEC_ERR_PROCESSING';

export function errorCodeOf(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? code : PROCESSING_ERROR;
}

/**
 * The dead-letter record for an input that failed: the original key and value
 * bytes untouched, and headers naming the error and the record's origin, so
 * it can be inspected and replayed.
 */
export function deadLetter(
  dlqTopic: string,
  topology: string,
  component: string,
  record: IncomingRecord,
  err: unknown,
): OutgoingRecord {
  const e = err as Error;
  const original = Object.fromEntries(
    Object.entries(record.headers).filter((kv): kv is [string, Buffer] => kv[1] !== undefined),
  );
  return {
    topic: dlqTopic,
    key: record.key,
    value: record.value,
    partition: 0,
    timestamp: record.timestamp,
    headers: {
      ...original,
      [DlqHeaders.errorCode]: errorCodeOf(err),
      [DlqHeaders.errorMessage]: String(e?.message ?? err).slice(0, 4000),
      [DlqHeaders.errorClass]: e?.name ?? typeof err,
      [DlqHeaders.topic]: record.topic,
      [DlqHeaders.partition]: String(record.partition),
      [DlqHeaders.offset]: record.offset,
      [DlqHeaders.topology]: topology,
      [DlqHeaders.component]: component,
      [DlqHeaders.timestamp]: String(Date.now()),
    },
  };
}
