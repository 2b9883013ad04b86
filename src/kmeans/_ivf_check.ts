// Private: how good a run's IVF assignment was, measured after the run: a seeded sample of the
// input rows is assigned to the final centroids through an index built as the run's, and by
// exact search, and the two are compared in float64 (measureAssignmentRecall).
import type { Gpu } from "../gpu/gpu.ts";
import { downloadMatrix, repackMatrix } from "../gpu/gpu_matrix.ts";
import { gatherRows } from "../data/row_source.ts";
import type { Matrix } from "../matrix/matrix.ts";
import { mulberry32, sampleIndices } from "../random/mulberry32.ts";
import { buildCenterIndex } from "../ivf/center_index.ts";
import { ivfAssign } from "../ivf/ivf_assign.ts";
import { measureAssignmentRecall } from "../ivf/ivf_recall.ts";
import type { KMeansAssignmentCheck, KMeansResult } from "./kmeans_options.ts";
import type { KMeansData } from "./_input.ts";
import { sampleIndicesSparse } from "./_stream_assign.ts";

/** Rows of the sample the check measures (all rows when there are fewer). */
export const IVF_CHECK_ROWS = 1000;

/** Rows `pick` (ascending) of the input, on the host, as given (not normalised). */
async function inputRows(gpu: Gpu, data: KMeansData, pick: Uint32Array): Promise<Matrix> {
  if (data.kind === "source") return await gatherRows(data.source, pick);
  if (data.kind === "gpu") {
    const part = repackMatrix(gpu, data.gx, { index: pick, label: "ivf_check", align: 1 });
    try {
      return await downloadMatrix(gpu, part);
    } finally {
      part.destroy();
    }
  }
  const { matrix: m } = data, d = m.cols, out = new Float32Array(pick.length * d);
  pick.forEach((r, i) => out.set(m.data.subarray(r * d, (r + 1) * d), i * d));
  return { data: out, rows: pick.length, cols: d };
}

/**
 * Recall@1 and objective lost by the IVF assignment of a finished run on
 * {@linkcode IVF_CHECK_ROWS} seeded input rows (seed `seed`): the same cells, nprobe, seed and
 * storage as the run, against exact search over the final centroids.
 */
export async function checkIvfAssignment(
  gpu: Gpu,
  data: KMeansData,
  result: KMeansResult,
  o: { seed: number; spherical: boolean; f16: boolean },
): Promise<KMeansAssignmentCheck> {
  const { cells, nprobe } = result.assignment;
  const m = Math.min(data.n, IVF_CHECK_ROWS);
  const draw = data.kind === "source" ? sampleIndicesSparse : sampleIndices;
  const pick = draw(data.n, m, mulberry32(o.seed ^ 0x5eed)).sort();
  const rows = await inputRows(gpu, data, pick);
  const metric = o.spherical ? "cosine" : "l2";
  const index = buildCenterIndex(gpu, result.centroids, {
    metric,
    cells,
    seed: o.seed,
    f16: o.f16,
  });
  try {
    const found = await ivfAssign(gpu, rows, index, { nprobe });
    const r = await measureAssignmentRecall(gpu, rows, result.centroids, found, {
      metric,
      sample: m,
    });
    return { rows: r.rows, recall: r.recall, objectiveLoss: r.objectiveLoss };
  } finally {
    index.destroy();
  }
}
