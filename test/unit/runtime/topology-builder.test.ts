import { Groupings, jsonSerde, StringSerde, TopologyBuilder, TopologyError, type Bolt } from '../../../src';

const noop = (): Bolt => ({ process() {} });
const json = jsonSerde<Record<string, unknown>>();

type Case = [string, (b: TopologyBuilder) => TopologyBuilder, RegExp];

const bad: Case[] = [
  ['no spout', (b) => b, /has no spout/],
  [
    'an unknown input',
    (b) => b.spout('s', { topic: 't', value: json }).bolt('b', noop, { inputs: [{ from: 'nope' }] }),
    /reads from 'nope', which is neither a spout nor a bolt/,
  ],
  [
    'an unknown stream',
    (b) => b.spout('s', { topic: 't', value: json }).bolt('b', noop, { inputs: [{ from: 's', stream: 'x' }] }),
    /stream 'x' of 's', which declares only: default/,
  ],
  [
    'a store that prefetches for an unknown spout',
    (b) =>
      b
        .spout('s', { topic: 't', value: json })
        .store('st', { key: StringSerde, value: json, prefetch: ['nope'] })
        .bolt('b', noop, { inputs: [{ from: 's' }], stores: ['st'] }),
    /store 'st' prefetches for 'nope', which is not a spout/,
  ],
  [
    'a store that prefetches for a spout with another key serde',
    (b) =>
      b
        .spout('s', { topic: 't', key: json, value: json })
        .store('st', { key: StringSerde, value: json, prefetch: ['s'] })
        .bolt('b', noop, { inputs: [{ from: 's' }], stores: ['st'] }),
    /store 'st' prefetches for spout 's', whose key serde is not the store's/,
  ],
  [
    'a store that prefetches for a spout no bolt using it reads',
    (b) =>
      b
        .spout('s', { topic: 't', value: json })
        .spout('other', { topic: 'u', value: json })
        .store('st', { key: StringSerde, value: json, prefetch: ['other'] })
        .bolt('b', noop, { inputs: [{ from: 's' }], stores: ['st'] })
        .bolt('c', noop, { inputs: [{ from: 'other' }] }),
    /store 'st' prefetches for spout 'other', but no bolt that uses the store reads that spout/,
  ],
  [
    'a missing store',
    (b) => b.spout('s', { topic: 't', value: json }).bolt('b', noop, { inputs: [{ from: 's' }], stores: ['st'] }),
    /uses store 'st', which is not declared/,
  ],
  [
    'a fields grouping on a topic keyed by another field',
    (b) => b.spout('s', { topic: 't', value: json, keyedBy: 'userId' }).bolt('b', noop, { inputs: [{ from: 's', grouping: Groupings.fields('entityId') }] }),
    /groups 's' by field 'entityId', but 's' is keyed by 'userId'.*repartition: true/,
  ],
  [
    'a fields grouping on a topic keyed by nothing declared',
    (b) => b.spout('s', { topic: 't', value: json }).bolt('b', noop, { inputs: [{ from: 's', grouping: Groupings.fields('userId') }] }),
    /not declared keyed by any field/,
  ],
  ['a duplicate name', (b) => b.spout('s', { topic: 't', value: json }).bolt('s', noop, { inputs: [{ from: 's' }] }), /name 's' is used twice/],
  ['a bad name', (b) => b.spout('s p', { topic: 't', value: json }), /may use only letters/],
  [
    'a cycle',
    (b) =>
      b
        .spout('s', { topic: 't', value: json })
        .bolt('a', noop, { inputs: [{ from: 's' }, { from: 'b' }] })
        .bolt('b', noop, { inputs: [{ from: 'a' }] }),
    /cycle: a -> b -> a|cycle: b -> a -> b/,
  ],
  [
    'all() from a bolt',
    (b) =>
      b
        .spout('s', { topic: 't', value: json })
        .bolt('a', noop, { inputs: [{ from: 's' }] })
        .bolt('b', noop, { inputs: [{ from: 'a', grouping: Groupings.all() }] }),
    /all\(\) is only supported on a spout/,
  ],
  [
    'an unread spout',
    (b) =>
      b
        .spout('s', { topic: 't', value: json })
        .spout('u', { topic: 'u', value: json })
        .bolt('a', noop, { inputs: [{ from: 's' }] }),
    /spout 'u' is read by no bolt or sink/,
  ],
  ['a sink from nowhere', (b) => b.spout('s', { topic: 't', value: json }).sink('k', { topic: 'o', from: 'zz', value: json }), /sink 'k' reads from 'zz'/],
  [
    'two spouts on one topic',
    (b) =>
      b
        .spout('s', { topic: 't', value: json })
        .spout('s2', { topic: 't', value: json })
        .sink('k', { topic: 'o', from: 's', value: json })
        .sink('k2', { topic: 'o2', from: 's2', value: json }),
    /read the same topic 't'/,
  ],
  [
    'a store shared across sub-topologies',
    (b) =>
      b
        .spout('s', { topic: 't', value: json, keyedBy: 'u' })
        .store('st', { key: StringSerde, value: json })
        .bolt('a', noop, { inputs: [{ from: 's' }], stores: ['st'] })
        .bolt('b', noop, { inputs: [{ from: 's', grouping: Groupings.fields('e', { repartition: true }) }], stores: ['st'] }),
    /store 'st' is used by bolts in different sub-topologies/,
  ],
];

describe('TopologyBuilder.build', () => {
  it.each(bad)('refuses %s with a clear message', (_label, define, message) => {
    let thrown: unknown;
    try {
      define(new TopologyBuilder('t1')).build();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(TopologyError);
    expect((thrown as Error).message).toMatch(/^topology 't1' is invalid: /);
    expect((thrown as Error).message).toMatch(message);
  });

  it.each([
    ['co-partitioned fields grouping', Groupings.fields('userId'), 1, 0],
    ['fields grouping by key', Groupings.fields('key'), 1, 0],
    ['shuffle grouping', Groupings.shuffle(), 1, 0],
    ['fields grouping with repartition', Groupings.fields('entityId', { repartition: true }), 2, 1],
    ['global grouping', Groupings.global(), 2, 1],
  ])('plans %s: %i sub-topologies, %i repartition topics', (_label, grouping, subs, reps) => {
    const t = new TopologyBuilder('plan')
      .spout('s', { topic: 'in', value: json, keyedBy: 'userId' })
      .bolt('b', noop, { inputs: [{ from: 's', grouping }] })
      .build();
    expect(t.subtopologies).toHaveLength(subs);
    expect(t.repartitions).toHaveLength(reps);
    if (reps) {
      expect(t.repartitions[0]!.topic).toBe('plan-b-s-default-repartition');
      expect(t.subtopologyOfTopic('plan-b-s-default-repartition')!.bolts).toEqual(['b']);
    }
  });

  it('puts co-partitioned inputs of one bolt in one sub-topology, with internal topic names', () => {
    const t = new TopologyBuilder('join')
      .spout('a', { topic: 'ta', value: json, keyedBy: 'u' })
      .spout('b', { topic: 'tb', value: json, keyedBy: 'u' })
      .store('st', { key: StringSerde, value: json })
      .bolt('j', noop, {
        inputs: [
          { from: 'a', grouping: Groupings.fields('u') },
          { from: 'b', grouping: Groupings.fields('u') },
        ],
        stores: ['st'],
      })
      .build();
    expect(t.subtopologies).toHaveLength(1);
    expect(t.subtopologies[0]!.sourceTopics.sort()).toEqual(['ta', 'tb']);
    expect(t.changelogTopic('st')).toBe('join-st-changelog');
    expect(t.dlqTopic).toBe('join-dlq');
  });

  it('names every internal topic from the application id, so two applications never share state', () => {
    const builder = new TopologyBuilder('t')
      .spout('in', { topic: 'events', value: json, keyedBy: 'u' })
      .store('st', { key: StringSerde, value: json })
      .bolt('b', noop, { inputs: [{ from: 'in', grouping: Groupings.fields('other', { repartition: true }) }], stores: ['st'] });
    const t = builder.build();
    const other = t.forApplication('other-app');
    expect(t.applicationId).toBe('t');
    expect(t.forApplication('t')).toBe(t);
    expect(other.name).toBe('t');
    expect(other.applicationId).toBe('other-app');
    expect(other.changelogTopic('st')).toBe('other-app-st-changelog');
    expect(other.dlqTopic).toBe('other-app-dlq');
    expect(other.repartitions.map((r) => r.topic)).toEqual(['other-app-b-in-default-repartition']);
    expect(other.subtopologies.flatMap((s) => s.sourceTopics)).toContain('other-app-b-in-default-repartition');
    expect(t.repartitions.map((r) => r.topic)).toEqual(['t-b-in-default-repartition']);
    // Later changes to the builder do not leak into a built topology's other applications.
    builder.store('late', { key: StringSerde, value: json });
    expect(t.forApplication('x').stores.has('late')).toBe(false);
    expect(() => t.forApplication('bad id')).toThrow(/application id 'bad id' may use only letters/);
  });
});
