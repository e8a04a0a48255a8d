/**
 * How records of an input are distributed over a bolt's tasks (Storm's
 * stream groupings, mapped onto Kafka partitions).
 */
export type Grouping =
  | {
      type: 'fields';
      /** The field of the value (or 'key') that decides the task. */
      field: string;
      /** Allow a repartition topic when the input is not keyed by `field`. */
      repartition: boolean;
    }
  | { type: 'shuffle' }
  | { type: 'all' }
  | { type: 'global' };

export const Groupings = {
  /**
   * Records with the same `field` value go to the same task. Free when the
   * input is already keyed by that field (co-partitioned). Otherwise the build
   * fails, unless `repartition: true`, which routes the records through an
   * internal topic keyed by the field.
   */
  fields(field: string, options: { repartition?: boolean } = {}): Grouping {
    return { type: 'fields', field, repartition: options.repartition ?? false };
  },
  /** Any task: records stay in the task that read them (no network hop). */
  shuffle(): Grouping {
    return { type: 'shuffle' };
  },
  /** Every task sees every record (broadcast); only from a spout. */
  all(): Grouping {
    return { type: 'all' };
  },
  /** One task sees all records (through a one-partition internal topic). */
  global(): Grouping {
    return { type: 'global' };
  },
};
