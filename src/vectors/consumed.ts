/**
 * The entities a user has consumed, kept compact so that candidates can
 * exclude all of them, not only the last few (DESIGN: "the set of consumed
 * entities (compact)").
 *
 * Each entity id is kept as a 32-bit hash (FNV-1a of its UTF-16 code units)
 * in sorted `Uint32Array`s: 4 bytes an entity,
 * O(log n) membership, and independent of any snapshot, so the set survives
 * snapshot switches unchanged and covers entities a snapshot lacks. Two ids
 * with the same hash are one: a candidate is wrongly excluded with
 * probability n / 2³² for a user with n consumed entities (about 2·10⁻⁶ at
 * 10,000), which is negligible beside the ranking's own noise. Per-snapshot
 * index ids in a bitmap would be exact but must be remapped at every switch,
 * and lose what the next snapshot adds; uniformly spread hashes would make a
 * bitmap no smaller (one container per hash).
 *
 * The set is bounded: it holds two generations, each at most `capacity / 2`
 * ids; when the newer is full it becomes the older and the oldest generation
 * is forgotten. So at least the last `capacity / 2` distinct consumed
 * entities, and at most `capacity`, are excluded. Plain data, for a state store.
 */
import { endianness } from 'node:os';
import { fnv1a32 } from './hash';

/** Uint32Array bytes are the little-endian encoding as they are (every common CPU); else converted one by one. */
const LITTLE_ENDIAN = endianness() === 'LE';

/** Default bound of a user's consumed set (entities); 40 KiB at most per user. */
export const DEFAULT_CONSUMED_CAPACITY = 10_000;

export interface ConsumedSet {
  /** Sorted hashes of the newer generation. */
  current: Uint32Array;
  /** Sorted hashes of the older generation. */
  previous: Uint32Array;
}

export function emptyConsumed(): ConsumedSet {
  return { current: new Uint32Array(0), previous: new Uint32Array(0) };
}

/** The 32-bit hash an entity id is kept as (FNV-1a). Stable: it is stored. */
export function consumedHash(entityId: string): number {
  return fnv1a32(entityId);
}

/** Index of the first element ≥ `h` in sorted `a`. */
function lowerBound(a: Uint32Array, h: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < h) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function contains(a: Uint32Array, h: number): boolean {
  const i = lowerBound(a, h);
  return i < a.length && a[i] === h;
}

/**
 * Adds `entityId`; returns the set to keep (a new object when it changed,
 * `set` itself when the entity was already in it). O(n) copy per new entity.
 */
export function addConsumed(set: ConsumedSet, entityId: string, capacity: number = DEFAULT_CONSUMED_CAPACITY): ConsumedSet {
  const h = consumedHash(entityId);
  if (contains(set.current, h)) return set;
  const i = lowerBound(set.current, h);
  // Copy, then shift the tail by one: no subarray views to allocate for every listen.
  const next = new Uint32Array(set.current.length + 1);
  next.set(set.current);
  next.copyWithin(i + 1, i, set.current.length);
  next[i] = h;
  if (next.length >= Math.max(1, Math.floor(capacity / 2))) return { current: new Uint32Array(0), previous: next };
  return { current: next, previous: set.previous };
}

/** Whether `entityId` was consumed (up to a hash collision). */
export function hasConsumed(set: ConsumedSet, entityId: string): boolean {
  const h = consumedHash(entityId);
  return contains(set.current, h) || contains(set.previous, h);
}

/** Distinct hashes in the set. */
export function consumedSize(set: ConsumedSet): number {
  let n = set.current.length + set.previous.length;
  for (const h of set.current) if (contains(set.previous, h)) n--;
  return n;
}

/** The whole set as one sorted, duplicate-free array of hashes: what a candidate request carries. */
export function mergedConsumed(set: ConsumedSet): Uint32Array {
  const a = set.current;
  const b = set.previous;
  const out = new Uint32Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let n = 0;
  // While both have elements; then whichever is left is copied whole (no sentinel compares per element).
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    if (x < y) {
      out[n++] = x;
      i++;
    } else if (y < x) {
      out[n++] = y;
      j++;
    } else {
      out[n++] = x;
      i++;
      j++;
    }
  }
  if (i < a.length) out.set(a.subarray(i), n);
  else if (j < b.length) out.set(b.subarray(j), n);
  n += a.length - i + (b.length - j);
  return n === out.length ? out : out.subarray(0, n);
}

/** A sorted hash array as bytes (little-endian uint32s), for an Avro `bytes` field. */
export function encodeConsumed(hashes: Uint32Array): Buffer {
  // Every byte is written: from the pool, not a zero-filled allocation of its own (one a candidate request).
  const out = Buffer.allocUnsafe(hashes.length * 4);
  // On a little-endian machine the array's own bytes are the encoding: one copy instead of a call per hash.
  if (LITTLE_ENDIAN) out.set(new Uint8Array(hashes.buffer, hashes.byteOffset, hashes.byteLength));
  else for (let i = 0; i < hashes.length; i++) out.writeUInt32LE(hashes[i]!, i * 4);
  return out;
}

/** Membership test over hashes from {@link encodeConsumed} (or {@link mergedConsumed}). */
export interface ConsumedLookup {
  has(entityId: string): boolean;
  readonly size: number;
}

/**
 * A lookup over encoded or merged hashes.
 * @throws RangeError when the bytes are not whole uint32s.
 */
export function consumedLookup(source: Buffer | Uint32Array): ConsumedLookup {
  let hashes: Uint32Array;
  if (source instanceof Uint32Array) hashes = source;
  else {
    if (source.length % 4 !== 0) throw new RangeError(`consumed set of ${source.length} bytes: expected whole little-endian uint32s`);
    hashes = new Uint32Array(source.length / 4);
    // A copy (the bytes of a record need not be 4-aligned): its bytes as they are on a little-endian machine.
    if (LITTLE_ENDIAN) new Uint8Array(hashes.buffer).set(source);
    else for (let i = 0; i < hashes.length; i++) hashes[i] = source.readUInt32LE(i * 4);
  }
  return { has: (entityId) => contains(hashes, consumedHash(entityId)), size: hashes.length };
}
