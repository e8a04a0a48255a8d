import { ConfigError, SnapshotValidationError } from '../../../../src/errors';
import { buildManifest, parseManifest, type ManifestInput } from '../../../../src/vectors/snapshot/manifest';

const checksum = 'ab'.repeat(32);
const input: ManifestInput = { snapshotId: 'als-2024.06.01_v2', model: 'implicit-als', dims: 128, count: 1_000_000, checksum };

describe('buildManifest', () => {
  it('stores params as strings and createdAt as epoch millis', () => {
    const m = buildManifest({ ...input, createdAt: new Date(1_700_000_000_000), params: { lambda: 0.1, alpha: 40, nonneg: false, solver: 'cg' } });
    expect(m).toEqual({
      ...input,
      createdAt: 1_700_000_000_000,
      params: { lambda: '0.1', alpha: '40', nonneg: 'false', solver: 'cg' },
      cutoff: null,
      users: null,
    });
  });

  it('carries the training cut-off and the user factors of each partition', () => {
    const users = { count: 5, partitions: 2, counts: [2, 3], checksums: ['a'.repeat(64), 'b'.repeat(64)] };
    const m = buildManifest({ ...input, cutoff: new Date(1_600_000_000_000), users });
    expect(m).toMatchObject({ cutoff: 1_600_000_000_000, users });
  });

  it.each([
    [{ count: 4, partitions: 2, counts: [2, 3], checksums: ['a'.repeat(64), 'b'.repeat(64)] }, 'users.count must be the sum of users.counts'],
    [{ count: 2, partitions: 2, counts: [2], checksums: ['a'.repeat(64)] }, 'one entry per partition'],
    [{ count: 2, partitions: 1, counts: [2], checksums: ['xyz'] }, 'users.checksums must be 64 lowercase hex'],
    [{ count: -1, partitions: 1, counts: [-1], checksums: ['a'.repeat(64)] }, 'users.counts must be non-negative'],
  ])('refuses user factors %j, saying why', (users, message) => {
    expect(() => buildManifest({ ...input, users })).toThrow(message);
  });

  it('defaults createdAt to now', () => {
    const before = Date.now();
    const m = buildManifest(input);
    expect(m.createdAt).toBeGreaterThanOrEqual(before);
    expect(m.createdAt).toBeLessThanOrEqual(Date.now());
  });

  it.each(['a', 'A-z_0.9', 'x'.repeat(100)])('accepts snapshot id %p', (snapshotId) => {
    expect(buildManifest({ ...input, snapshotId }).snapshotId).toBe(snapshotId);
  });

  it.each(['', 'with space', 'a/b', 'entity:vectors', 'ünïcode', 'x'.repeat(101)])('refuses snapshot id %p, saying why', (snapshotId) => {
    expect(() => buildManifest({ ...input, snapshotId })).toThrow(ConfigError);
    expect(() => buildManifest({ ...input, snapshotId })).toThrow('it becomes the topic name entity-vectors.<snapshotId>');
  });

  it.each<[string, Partial<ManifestInput>, string]>([
    ['dims 0', { dims: 0 }, 'dims must be an integer from 1 to 65536, got 0'],
    ['fractional dims', { dims: 1.5 }, 'got 1.5'],
    ['count 0', { count: 0 }, 'count must be a positive integer, got 0'],
    ['a checksum that is not hex', { checksum: 'sha256:abc' }, 'checksum must be 64 lowercase hex'],
    ['an empty model', { model: ' ' }, 'model must be a non-empty string'],
    ['a non-finite param', { params: { lambda: Number.NaN } }, 'params.lambda must be finite'],
  ])('refuses %s', (_label, change, message) => {
    expect(() => buildManifest({ ...input, ...change })).toThrow(message);
  });
});

describe('parseManifest', () => {
  const valid = buildManifest({ ...input, createdAt: 1, params: { lambda: '0.1' } });

  it('accepts a manifest that went through JSON, and returns a copy', () => {
    const parsed = parseManifest(JSON.parse(JSON.stringify(valid)));
    expect(parsed).toEqual(valid);
    expect(parsed.params).not.toBe(valid.params);
  });

  it('lowercases the checksum, takes a Date and defaults missing params', () => {
    const { params: _params, ...rest } = valid;
    const parsed = parseManifest({ ...rest, checksum: checksum.toUpperCase(), createdAt: new Date(5) });
    expect(parsed).toEqual({ ...valid, createdAt: 5, params: {} });
  });

  it('lists every wrong field at once, naming the snapshot', () => {
    let thrown: unknown;
    try {
      parseManifest({ ...valid, dims: '128', count: -3, createdAt: 'yesterday', params: { lambda: 0.1 } });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(SnapshotValidationError);
    const message = (thrown as Error).message;
    expect(message).toContain(`snapshot '${valid.snapshotId}' is invalid`);
    for (const fragment of ['dims must be', 'count must be', 'createdAt must be', 'params.lambda must be a string']) {
      expect(message).toContain(fragment);
    }
  });

  it.each([null, 'manifest', [valid]])('refuses %p, which is not an object', (value) => {
    expect(() => parseManifest(value)).toThrow(SnapshotValidationError);
  });
});
