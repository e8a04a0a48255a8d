import { readFileSync } from 'node:fs';
import { kafkajsCrc, kafkajsEncoderPatched } from '../../../src/runtime/kafka/kafkajs-encoder-patch';
import '../../../src/runtime/kafka/kafkajs-client';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const Encoder = require('kafkajs/src/protocol/encoder');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Decoder = require('kafkajs/src/protocol/decoder');

describe('pooled kafkajs encoder', () => {
  it('is in place for the pinned kafkajs version', () => {
    expect(kafkajsEncoderPatched).toBe(true);
    expect(Encoder.pooled).toBe(true);
  });

  it('exposes exactly the bytes written, across regrowth, whatever the pool held before', () => {
    Buffer.allocUnsafe(4000).fill(0xab); // dirty the pool
    const payload = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
    const e = new Encoder();
    e.writeInt32(7).writeVarInt(-300).writeBytes(payload).writeString('end');
    const d = new Decoder(e.buffer);
    expect(d.readInt32()).toBe(7);
    expect(d.readVarInt()).toBe(-300);
    expect(Buffer.compare(d.readBytes(), payload)).toBe(0);
    expect(d.readString()).toBe('end');
    expect(d.canReadBytes(1)).toBe(false);
  });
});

describe('native CRC-32C for kafkajs record batches', () => {
  // kafkajs's own implementation, loaded from its file (the module cache now holds the native one).
  const crcPath = require.resolve('kafkajs/src/protocol/recordBatch/crc32C/crc32C');
  const original = (() => {
    const m = { exports: {} as (b: Buffer) => number };
    new Function('module', 'exports', readFileSync(crcPath, 'utf8'))(m, m.exports);
    return m.exports;
  })();
  // What kafkajs's record batch encoder calls.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const used = require('kafkajs/src/protocol/recordBatch/crc32C') as (b: Buffer) => number;

  it('is in place where @node-rs/crc32 has a prebuilt binary (this machine)', () => {
    expect(kafkajsCrc).toBe('native');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    expect(require(crcPath)).not.toBe(original);
  });

  it("gives kafkajs's checksum for any bytes (a wrong one makes the broker refuse the batch as corrupt)", () => {
    const sizes = [0, 1, 7, 8, 9, 63, 64, 65, 511, 4096, 100_003];
    for (const n of sizes) {
      const b = Buffer.from(Array.from({ length: n }, (_, i) => (i * 131 + n) % 256));
      expect(used(b)).toBe(original(b));
    }
    // An offset slice of a larger buffer, as kafkajs passes.
    const big = Buffer.from(Array.from({ length: 2000 }, (_, i) => (i * 7) % 256));
    const slice = big.subarray(13, 1777);
    expect(used(slice)).toBe(original(slice));
  });
});
