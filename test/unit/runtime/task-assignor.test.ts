/** The sticky task assignor and the placement of standby replicas: pure functions every Kafka client shares. */
import { assignStandbys, assignTasks, type AssignorMember } from '../../../src/runtime/kafka/task-assignor';

const TASKS = ['0_0', '0_1', '0_2', '0_3', '0_4', '0_5'];

const member = (memberId: string, owned: string[] = [], standby: string[] = [], closed = false): AssignorMember => ({ memberId, owned, standby, closed });
const sorted = (ids: string[]) => [...ids].sort();

describe('assignTasks', () => {
  it('balances whole tasks and keeps each with its previous owner while it has room', () => {
    const load = assignTasks(TASKS, [member('m1', ['0_0', '0_1', '0_2', '0_3']), member('m2', ['0_4'])]);
    expect(load.get('m1')).toEqual(['0_0', '0_1', '0_2']);
    expect(sorted(load.get('m2')!)).toEqual(['0_3', '0_4', '0_5']);
  });

  it('gives a member that joins its share even when the others could keep all they had', () => {
    // 12 tasks, four members with three each, a fifth joins: the ceiling (3) would leave it none.
    const twelve = Array.from({ length: 12 }, (_, i) => `0_${i}`);
    const members = [0, 1, 2, 3].map((m) => member(`m${m}`, twelve.slice(m * 3, m * 3 + 3)));
    const load = assignTasks(twelve, [...members, member('m4')]);
    expect([...load.values()].map((ids) => ids.length)).toEqual([3, 3, 2, 2, 2]);
    expect(load.get('m0')).toEqual(['0_0', '0_1', '0_2']);
  });

  it('gives a task whose owner left to the member that kept it warm as a standby', () => {
    // The owner of 0_4 and 0_5 left. m2 kept 0_4 as a standby; m1 comes first among equally loaded members.
    const load = assignTasks(TASKS, [member('m1', ['0_0', '0_1']), member('m2', ['0_2', '0_3'], ['0_4'])]);
    expect(load.get('m1')).toEqual(['0_0', '0_1', '0_5']);
    expect(load.get('m2')).toEqual(['0_2', '0_3', '0_4']);
  });

  it('gives nothing to a closed member unless every member is closed', () => {
    const load = assignTasks(TASKS, [member('m1', TASKS, [], true), member('m2')]);
    expect(load.get('m1')).toEqual([]);
    expect(load.get('m2')).toEqual(TASKS);
  });
});

describe('assignStandbys', () => {
  const three = [member('m1'), member('m2'), member('m3')];
  const active = new Map([
    ['m1', ['0_0', '0_1']],
    ['m2', ['0_2', '0_3']],
    ['m3', ['0_4', '0_5']],
  ]);

  it('places each replica on another member than the owner, balanced', () => {
    const standby = assignStandbys(active, three, 1);
    for (const [m, ids] of standby) {
      expect(ids).toHaveLength(2);
      for (const t of ids) expect(active.get(m)).not.toContain(t);
    }
    expect(sorted([...standby.values()].flat())).toEqual(TASKS);
  });

  it('places two replicas of each task on the two other members', () => {
    const standby = assignStandbys(active, three, 2);
    for (const t of TASKS) {
      const holders = [...standby].filter(([, ids]) => ids.includes(t)).map(([m]) => m);
      const owner = [...active].find(([, ids]) => ids.includes(t))![0];
      expect(sorted(holders)).toEqual(['m1', 'm2', 'm3'].filter((m) => m !== owner));
    }
  });

  it('keeps a replica where its state is warm: a previous standby, or the task’s previous owner', () => {
    const members = [member('m1', [], ['0_4', '0_5']), member('m2', ['0_0']), member('m3')];
    const standby = assignStandbys(active, members, 1);
    expect(standby.get('m1')).toEqual(['0_4', '0_5']);
    // m2 owned 0_0 before, which is active on m1 now: its copy stays on m2.
    expect(standby.get('m2')).toContain('0_0');
  });

  it('places fewer replicas when there are too few other members, none with a single member, none on a closed one', () => {
    expect(assignStandbys(new Map([['m1', TASKS]]), [member('m1')], 1).get('m1')).toEqual([]);
    const two = assignStandbys(
      new Map([
        ['m1', ['0_0', '0_1', '0_2']],
        ['m2', ['0_3', '0_4', '0_5']],
      ]),
      [member('m1'), member('m2')],
      3,
    );
    expect(two.get('m1')).toEqual(['0_3', '0_4', '0_5']);
    expect(two.get('m2')).toEqual(['0_0', '0_1', '0_2']);
    const closed = assignStandbys(new Map([['m1', TASKS]]), [member('m1'), member('m2', [], [], true)], 1);
    expect(closed.get('m2')).toEqual([]);
  });

  it('keeps its rules on random groups: never on the owner, never twice, every copy placed, balanced within one', () => {
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pick = <T>(xs: T[], n: number) => xs.filter(() => random() < n);
    for (let round = 0; round < 300; round++) {
      const n = 1 + Math.floor(random() * 5);
      const tasks = Array.from({ length: 1 + Math.floor(random() * 24) }, (_, i) => `0_${i}`);
      const members = Array.from({ length: n }, (_, i) => member(`m${i}`, pick(tasks, 0.3), pick(tasks, 0.3), n > 1 && random() < 0.15));
      const replicas = Math.floor(random() * 3);
      const load = assignTasks(tasks, members);
      const standby = assignStandbys(load, members, replicas);
      const open = members.filter((m) => !m.closed).map((m) => m.memberId);
      const copies = open.length > 1 && load.size ? Math.min(replicas, open.length - 1) : 0;
      for (const t of tasks) {
        const holders = [...standby].filter(([, ids]) => ids.includes(t)).map(([m]) => m);
        const owner = [...load].find(([, ids]) => ids.includes(t))![0];
        expect(holders).not.toContain(owner);
        expect(new Set(holders).size).toBe(holders.length);
        expect(holders.length).toBe(open.includes(owner) ? copies : Math.min(copies, open.length));
      }
      for (const m of members.filter((x) => x.closed)) expect(standby.get(m.memberId)).toEqual([]);
      const actives = (open.length ? open : members.map((m) => m.memberId)).map((id) => load.get(id)!.length);
      expect(Math.max(...actives) - Math.min(...actives)).toBeLessThanOrEqual(1);
      const sizes = open.map((id) => standby.get(id)!.length);
      if (sizes.length) expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
  });

  it('places none without replicas configured', () => {
    expect([...assignStandbys(active, three, 0).values()].flat()).toEqual([]);
  });
});
