import type { Gpu } from "../gpu/gpu.ts";
import { readBack, upload } from "../gpu/buffers.ts";
import { checkFinite, checkMatrix } from "../matrix/matrix.ts";
import { prepareLoss } from "./_prepare.ts";
import { runLossGpu } from "./_mlcd_gpu.ts";
import type { MlcdLossInput, MlcdLossResult } from "./mlcd_loss_options.ts";

export type {
  LossKind,
  MarginType,
  MlcdLossInput,
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
 * @param gpu The GPU context.
 * @param input Embeddings, centers, positives and the {@linkcode MlcdLossOptions}.
 * @returns The mean loss, the gradients and, on request, the per-sample losses.
 * @throws {TypeError} On shape mismatches (centers' width, positives' length, array types).
 * @throws {RangeError} On positives out of range, not sampled or repeated in a row, bad
 * options; the message names the row and value.
 *
 * @example Usage
 * ```ts ignore
 * const { loss, gradEmbeddings, gradCenters } = await mlcdLoss(gpu, {
 *   embeddings, centers, positives, sampled: sampleClasses(positives, { classes: centers.rows, ratio: 0.1, seed: 1 }),
 * });
 * ```
 */
export async function mlcdLoss(gpu: Gpu, input: MlcdLossInput): Promise<MlcdLossResult> {
  const { embeddings, centers, positives } = input;
  checkMatrix(embeddings, "embeddings");
  checkMatrix(centers, "centers");
  const prep = prepareLoss(
    embeddings.rows,
    embeddings.cols,
    centers.rows,
    centers.cols,
    positives,
    input,
  );
  checkFinite(embeddings, "embeddings");
  checkFinite(centers, "centers");
  const { n, d, C, sampled } = prep;
  const S = sampled.length;
  const gathered = new Float32Array(S * d);
  for (let j = 0; j < S; j++) {
    const c = sampled[j]!;
    gathered.set(centers.data.subarray(c * d, (c + 1) * d), j * d);
  }
  const e = upload(gpu, embeddings.data, "loss.embeddings");
  const w = upload(gpu, gathered, "loss.centers");
  let out;
  try {
    out = runLossGpu(gpu, e, w, prep);
  } finally {
    e.destroy();
    w.destroy();
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
    if (input.perSample) result.perSample = perSample;
    return result;
  } finally {
    out.destroy();
  }
}
