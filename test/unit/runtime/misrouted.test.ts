import { DlqHeaders, ErrorCodes, StringSerde, TopologyTestDriver } from '../../../src';
import { partitionForKey } from '../../../src/runtime/partitioner';
import { REROUTED_BY_HEADER, REROUTED_HEADER, type MisroutedPolicy } from '../../../src/runtime/task';
import { eventCounter, type CountedEvent } from '../../../topologies/event-counter';

const PARTITIONS = 4;
const ev = (id: string, key: string): CountedEvent => ({ id, key, timestamp: 1 });
/** A partition other than the one murmur2 gives `key`, as a CRC32-partitioning producer may pick. */
const wrongPartition = (key: string) => (partitionForKey(StringSerde.serialize(key), PARTITIONS) + 1) % PARTITIONS;

describe('keyed records on another partition than murmur2(key)', () => {
  let driver: TopologyTestDriver;
  afterEach(async () => driver?.close());

  async function pipeMisrouted(policy: MisroutedPolicy | undefined): Promise<void> {
    driver = await TopologyTestDriver.create(eventCounter(), { partitions: PARTITIONS, ...(policy ? { misrouted: policy } : {}) });
    await driver.pipe('events', 'a', ev('1', 'a'));
    await driver.pipeRaw('events', StringSerde.serialize('a'), driver.valueSerdeOf('events').serialize(ev('2', 'a')), { partition: wrongPartition('a') });
    await driver.pipe('events', 'a', ev('3', 'a'));
  }

  it('are rerouted by default to the partition that owns their key, where they count with the others', async () => {
    await pipeMisrouted(undefined);
    expect(driver.readOutput<string, number>('event-counts').map((r) => r.value)).toEqual([1, 2, 3]);
    expect(driver.readDeadLetters()).toHaveLength(0);
    const moved = driver.readRaw('events');
    expect(moved).toHaveLength(1);
    expect(moved[0]!.partition).toBe(partitionForKey(StringSerde.serialize('a'), PARTITIONS));
    expect(moved[0]!.headers[REROUTED_HEADER]).toBe(`events-${wrongPartition('a')}@0`);
    expect(await driver.metrics.registry.getSingleMetricAsString('vectors_runtime_misrouted_records_total')).toMatch(/action="reroute"} 1/);
  });

  it('are rerouted under the name of the application that moved them, which alone processes the copy', async () => {
    await pipeMisrouted(undefined);
    const [moved] = driver.readRaw('events');
    expect(moved!.headers[REROUTED_BY_HEADER]).toBe('event-counter');
    // Another application reading the same topic rerouted the same record too: its copy is its own,
    // this application has (and counts) its own copy already.
    const right = partitionForKey(StringSerde.serialize('a'), PARTITIONS);
    await driver.pipeRaw('events', StringSerde.serialize('a'), driver.valueSerdeOf('events').serialize(ev('2', 'a')), {
      partition: right,
      headers: { [REROUTED_HEADER]: `events-${wrongPartition('a')}@0`, [REROUTED_BY_HEADER]: 'another-application' },
    });
    expect(driver.readOutput<string, number>('event-counts').map((r) => r.value)).toEqual([1, 2, 3]);
    expect(await driver.metrics.registry.getSingleMetricAsString('vectors_runtime_misrouted_records_total')).toMatch(/action="skip-other-application-copy"} 1/);
  });

  it('are dead-lettered with a message naming the producer setting when so configured', async () => {
    await pipeMisrouted('dead-letter');
    expect(driver.readOutput<string, number>('event-counts').map((r) => r.value)).toEqual([1, 2]);
    const dead = driver.readDeadLetters();
    expect(dead).toHaveLength(1);
    expect(dead[0]!.headers[DlqHeaders.errorCode]).toBe(ErrorCodes.MISROUTED);
    expect(dead[0]!.headers[DlqHeaders.errorMessage]).toMatch(/partitioner=murmur2_random/);
  });

  it('are processed where they are when so configured, splitting the key', async () => {
    await pipeMisrouted('process');
    expect(driver.readOutput<string, number>('event-counts').map((r) => r.value)).toEqual([1, 1, 2]);
  });
});
