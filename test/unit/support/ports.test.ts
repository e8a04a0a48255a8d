import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ephemeralRange, freePort } from '../../support/ports';

describe('freePort', () => {
  it('hands out ports below the kernel’s ephemeral range, where no outgoing connection can take them before the server binds', async () => {
    const range: [number, number] = [32_768, 60_999];
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort(range)));
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(20_000);
      expect(p).toBeLessThan(range[0]);
    }
    expect(new Set(ports).size).toBe(ports.length);
    // By default below this machine's own range (Linux's default range here and in CI; a range starting under 21,000 has no room below it).
    const [low] = ephemeralRange();
    if (low >= 21_000) expect(await freePort()).toBeLessThan(low);
  });

  const range: [number, number] = [30_000, 60_999];
  /** The random draw that picks `port` (the middle of its slot, clear of rounding at the edges). */
  const at = (port: number) => (port - 20_000 + 0.5) / (range[0] - 20_000);
  const listenOn = (server: Server, port: number) =>
    new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });

  it('skips a port something already listens on', async () => {
    // Bound directly, not through freePort (which would also remember it as handed out).
    let held: Server | undefined;
    let heldPort = 0;
    for (let p = 29_000; p < 29_200 && !heldPort; p++) {
      const s = createServer();
      if (await listenOn(s, p)) [held, heldPort] = [s, p];
    }
    expect(heldPort).toBeGreaterThan(0);
    try {
      const next = heldPort + 1;
      const picks = [at(heldPort), at(next)];
      expect(await freePort(range, () => picks.shift() ?? 0)).toBe(next);
    } finally {
      await new Promise<void>((r) => held!.close(() => r()));
    }
  });

  it('never hands out a port twice', async () => {
    const first = await freePort(range, () => at(28_500));
    const picks = [at(first), at(first + 1)];
    expect(await freePort(range, () => picks.shift() ?? 0)).toBe(first + 1);
  });

  it('reads the range from the kernel’s file, and falls back to Linux’s default when it cannot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ports-'));
    writeFileSync(join(dir, 'range'), '40000\t50000\n');
    expect(ephemeralRange(join(dir, 'range'))).toEqual([40_000, 50_000]);
    expect(ephemeralRange(join(dir, 'missing'))).toEqual([32_768, 60_999]);
  });

  it('takes the kernel’s pick when the ephemeral range leaves no room below it', async () => {
    const [low] = ephemeralRange();
    const port = await freePort([20_500, 60_999]);
    // The kernel's pick is an ephemeral port, not one of the range below 20,500 that freePort would draw from.
    expect(port).toBeGreaterThanOrEqual(low);
  });
});
