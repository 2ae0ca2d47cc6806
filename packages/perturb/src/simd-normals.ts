/**
 * The `box-muller` noise generator: standard normals from four xoshiro128** streams per copy, drawn four at a time
 * by a WebAssembly SIMD kernel (wasm/normals.wat, embedded in normals-wasm.ts), about ten times faster than the
 * `polar` stream of rng.ts drawn in JavaScript.
 *
 * Counter-based per copy like `polar`: a copy's normals are a pure function of its seed. Lane j (0..3) of the copy
 * is a xoshiro128** generator whose state word k is `mix32(seed + GOLDEN_GAMMA * (4j + k + 1))` (lane 0 is the
 * `polar` stream's generator); step t of all four lanes gives (r1, r2) per lane, which Box-Muller turns into
 * normals 8t + j (R cos theta) and 8t + 4 + j (R sin theta), see the .wat for the formulas. Normal number i of a
 * copy goes to element i of the tensor in (channel, row, column) order, whatever the layout.
 *
 * The distribution: Box-Muller is exact for exact uniforms and functions; here u1 has a resolution of 2^-33 near 0
 * (|z| <= 6.77: the tail beyond has probability 1.3e-11) and 2^-24 near 1, theta is uniform on a grid of 2^32
 * angles (2^24 distinct per octant after rounding to float32), and ln, sin, cos are float32 polynomials within a
 * few float32 ulps, so every normal is within ~1e-6 relative of the exact transform of its uniforms; the result
 * is rounded to float32 anyway. The bits are the same on every engine: the kernel uses IEEE float32 operations
 * only (no fused multiply-add), and {@link boxMullerJs} below, its JavaScript twin, gives the same bits operation
 * for operation (Math.fround after each one); the tests check the two against each other.
 */

import { NORMALS_WASM_BASE64 } from './normals-wasm.js';
import { mix32 } from './rng.js';

const GOLDEN_GAMMA = 0x9e3779b9;
const STATE_BYTES = 64;

/** The 16 state words of a copy's four lanes, as the kernel holds them: word k of lanes 0..3, for k = 0..3. */
export function laneStates(seed: number): Int32Array {
  const state = new Int32Array(16);
  for (let lane = 0; lane < 4; lane++) {
    for (let k = 0; k < 4; k++) {
      state[k * 4 + lane] = mix32(((seed >>> 0) + Math.imul(4 * lane + k + 1, GOLDEN_GAMMA)) >>> 0) | 0;
    }
  }
  return state;
}

/** The little of the WebAssembly API this module uses (the ES library has no types for it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { readonly exports: Record<string, unknown> };
};

interface Kernel {
  readonly memory: WasmMemory;
  readonly normals: (out: number, x: number, iterations: number, mul: number, add: number, apply: number) => void;
}

let kernel: Kernel | null | undefined;

/** The kernel of this thread (null where WebAssembly SIMD is missing). */
function getKernel(): Kernel | null {
  if (kernel !== undefined) return kernel;
  try {
    const bytes = Uint8Array.from(atob(NORMALS_WASM_BASE64), (c) => c.charCodeAt(0));
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes));
    kernel = instance.exports as unknown as Kernel;
  } catch {
    kernel = null;
  }
  return kernel;
}

/** Bytes of `count` float32 rounded up to whole iterations of the kernel (8 values). */
const padded = (count: number) => Math.ceil(count / 8) * 32;

/** Grows the kernel's memory to hold `bytes` after the state; returns the memory's current buffer. */
function reserve(k: Kernel, bytes: number): ArrayBuffer {
  const need = STATE_BYTES + bytes;
  const have = k.memory.buffer.byteLength;
  if (need > have) k.memory.grow(Math.ceil((need - have) / 65536));
  return k.memory.buffer;
}

/**
 * Writes `out.length` standard normals of the copy seeded `seed` into `out`, in stream order. With `x` (as long as
 * `out`), writes `x * (1 + mul * z) + add * z` instead: a noise family's copy in one pass.
 */
export function boxMuller(seed: number, out: Float32Array, x?: Float32Array, mul = 0, add = 0): void {
  const n = out.length;
  if (x && x.length !== n) throw new Error(`boxMuller: x has ${x.length} values, out ${n}`);
  const k = getKernel();
  if (!k) {
    boxMullerJs(seed, out, x, mul, add);
    return;
  }
  const bytes = padded(n);
  const buffer = reserve(k, x ? 2 * bytes : bytes);
  new Int32Array(buffer, 0, 16).set(laneStates(seed));
  const outAt = STATE_BYTES;
  const xAt = STATE_BYTES + bytes;
  if (x) new Float32Array(buffer, xAt, n).set(x);
  k.normals(outAt, xAt, bytes / 32, Math.fround(mul), Math.fround(add), x ? 1 : 0);
  out.set(new Float32Array(buffer, outAt, n));
}

const f = Math.fround;
const C = {
  twoNinths: f(2 / 9),
  twoSevenths: f(2 / 7),
  twoFifths: f(2 / 5),
  twoThirds: f(2 / 3),
  sqrt2: f(Math.SQRT2),
  ln2Hi: f(0.693145751953125),
  ln2Lo: f(1.4286068203094173e-6),
  angle: f(Math.PI / 4 / 2 ** 29),
  s9: f(1 / 362880),
  s7: f(-1 / 5040),
  s5: f(1 / 120),
  s3: f(-1 / 6),
  c10: f(-1 / 3628800),
  c8: f(1 / 40320),
  c6: f(-1 / 720),
  c4: f(1 / 24),
};
const u32 = new Uint32Array(1);
const f32 = new Float32Array(u32.buffer);

/** One Box-Muller pair from the uniforms (r1, r2), exactly as the kernel computes it: [R cos theta, R sin theta]. */
function pair(r1: number, r2: number, out: [number, number]): void {
  const u = f(f(f(r1 >>> 0) * 2 ** -32) + 2 ** -33);
  f32[0] = u;
  const bits = u32[0]!;
  let e = (bits >>> 23) - 127;
  u32[0] = (bits & 0x007fffff) | 0x3f800000;
  let m = f32[0]!;
  if (m > C.sqrt2) {
    m = f(m * 0.5);
    e += 1;
  }
  const s = f(f(m - 1) / f(m + 1));
  const ss = f(s * s);
  let p = C.twoNinths;
  p = f(f(p * ss) + C.twoSevenths);
  p = f(f(p * ss) + C.twoFifths);
  p = f(f(p * ss) + C.twoThirds);
  p = f(f(p * ss) + 2);
  const ef = f(e);
  const ln = f(f(ef * C.ln2Hi) + f(f(s * p) + f(ef * C.ln2Lo)));
  const radius = f(Math.sqrt(f(ln * -2)));
  const o = (r2 >>> 29) & 7;
  const phi = f(f(f(r2 & 0x1fffffff) + 0.5) * C.angle);
  const q = f(phi * phi);
  let sin = f(f(q * C.s9) + C.s7);
  sin = f(f(sin * q) + C.s5);
  sin = f(f(sin * q) + C.s3);
  sin = f(f(sin * q) + 1);
  sin = f(sin * phi);
  let cos = f(f(q * C.c10) + C.c8);
  cos = f(f(cos * q) + C.c6);
  cos = f(f(cos * q) + C.c4);
  cos = f(f(cos * q) - 0.5);
  cos = f(f(cos * q) + 1);
  if (((o ^ (o >> 1)) & 1) === 1) [sin, cos] = [cos, sin];
  if ((((o + 2) >> 2) & 1) === 1) cos = -cos;
  if (o >> 2 === 1) sin = -sin;
  out[0] = f(radius * cos);
  out[1] = f(radius * sin);
}

/** {@link boxMuller} in plain JavaScript, bit for bit (the kernel's reference, and its fallback). */
export function boxMullerJs(seed: number, out: Float32Array, x?: Float32Array, mul = 0, add = 0): void {
  const st = laneStates(seed);
  const n = out.length;
  const m = f(mul);
  const a = f(add);
  const z: [number, number] = [0, 0];
  const r = new Int32Array(8);
  for (let base = 0; base < n; base += 8) {
    for (let step = 0; step < 2; step++) {
      for (let lane = 0; lane < 4; lane++) {
        let s0 = st[lane]!;
        let s1 = st[4 + lane]!;
        let s2 = st[8 + lane]!;
        let s3 = st[12 + lane]!;
        const t5 = Math.imul(s1, 5);
        r[step * 4 + lane] = Math.imul((t5 << 7) | (t5 >>> 25), 9);
        const t = s1 << 9;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = (s3 << 11) | (s3 >>> 21);
        st[lane] = s0;
        st[4 + lane] = s1;
        st[8 + lane] = s2;
        st[12 + lane] = s3;
      }
    }
    for (let lane = 0; lane < 4; lane++) {
      pair(r[lane]!, r[4 + lane]!, z);
      for (let half = 0; half < 2; half++) {
        const i = base + half * 4 + lane;
        if (i >= n) continue;
        const zi = z[half]!;
        out[i] = x ? f(f(x[i]! * f(1 + f(m * zi))) + f(a * zi)) : zi;
      }
    }
  }
}
