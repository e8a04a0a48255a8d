/** The topologies `vectors run <name>` knows, each built from string options (`--opt key=value`). */
import type { Topology } from '../src';
import { eventCounter } from './event-counter';

export type TopologyFactory = (options: Record<string, string>) => Topology;

export const topologies: Record<string, TopologyFactory> = {
  'event-counter': (o) => eventCounter({ ...(o.name ? { name: o.name } : {}), ...(o.input ? { input: o.input } : {}), ...(o.output ? { output: o.output } : {}) }),
};
