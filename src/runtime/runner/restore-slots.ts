/** Where one store's background restore stands, as given to {@link RunnerOptions.onRestoreProgress}. */
export interface RestoreProgress {
  /** The restoring task, e.g. `0_3`. */
  taskId: string;
  store: string;
  /** The changelog partition (the task's partition). */
  partition: number;
  /** The next changelog offset to read. */
  offset: string;
  /** The end of committed changelog data at the last fetch (at the start: the high watermark). */
  end: string;
  /** Changelog records of this store applied so far by this restore. */
  restored: number;
}

/**
 * At most `size` jobs at a time, started in the order they asked. Restores
 * take a slot per changelog fetch, not per task, so a task with a short
 * changelog is never queued behind a whole long one: the fetches of all
 * restoring tasks take turns (as Kafka Streams' restore consumer polls every
 * restoring changelog together).
 */
export class RestoreSlots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`restore concurrency must be a positive integer, got ${size}`);
    this.free = size;
  }

  async use<T>(job: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
    try {
      return await job();
    } finally {
      // The slot passes straight to the next in line, so none can overtake it.
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}
