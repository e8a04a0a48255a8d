import { ConfigError } from '../../../src/errors';
import { catalogOptions } from '../../../src/cli/model-options';

describe('vectors run --opt: model and index settings', () => {
  it('maps every model parameter to the catalog options', () => {
    expect(
      catalogOptions({
        model: 'fold-in',
        index: 'exact',
        'tau-ms': '86400000',
        'fold-in-lambda': '0.05',
        'fold-in-alpha': '0',
        'fold-in-max-entities': '250',
        'prior-weight': '0.5',
        'lifetime-variant': 'anchored',
        unrelated: 'x',
      }),
    ).toEqual({
      model: 'fold-in',
      index: 'exact',
      tauMs: 86_400_000,
      foldIn: { lambda: 0.05, alpha: 0, maxEntities: 250 },
      lifetime: { priorWeight: 0.5, variant: 'anchored' },
    });
  });

  it('sets nothing that is not given (the defaults apply)', () => {
    expect(catalogOptions({})).toEqual({});
    // A process that never searches gets the exact index unless told otherwise; one that searches keeps the default (HNSW).
    expect(catalogOptions({}, { searches: false })).toEqual({ index: 'exact' });
    expect(catalogOptions({ index: 'hnsw' }, { searches: false })).toEqual({ index: 'hnsw' });
    expect(catalogOptions({}, { searches: true })).toEqual({});
  });

  it.each([
    [{ model: 'lifetime' }, "--opt model must be one of decayed, fold-in, got 'lifetime'"],
    [{ 'tau-ms': '0' }, "--opt tau-ms must be a positive number, got '0'"],
    [{ 'fold-in-lambda': 'abc' }, "--opt fold-in-lambda must be a positive number, got 'abc'"],
    [{ 'fold-in-alpha': '-1' }, "--opt fold-in-alpha must be a number ≥ 0, got '-1'"],
    [{ 'fold-in-max-entities': '2.5' }, "--opt fold-in-max-entities must be a positive integer, got '2.5'"],
    [{ 'prior-weight': '' }, "--opt prior-weight must be a positive number, got ''"],
    [{ 'lifetime-variant': 'both' }, "--opt lifetime-variant must be one of ridge, anchored, got 'both'"],
    [{ index: 'faiss' }, "--opt index must be one of hnsw, exact, got 'faiss'"],
  ])('refuses %j, naming the option and what it takes', (opts, message) => {
    expect(() => catalogOptions(opts as Record<string, string>)).toThrow(ConfigError);
    expect(() => catalogOptions(opts as Record<string, string>)).toThrow(message);
  });
});
