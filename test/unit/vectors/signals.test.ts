import { ConfigError, RecordValidationError } from '../../../src/errors';
import type { FeedbackEvent, FeedbackKind, ListenEvent } from '../../../src/vectors/records';
import { DEFAULT_SIGNAL_WEIGHTS, interactionOf, signalWeights, type SignalWeights } from '../../../src/vectors/signals';

const T = 1_700_000_000_000;

const listen = (msPlayed: number, durationMs = 200_000): ListenEvent => ({
  eventId: 'l1',
  userId: 'u1',
  entityId: 'track:1',
  msPlayed,
  durationMs,
  context: 'playlist',
  timestamp: T,
});

const feedback = (kind: FeedbackKind): FeedbackEvent => ({
  eventId: 'f1',
  userId: 'u1',
  entityId: 'track:1',
  kind,
  surface: 'app',
  timestamp: T,
});

describe('interactionOf with the default weights', () => {
  it.each<[string, ListenEvent | FeedbackEvent, number | undefined]>([
    ['a complete listen', listen(200_000), 1.0],
    ['a listen at exactly the full-listen completion', listen(160_000), 1.0],
    ['a listen longer than the track (replay, seek)', listen(450_000), 1.0],
    ['a half play', listen(100_000), 0.25],
    ['a play just under the full-listen completion', listen(159_999), 0.5 * (159_999 / 200_000)],
    ['a play at exactly the skip completion', listen(20_000), 0.05],
    ['a play just under the skip completion (a skip)', listen(19_999), -0.5],
    ['a listen of 0 ms (a skip)', listen(0), -0.5],
    ['LIKE', feedback('LIKE'), 2.0],
    ['DISLIKE', feedback('DISLIKE'), -2.0],
    ['UNLIKE (cancels one like)', feedback('UNLIKE'), -2.0],
    ['SKIP feedback, same as a skip by listening', feedback('SKIP'), -0.5],
    ['BAN (an exclusion, no weight)', feedback('BAN'), undefined],
    ['UNBAN (an exclusion, no weight)', feedback('UNBAN'), undefined],
  ])('%s', (_label, event, weight) => {
    const interaction = interactionOf(event);
    if (weight === undefined) {
      expect(interaction).toBeUndefined();
    } else {
      expect(interaction).toEqual({ entityId: 'track:1', weight: expect.closeTo(weight, 12), timestamp: T });
    }
  });
});

describe('interactionOf with custom weights', () => {
  const custom = signalWeights({ fullListenCompletion: 0.5, skipCompletion: 0, partialPlay: 0, like: 3, unlike: -1 });

  it.each<[string, ListenEvent | FeedbackEvent, number | undefined]>([
    ['a half play is now full', listen(100_000), 1.0],
    ['a short play weighs partialPlay 0: no interaction', listen(10_000), undefined],
    ['a play of 0 ms is no skip with skipCompletion 0', listen(0), undefined],
    ['LIKE', feedback('LIKE'), 3],
    ['UNLIKE', feedback('UNLIKE'), -1],
  ])('%s', (_label, event, weight) => {
    expect(interactionOf(event, custom)?.weight).toBe(weight);
  });
});

describe('bad events go to the dead-letter topic', () => {
  it.each<[string, ListenEvent | FeedbackEvent, RegExp]>([
    ['a listen of zero duration', listen(10, 0), /topic 'listens'.*'l1': durationMs must be > 0/],
    ['a listen of NaN duration', listen(10, NaN), /durationMs must be > 0/],
    ['a negative msPlayed', listen(-1), /msPlayed must be ≥ 0, got -1/],
    ['an unknown feedback kind', feedback('SUPERLIKE' as FeedbackKind), /topic 'feedback'.*unknown feedback kind 'SUPERLIKE'/],
    ['a NaN timestamp', { ...feedback('LIKE'), timestamp: NaN }, /timestamp must be a finite number/],
  ])('%s', (_label, event, message) => {
    expect(() => interactionOf(event)).toThrow(RecordValidationError);
    expect(() => interactionOf(event)).toThrow(message);
  });
});

describe('signalWeights', () => {
  it('defaults to the documented weights, frozen', () => {
    const w = signalWeights();
    expect(w).toEqual(DEFAULT_SIGNAL_WEIGHTS);
    expect(Object.isFrozen(w)).toBe(true);
  });

  it.each<[keyof SignalWeights, number]>([
    ['fullListen', 0],
    ['fullListen', -1],
    ['fullListenCompletion', 0],
    ['fullListenCompletion', 1.5],
    ['partialPlay', -0.1],
    ['skipCompletion', -0.1],
    ['skipCompletion', 0.8],
    ['skip', 0],
    ['skip', 0.5],
    ['like', -2],
    ['like', Infinity],
    ['dislike', 0],
    ['dislike', 2],
    ['unlike', 0],
    ['unlike', NaN],
  ])("refuses '%s' = %p with a message naming the field", (field, value) => {
    const run = () => signalWeights({ [field]: value });
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(new RegExp(`^signal weight '${field}' must be .*, got ${String(value)}$`));
  });

  it('refuses a value that is not a number', () => {
    expect(() => signalWeights({ like: '2' as unknown as number })).toThrow("signal weight 'like' must be a number > 0, got 2");
  });

  it('checks skipCompletion against the overridden fullListenCompletion', () => {
    expect(() => signalWeights({ fullListenCompletion: 0.3, skipCompletion: 0.3 })).toThrow(/'skipCompletion' must be a number in \[0, fullListenCompletion\)/);
    expect(signalWeights({ fullListenCompletion: 0.3, skipCompletion: 0.29 }).skipCompletion).toBe(0.29);
  });
});
