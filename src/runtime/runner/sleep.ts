/** Resolves after `ms`, or at once when `wake` settles (a stop signal): a wait that a stop cuts short. */
export function sleep(ms: number, wake: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([new Promise<void>((r) => (timer = setTimeout(r, ms))), wake]).finally(() => clearTimeout(timer));
}
