import { KafkaError, VectorsError } from '../errors';
import type { KafkaTransaction } from './client';

/**
 * Wraps a client's transaction so that it keeps the {@link KafkaTransaction}
 * contract: after a failed `send` or `sendOffsets` it can only be aborted.
 * kafkajs commits such a transaction when asked, which published the records
 * of a send the broker partly refused (a dead-letter copy over the topic's
 * `max.message.bytes`, say) together with offsets past the refused record.
 * The refusal carries the first failure as its cause, so it is as retriable
 * as that failure was.
 */
export function guardTransaction(transactionalId: string, txn: KafkaTransaction): KafkaTransaction {
  let failed: unknown;
  const refuse = (operation: string): void => {
    if (failed === undefined) return;
    throw new KafkaError(
      `${operation} (${transactionalId})`,
      new Error(`a send of this transaction failed earlier (${(failed as Error)?.message ?? String(failed)}); abort it and process its records again`, {
        cause: failed,
      }),
      failed instanceof VectorsError && failed.retriable,
    );
  };
  const noting = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      failed ??= err;
      throw err;
    }
  };
  return {
    async send(records) {
      refuse('transactional produce');
      return noting(() => txn.send(records));
    },
    async sendOffsets(groupId, offsets) {
      refuse('transactional offset commit');
      return noting(() => txn.sendOffsets(groupId, offsets));
    },
    async commit() {
      refuse('commit transaction');
      return txn.commit();
    },
    abort: () => txn.abort(),
  };
}
