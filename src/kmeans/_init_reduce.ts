// Private: the last step of k-means|| — reduce C ≥ k weighted candidates to k centers, by
// weighted k-means++ on the host (float64; k·C·d work, for small candidate sets) or by a few
// weighted Lloyd iterations on the GPU from a seeded weighted start.
import type { Gpu } from "../gpu/gpu.ts";
import { readBack } from "../gpu/buffers.ts";
import { uploadMatrix } from "../gpu/gpu_matrix.ts";
import { submit } from "../gpu/program.ts";
import { createCentroids, f32Binding } from "./centroid_store.ts";
import { createAssignOutputs } from "./assignment_step.ts";
import { recordAssign, type Variant } from "./_assign_programs.ts";
import {
  createWeightedState,
  loadWeights,
  recordWeightedUpdate,
  uploadWeights,
  weightedCentroidsPerChunk,
} from "./_weights.ts";

/** Candidates to reduce: `count` distinct padded rows and their weights. */
export interface Candidates {
  values: Float32Array;
  weights: Float64Array;
  count: number;
  dp: number;
}

/** Host work (multiply-adds) up to which `reduce: "auto"` runs weighted k-means++. */
export const KMEANSPP_MAX_WORK = 2 ** 32;

/** Copies candidate rows `pick` into a `pick.length × dp` padded block. */
export function pickRows(c: Candidates, pick: ArrayLike<number>): Float32Array {
  const out = new Float32Array(pick.length * c.dp);
  for (let i = 0; i < pick.length; i++) {
    out.set(c.values.subarray(pick[i]! * c.dp, (pick[i]! + 1) * c.dp), i * c.dp);
  }
  return out;
}

/**
 * Weighted k-means++ over the candidates (float64): the first center ∝ weight, each next one
 * ∝ weight × D² to the centers so far. When every remaining candidate has weight × D² = 0,
 * the farthest remaining one is taken, so k distinct candidates give k distinct centers.
 */
export function weightedKmeansPP(c: Candidates, k: number, rand: () => number): Uint32Array {
  const { count: n, dp, weights: w } = c;
  // float64 copies, and D² = ‖x‖² + ‖c‖² − 2 x·c with a 4-way unrolled dot product: this
  // loop is the whole cost (k·C·d), so it is kept simple for the JIT.
  const v = Float64Array.from(c.values.subarray(0, n * dp));
  const norm = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = i * dp; j < (i + 1) * dp; j++) s += v[j]! * v[j]!;
    norm[i] = s;
  }
  const dist = new Float64Array(n).fill(Infinity);
  const chosen = new Uint8Array(n);
  const out = new Uint32Array(k);
  const d4 = dp - (dp % 4);
  let cur = drawWeighted(w, null, rand);
  for (let t = 0; t < k; t++) {
    chosen[cur] = 1;
    out[t] = cur;
    if (t === k - 1) break;
    let total = 0, far = -1;
    const cb = cur * dp, cn = norm[cur]!;
    for (let i = 0; i < n; i++) {
      if (chosen[i]) continue;
      const ib = i * dp;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (let j = 0; j < d4; j += 4) {
        a0 += v[ib + j]! * v[cb + j]!;
        a1 += v[ib + j + 1]! * v[cb + j + 1]!;
        a2 += v[ib + j + 2]! * v[cb + j + 2]!;
        a3 += v[ib + j + 3]! * v[cb + j + 3]!;
      }
      for (let j = d4; j < dp; j++) a0 += v[ib + j]! * v[cb + j]!;
      const e = Math.max(0, norm[i]! + cn - 2 * (a0 + a1 + a2 + a3));
      if (e < dist[i]!) dist[i] = e;
      total += w[i]! * dist[i]!;
      if (far < 0 || dist[i]! > dist[far]!) far = i;
    }
    let next = -1;
    if (total > 0) {
      let u = rand() * total;
      for (let i = 0; i < n; i++) {
        if (chosen[i] || w[i]! * dist[i]! === 0) continue;
        next = i;
        u -= w[i]! * dist[i]!;
        if (u < 0) break;
      }
    }
    cur = next >= 0 ? next : far;
  }
  return out;
}

/** Index drawn ∝ `w` (uniformly when all are 0), skipping `skip`ped entries. */
function drawWeighted(w: Float64Array, skip: Uint8Array | null, rand: () => number): number {
  let total = 0;
  for (let i = 0; i < w.length; i++) if (!skip?.[i]) total += w[i]!;
  if (!(total > 0)) {
    const free = [];
    for (let i = 0; i < w.length; i++) if (!skip?.[i]) free.push(i);
    return free[Math.floor(rand() * free.length)]!;
  }
  let u = rand() * total, last = -1;
  for (let i = 0; i < w.length; i++) {
    if (skip?.[i] || w[i] === 0) continue;
    last = i;
    u -= w[i]!;
    if (u < 0) return i;
  }
  return last;
}

/**
 * `k` distinct candidates drawn ∝ weight without replacement (Efraimidis–Spirakis keys
 * u^(1/w); weight-0 candidates come last, in random order): Lloyd's seeded start.
 */
export function weightedStart(c: Candidates, k: number, rand: () => number): Uint32Array {
  const keys = new Float64Array(c.count);
  for (let i = 0; i < c.count; i++) {
    const u = Math.max(rand(), 1e-300), w = c.weights[i]!;
    keys[i] = w > 0 ? Math.log(u) / w : -1e300 * (1 + u);
  }
  const order = Uint32Array.from({ length: c.count }, (_, i) => i);
  order.sort((a, b) => keys[b]! - keys[a]! || a - b);
  return order.slice(0, k).sort();
}

/** Arguments of {@linkcode weightedLloyd}. */
export interface LloydReduceArgs {
  start: Float32Array;
  k: number;
  iterations: number;
  spherical: boolean;
  variant: Variant;
  onIteration?: ((iteration: number) => void) | undefined;
}

/**
 * Weighted Lloyd over the candidates on the GPU (deterministic fixed-point update; an empty
 * center keeps its place), from `start` (`k × dp`). Returns the `k × dp` centers.
 */
export async function weightedLloyd(
  gpu: Gpu,
  c: Candidates,
  a: LloydReduceArgs,
): Promise<Float32Array> {
  const { dp } = c;
  const x = uploadMatrix(
    gpu,
    { data: c.values.subarray(0, c.count * dp), rows: c.count, cols: dp },
    {
      stride: dp,
      label: "init.candidates",
    },
  );
  const rw = await loadWeights(Float64Array.from(c.weights.subarray(0, c.count)), c.count);
  const cw = uploadWeights(gpu, x, rw, (i) => i);
  const cents = createCentroids(gpu, a.k, dp, false, weightedCentroidsPerChunk(gpu, dp), a.start);
  const out = createAssignOutputs(gpu, x);
  const state = createWeightedState(gpu, cents);
  let maxAbs = 0;
  for (let i = 0; i < c.count * dp; i++) maxAbs = Math.max(maxAbs, Math.abs(c.values[i]!));
  const scale = 2 ** (30 - Math.max(0, Math.ceil(Math.log2(maxAbs || 1))));
  try {
    for (let it = 0; it < a.iterations; it++) {
      const enc = gpu.device.createCommandEncoder();
      recordAssign(gpu, a.variant, x, cents, out, a.spherical, enc);
      recordWeightedUpdate(gpu, x, out, cw, cents, state, a.spherical, scale, enc);
      if (a.onIteration) {
        await readBack(gpu, [{ buffer: state.counts, bytes: 4 }], enc);
        a.onIteration(it);
      } else submit(gpu, enc);
    }
    const parts = await readBack(
      gpu,
      cents.chunks.map((cc) => ({ ...f32Binding(cc, dp) })).map(
        (b) => ({ buffer: b.buffer, bytes: b.size }),
      ),
    );
    const result = new Float32Array(a.k * dp);
    cents.chunks.forEach((cc, j) => {
      result.set(new Float32Array(parts[j]!).subarray(0, cc.rows * dp), cc.kBase * dp);
    });
    return result;
  } finally {
    state.destroy();
    out.destroy();
    cents.destroy();
    cw.destroy();
    x.destroy();
  }
}
