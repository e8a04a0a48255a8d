import type { KafkaProducer, OutgoingRecord, ProducedOffset } from '../../../src/runtime/kafka/client';
import { MAX_QUEUED_OUTPUTS, TaskCommitter, type CommitterDeps } from '../../../src/runtime/runner/task-committer';

/** A producer whose sends are answered one by one, by the test. */
class HeldProducer implements KafkaProducer {
  readonly sends: { records: OutgoingRecord[]; answer: (err?: Error) => void }[] = [];
  inFlight = 0;
  maxInFlight = 0;

  send(records: OutgoingRecord[]): Promise<ProducedOffset[]> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise((resolve, reject) => {
      this.sends.push({
        records,
        answer: (err) => {
          this.inFlight--;
          if (err) reject(err);
          else resolve([]);
        },
      });
    });
  }

  async close(): Promise<void> {}
}

const rec = (value: string): OutgoingRecord => ({ topic: 'out', key: null, value: Buffer.from(value) });
const values = (records: OutgoingRecord[]) => records.map((r) => r.value!.toString());
const tick = () => new Promise((r) => setImmediate(r));

function committerWith(producer: KafkaProducer): TaskCommitter {
  return new TaskCommitter({ producer: () => producer, guarantee: 'at-least-once' } as unknown as CommitterDeps);
}

describe('TaskCommitter: at-least-once outputs sent behind processing', () => {
  it('keeps one send in flight and sends what came meanwhile in one request, in order', async () => {
    const producer = new HeldProducer();
    const committer = committerWith(producer);
    await committer.sendOutputsBehind([rec('a1'), rec('a2')]);
    await tick();
    expect(producer.sends).toHaveLength(1);
    // Three more batches while the first send travels: none goes out beside it.
    await committer.sendOutputsBehind([rec('b1')]);
    await committer.sendOutputsBehind([rec('c1'), rec('c2')]);
    await committer.sendOutputsBehind([rec('d1')]);
    await tick();
    expect(producer.sends).toHaveLength(1);
    let drained = false;
    const drain = committer.drainOutputSends().then(() => (drained = true));
    producer.sends[0]!.answer();
    await tick();
    expect(producer.sends).toHaveLength(2);
    expect(values(producer.sends[1]!.records)).toEqual(['b1', 'c1', 'c2', 'd1']);
    expect(drained).toBe(false);
    producer.sends[1]!.answer();
    await drain;
    expect(producer.maxInFlight).toBe(1);
    expect(values(producer.sends.flatMap((s) => s.records))).toEqual(['a1', 'a2', 'b1', 'c1', 'c2', 'd1']);
  });

  it('after a failed send, sends nothing later and every drain throws the failure', async () => {
    const producer = new HeldProducer();
    const committer = committerWith(producer);
    await committer.sendOutputsBehind([rec('a')]);
    await tick();
    await committer.sendOutputsBehind([rec('b')]);
    producer.sends[0]!.answer(new Error('broker said no'));
    await expect(committer.drainOutputSends()).rejects.toThrow('broker said no');
    await committer.sendOutputsBehind([rec('c')]);
    await tick();
    expect(producer.sends).toHaveLength(1);
    await expect(committer.drainOutputSends()).rejects.toThrow('broker said no');
    // A new connection starts clean.
    committer.reset();
    await committer.sendOutputsBehind([rec('d')]);
    await tick();
    expect(values(producer.sends[1]!.records)).toEqual(['d']);
    producer.sends[1]!.answer();
    await committer.drainOutputSends();
  });

  it('holds processing only when MAX_QUEUED_OUTPUTS records wait behind the send in flight', async () => {
    const producer = new HeldProducer();
    const committer = committerWith(producer);
    await committer.sendOutputsBehind([rec('first')]);
    await tick();
    let returned = false;
    const many = Array.from({ length: MAX_QUEUED_OUTPUTS }, (_, i) => rec(String(i)));
    const held = committer.sendOutputsBehind(many).then(() => (returned = true));
    await tick();
    expect(returned).toBe(false);
    producer.sends[0]!.answer();
    await held;
    await tick();
    expect(producer.sends[1]!.records).toHaveLength(MAX_QUEUED_OUTPUTS);
    producer.sends[1]!.answer();
    await committer.drainOutputSends();
  });

  it('a send that throws at once is a failed send, not a drain that never ends', async () => {
    const producer: KafkaProducer = {
      send: () => {
        throw new Error('no connection');
      },
      close: async () => undefined,
    };
    const committer = committerWith(producer);
    await committer.sendOutputsBehind([rec('a')]);
    await expect(committer.drainOutputSends()).rejects.toThrow('no connection');
  });

  it('a drain waits for outputs given while it waits', async () => {
    const producer = new HeldProducer();
    const committer = committerWith(producer);
    await committer.sendOutputsBehind([rec('a')]);
    await tick();
    let drained = false;
    const drain = committer.drainOutputSends().then(() => (drained = true));
    await committer.sendOutputsBehind([rec('b')]);
    producer.sends[0]!.answer();
    await tick();
    expect(drained).toBe(false);
    producer.sends[1]!.answer();
    await drain;
    expect(values(producer.sends.flatMap((s) => s.records))).toEqual(['a', 'b']);
  });
});
