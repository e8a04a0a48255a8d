import { UnknownTopicError } from '../../errors';
import type { KafkaAdmin } from '../../runtime/kafka/client';
import { suggest } from '../suggest';

/**
 * The error for a topic the cluster does not have, naming the closest topics
 * it does have (Kafka's own `__` topics and the runtime's changelog and
 * repartition topics left out) and `fix`.
 */
export async function unknownTopic(admin: KafkaAdmin, topic: string, fix = "'vectors provision' creates the product's topics"): Promise<UnknownTopicError> {
  let topics: string[] = [];
  try {
    topics = (await admin.listTopics()).filter((t) => !t.startsWith('__') && !/-(changelog|repartition)$/.test(t));
  } catch {
    // Listing is only for the hint: a failure to list must not hide the error itself.
  }
  return new UnknownTopicError(topic, suggest(topic, topics), fix);
}
