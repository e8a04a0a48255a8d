import { ErrorCodes, IllegalTransitionError } from '../../../../src/errors';
import { EVENTS, type LifecycleEvent, nextPhase, type Phase, PHASES, transition } from '../../../../src/vectors/doorman/lifecycle';

const legal: [Phase, LifecycleEvent, Phase][] = [
  ['STAGED', 'activate', 'ACTIVE'],
  ['STAGED', 'abort', 'FAILED'],
  ['ACTIVE', 'supersede', 'READY'],
  ['ACTIVE', 'rollback', 'ROLLED_BACK'],
  ['READY', 'reinstate', 'ACTIVE'],
  ['READY', 'retire', 'RETIRED'],
  ['FAILED', 'retire', 'RETIRED'],
  ['ROLLED_BACK', 'retire', 'RETIRED'],
  ['ROLLED_BACK', 'restage', 'STAGED'],
];

const illegal = PHASES.flatMap((p) => EVENTS.map((e) => [p, e] as [Phase, LifecycleEvent])).filter(([p, e]) => !legal.some(([lp, le]) => lp === p && le === e));

describe('snapshot lifecycle', () => {
  it.each(legal)('%s --%s--> %s', (from, event, to) => {
    expect(transition('s1', from, event)).toBe(to);
  });

  it(`rejects the other ${illegal.length} phase/event pairs`, () => {
    expect(illegal.length).toBe(PHASES.length * EVENTS.length - legal.length);
  });

  it.each(illegal)('rejects %s --%s', (from, event) => {
    expect(nextPhase(from, event)).toBeUndefined();
    let thrown: unknown;
    try {
      transition('s1', from, event);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(IllegalTransitionError);
    expect(thrown).toMatchObject({ code: ErrorCodes.ILLEGAL_TRANSITION });
    expect((thrown as Error).message).toBe(`snapshot 's1': '${event}' is not allowed in phase ${from}`);
  });

  it('has no way out of RETIRED', () => {
    expect(EVENTS.map((e) => nextPhase('RETIRED', e)).filter(Boolean)).toEqual([]);
  });
});
