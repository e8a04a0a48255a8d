import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Lowest port handed out: clear of the well-known and registered ports a machine's services sit on (Kafka 9092, registries 8081). */
const FLOOR = 20_000;

/**
 * The kernel's range for ephemeral ports ([low, high]), from which outgoing connections take their local port.
 * Linux's default when the file cannot be read.
 */
export function ephemeralRange(file = '/proc/sys/net/ipv4/ip_local_port_range'): [number, number] {
  try {
    const [low, high] = readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high) && low <= high) return [low, high];
  } catch {
    // Not Linux, or no /proc: fall through to the default.
  }
  return [32_768, 60_999];
}

/** Ports already handed out by this process, so two calls never return the same one before either is bound. */
const handedOut = new Set<number>();

/** Listens on 127.0.0.1:`port` (0: the kernel picks) and closes again: the port it got, or undefined when it was taken. */
function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => {
      const got = (server.address() as { port: number }).port;
      server.close(() => resolve(got));
    });
  });
}

/**
 * A port free on 127.0.0.1 now, for a server that a test starts later in another process.
 *
 * Chosen below the ephemeral range rather than by `listen(0)`: a port from `listen(0)` is an ephemeral one,
 * and between its release and the server's bind any outgoing connection on the machine (a Kafka client's,
 * say) may take it as its local port; the server then fails with EADDRINUSE (CI saw exactly that).
 * Below the range only another listener can take it, and the check skips ports that have one.
 */
export async function freePort(range: [number, number] = ephemeralRange(), random: () => number = Math.random): Promise<number> {
  const ceiling = range[0];
  // A machine whose ephemeral range starts this low leaves no room below it: take the kernel's pick (the old race stays there).
  if (ceiling - FLOOR < 1000) {
    const port = await tryListen(0);
    if (port === undefined) throw new Error('could not listen on 127.0.0.1 at all');
    return port;
  }
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = FLOOR + Math.floor(random() * (ceiling - FLOOR));
    if (handedOut.has(port)) continue;
    if ((await tryListen(port)) !== undefined) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port on 127.0.0.1 in ${FLOOR}–${ceiling - 1} after 200 tries`);
}
