import { SnapshotNotActiveError } from '../errors';
import { ControlLog, type SnapshotTopics } from '../app/snapshots';
import type { KafkaClient } from '../runtime/kafka/client';
import type { SchemaRegistry } from '../runtime/serde/schema-registry';
import { Topics } from '../vectors/contracts';
import { readiness } from '../vectors/doorman/doorman-state';

const POLL_MS = 500;

/**
 * Polls the control log until the doorman activates snapshot `id`.
 * @throws SnapshotNotActiveError when it ends in another phase, is not
 * active within `timeoutMs` (retriable), or, with `stageTimeoutMs`, was not
 * staged within that time.
 */
export async function waitUntilActive(
  kafka: KafkaClient,
  registry: SchemaRegistry,
  topics: SnapshotTopics,
  id: string,
  o: { timeoutMs: number; stageTimeoutMs?: number },
): Promise<void> {
  const log = new ControlLog(kafka, registry, topics);
  const started = Date.now();
  try {
    for (;;) {
      const view = await log.refresh();
      const s = view.snapshots.get(id);
      if (view.active === id) return;
      if (s && s.phase !== 'STAGED')
        throw new SnapshotNotActiveError(
          id,
          `snapshot '${id}' ended ${s.phase}${s.reason ? `: ${s.reason}` : ''}; the active snapshot is still '${view.active ?? 'none'}'`,
          { timedOut: false },
        );
      const waited = Date.now() - started;
      if (!s && o.stageTimeoutMs !== undefined && waited > o.stageTimeoutMs) {
        const known = [...view.snapshots.keys()];
        throw new SnapshotNotActiveError(
          id,
          `snapshot '${id}' was never staged (control log ${topics.control ?? Topics.snapshotControl}; ` +
            `${known.length ? `known: ${known.slice(-10).join(', ')}` : 'no snapshots'}): publish it first, vectors publish <file> --snapshot-id ${id}`,
          { timedOut: false },
        );
      }
      if (waited > o.timeoutMs)
        throw new SnapshotNotActiveError(
          id,
          s
            ? `snapshot '${id}' is not active after ${o.timeoutMs} ms (${JSON.stringify(readiness(view, id))}); the doorman aborts it at its own timeout`
            : `snapshot '${id}' was not staged within ${o.timeoutMs} ms: publish it first, vectors publish <file> --snapshot-id ${id}`,
          { timedOut: true },
        );
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } finally {
    await log.close();
  }
}
