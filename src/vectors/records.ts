/** TypeScript shapes of the Avro records in `schemas/`. Timestamps are epoch milliseconds. */

export interface ListenEvent {
  eventId: string;
  userId: string;
  entityId: string;
  msPlayed: number;
  durationMs: number;
  context: string;
  timestamp: number;
}

export type FeedbackKind = 'LIKE' | 'UNLIKE' | 'DISLIKE' | 'SKIP' | 'BAN' | 'UNBAN';

export interface FeedbackEvent {
  eventId: string;
  userId: string;
  entityId: string;
  kind: FeedbackKind;
  surface: string;
  timestamp: number;
}

export type EntityType = 'TRACK' | 'ARTIST' | 'ALBUM' | 'PLAYLIST' | 'OTHER';

export interface EntityVector {
  snapshotId: string;
  entityId: string;
  entityType: EntityType;
  vector: Float32Array;
}

export interface UserVector {
  userId: string;
  snapshotId: string;
  vector: Float32Array;
  updatedAt: number;
  eventCount: number;
  version: number;
}

export interface Candidate {
  entityId: string;
  score: number;
}

export interface Candidates {
  userId: string;
  snapshotId: string;
  items: Candidate[];
  generatedAt: number;
  userVectorVersion: number;
}

/** A user's vector changed (`candidate-requests`): the input of the candidates topology. */
export interface CandidateRequest {
  userId: string;
  /** The active snapshot the vector is in. */
  snapshotId: string;
  vector: Float32Array;
  /** The user state's version; increases with every change. */
  version: number;
  banned: string[];
  recent: string[];
  /** The consumed set's hashes, as encodeConsumed writes them (empty from older writers, and between whole sets when consumedEvery > 1). */
  consumed: Buffer;
  /**
   * 1: every request carries the whole consumed set (the default, and what
   * writers that predate the field did). N > 1: only requests whose version is
   * 1 modulo N do; the reader keeps the last one per user, and `recent` covers
   * what was consumed since (N ≤ RECENT_CONSUMED).
   */
  consumedEvery?: number;
  /** Event time of the change. */
  at: number;
  /** Recompute even if the vector did not move (the banned set changed). */
  force: boolean;
}

export type ControlKind = 'STAGE' | 'MEMBER' | 'REPORT' | 'ACTIVATE' | 'ABORT' | 'ROLLBACK' | 'RETIRE' | 'UNKNOWN';
export type SnapshotPhase = 'STAGED' | 'LOADING' | 'READY' | 'ACTIVE' | 'RETIRED' | 'FAILED' | 'ROLLED_BACK' | 'UNKNOWN';

/** One user's batch factor in a snapshot (`user-factors.<snapshotId>`). */
export interface UserFactor {
  snapshotId: string;
  userId: string;
  vector: Float32Array;
}

/** The batch user factors a snapshot carries (SnapshotManifest.users); see snapshot/user-factors.ts. */
export interface UserFactorsManifest {
  /** Users in all partitions. */
  count: number;
  /** Partitions of `user-factors.<snapshotId>`: the user topics' count. */
  partitions: number;
  /** Users per partition. */
  counts: number[];
  /** Checksum per partition, over its users in publish order (snapshot/checksum.ts). */
  checksums: string[];
}

export interface SnapshotManifest {
  snapshotId: string;
  model: string;
  dims: number;
  count: number;
  checksum: string;
  createdAt: number;
  params: Record<string, string>;
  /** Training cut-off, epoch ms: events at or before it are in the user factors. Absent or null: not given. */
  cutoff?: number | null;
  /** The batch user factors published with the snapshot (lifetime vectors); absent or null: none. */
  users?: UserFactorsManifest | null;
}

export interface SnapshotControl {
  kind: ControlKind;
  snapshotId: string | null;
  phase: SnapshotPhase | null;
  manifest: SnapshotManifest | null;
  topology: string | null;
  partition: number | null;
  partitions: number | null;
  instanceId: string | null;
  previousSnapshotId: string | null;
  reason: string | null;
  timestamp: number;
}
