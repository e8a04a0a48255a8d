import { DlqHeaders, ErrorCodes, TopologyTestDriver } from '../../../src';
import { eventCounter, type CountedEvent } from '../../../topologies/event-counter';

const ev = (id: string, key: string, timestamp = 1): CountedEvent => ({ id, key, timestamp });

describe('event-counter topology (test driver)', () => {
  let driver: TopologyTestDriver;
  afterEach(async () => driver?.close());

  it.each([1, 4])('counts per key and emits each new count (%i partitions)', async (partitions) => {
    driver = await TopologyTestDriver.create(eventCounter(), { partitions });
    const keys = ['a', 'b', 'a', 'c', 'a', 'b'];
    for (const [i, k] of keys.entries()) await driver.pipe('events', k, ev(`e${i}`, k));
    const out = driver.readOutput<string, number>('event-counts');
    expect(out.map((r) => `${r.key}=${r.value}`)).toEqual(['a=1', 'b=1', 'a=2', 'c=1', 'a=3', 'b=2']);
    const counts = driver.store<string, number>('counts');
    expect(await counts.get('a')).toBe(3);
    expect(await counts.get('b')).toBe(2);
    expect(await counts.get('zzz')).toBeUndefined();
    expect(await counts.approximateCount()).toBe(3);
  });

  it('sends undecodable bytes to the DLQ with the error and origin, and goes on counting', async () => {
    driver = await TopologyTestDriver.create(eventCounter());
    await driver.pipe('events', 'a', ev('1', 'a'));
    await driver.pipeRaw('events', Buffer.from('a'), Buffer.from('not avro'));
    await driver.pipe('events', 'a', ev('2', 'a'));
    const dead = driver.readDeadLetters();
    expect(dead).toHaveLength(1);
    expect(dead[0]!.value?.toString()).toBe('not avro');
    expect(dead[0]!.headers[DlqHeaders.errorCode]).toBe(ErrorCodes.WIRE_FORMAT);
    expect(dead[0]!.headers[DlqHeaders.topic]).toBe('events');
    expect(dead[0]!.headers[DlqHeaders.offset]).toBe('1');
    expect(dead[0]!.headers[DlqHeaders.component]).toBe('events');
    expect(await driver.store<string, number>('counts').get('a')).toBe(2);
  });

  it.each([
    ['an empty id (validation)', 'a', ev('', 'a'), ErrorCodes.RECORD_INVALID, /field id is empty/],
    ['a key that differs from the Kafka key (processing throws)', 'b', ev('x', 'a'), 'VEC_ERR_PROCESSING', /published under key 'b'/],
  ])('dead-letters %s without counting it', async (_label, key, value, code, message) => {
    driver = await TopologyTestDriver.create(eventCounter());
    await driver.pipe('events', key, value);
    const dead = driver.readDeadLetters();
    expect(dead).toHaveLength(1);
    expect(dead[0]!.headers[DlqHeaders.errorCode]).toBe(code);
    expect(dead[0]!.headers[DlqHeaders.errorMessage]).toMatch(message);
    expect(driver.readOutput('event-counts')).toEqual([]);
    expect(await driver.store<string, number>('counts').approximateCount()).toBe(0);
  });
});
