import { Option, type Command } from 'commander';
import { provisionTopics, registerSchemas } from '../../runtime/admin/provision';
import { writeControl } from '../../app/snapshots';
import { coreSubjects, coreTopicSpecs, loadSchema, Topics, valueSubject } from '../../vectors/contracts';
import { planMember } from '../../vectors/doorman/doorman-state';
import {
  addKafkaOptions,
  addSnapshotTopicOptions,
  kafkaFrom,
  list,
  positiveInt,
  printJson,
  registryFrom,
  snapshotTopicsFrom,
  type CliIo,
  type KafkaOptions,
  type SnapshotTopicOptions,
} from '../common';

interface ProvisionOptions extends KafkaOptions, SnapshotTopicOptions {
  partitions: number;
  members: string[];
}

/** `vectors provision`: core topics, their schemas, and the doorman's members (idempotent). */
export function registerProvision(program: Command, io: CliIo): void {
  const cmd = program
    .command('provision')
    .summary('create the core topics, register their schemas and the doorman members (idempotent)')
    .description(
      'Create the core topics (listens, feedback, user-vectors, candidates, candidate-requests, the control log), register their Avro schemas, ' +
        'and register the members: the application ids that take part in every snapshot switch (the doorman activates a snapshot only when ' +
        'every partition of every member reported READY). Running it again changes nothing.',
    )
    .addOption(new Option('--partitions <n>', 'partitions of the keyed topics (all must match)').env('VECTORS_PARTITIONS').default(12).argParser(positiveInt))
    .addOption(
      new Option('--members <ids>', 'application ids that take part in snapshot switches, comma-separated')
        .env('VECTORS_MEMBERS')
        .default(['user-vectors', 'candidates'], 'user-vectors,candidates')
        .argParser(list),
    );
  addKafkaOptions(cmd);
  addSnapshotTopicOptions(cmd);
  cmd.addHelpText('after', '\nExample:\n  vectors provision --partitions 12 --members user-vectors,candidates');
  cmd.action(async (o: ProvisionOptions) => {
    const topics = snapshotTopicsFrom(o);
    const control = topics.control ?? Topics.snapshotControl;
    // Another control topic (several systems on one cluster) is created in place of the default one.
    const specs = coreTopicSpecs({ partitions: o.partitions }).map((s) => (s.name === Topics.snapshotControl ? { ...s, name: control } : s));
    const subjects = coreSubjects().map((s) =>
      s.subject === valueSubject(Topics.snapshotControl) ? { subject: valueSubject(control), schema: loadSchema('SnapshotControl') } : s,
    );
    const kafka = kafkaFrom(o, 'vectors-provision', true);
    const admin = await kafka.admin();
    try {
      const report = await provisionTopics(admin, specs);
      const registry = registryFrom(o);
      const ids = await registerSchemas(registry, subjects);
      const now = Date.now();
      await writeControl(
        kafka,
        registry,
        o.members.map((member) => planMember(member, o.partitions, now)),
        topics,
      );
      printJson(io, { created: report.created, existing: report.existing, schemaIds: Object.fromEntries(ids), members: o.members });
    } finally {
      await admin.close();
    }
  });
}
