// Private: the end of k-means|| — merge duplicate candidates, fill up with distinct random rows
// when fewer than k remain, and reduce to k centers (_init_reduce.ts).
import type { Gpu } from "../gpu/gpu.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import { mulberry32, sampleIndices } from "../random/mulberry32.ts";
import type { Variant } from "./_assign_programs.ts";
import { DistinctRows, gatherPadded } from "./_init_rows.ts";
import {
  type Candidates,
  KMEANSPP_MAX_WORK,
  pickRows,
  weightedKmeansPP,
  weightedLloyd,
  weightedStart,
} from "./_init_reduce.ts";

/** How {@linkcode reduceToK} reduces. */
export interface ReduceToKArgs {
  k: number;
  d: number;
  seed: number;
  spherical: boolean;
  variant: Variant;
  reduce: "auto" | "kmeans++" | "lloyd";
  iterations: number;
  /** When the initialisation started (performance.now()), for the progress lines. */
  t0: number;
  onLog: ((message: string) => void) | undefined;
}

/**
 * Reduces weighted candidate rows (`values`, `weights`, padded to the stride of `x`) to `k`
 * padded centers; `x` supplies distinct rows when the candidates have fewer than `k`.
 */
export async function reduceToK(
  gpu: Gpu,
  x: GpuMatrix,
  cands: { values: Float32Array; weights: Float64Array },
  a: ReduceToKArgs,
): Promise<Float32Array> {
  const dp = x.stride;
  const m = cands.weights.length;
  const set = new DistinctRows(dp, Math.max(m, a.k));
  const w: number[] = [];
  for (let i = 0; i < m; i++) {
    const j = set.add(cands.values, i);
    if (j === w.length) w.push(0);
    w[j] = w[j]! + cands.weights[i]!;
  }
  const secs = () => ((performance.now() - a.t0) / 1000).toFixed(1);
  const rand = mulberry32((a.seed ^ 0x5bd1e995) >>> 0);
  if (set.count < a.k) {
    // Too few distinct candidates: distinct rows of x, in a seeded random order.
    const order = sampleIndices(x.rows, x.rows, rand);
    for (let at = 0; at < order.length && set.count < a.k;) {
      const batch = order.subarray(at, at + Math.max(256, 2 * (a.k - set.count)));
      at += batch.length;
      const v = await gatherPadded(gpu, x, batch, dp);
      for (let i = 0; i < batch.length && set.count < a.k; i++) set.add(v, i);
    }
    const out = new Float32Array(a.k * dp);
    out.set(set.values.subarray(0, set.count * dp));
    // x has fewer than k distinct rows: repeat them (k-means splits the empty clusters).
    for (let c = set.count; c < a.k; c++) {
      out.copyWithin(c * dp, (c % set.count) * dp, (c % set.count + 1) * dp);
    }
    a.onLog?.(`init: ${m} candidates, ${set.count} distinct, filled up to ${a.k}, ${secs()} s`);
    return out;
  }
  const c: Candidates = {
    values: set.values,
    weights: Float64Array.from(w),
    count: set.count,
    dp,
  };
  if (c.count === a.k) return set.values.slice(0, a.k * dp);
  const method = a.reduce !== "auto"
    ? a.reduce
    : a.k * c.count * dp <= KMEANSPP_MAX_WORK
    ? "kmeans++"
    : "lloyd";
  a.onLog?.(
    `init: reducing ${c.count} weighted candidates to ${a.k} centers (${
      method === "lloyd" ? `weighted Lloyd, ${a.iterations} iterations` : "weighted k-means++"
    }), ${secs()} s`,
  );
  if (method === "kmeans++") return pickRows(c, weightedKmeansPP(c, a.k, rand));
  const start = pickRows(c, weightedStart(c, a.k, rand));
  const t1 = performance.now();
  return await weightedLloyd(gpu, c, {
    start,
    k: a.k,
    iterations: a.iterations,
    spherical: a.spherical,
    variant: a.variant,
    onIteration: a.onLog
      ? (it) => {
        const s = (performance.now() - t1) / 1000;
        a.onLog!(
          `init: reduction iteration ${it + 1}/${a.iterations}, ${secs()} s, ETA ${
            (s / (it + 1) * (a.iterations - it - 1)).toFixed(1)
          } s`,
        );
      }
      : undefined,
  });
}
