/**
 * A seeded, uniform hash used for A/B splits: the same string always lands in the same
 * place, with no randomness. FNV-1a over UTF-16 code units, then murmur3's `fmix32`
 * finalizer so that near-identical ids ("c1", "c2") spread evenly. `seed` (default 0)
 * starts another, independent family of hashes.
 */
export function hash32(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** {@link hash32} mapped to [0, 1). */
export function hashToUnit(s: string): number {
  return hash32(s) / 4294967296;
}
