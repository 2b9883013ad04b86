import type { Gpu } from "../gpu/gpu.ts";
import { readBack } from "../gpu/buffers.ts";
import { type Matrix, normalizeRows } from "../matrix/matrix.ts";
import { type AssignOptions, DEFAULT_KMEANS_OPTIONS } from "./kmeans_options.ts";
import { centroidsPerChunk, createCentroids, paddedWidth } from "./centroid_store.ts";
import { createAssignOutputs } from "./assignment_step.ts";
import { exactAssignment } from "./_assign_programs.ts";
import { uploadMatrix } from "../gpu/gpu_matrix.ts";
import { chooseKmeansKernel } from "./kernel_choice.ts";
import { checkInput, isCosine } from "./_validate.ts";

/**
 * Finds the nearest centroid of every row of `x` with the fused assignment kernel
 * (similarity GEMM + per-row argmax on the GPU, never storing the n × k scores). Rows and
 * centroids may each exceed one storage binding; they are processed in chunks.
 *
 * @param gpu The toolkit's GPU context.
 * @param x Rows to assign, `n × d`.
 * @param centroids Centroids, `k × d` (k ≥ 1).
 * @param options See {@linkcode AssignOptions}.
 * @returns For each row the best centroid index (ties go to the lower index) and its
 * score: the cosine similarity for `metric: "cosine"`, else the squared L2 distance.
 * @throws {TypeError} When the inputs are malformed or their widths differ.
 * @throws {RangeError} For NaN/Inf values, or zero rows under `metric: "cosine"`.
 *
 * @example Usage
 * ```ts ignore
 * const { assignments, scores } = await assignNearest(gpu, x, centroids);
 * ```
 */
export async function assignNearest(
  gpu: Gpu,
  x: Matrix,
  centroids: Matrix,
  options: AssignOptions = {},
): Promise<{ assignments: Uint32Array; scores: Float32Array }> {
  const spherical = isCosine("assignNearest", options);
  const f16 = options.f16 ?? DEFAULT_KMEANS_OPTIONS.f16;
  checkInput(x, "x", spherical, f16);
  checkInput(centroids, "centroids", spherical, f16);
  if (centroids.cols !== x.cols) {
    throw new TypeError(
      `Expected centroids to have ${x.cols} columns like x but found ${centroids.cols}`,
    );
  }
  if (centroids.rows < 1) {
    throw new RangeError(`Expected at least 1 centroid but found ${centroids.rows}`);
  }
  const variant = await chooseKmeansKernel(gpu, options.variant, x.cols, f16, {
    autotune: options.autotune,
  });
  const d = x.cols, dp = paddedWidth(d), k = centroids.rows;
  if (x.rows === 0) return { assignments: new Uint32Array(0), scores: new Float32Array(0) };
  const unit = spherical ? normalizeRows(centroids, "centroids") : centroids;
  const padded = new Float32Array(k * dp);
  for (let r = 0; r < k; r++) padded.set(unit.data.subarray(r * d, (r + 1) * d), r * dp);
  const rows = uploadMatrix(gpu, x, {
    label: "x",
    stride: dp,
    dtype: f16 ? "f16" : "f32",
    normalize: spherical,
  });
  const cents = createCentroids(gpu, k, d, f16, centroidsPerChunk(gpu, dp, false), padded);
  const out = createAssignOutputs(gpu, rows);
  try {
    const enc = gpu.device.createCommandEncoder();
    exactAssignment(variant, spherical)(gpu, rows, cents, out, enc);
    const parts = await readBack(gpu, [
      ...rows.chunks.map((c, i) => ({ buffer: out.idx[i]!, bytes: c.rows * 4 })),
      ...rows.chunks.map((c, i) => ({ buffer: out.score[i]!, bytes: c.rows * 4 })),
    ], enc);
    const assignments = new Uint32Array(x.rows);
    const scores = new Float32Array(x.rows);
    const nc = rows.chunks.length;
    rows.chunks.forEach((c, i) => {
      assignments.set(new Uint32Array(parts[i]!), c.rowStart);
      scores.set(new Float32Array(parts[nc + i]!), c.rowStart);
    });
    return { assignments, scores };
  } finally {
    rows.destroy();
    cents.destroy();
    out.destroy();
  }
}
