import {
  DlqHeaders,
  Groupings,
  jsonSerde,
  StringSerde,
  TopologyBuilder,
  TopologyTestDriver,
  type Bolt,
  type BoltContext,
  type PreparedSerde,
} from '../../../src';
import { RetriableInputError } from '../../../src/runtime/task';

type Ev = { userId: string; entityId: string; n?: number };
const json = jsonSerde<Ev>();
const countJson = jsonSerde<number>();

/** Counts per entity; throws for entity 'boom' after writing, to test the savepoint. */
class EntityCount implements Bolt<string, Ev> {
  async process(r: { value: Ev }, ctx: BoltContext) {
    const s = ctx.store<string, number>('per-entity');
    const n = ((await s.get(r.value.entityId)) ?? 0) + 1;
    s.put(r.value.entityId, n);
    ctx.emit(r.value.entityId, n);
    if (r.value.entityId === 'boom') throw new Error('bolt failed on purpose');
  }
}

function repartitioned() {
  return new TopologyBuilder('rep')
    .spout('listens', { topic: 'listens', value: json, keyedBy: 'userId' })
    .store('per-entity', { key: StringSerde, value: countJson })
    .bolt('by-entity', () => new EntityCount(), {
      inputs: [{ from: 'listens', grouping: Groupings.fields('entityId', { repartition: true }) }],
      stores: ['per-entity'],
    })
    .sink('out', { topic: 'entity-counts', from: 'by-entity', value: countJson })
    .build();
}

describe('task semantics through the test driver', () => {
  let driver: TopologyTestDriver;
  afterEach(async () => driver?.close());

  it('routes a fields grouping on another field through the repartition topic, so counts are per entity across users', async () => {
    driver = await TopologyTestDriver.create(repartitioned(), { partitions: 3 });
    for (const [u, e] of [
      ['u1', 'x'],
      ['u2', 'x'],
      ['u3', 'y'],
      ['u4', 'x'],
    ])
      await driver.pipe('listens', u, { userId: u, entityId: e });
    expect(driver.readOutput<string, number>('entity-counts').map((r) => `${r.key}=${r.value}`)).toEqual(['x=1', 'x=2', 'y=1', 'x=3']);
  });

  it('undoes the store writes and emits of a record whose processing throws, and dead-letters it', async () => {
    driver = await TopologyTestDriver.create(repartitioned());
    await driver.pipe('listens', 'u1', { userId: 'u1', entityId: 'boom' });
    await driver.pipe('listens', 'u1', { userId: 'u1', entityId: 'ok' });
    expect(await driver.store<string, number>('per-entity').get('boom')).toBeUndefined();
    expect(driver.readOutput<string, number>('entity-counts').map((r) => r.key)).toEqual(['ok']);
    const dead = driver.readDeadLetters();
    expect(dead).toHaveLength(1);
    expect(dead[0]!.headers[DlqHeaders.errorMessage]).toBe('bolt failed on purpose');
    expect(dead[0]!.headers[DlqHeaders.component]).toBe('by-entity');
  });

  it('undoes a failed record’s changes to a state object the bolt changed in place: later records never see them', async () => {
    type Seen = { n: number; ids: string[] };
    const seenJson = jsonSerde<Seen>();
    // As the user-state bolt does: get the object, change it, put it back, then emit (which may fail).
    const t = new TopologyBuilder('in-place')
      .spout('s', { topic: 'in', value: json })
      .store('seen', { key: StringSerde, value: seenJson })
      .bolt(
        'b',
        () => ({
          async process(r: { value: Ev }, ctx: BoltContext) {
            const store = ctx.store<string, Seen>('seen');
            const state = (await store.get(r.value.userId)) ?? { n: 0, ids: [] };
            state.n++;
            state.ids.push(r.value.entityId);
            store.put(r.value.userId, state);
            if (r.value.entityId === 'boom') throw new Error('bolt failed on purpose');
            ctx.emit(r.value.userId, { ...state, ids: [...state.ids] });
          },
        }),
        { inputs: [{ from: 's' }], stores: ['seen'] },
      )
      .sink('out', { topic: 'seen-out', from: 'b', value: seenJson })
      .build();
    driver = await TopologyTestDriver.create(t);
    for (const e of ['a', 'boom', 'c']) await driver.pipe('in', 'u1', { userId: 'u1', entityId: e });
    expect(driver.readDeadLetters()).toHaveLength(1);
    expect(driver.readOutput<string, Seen>('seen-out').map((r) => r.value)).toEqual([
      { n: 1, ids: ['a'] },
      { n: 2, ids: ['a', 'c'] },
    ]);
    expect(await driver.store<string, Seen>('seen').get('u1')).toEqual({ n: 2, ids: ['a', 'c'] });
  });

  it('dead-letters an emit on an undeclared stream instead of stopping', async () => {
    const t = new TopologyBuilder('streams')
      .spout('s', { topic: 'in', value: json })
      .bolt('b', () => ({ process: (_r: unknown, ctx: BoltContext) => ctx.emit('k', 1, { stream: 'nope' }) }), { inputs: [{ from: 's' }] })
      .build();
    driver = await TopologyTestDriver.create(t);
    await driver.pipe('in', 'k', { userId: 'u', entityId: 'e' });
    expect(driver.readDeadLetters()[0]!.headers[DlqHeaders.errorMessage]).toMatch(/stream 'nope', which is not in its outputs \(default\)/);
  });

  it('gives every task each record of a broadcast (all) spout', async () => {
    const seen: string[] = [];
    const t = new TopologyBuilder('bc')
      .spout('events', { topic: 'events', value: json, keyedBy: 'userId' })
      .spout('control', { topic: 'control', value: json })
      .bolt(
        'w',
        () => ({
          process: (r: { value: Ev; source: { component: string } }, ctx: BoltContext) =>
            void (r.source.component === 'control' && seen.push(`${ctx.partition}:${r.value.entityId}`)),
        }),
        {
          inputs: [
            { from: 'events', grouping: Groupings.fields('userId') },
            { from: 'control', grouping: Groupings.all() },
          ],
        },
      )
      .build();
    driver = await TopologyTestDriver.create(t, { partitions: { events: 3 } });
    await driver.pipe('control', null, { userId: '-', entityId: 'go' });
    expect(seen.sort()).toEqual(['0:go', '1:go', '2:go']);
  });

  it('fires wall-clock punctuators when time advances, and event-time ones as record time passes', async () => {
    const fired: string[] = [];
    const t = new TopologyBuilder('punct')
      .spout('s', { topic: 'in', value: json })
      .bolt(
        'b',
        () => ({
          init(ctx: BoltContext) {
            ctx.schedule(1000, 'wall-clock', (ts) => void fired.push(`wall@${ts}`));
            ctx.schedule(500, 'event-time', (ts) => void fired.push(`event@${ts}`));
          },
          process() {},
        }),
        { inputs: [{ from: 's' }] },
      )
      .build();
    driver = await TopologyTestDriver.create(t, { startTime: 0 });
    await driver.advanceWallClockTime(999);
    expect(fired).toEqual([]);
    await driver.advanceWallClockTime(1);
    await driver.pipe('in', 'k', { userId: 'u', entityId: 'e' }, { timestamp: 200 });
    await driver.pipe('in', 'k', { userId: 'u', entityId: 'e' }, { timestamp: 700 });
    expect(fired).toEqual(['wall@1000', 'event@700']);
  });

  it("routes a bolt's emits in the order given, through sinks and further bolts, whatever the mix", async () => {
    // 'a' emits to bolt 'b' and to the sink, then once more to 'b'; 'b' emits to the sink: one output topic shows the order.
    const t = new TopologyBuilder('chain')
      .spout('s', { topic: 'in', value: json })
      .bolt(
        'a',
        () => ({
          process: (r: { value: Ev }, ctx: BoltContext) => {
            ctx.emit('k', `${r.value.entityId}:to-b-1`, { stream: 'to-b' });
            ctx.emit('k', `${r.value.entityId}:direct`);
            ctx.emit('k', `${r.value.entityId}:to-b-2`, { stream: 'to-b' });
          },
        }),
        { inputs: [{ from: 's' }], outputs: { default: {}, 'to-b': {} } },
      )
      .bolt(
        'b',
        () => ({
          // Emits after an await, as a bolt reading a store does: the drain must wait for it.
          process: async (r: { value: string }, ctx: BoltContext) => {
            await new Promise((resolve) => setImmediate(resolve));
            ctx.emit('k', `${r.value}>b`);
          },
        }),
        { inputs: [{ from: 'a', stream: 'to-b' }] },
      )
      .sink('out-a', { topic: 'out', from: 'a', value: StringSerde })
      .sink('out-b', { topic: 'out', from: 'b', value: StringSerde })
      .build();
    driver = await TopologyTestDriver.create(t);
    await driver.pipe('in', 'u', { userId: 'u', entityId: 'e1' });
    await driver.pipe('in', 'u', { userId: 'u', entityId: 'e2' });
    expect(driver.readOutput<string, string>('out').map((r) => r.value)).toEqual([
      'e1:direct',
      'e1:to-b-1>b',
      'e1:to-b-2>b',
      'e2:direct',
      'e2:to-b-1>b',
      'e2:to-b-2>b',
    ]);
  });

  /** A serde that knows no schema until prepareFor fetched it; `fail` makes that fetch fail as a registry outage does. */
  function fetchingSerde(o: { fail: boolean }): PreparedSerde<Ev> & { fetches: number } {
    let known = false;
    const serde = {
      fetches: 0,
      serialize: (v: Ev) => json.serialize(v),
      deserialize(data: Buffer): Ev {
        if (!known) throw Object.assign(new Error('writer schema not fetched yet'), { retriable: true, code: 'VEC_ERR_SCHEMA_REGISTRY' });
        return json.deserialize(data);
      },
      prepare: async () => undefined,
      async prepareFor() {
        serde.fetches++;
        if (o.fail) throw Object.assign(new Error('registry unavailable'), { retriable: true, code: 'VEC_ERR_SCHEMA_REGISTRY' });
        known = true;
      },
    };
    return serde;
  }

  function fetchingTopology(serde: PreparedSerde<Ev>) {
    return new TopologyBuilder('fetching')
      .spout('s', { topic: 'in', value: serde })
      .bolt('echo', () => ({ process: (r: { value: Ev }, ctx: BoltContext) => ctx.emit(r.value.userId, r.value.entityId) }), { inputs: [{ from: 's' }] })
      .sink('out', { topic: 'out', from: 'echo', value: StringSerde })
      .build();
  }

  it('decodes a record whose writer schema must be fetched first, once fetched, and dead-letters nothing', async () => {
    const serde = fetchingSerde({ fail: false });
    driver = await TopologyTestDriver.create(fetchingTopology(serde));
    await driver.pipeRaw('in', null, json.serialize({ userId: 'u1', entityId: 'e1' }));
    await driver.pipeRaw('in', null, json.serialize({ userId: 'u2', entityId: 'e2' }));
    expect(driver.readOutput<string, string>('out').map((r) => `${r.key}=${r.value}`)).toEqual(['u1=e1', 'u2=e2']);
    expect(serde.fetches).toBe(1);
    expect(driver.readDeadLetters()).toEqual([]);
  });

  it('leaves a record to be retried, not dead-lettered, when its writer schema cannot be fetched', async () => {
    const serde = fetchingSerde({ fail: true });
    driver = await TopologyTestDriver.create(fetchingTopology(serde));
    const piped = driver.pipeRaw('in', null, json.serialize({ userId: 'u1', entityId: 'e1' }));
    await expect(piped).rejects.toBeInstanceOf(RetriableInputError);
    await expect(piped).rejects.toThrow(/registry unavailable/);
    expect(driver.readOutput('out')).toEqual([]);
    expect(driver.readDeadLetters()).toEqual([]);
  });
});
