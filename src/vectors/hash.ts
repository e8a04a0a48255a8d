/**
 * FNV-1a, 32 bits, over a string's UTF-16 code units: a fast, stable hash of
 * ids for in-memory tables and compact sets. Stable: consumed sets store it.
 */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
