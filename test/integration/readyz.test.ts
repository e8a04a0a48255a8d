/**
 * /readyz on a real user-vectors instance: not ready (503, saying why) while
 * no snapshot is active — it used to answer 200 {"status":"ready","active":null} —
 * and never ready while a task the group assigned is still restoring its
 * state from the changelog — it used to say ready once one task of many was.
 */
import { type KafkaAdmin } from '../../src/runtime/kafka/client';
import { waitCaughtUp, waitFor } from './helpers';
import { startUserVectorsSystem, type UserVectorsSystem } from './user-vectors-system';

jest.setTimeout(240_000);

const PARTITIONS = 4;
let sys: UserVectorsSystem | undefined;
let admin: KafkaAdmin | undefined;
afterAll(async () => {
  await admin?.close();
  await sys?.close();
});

interface ReadyBody {
  status: string;
  active: string | null;
  problems?: string[];
}

async function readyz(url: string): Promise<{ status: number; body: ReadyBody }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as ReadyBody };
}

it('is 503 until a snapshot is active and every assigned task is restored, and says why', async () => {
  sys = await startUserVectorsSystem('readyz', { partitions: PARTITIONS });
  const first = sys.first;
  await waitFor(() => first.runner.taskIds.length === PARTITIONS, 60_000, 'the first instance to run every task');

  // Every task runs, nothing is active.
  const idle = await readyz(first.url);
  expect(idle.status).toBe(503);
  expect(idle.body).toMatchObject({ status: 'not ready', active: null, problems: [expect.stringContaining('no snapshot is active yet')] });

  const s1 = await sys.publish('s1');
  await sys.waitActive(s1);
  await waitFor(async () => (await readyz(first.url)).status === 200, 30_000, 'the first instance to be ready');

  // Give the users store enough state that restoring each task from the changelog takes a while.
  await sys.sendListens(6000, 3);
  admin = await sys.kafka.admin();
  await waitCaughtUp(admin, sys.userVectorsName, sys.t.listens, 120_000);
  await first.close();

  // A new instance with an empty state directory restores its tasks one after another.
  const second = await sys.startInstance('uv-restored');
  const seen: { status: number; restoring: number; body: ReadyBody }[] = [];
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = await readyz(second.url);
    // Read after the answer: restoring only shrinks without a rebalance, so a 200 seen with a task
    // still restoring here was given while that task was restoring.
    seen.push({ ...r, restoring: PARTITIONS - second.runner.taskIds.length });
    if (r.status === 200 || Date.now() > deadline) break;
    await new Promise((res) => setTimeout(res, 5));
  }
  expect(seen.at(-1)).toMatchObject({ status: 200, restoring: 0, body: { status: 'ready', active: s1 } });
  expect(seen.filter((s) => s.status === 200 && s.restoring > 0)).toEqual([]);
  // The partial restore was visible, and named.
  expect(seen.some((s) => s.status === 503 && s.restoring > 0 && s.restoring < PARTITIONS)).toBe(true);
  expect(seen.flatMap((s) => s.body.problems ?? [])).toContainEqual(expect.stringMatching(/^[1-3] of 4 assigned tasks are not restored yet: 0_\d/));
});
