/**
 * Typed errors for every layer. Each carries a stable `code` a caller can
 * switch on and `retriable`, which says whether trying the same thing again
 * may succeed. Messages name the input that was wrong and what to do.
 *
 * The base class and the runtime's errors live in the runtime
 * (`src/runtime/errors.ts`, publishable without the vectors code) and are
 * re-exported here, so one import serves the whole project; the errors of the
 * domain, the app, the CLI and the API are defined here.
 */
import { ConfigError, RuntimeErrorCodes, VectorsError } from './runtime/errors';

export * from './runtime/errors';

/** Every error code the project throws: the runtime's and the domain's. Stable: part of the public API. */
export const ErrorCodes = {
  ...RuntimeErrorCodes,
  SNAPSHOT_INVALID: 'VEC_ERR_SNAPSHOT_INVALID',
  ILLEGAL_TRANSITION: 'VEC_ERR_ILLEGAL_TRANSITION',
  INDEX_ARGUMENT_INVALID: 'VEC_ERR_INDEX_ARGUMENT_INVALID',
  EVENT_TIME: 'VEC_ERR_EVENT_TIME',
  EVENT_FILE_INVALID: 'VEC_ERR_EVENT_FILE_INVALID',
  API_UNREACHABLE: 'VEC_ERR_API_UNREACHABLE',
  API_REFUSED: 'VEC_ERR_API_REFUSED',
  STATE_DECODE: 'VEC_ERR_STATE_DECODE',
  MEMORY_BUDGET: 'VEC_ERR_MEMORY_BUDGET',
  TOPIC_UNKNOWN: 'VEC_ERR_TOPIC_UNKNOWN',
  SNAPSHOT_NOT_ACTIVE: 'VEC_ERR_SNAPSHOT_NOT_ACTIVE',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/**
 * A command line that cannot be run as given: an unknown command, a missing or
 * malformed argument, a file of an unsupported kind. The CLI exits with 2 on
 * it (1 is for commands that ran and failed).
 */
export class UsageError extends ConfigError {}

/**
 * A state store value (a local store or its changelog) that cannot be read:
 * truncated or corrupt bytes, or a format version newer than this code knows.
 * Not retriable: the same bytes fail the same way.
 */
export class StateDecodeError extends VectorsError {
  constructor(what: string, detail: string) {
    super(
      ErrorCodes.STATE_DECODE,
      `cannot read ${what} from the state store: ${detail}. Restore the store from its changelog, or run the version that wrote it.`,
    );
  }
}

/**
 * A tool was given a topic the cluster does not have: a typo, another
 * cluster, or topics not provisioned yet. The message names the closest
 * existing topics, if any, and what creates the missing one.
 */
export class UnknownTopicError extends VectorsError {
  constructor(
    readonly topic: string,
    closest: readonly string[],
    fix: string,
  ) {
    super(
      ErrorCodes.TOPIC_UNKNOWN,
      `topic '${topic}' does not exist${closest.length ? ` (did you mean ${closest.map((t) => `'${t}'`).join(' or ')}?)` : ''}; ${fix}`,
    );
  }
}

/**
 * A wait for a snapshot's activation ended without it: the snapshot ended in
 * another phase (FAILED, ROLLED_BACK, ...), was never staged, or is still
 * staged when the wait's timeout passed. Only the last is retriable: waiting
 * longer may see it activate.
 */
export class SnapshotNotActiveError extends VectorsError {
  constructor(
    readonly snapshotId: string,
    message: string,
    o: { timedOut: boolean },
  ) {
    super(ErrorCodes.SNAPSHOT_NOT_ACTIVE, message, { retriable: o.timedOut });
  }
}

/** An event's time lies outside the window of wall-clock time the topology accepts. */
export class EventTimeError extends VectorsError {
  constructor(detail: string) {
    super(ErrorCodes.EVENT_TIME, detail);
  }
}

/** A snapshot failed validation (dims, finiteness, duplicates, count, checksum). */
export class SnapshotValidationError extends VectorsError {
  constructor(snapshotId: string, detail: string) {
    super(ErrorCodes.SNAPSHOT_INVALID, `snapshot '${snapshotId}' is invalid: ${detail}`);
  }
}

/**
 * A process's `--memory` budget cannot hold what it was asked to: the fixed
 * part and the state stores at start, or a snapshot to load (with the ones
 * already loaded). Not retriable with the same budget.
 */
export class MemoryBudgetError extends VectorsError {
  constructor(detail: string) {
    super(ErrorCodes.MEMORY_BUDGET, detail);
  }
}

/** A state machine was asked for a transition its current phase does not allow. */
export class IllegalTransitionError extends VectorsError {
  constructor(what: string, from: string, event: string) {
    super(ErrorCodes.ILLEGAL_TRANSITION, `${what}: '${event}' is not allowed in phase ${from}`);
  }
}

/** A neighbour index was built from, or queried with, input it cannot use (empty set, wrong dims, bad k, duplicate id, non-finite value). */
export class NeighbourIndexError extends VectorsError {
  constructor(index: string, detail: string) {
    super(ErrorCodes.INDEX_ARGUMENT_INVALID, `${index}: ${detail}`);
  }
}

/** A line of an event file (JSONL or CSV) that is not a valid event for its topic. */
export class EventFileError extends VectorsError {
  /** 1-based line of the file. */
  readonly lineNo: number;
  /** What was wrong, one item per field (or one for the line). */
  readonly problems: string[];

  constructor(source: string, lineNo: number, problems: string[]) {
    super(ErrorCodes.EVENT_FILE_INVALID, `line ${lineNo} of ${source}: ${problems.join('; ')}`);
    this.lineNo = lineNo;
    this.problems = problems;
  }
}

/**
 * The query API answered a request with an error status (an unknown user or
 * entity: 404; a bad parameter: 400; not ready: 503). The message carries the
 * status and the API's own code and message; retriable when the status is.
 */
export class ApiRefusedError extends VectorsError {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(ErrorCodes.API_REFUSED, message, { retriable: status >= 500 || status === 429 });
  }
}

/** The query API did not answer (not running, wrong address), or answered with something that is not the API. */
export class ApiUnreachableError extends VectorsError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCodes.API_UNREACHABLE, message, { retriable: true, cause });
  }
}
