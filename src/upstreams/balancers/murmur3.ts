/**
 * MurmurHash3 (x86, 32-bit) over a string's UTF-16 code units, two per 32-bit block, which
 * is exactly MurmurHash3_x86_32 of the string's UTF-16LE bytes, returned as a signed int32
 * (`>>> 0` gives the usual unsigned value): a signed result is a small integer to V8, so a
 * call it does not inline returns it without allocating. Written by hand because the
 * hot path needs a 32-bit hash of a JS string without encoding it to bytes first (no
 * allocation), and because `node:crypto` hashes are 10–50× slower for short keys and not
 * needed: keys are not secret, only spread. MurmurHash3 passes SMHasher's distribution and
 * avalanche tests, which is what rings and Maglev tables need.
 *
 * Stable across processes, hosts and Node versions, so every gateway instance maps a key to
 * the same target.
 *
 * @example
 * murmur3('user-42', 0) >>> 0; // an unsigned 32-bit integer
 */
export function murmur3(text: string, seed: number): number {
  let h = seed | 0;
  const length = text.length;
  const pairs = length & ~1;
  let i = 0;
  for (; i < pairs; i += 2) {
    let k = text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < length) {
    let k = text.charCodeAt(i);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  return fmix32(h ^ (length * 2));
}

/**
 * MurmurHash3's finaliser: a bijection on 32-bit integers with full avalanche, for
 * deriving further independent-looking values from one hash. Signed int32, as `murmur3`.
 */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
