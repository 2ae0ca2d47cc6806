/**
 * Random numbers that are a pure function of (run seed, copy index, draw index), identical on every platform.
 *
 * - {@link copySeed} hashes (run seed, copy) to the 32-bit seed of that copy's stream, so any copy can be
 *   regenerated alone, in any order, on any worker.
 * - {@link Xoshiro128ss} (Blackman & Vigna's xoshiro128**) turns a copy seed into a stream of 32-bit integers,
 *   with its 128-bit state filled by splitmix-style hashing of the seed.
 * - {@link Xoshiro128ss.normal} draws standard normals by Marsaglia's polar method, using both outputs.
 *
 * All integer work is `Math.imul`, shifts and xor on 32-bit values, exact in every engine. The polar method
 * needs only `Math.sqrt` (correctly rounded by IEEE 754) and `Math.log`. V8 computes `Math.log` with its own
 * port of fdlibm, so streams are bit-identical wherever Node runs; another engine's `Math.log` may differ in
 * the last unit of a float64, which almost never survives the rounding of the result to float32.
 */

/** 2^32 / golden ratio: the splitmix increment, so consecutive counters land far apart before hashing. */
const GOLDEN_GAMMA = 0x9e3779b9;

/**
 * Chris Wellons' `lowbias32` integer hash: a bijection on uint32 with low avalanche bias. Used as the
 * output function of a splitmix32-style counter generator.
 */
export function mix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Seed of copy `copy`'s random stream in a run seeded with `runSeed` (both uint32):
 * `mix32(mix32(runSeed) + GOLDEN_GAMMA * (copy + 1))`, i.e. output `copy` of a splitmix32-style counter
 * generator keyed by the hashed run seed. Counter-based, so every copy's seed is computed directly.
 */
export function copySeed(runSeed: number, copy: number): number {
  if (!Number.isInteger(runSeed) || runSeed < 0 || runSeed > 0xffffffff) {
    throw new RangeError(`copySeed: run seed must be a uint32, got ${runSeed}`);
  }
  if (!Number.isInteger(copy) || copy < 0 || copy > 0x7fffffff) {
    throw new RangeError(`copySeed: copy must be a non-negative int32, got ${copy}`);
  }
  return mix32(mix32(runSeed) + Math.imul(copy + 1, GOLDEN_GAMMA));
}

const TWO_POW_MINUS_31 = 2 ** -31;
const TWO_POW_MINUS_32 = 2 ** -32;

/**
 * xoshiro128** 1.0 (Blackman & Vigna, 2018): 128-bit state, period 2^128 - 1, passes BigCrush; a few
 * nanoseconds per draw in V8. State words are kept as int32 (what JS bit operators return).
 */
export class Xoshiro128ss {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  /** The polar method yields normals in pairs; the second waits here. */
  private spareNormal = 0;
  private hasSpareNormal = false;

  /** A generator with this raw state (not all zero). Prefer {@link Xoshiro128ss.fromSeed}. */
  constructor(s0: number, s1: number, s2: number, s3: number) {
    if ((s0 | s1 | s2 | s3) === 0) throw new RangeError('xoshiro128**: state must not be all zero');
    this.s0 = s0 | 0;
    this.s1 = s1 | 0;
    this.s2 = s2 | 0;
    this.s3 = s3 | 0;
  }

  /**
   * The stream of a uint32 seed: state word k is `mix32(seed + GOLDEN_GAMMA * (k + 1))`. `mix32` is a
   * bijection and the four inputs differ, so at most one word is zero and the state is never all zero.
   */
  static fromSeed(seed: number): Xoshiro128ss {
    const word = (k: number) => mix32((seed >>> 0) + Math.imul(k + 1, GOLDEN_GAMMA));
    return new Xoshiro128ss(word(0), word(1), word(2), word(3));
  }

  /** Next output as a signed int32. */
  nextInt32(): number {
    const s1 = this.s1;
    const rotated = (Math.imul(s1, 5) << 7) | (Math.imul(s1, 5) >>> 25);
    const result = Math.imul(rotated, 9);
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 = s1 ^ this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return result;
  }

  /** Next output as a uint32. */
  nextUint32(): number {
    return this.nextInt32() >>> 0;
  }

  /** Uniform in [0, 1), with 32 random bits. */
  nextFloat(): number {
    return (this.nextInt32() >>> 0) * TWO_POW_MINUS_32;
  }

  /** Uniform integer in [0, n) for 1 <= n <= 2^20 (floor of a 32-bit fraction; bias below 2^-12). */
  below(n: number): number {
    return Math.floor(this.nextFloat() * n);
  }

  /**
   * Fills `out` with the next `out.length` standard normals: exactly the values `out.length` calls of
   * {@link Xoshiro128ss.normal} return, and the generator ends in the same state. About three times faster,
   * because the state lives in locals for the whole loop instead of being written back on every draw.
   */
  fillNormal(out: Float64Array): void {
    const n = out.length;
    let i = 0;
    if (n > 0 && this.hasSpareNormal) {
      this.hasSpareNormal = false;
      out[i++] = this.spareNormal;
    }
    let s0 = this.s0;
    let s1 = this.s1;
    let s2 = this.s2;
    let s3 = this.s3;
    while (i < n) {
      let u: number;
      let v: number;
      let s: number;
      do {
        // Two xoshiro128** steps, as in nextInt32.
        let r = Math.imul(s1, 5);
        u = Math.imul((r << 7) | (r >>> 25), 9) * TWO_POW_MINUS_31;
        let t = s1 << 9;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = (s3 << 11) | (s3 >>> 21);
        r = Math.imul(s1, 5);
        v = Math.imul((r << 7) | (r >>> 25), 9) * TWO_POW_MINUS_31;
        t = s1 << 9;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = (s3 << 11) | (s3 >>> 21);
        s = u * u + v * v;
      } while (s >= 1 || s === 0);
      const factor = Math.sqrt((-2 * Math.log(s)) / s);
      out[i++] = u * factor;
      if (i < n) out[i++] = v * factor;
      else {
        this.spareNormal = v * factor;
        this.hasSpareNormal = true;
      }
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
  }

  /** A standard normal, by Marsaglia's polar method; the pair's second value is returned by the next call. */
  normal(): number {
    if (this.hasSpareNormal) {
      this.hasSpareNormal = false;
      return this.spareNormal;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      // A signed int32 times 2^-31 is uniform in [-1, 1).
      u = this.nextInt32() * TWO_POW_MINUS_31;
      v = this.nextInt32() * TWO_POW_MINUS_31;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const factor = Math.sqrt((-2 * Math.log(s)) / s);
    this.spareNormal = v * factor;
    this.hasSpareNormal = true;
    return u * factor;
  }
}
