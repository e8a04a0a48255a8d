import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** `gc()` without `--expose-gc` on the command line: a full collection, now. */
export function exposeGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
