/**
 * A small, fast pseudo-random generator (xoshiro128**, Blackman and Vigna) for the
 * randomised balancers. Why not `Math.random()`: in Node 20's V8 every call returns a boxed
 * number, so a pick drawing two of them allocates; this one keeps its state in a typed
 * array and yields plain integers, so picks allocate nothing. Its quality (passes BigCrush)
 * is far beyond what spreading requests needs; it is not for secrets.
 *
 * Each instance is seeded from `Math.random()`, so gateway instances do not draw in step.
 *
 * @example
 * const rng = new Rng();
 * const i = rng.below(targets.length); // 0 ≤ i < length
 */
export class Rng {
  private readonly s = new Uint32Array(4);

  constructor(seed?: number) {
    // SplitMix32 spreads one seed over the four words (all-zero state would be stuck).
    let x = seed === undefined ? (Math.random() * 0x1_0000_0000) >>> 0 : seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.s[i] = z ^ (z >>> 16);
    }
    if ((this.s[0]! | this.s[1]! | this.s[2]! | this.s[3]!) === 0) this.s[0] = 1;
  }

  /** A generator with this exact state (not all zero), e.g. to check it against reference vectors. */
  static fromState(a: number, b: number, c: number, d: number): Rng {
    const rng = new Rng(0);
    rng.s[0] = a;
    rng.s[1] = b;
    rng.s[2] = c;
    rng.s[3] = d;
    if ((a | b | c | d) === 0) rng.s[0] = 1;
    return rng;
  }

  /**
   * The next 32 random bits, as a signed int32: a value that fits V8's small integers, so
   * even a call V8 does not inline returns it without allocating (an unsigned value above
   * 2^31 would be boxed). Use `>>> 0` for the unsigned value.
   */
  next(): number {
    const s = this.s;
    const s1 = s[1]!;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s1;
    s[1] = s1 ^ s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return r;
  }

  /** A float in [0, 1), like `Math.random()`. */
  float(): number {
    return (this.next() >>> 0) * 2.3283064365386963e-10; // 2^-32
  }

  /** An integer in [0, n), for 1 ≤ n < 2^31 (modulo-free, bias below n / 2^32). */
  below(n: number): number {
    return ((this.next() >>> 0) * 2.3283064365386963e-10 * n) | 0;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
