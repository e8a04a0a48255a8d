import { alsLoss, buildInteractions, trainAls } from '../../../eval/als';
import { FoldInModel, gramMatrix } from '../../../src/vectors/models/fold-in';
import { generateWorld } from '../../../src/vectors/synthetic/world';
import { evalEvent } from '../../../eval/data';

const world = generateWorld({ seed: 11, users: 80, entities: 300, clusters: 6, dims: 6, sessionsPerUser: 5 });
const events = world.events.map(evalEvent);
const OPTIONS = { factors: 8, lambda: 0.1, alpha: 10, iterations: 4, seed: 1 };

describe('implicit ALS', () => {
  it('aggregates net weights per pair, dropping negative nets unless asked to keep them', () => {
    const triples = [
      { userId: 'a', entityId: 'x', weight: 1 },
      { userId: 'a', entityId: 'x', weight: 0.5 },
      { userId: 'a', entityId: 'y', weight: -2 },
      { userId: 'b', entityId: 'y', weight: 1 },
      { userId: 'b', entityId: 'z', weight: 1 },
      { userId: 'b', entityId: 'z', weight: -1 },
    ];
    const pos = buildInteractions(triples, { negatives: false });
    expect(pos.users).toEqual(['a', 'b']);
    expect(pos.items).toEqual(['x', 'y', 'z']);
    expect([...pos.ptr]).toEqual([0, 1, 2]);
    expect([...pos.cols]).toEqual([0, 1]);
    expect([...pos.weights]).toEqual([1.5, 1]);
    const all = buildInteractions(triples, { negatives: true });
    expect([...all.cols]).toEqual([0, 1, 1]);
    expect([...all.weights]).toEqual([1.5, -2, 1]);
  });

  it('lowers the loss with every exact sweep', () => {
    const data = buildInteractions(events, { negatives: true });
    const losses = [1, 2, 4].map((iterations) => alsLoss(trainAls(data, { ...OPTIONS, iterations, solver: 'exact' })));
    expect(losses[1]!).toBeLessThan(losses[0]!);
    expect(losses[2]!).toBeLessThan(losses[1]!);
  });

  it('reaches nearly the loss of exact solves with conjugate-gradient steps', () => {
    const data = buildInteractions(events, { negatives: false });
    const exact = alsLoss(trainAls(data, { ...OPTIONS, iterations: 8, solver: 'exact' }));
    const cg = alsLoss(trainAls(data, { ...OPTIONS, iterations: 8, solver: 'cg' }));
    expect(Math.abs(cg - exact) / exact).toBeLessThan(0.02);
  });

  it("gives user factors equal to the product's fold-in over the same entity factors and interactions", () => {
    const data = buildInteractions(events, { negatives: true });
    const m = trainAls(data, OPTIONS);
    const d = m.factors;
    const y = Float32Array.from(m.itemFactors);
    // The fold-in solves against float32 entity vectors (a snapshot), the trainer in double: close, not equal.
    const foldIn = new FoldInModel({ gram: gramMatrix(y, data.items.length, d), lambda: OPTIONS.lambda, alpha: OPTIONS.alpha, maxEntities: 10_000 });
    for (const u of [0, 7, 42]) {
      let state = foldIn.empty();
      for (let k = data.ptr[u]!; k < data.ptr[u + 1]!; k++) {
        const i = data.cols[k]!;
        state = foldIn.update(state, { entityId: data.items[i]!, weight: data.weights[k]!, timestamp: k }, y.subarray(i * d, (i + 1) * d));
      }
      const x = foldIn.solve(state);
      const trained = m.userFactors.subarray(u * d, (u + 1) * d);
      const scale = Math.max(...trained.map(Math.abs));
      x.forEach((v, i) => expect(Math.abs(v - trained[i]!) / scale).toBeLessThan(1e-4));
    }
  });

  it('is deterministic for a seed', () => {
    const data = buildInteractions(events, { negatives: false });
    expect(trainAls(data, OPTIONS).itemFactors).toEqual(trainAls(data, OPTIONS).itemFactors);
    expect(trainAls(data, { ...OPTIONS, seed: 2 }).itemFactors).not.toEqual(trainAls(data, OPTIONS).itemFactors);
  });
});
