// gpu-check's top-k case: our top-k at GPU-sized shapes against float64 on sampled rows.
import type { Gpu } from "../../src/gpu/gpu.ts";
import type { Matrix } from "../../src/matrix/matrix.ts";
import { topk } from "../../src/topk/topk.ts";
import {
  bestK,
  type CheckResult,
  cosines,
  log,
  progress,
  sampleRows,
  type Shapes,
  unitRow,
} from "./common.ts";

/** Top-k's check, with our result and the float64 similarities of the sampled rows. */
export interface TopkCheck {
  result: CheckResult;
  /** The k of the search. */
  k: number;
  got: { indices: Uint32Array; scores: Float32Array };
  /** Sampled row → its float64 similarities to every key and its float64 top-k. */
  sampled: Map<number, { sims: Float64Array; order: number[] }>;
}

/** Our top-k of `q` among `keys` against float64 on sampled rows. */
export async function checkTopk(
  gpu: Gpu,
  shapes: Shapes,
  q: Matrix,
  keys: Matrix,
): Promise<TopkCheck> {
  const { nq, nk, d, k } = shapes.topk;
  const shape = `queries=${nq} keys=${nk} d=${d} k=${k}`;
  log(`top-${k} ${shape}: GPU`);
  const t0 = performance.now();
  const got = await topk(gpu, q, keys, { k });
  const ms = performance.now() - t0;
  log(`top-${k}: ${ms.toFixed(0)} ms; float64 check of sampled rows`);
  let bad = 0, worst = 0;
  const rows = sampleRows(nq, shapes.sampleRows.topk);
  const tick = progress("top-k float64 check, row", rows.length);
  const kept: TopkCheck["sampled"] = new Map();
  for (const [done, r] of rows.entries()) {
    tick(done);
    const sims = cosines(unitRow(q, r), keys);
    const order = bestK(sims, k);
    kept.set(r, { sims, order });
    for (let t = 0; t < k; t++) {
      const gi = got.indices[r * k + t]!;
      worst = Math.max(worst, Math.abs(got.scores[r * k + t]! - sims[order[t]!]!));
      if (gi !== order[t] && Math.abs(sims[gi]! - sims[order[t]!]!) > 1e-5) bad++;
    }
  }
  const result = {
    name: `top-${k}`,
    shape,
    ok: bad === 0 && worst < 1e-4,
    detail: `${rows.length} sampled rows: ${bad} entries differ from float64 (beyond ties), ` +
      `max score error ${worst.toExponential(2)}`,
    ms,
    gflops: (2 * nq * nk * d) / (ms * 1e6),
  };
  return { result, k, got, sampled: kept };
}
