import { InvalidArgumentError } from 'commander';
import { editDistance, instant, keyValue, listenAddress, positiveInt, snapshotId, suggest } from '../../../src/cli/common';

describe('CLI option parsers', () => {
  it('--opt key=value collects repeated options; a later key wins; the value may hold "="', () => {
    let o = keyValue('lambda=0.1', undefined);
    o = keyValue('alpha=40', o);
    o = keyValue('filter=a=b', o);
    o = keyValue('lambda=0.2', o);
    expect(o).toEqual({ lambda: '0.2', alpha: '40', filter: 'a=b' });
    expect(keyValue('empty=', undefined)).toEqual({ empty: '' });
  });

  it.each([['name'], ['=value'], ['']])('--opt %j is refused', (raw) => {
    expect(() => keyValue(raw, undefined)).toThrow(InvalidArgumentError);
  });

  it.each([
    ['12', 12],
    ['1', 1],
  ])('positive integer %s', (raw, n) => expect(positiveInt(raw)).toBe(n));

  it.each([['0'], ['-3'], ['1.5'], ['twelve'], [''], [' ']])('not a positive integer: %j', (raw) => {
    expect(() => positiveInt(raw)).toThrow('expected a positive integer');
  });

  it('listen addresses: HOST:PORT or PORT on 127.0.0.1', () => {
    expect(listenAddress('0.0.0.0:8090')).toEqual({ host: '0.0.0.0', port: 8090 });
    expect(listenAddress('9101')).toEqual({ host: '127.0.0.1', port: 9101 });
    for (const bad of ['localhost', ':0', '70000', 'host:port']) expect(() => listenAddress(bad)).toThrow('HOST:PORT or PORT');
  });

  it('cut-off times: ISO-8601 or epoch ms', () => {
    expect(instant('2024-06-01T00:00:00Z')).toBe(Date.UTC(2024, 5, 1));
    expect(instant('1717200000000')).toBe(1717200000000);
    expect(() => instant('yesterday')).toThrow('ISO-8601');
  });

  it('snapshot ids become topic names: other characters are refused', () => {
    expect(snapshotId('s-2024.06_01')).toBe('s-2024.06_01');
    for (const bad of ['a b', 'a/b', '', 'x'.repeat(101)]) expect(() => snapshotId(bad)).toThrow('A-Z a-z 0-9 . _ -');
  });
});

describe('"did you mean"', () => {
  const commands = ['provision', 'run', 'publish', 'status', 'activate-when-ready', 'rollback', 'retire'];

  it('counts a swap of neighbours as one edit', () => {
    expect(editDistance('pubilsh', 'publish')).toBe(1);
    expect(editDistance('', 'run')).toBe(3);
  });

  it.each([
    ['pubish', ['publish']],
    ['stauts', ['status']],
    ['retrie', ['retire']],
    ['activate', ['activate-when-ready']],
    ['rollbak', ['rollback']],
  ])('%s → %j', (word, expected) => expect(suggest(word, commands)).toEqual(expected));

  it.each([['frobnicate'], ['deploy'], ['x']])('nothing close to %s', (word) => expect(suggest(word, commands)).toEqual([]));
});

describe('suggest: the ends of topic names', () => {
  it('offers a name that ends with the word after a - or a . (the candidates topic for "candidates")', () => {
    expect(suggest('candidates', ['recommendation-candidates', 'candidate-requests', 'listens'])).toEqual(['recommendation-candidates']);
    expect(suggest('s1', ['entity-vectors.s1'])).toEqual([]); // too short to guess from its end
  });
});
