import { TopicProvisioningError } from '../errors';
import type { KafkaAdmin, TopicSpec } from '../kafka/client';
import type { CompatibilityLevel, SchemaRegistry } from '../serde/schema-registry';

/** What {@link provisionTopics} did. */
export interface ProvisionReport {
  created: string[];
  existing: string[];
}

/** Configs whose value must match when the topic already exists. */
const CHECKED_CONFIGS = ['cleanup.policy'];

/**
 * Creates missing topics and checks the existing ones. Idempotent: running it
 * again changes nothing. An existing topic with a different partition count or
 * cleanup policy is an error, not silently accepted: keyed state relies on
 * co-partitioning, and a non-compacted changelog loses state.
 * @throws TopicProvisioningError naming the topic and both values.
 */
export async function provisionTopics(admin: KafkaAdmin, specs: TopicSpec[]): Promise<ProvisionReport> {
  const created = await admin.createTopics(specs);
  const existing: string[] = [];
  for (const spec of specs) {
    if (created.includes(spec.name)) continue;
    existing.push(spec.name);
    const desc = await admin.describeTopic(spec.name, CHECKED_CONFIGS);
    if (!desc) throw new TopicProvisioningError(spec.name, 'was neither created nor found; check broker permissions');
    if (desc.partitions !== spec.partitions) {
      throw new TopicProvisioningError(
        spec.name,
        `exists with ${desc.partitions} partitions but ${spec.partitions} are configured. ` +
          'Use the existing count (e.g. --partitions / VECTORS_PARTITIONS) or recreate the topic.',
      );
    }
    for (const name of CHECKED_CONFIGS) {
      const want = spec.config?.[name] ?? 'delete';
      if (desc.config[name] !== undefined && desc.config[name] !== want) {
        throw new TopicProvisioningError(spec.name, `exists with ${name}=${desc.config[name]} but ${want} is required.`);
      }
    }
  }
  return { created, existing };
}

/** A value schema to register under `<topic>-value`. */
export interface SubjectSpec {
  subject: string;
  schema: string;
}

/**
 * Sets each subject's compatibility rule and registers its schema; returns
 * subject → id. Idempotent.
 * @throws SchemaIncompatibleError when a schema breaks the rule.
 */
export async function registerSchemas(
  registry: SchemaRegistry,
  subjects: SubjectSpec[],
  compatibility: CompatibilityLevel = 'BACKWARD',
): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  for (const s of subjects) {
    await registry.setCompatibility(s.subject, compatibility);
    ids.set(s.subject, await registry.register(s.subject, s.schema));
  }
  return ids;
}
