import type { Gpu } from "../gpu/gpu.ts";
import { readBack } from "../gpu/buffers.ts";
import { type GpuMatrix, isGpuMatrix, uploadMatrix } from "../gpu/gpu_matrix.ts";
import { checkFinite, checkMatrix, type Matrix } from "../matrix/matrix.ts";
import { prepareLoss } from "./_prepare.ts";
import { runLossGpu } from "./_mlcd_gpu.ts";
import { checkLossCall } from "./_call_shape.ts";
import type { MlcdLossGpuOptions, MlcdLossResult } from "./mlcd_loss_options.ts";

export type {
  LossKind,
  MarginType,
  MlcdLossGpuOptions,
  MlcdLossOptions,
  MlcdLossResult,
} from "./mlcd_loss_options.ts";

/**
 * The MLCD loss (paper Eq. 5) and both gradients on the GPU, in one pass: fused logits
 * against the sampled centers, stable log-sum-exps of the positives and negatives per
 * row, and the backward GEMMs, without an n × C matrix on the host.
 *
 * Embeddings and centers are L2-normalised inside; the gradients are with respect to
 * the raw inputs (through the normalisation Jacobian). The negatives of a sample are the
 * sampled classes minus its positives. Per sample,
 * `L = log(1 + Σ_P exp(−s·φ(cos θ_p))) + log(1 + Σ_N exp(s·cos θ_j))`; the reported loss
 * is the batch mean. All-zero rows get zero gradients.
 *
 * The embeddings and centers may be host matrices or `GpuMatrix`es already on the GPU (any
 * stride, f32 or f16; read in place, the sampled centers gathered on the GPU; their values are
 * taken as finite, as `uploadMatrix` checked them).
 *
 * @param gpu The GPU context.
 * @param embeddings Raw (not normalised) embeddings, `n × d`, on the host or on the GPU.
 * @param centers Raw (not normalised) class centers, `C × d`, on the host or on the GPU.
 * @param positives Positive class ids, `n × l` row-major (`l = positives.length / n`),
 * distinct per row.
 * @param options The loss's {@linkcode MlcdLossOptions} (`sampled`, `scale`, `margin`,
 * `marginType`, `loss`) and `perSample` ({@linkcode MlcdLossGpuOptions}).
 * @returns The mean loss, the gradients and, on request, the per-sample losses.
 * @throws {TypeError} On shape mismatches (centers' width, positives' length, array types),
 * options that are not an object, or the removed one-object form
 * `mlcdLoss(gpu, { embeddings, centers, positives, ... })` (the message shows the new form).
 * @throws {RangeError} On positives out of range, not sampled or repeated in a row, bad
 * options; the message names the row and value.
 *
 * @example Usage
 * ```ts ignore
 * const sampled = sampleClasses(positives, { classes: centers.rows, ratio: 0.1, seed: 1 });
 * const { loss, gradEmbeddings, gradCenters } = await mlcdLoss(
 *   gpu, embeddings, centers, positives, { sampled },
 * );
 * ```
 */
export async function mlcdLoss(
  gpu: Gpu,
  embeddings: Matrix | GpuMatrix,
  centers: Matrix | GpuMatrix,
  positives: Uint32Array,
  options: MlcdLossGpuOptions = {},
): Promise<MlcdLossResult> {
  checkLossCall("mlcdLoss", embeddings, options);
  if (!isGpuMatrix(embeddings)) checkMatrix(embeddings, "embeddings");
  if (!isGpuMatrix(centers)) checkMatrix(centers, "centers");
  const prep = prepareLoss(
    embeddings.rows,
    embeddings.cols,
    centers.rows,
    centers.cols,
    positives,
    options,
  );
  if (!isGpuMatrix(centers)) checkFinite(centers, "centers");
  const { n, d, C, sampled } = prep;
  const S = sampled.length;
  // Host matrices are uploaded (values checked finite on the way; only the sampled centers);
  // GPU matrices are read where they are, the sampled centers gathered on the GPU.
  const e = isGpuMatrix(embeddings)
    ? embeddings
    : uploadMatrix(gpu, embeddings, { label: "embeddings" });
  let w: GpuMatrix;
  try {
    w = isGpuMatrix(centers)
      ? centers
      : uploadMatrix(gpu, centers, { label: "centers", index: sampled });
  } catch (err) {
    if (e !== embeddings) e.destroy();
    throw err;
  }
  let out;
  try {
    out = runLossGpu(gpu, e, w, prep, isGpuMatrix(centers));
  } finally {
    if (e !== embeddings) e.destroy();
    if (w !== centers) w.destroy();
  }
  try {
    const [per, ge, gw] = await readBack(gpu, [
      { buffer: out.perSample, bytes: n * 4 },
      { buffer: out.gradE, bytes: n * d * 4 },
      { buffer: out.gradW, bytes: S * d * 4 },
    ]);
    const perSample = new Float32Array(per!);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += perSample[i]!;
    const gradW = new Float32Array(gw!);
    const gradC = new Float32Array(C * d);
    for (let j = 0; j < S; j++) {
      gradC.set(gradW.subarray(j * d, (j + 1) * d), sampled[j]! * d);
    }
    const result: MlcdLossResult = {
      loss: sum / n,
      gradEmbeddings: { data: new Float32Array(ge!), rows: n, cols: d },
      gradCenters: { data: gradC, rows: C, cols: d },
    };
    if (options.perSample) result.perSample = perSample;
    return result;
  } finally {
    out.destroy();
  }
}
