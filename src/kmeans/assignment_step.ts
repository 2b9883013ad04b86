// The assignment step of k-means: the seam between the stages (the Lloyd loop, the final pass
// in memory and streamed) and a nearest-centroid search. Public (no `_`) so that a search
// written in another folder (an approximate IVF assignment) can implement it; not part of the
// package's API (src/kmeans/mod.ts does not export it).
import type { Gpu } from "../gpu/gpu.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import type { CentroidStore } from "./centroid_store.ts";

export {
  type AssignOutputs,
  createAssignOutputs,
  readAssignOutputs,
} from "../gpu/assign_outputs.ts";
import type { AssignOutputs } from "../gpu/assign_outputs.ts";

/**
 * THE ASSIGNMENT STEP. Records into `enc` the GPU work that assigns every row of `rows` to one
 * of the centroids of `cents`, as the centroids will be when `enc` runs. The Lloyd loop
 * (_lloyd.ts) calls it once per iteration on the training rows, before the update and the
 * objective that read its output; the final pass (_final_pass.ts) once on all rows when they
 * are on the GPU; the streamed final pass (_stream_assign.ts) once per batch. k-means binds the
 * metric and the kernel when it creates the step; `exactAssignment` (_assign_programs.ts, the
 * fused GEMM + argmax kernels) is the exact implementation, and an approximate search (IVF) is a
 * second implementation of this same contract.
 *
 * Contract:
 * - Input: `rows` is a GpuMatrix in the kernels' layout (stride `cents.dp`, f32 or packed f16
 *   as `cents.f16`, L2-normalised under cosine); `cents` holds `cents.k ≥ 1` centroids (unit
 *   rows under cosine) with their 0.5‖c‖². Neither is written.
 * - Writes: for every row chunk `i` of `rows` with `m = rows.chunks[i].rows > 0`, elements
 *   `[0, m)` of `out.idx[i]` (u32: the chosen centroid's global index in `[0, cents.k)`) and of
 *   `out.score[i]` (f32: the row's score against that centroid). Nothing else of `out` (chunks
 *   with no rows are skipped). It may use temporaries of its own.
 * - Score, per metric: cosine: the dot product x·c of the unit rows (the cosine similarity;
 *   higher is nearer). l2: the squared distance ‖x − c‖², as max(0, ‖x‖² − 2·(x·c − ½‖c‖²))
 *   with the centroid maximising x·c − ½‖c‖² (lower is nearer). f32 accumulation, from f16
 *   values when the rows are f16. The objective is Σ score (weighted: Σ w·score); the update
 *   reads only `idx`.
 * - Ties: among centroids of equal score the lowest index wins. An approximate step may pick a
 *   centroid that is not the nearest, but `idx` must be a valid index and `score` that
 *   centroid's score as above.
 * - Deterministic: the same rows and centroids give the same bits (resume from a checkpoint
 *   relies on it). Records only: no submit, no readback (the caller submits `enc`, often with
 *   the update and a readback in the same encoder).
 *
 * @param gpu The GPU context.
 * @param rows The rows to assign.
 * @param cents The current centroids.
 * @param out The outputs, one pair of buffers per row chunk of `rows`.
 * @param enc The encoder to record into.
 */
export type AssignmentStep = (
  gpu: Gpu,
  rows: GpuMatrix,
  cents: CentroidStore,
  out: AssignOutputs,
  enc: GPUCommandEncoder,
) => void;
