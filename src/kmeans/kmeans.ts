// kmeans(): the orchestrator of k-means' stages, each in its own file: input adaptation
// (_input.ts), options (_resolve_options.ts), the checkpoint glue and the runs (_redo.ts), and
// within each run the initialisation (_init.ts), the Lloyd iterations (_lloyd.ts) and the final
// pass (_final_pass.ts). The assignment step (assignment_step.ts) is the seam the iterations
// and the final pass share; the GPU programs live in _assign_programs.ts, _update_programs.ts,
// _splits.ts and _weights.ts, the centroids in centroid_store.ts.
import type { Gpu } from "../gpu/gpu.ts";
import { mulberry32 } from "../random/mulberry32.ts";
import { checkOptionsObject } from "../options/check_options_object.ts";
import type { KMeansOptions, KMeansResult } from "./kmeans_options.ts";
import { isCosine } from "./_validate.ts";
import { centroidsPerChunk, paddedWidth } from "./centroid_store.ts";
import { weightedCentroidsPerChunk } from "./_weights.ts";
import { chooseKmeansKernel } from "./kernel_choice.ts";
import { chooseKmeansAssignment } from "./assignment_choice.ts";
import { createAssigner } from "./_assign_steps.ts";
import { checkIvfAssignment } from "./_ivf_check.ts";
import { resolveOptions } from "./_resolve_options.ts";
import { type KMeansInput, openInput, sampleTrainingRows, uploadTrainingRows } from "./_input.ts";
import { fingerprintOf, readResume, runRedos } from "./_redo.ts";

export type { KMeansInput } from "./_input.ts";

/**
 * Clusters the rows of `x` into `k` centroids on the GPU (Lloyd's algorithm, faiss-like).
 *
 * Spherical by default (MLCD's choice): rows and centroids are L2-normalised and the
 * objective is the sum of cosine similarities. Each iteration runs a fused assignment
 * kernel (similarity GEMM + per-row argmax, never storing n × k) and a GPU update step
 * (atomic counts, deterministic fixed-point sums), with one small readback (counts and
 * objective) per iteration. Empty clusters are re-seeded by splitting the largest.
 *
 * Out of core: given files, directories or a {@linkcode RowSource}, the Lloyd iterations run
 * on a seeded sample of `k × maxPointsPerCentroid` rows gathered from the shards (all rows
 * when there are fewer), and the final assignment and objective stream every row in
 * batches, so memory holds the sample, one batch and the centroids, never all rows. The
 * result is the same as for the same rows given as a Matrix (cosine, or when no sample
 * is drawn).
 *
 * Rows may carry weights (a part centroid standing for its members): the update step takes
 * weighted means (deterministic 96-bit fixed-point sums; integer weights act exactly like
 * repeated rows) and the objective is weighted. With `checkpoint`, the state is written
 * atomically every few iterations, and `resume` continues from it with the same result as
 * an uninterrupted run.
 *
 * @param gpu The toolkit's GPU context from `createGpu`.
 * @param x Row-major data `n × d` (finite; no all-zero rows under cosine), on the host or
 * on the GPU (a {@linkcode GpuMatrix}: clustered where it is, the training sample gathered
 * on the GPU, only the few rows k-means++ starts from read back; it is used in place when
 * its stride is `d` rounded up to 4, its dtype matches `f16` and, under cosine, it is
 * normalised, and re-packed on the GPU otherwise; a checkpoint can then not fingerprint its
 * values), a {@linkcode RowSource}, or embedding files and directories.
 * @param options `k` (an integer in `[1, n]`) and the other {@linkcode KMeansOptions}.
 * @returns Centroids (`k × d`), assignments of all `n` rows, objective and stats.
 * @throws {TypeError} When `x` is not a well-formed Matrix, source or list of paths, the
 * weights' length or `init`'s shape do not match it, or `spherical` is given (use `metric`).
 * @throws {RangeError} For NaN/Inf values, zero rows (cosine; naming the file and row
 * for files), bad `k`, weights or options, or a checkpoint written for another run.
 *
 * @example Usage
 * ```ts ignore
 * import { createGpu } from "../gpu/gpu.ts";
 * import { kmeans } from "./kmeans.ts";
 * const gpu = await createGpu();
 * const x = { data: new Float32Array(1000 * 64).map(() => Math.random() - 0.5), rows: 1000, cols: 64 };
 * const { centroids, assignments, objective } = await kmeans(gpu, x, { k: 10 });
 * console.log(centroids.rows, assignments.length, objective);
 * // Out of core, weighted, restartable:
 * await kmeans(gpu, ["shards/"], { k: 1000, weights: "w.npy", checkpoint: { path: "km.ckpt" }, resume: true });
 * ```
 */
export async function kmeans(
  gpu: Gpu,
  x: KMeansInput,
  options: KMeansOptions,
): Promise<KMeansResult> {
  checkOptionsObject("kmeans", options);
  const spherical = isCosine("kmeans", options);
  const data = await openInput(gpu, x, spherical, options.f16 === true, options.column);
  const config = await resolveOptions(options, data.n, data.d, spherical);
  const fingerprint = fingerprintOf(config, data);
  const saved = await readResume(config, fingerprint);
  const dp = paddedWidth(data.d);
  const kc = config.weights ? weightedCentroidsPerChunk(gpu, dp) : centroidsPerChunk(gpu, dp, true);
  // One seeded generator: it draws the training sample, then the first run's initialisation.
  const rand = mulberry32(config.seed);
  const { autotune, onLog } = config;
  const sample = sampleTrainingRows(data, config, rand, onLog);
  const kernel = saved
    ? saved.kernel
    : await chooseKmeansKernel(gpu, config.variant, data.d, config.f16, { autotune, onLog });
  // A checkpoint written before the assignment was recorded ran the exact one.
  const assignment = saved
    ? saved.assignment ?? { method: "exact", cells: 0, nprobe: 0, source: "requested" }
    : await chooseKmeansAssignment(gpu, { ...config, d: data.d, kernel, onLog });
  if (assignment.method === "ivf") {
    onLog?.(
      `IVF assignment: ${assignment.cells} cells over the ${config.k} centroids, ${assignment.nprobe} probed per row (${assignment.source})`,
    );
  }
  const assigner = createAssigner(assignment, kernel, spherical, config.seed);
  const training = await uploadTrainingRows(gpu, data, sample, config, onLog);
  let result;
  try {
    result = await runRedos(gpu, {
      config,
      data,
      training,
      kernel,
      assignment,
      assign: assigner,
      kc,
      rand,
      saved,
      fingerprint,
    });
  } finally {
    training.destroy();
    assigner.destroy();
  }
  if (assignment.method === "ivf" && config.finalAssignment) {
    const c = result.assignmentCheck = await checkIvfAssignment(gpu, data, result, config);
    onLog?.(
      `IVF assignment check: recall@1 ${c.recall.toFixed(4)}, objective lost ${
        (100 * c.objectiveLoss).toFixed(3)
      } % on ${c.rows} sampled rows against exact search (raise nprobe, or assign "exact", if too much)`,
    );
  }
  return result;
}
