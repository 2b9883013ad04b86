// Shared test helpers: one GPU context per test file, seeded data, float64 references.
import { createGpu, type CreateGpuOptions, type Gpu } from "../src/gpu/mod.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { mulberry32 } from "../src/random/mulberry32.ts";

/** Mulberry32: a small deterministic PRNG for test data. */
export const rng: (seed: number) => () => number = mulberry32;

const cache = new Map<string, Promise<Gpu>>();
const live: Gpu[] = [];

/** Software-rasteriser (llvmpipe/lavapipe) threads alive in this process. */
function mesaThreads(): number {
  let n = 0;
  try {
    for (const t of Deno.readDirSync("/proc/self/task")) {
      try {
        if (/^llvmpipe-/.test(Deno.readTextFileSync(`/proc/self/task/${t.name}/comm`))) n++;
      } catch { /* the thread ended meanwhile */ }
    }
  } catch { /* no /proc: not Linux, nothing to wait for */ }
  return n;
}

/**
 * Waits (at most `timeoutMs`) until no lavapipe thread is left in the process. Deno runs each
 * test module in its own runtime on its own thread and tears that runtime down (wgpu instance,
 * lavapipe devices) while the process carries on; lavapipe's teardown racing `exit()` is one
 * cause of the exit-time SIGSEGV/SIGABRT (scripts/repro/teardown_crash.ts; the other, EGL, is
 * avoided by createGpu's choice of backends). A module calls this before its first device, and
 * tests/zz_gpu_teardown_test.ts calls it last. Returns the threads still alive.
 */
export async function waitForGpuTeardown(timeoutMs = 20000): Promise<number> {
  const t0 = Date.now();
  let n = mesaThreads();
  while (n > 0 && Date.now() - t0 < timeoutMs) {
    await new Promise((r) => setTimeout(r, 10));
    n = mesaThreads();
  }
  return n;
}

/** One shared GPU context per option set for the whole test process. */
export function testGpu(options: CreateGpuOptions = {}): Promise<Gpu> {
  const key = JSON.stringify(options);
  let g = cache.get(key);
  if (!g) {
    // The first device of this module: let the previous module's runtime finish its teardown.
    const first = cache.size === 0 ? waitForGpuTeardown() : Promise.resolve(0);
    cache.set(key, g = first.then(() => createGpu({ ...options })));
    g.then((gpu) => live.push(gpu), () => {});
  }
  return g;
}

/** A rows × cols matrix of standard normal values from `seed`. */
export function randomMatrix(rows: number, cols: number, seed: number): Matrix {
  const r = rng(seed);
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) {
    const u = Math.max(r(), 1e-12), v = r();
    data[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return { data, rows, cols };
}

/**
 * `n` rows × `d` around `c` random directions (unit), plus noise of `noise / √d` per
 * coordinate, each row's direction drawn at random: clustered data from `seed`.
 */
export function clustered(n: number, d: number, c: number, seed: number, noise = 0.25): Matrix {
  const dirs = randomMatrix(c, d, seed);
  const z = randomMatrix(n, d, seed + 1);
  const r = rng(seed + 2);
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const j = Math.floor(r() * c);
    let norm = 0;
    for (let t = 0; t < d; t++) norm += dirs.data[j * d + t]! ** 2;
    for (let t = 0; t < d; t++) {
      data[i * d + t] = dirs.data[j * d + t]! / Math.sqrt(norm) +
        (noise / Math.sqrt(d)) * z.data[i * d + t]!;
    }
  }
  return { data, rows: n, cols: d };
}

/** The rows of `m` in float64, each divided by its L2 norm when `normalize`. */
export function rowsF64(m: Matrix, normalize: boolean): Float64Array[] {
  const out: Float64Array[] = [];
  for (let r = 0; r < m.rows; r++) {
    const v = Float64Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols));
    if (normalize) {
      const s = Math.sqrt(v.reduce((a, b) => a + b * b, 0));
      for (let i = 0; i < v.length; i++) v[i] = v[i]! / s;
    }
    out.push(v);
  }
  return out;
}

/**
 * float64 reference of the nearest-centroid assignment: each row's best centroid (ties → lower
 * index), its score (cosine of the unit rows when `cosine`, else the squared L2 distance) and
 * the gap to the runner-up.
 */
export function refAssign(
  x: Matrix,
  c: Matrix,
  cosine: boolean,
): { index: number; score: number; gap: number }[] {
  const xs = rowsF64(x, cosine), cs = rowsF64(c, cosine);
  return xs.map((xv) => {
    let best = -Infinity, second = -Infinity, bi = -1;
    cs.forEach((cv, j) => {
      let s = 0;
      for (let i = 0; i < xv.length; i++) {
        s += cosine ? xv[i]! * cv[i]! : -((xv[i]! - cv[i]!) ** 2);
      }
      if (s > best) {
        second = best;
        best = s;
        bi = j;
      } else if (s > second) second = s;
    });
    return { index: bi, score: cosine ? best : -best, gap: best - second };
  });
}

/** Largest absolute difference between two arrays of equal length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** n × l distinct random positives in [0, C). */
export function randomPositives(n: number, l: number, C: number, seed: number): Uint32Array {
  const r = rng(seed);
  const out = new Uint32Array(n * l);
  for (let i = 0; i < n; i++) {
    const s = new Set<number>();
    while (s.size < l) s.add(Math.floor(r() * C));
    [...s].forEach((v, t) => out[i * l + t] = v);
  }
  return out;
}

/** Relative L2 error ‖a − b‖ / ‖b‖. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
}

// Free the shared devices when the module ends (the runtime's teardown would too; destroying
// them first makes no difference to the exit-time crash, see waitForGpuTeardown).
globalThis.addEventListener("unload", () => {
  for (const gpu of live) gpu.destroy();
});
