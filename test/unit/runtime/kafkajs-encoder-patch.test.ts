import { kafkajsEncoderPatched } from '../../../src/runtime/kafka/kafkajs-encoder-patch';
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
