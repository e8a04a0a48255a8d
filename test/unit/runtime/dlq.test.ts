import { createHash } from 'node:crypto';
import { deadLetter, DlqHeaders } from '../../../src/runtime/dlq';
import type { IncomingRecord } from '../../../src/runtime/kafka/client';

const record = (value: Buffer | null, headers: Record<string, Buffer> = {}, key: Buffer | null = Buffer.from('k')): IncomingRecord => ({
  topic: 'events',
  partition: 3,
  offset: '42',
  key,
  value,
  headers,
  timestamp: 1,
});

/** Bytes a record takes at most, as the broker would count them (a generous bound). */
const weight = (r: ReturnType<typeof deadLetter>) =>
  (r.key?.length ?? 0) + (r.value?.length ?? 0) + Object.entries(r.headers ?? {}).reduce((n, [k, v]) => n + k.length + Buffer.byteLength(v) + 16, 64);

describe('deadLetter', () => {
  it('keeps a record that fits untouched, with its origin in headers', () => {
    const value = Buffer.from('poison');
    const d = deadLetter('app-dlq', 'app', 'spout', record(value, { trace: Buffer.from('t1') }), new Error('bad'));
    expect(d.value).toEqual(value);
    expect(d.headers).toMatchObject({ trace: Buffer.from('t1'), [DlqHeaders.topic]: 'events', [DlqHeaders.partition]: '3', [DlqHeaders.offset]: '42' });
    expect(d.headers![DlqHeaders.truncated]).toBeUndefined();
  });

  it.each([
    ['a value over the limit', record(Buffer.alloc(5000, 9))],
    ['a value and large headers over the limit', record(Buffer.alloc(3000, 9), { big: Buffer.alloc(3000, 1) })],
    ['a key over the limit', record(Buffer.alloc(10, 9), {}, Buffer.alloc(4000, 2))],
  ])('cuts %s to fit, saying so, with the size and digest of the original', (_label, r) => {
    const limit = 2000;
    const d = deadLetter('app-dlq', 'app', 'spout', r, new Error('bad'), limit);
    expect(weight(d)).toBeLessThanOrEqual(limit);
    expect(d.headers![DlqHeaders.truncated]).toBe('true');
    expect(d.headers![DlqHeaders.originalSize]).toBe(String(r.value!.length));
    expect(d.headers![DlqHeaders.originalSha256]).toBe(createHash('sha256').update(r.value!).digest('hex'));
    expect(r.value!.subarray(0, d.value!.length).equals(d.value!)).toBe(true);
    expect(d.headers![DlqHeaders.offset]).toBe('42');
  });
});
