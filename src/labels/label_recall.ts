import type { Gpu } from "../gpu/gpu.ts";
import { downloadMatrix, type GpuMatrix, isGpuMatrix, repackMatrix } from "../gpu/gpu_matrix.ts";
import type { Matrix } from "../matrix/matrix.ts";
import { gatherRows, type RowSource } from "../data/row_source.ts";
import { mulberry32, sampleIndices } from "../random/mulberry32.ts";
import { measureTopkRecall, type TopkRecall } from "../ivf/ivf_recall.ts";
import type { TopkMetric } from "../topk/topk_options.ts";

/**
 * Options of {@linkcode measureLabelRecall}.
 *
 * @example Usage
 * ```ts ignore
 * const o: LabelRecallOptions = { l: 8, sample: 2000 };
 * ```
 */
export interface LabelRecallOptions {
  /** Labels per row in `found`. */
  l: number;
  /** Rows checked: a seeded sample (all rows when there are fewer). */
  sample: number;
  /** Similarity the labels used. @default {"cosine"} */
  metric?: TopkMetric;
  /** Seed of the sample. @default {1234} */
  seed?: number;
}

/**
 * Recall@l of labels against exact search on a seeded sample of their rows: the sampled rows
 * are read again (from the host matrix, the GPU or the files), searched exactly (the fused
 * top-k kernel over every center), and each reported label is rescored in float64 (a
 * reported score that is not its center's true score counts the row as inconsistent).
 *
 * @param gpu The GPU context.
 * @param rows The rows the labels belong to, in order: a host Matrix, a GpuMatrix, or a row
 * source over the embedding files.
 * @param centers `C × d` centers the labels index.
 * @param found The labels to check: `rows × l` indices and scores, row-major.
 * @param options `l`, the sample size, metric and seed ({@linkcode LabelRecallOptions}).
 * @returns Rows checked, recall@l, the largest score error and the inconsistent rows.
 * @throws {TypeError} When the shapes disagree.
 *
 * @example Usage
 * ```ts ignore
 * const r = await assignLabels(gpu, x, centers, { l: 8, assign: "ivf" });
 * const { recall } = await measureLabelRecall(gpu, x, centers, r, { l: 8, sample: 1000 });
 * ```
 */
export async function measureLabelRecall(
  gpu: Gpu,
  rows: Matrix | GpuMatrix | RowSource,
  centers: Matrix | GpuMatrix,
  found: { indices: Uint32Array; scores: Float32Array },
  options: LabelRecallOptions,
): Promise<TopkRecall> {
  const { l } = options;
  const n = rows.rows;
  if (found.indices.length !== n * l || found.scores.length !== n * l) {
    throw new TypeError(
      `Expected ${n} × ${l} labels and scores but found ${found.indices.length} and ${found.scores.length}`,
    );
  }
  const m = Math.min(n, Math.max(0, Math.floor(options.sample)));
  const pick = sampleIndices(n, m, mulberry32(options.seed ?? 1234)).sort();
  const sample = await rowsAt(gpu, rows, pick);
  const host = isGpuMatrix(centers) ? await downloadMatrix(gpu, centers) : centers;
  const indices = new Uint32Array(m * l), scores = new Float32Array(m * l);
  pick.forEach((r, i) => {
    indices.set(found.indices.subarray(r * l, (r + 1) * l), i * l);
    scores.set(found.scores.subarray(r * l, (r + 1) * l), i * l);
  });
  return await measureTopkRecall(gpu, sample, host, { indices, scores }, {
    k: l,
    sample: m,
    metric: options.metric ?? "cosine",
  });
}

/** Rows `pick` (ascending) of a host matrix, a GpuMatrix or a row source, on the host. */
async function rowsAt(
  gpu: Gpu,
  rows: Matrix | GpuMatrix | RowSource,
  pick: Uint32Array,
): Promise<Matrix> {
  if (isGpuMatrix(rows)) {
    const part = repackMatrix(gpu, rows, { index: pick, label: "recall_sample", align: 1 });
    try {
      return await downloadMatrix(gpu, part);
    } finally {
      part.destroy();
    }
  }
  if ("slices" in rows) return await gatherRows(rows, pick);
  const d = rows.cols, data = new Float32Array(pick.length * d);
  pick.forEach((r, i) => data.set(rows.data.subarray(r * d, (r + 1) * d), i * d));
  return { data, rows: pick.length, cols: d };
}
