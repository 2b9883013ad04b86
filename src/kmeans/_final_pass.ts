// Private: the final pass of a k-means run: every row assigned to the final centroids, with
// member counts and the objective over all rows. In memory when every row is on the GPU, else
// streamed over the source's files in batches; skipped with finalAssignment: false.
import type { Gpu } from "../gpu/gpu.ts";
import { readBack } from "../gpu/buffers.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import type { RowSource } from "../data/row_source.ts";
import type {
  KMeansAssignment,
  KMeansIterationStats,
  KMeansKernelChoice,
  KMeansResult,
} from "./kmeans_options.ts";
import { type CentroidStore, readCentroids } from "./centroid_store.ts";
import type { AssignmentStep, AssignOutputs } from "./assignment_step.ts";
import { streamAssign } from "./_stream_assign.ts";
import type { KMeansConfig } from "./_resolve_options.ts";
import type { TrainingRows } from "./_input.ts";

/** What the final pass needs besides the centroids. */
export interface FinalPassArgs {
  /** The run's options. */
  config: KMeansConfig;
  /** The kernel, reported in the result. */
  kernel: KMeansKernelChoice;
  /** The assignment step chosen, reported in the result. */
  assignment: KMeansAssignment;
  /**
   * The assignment step (see assignment_step.ts); `previous`: the outputs hold the rows' last
   * assignment (the rows are the training rows), which the step may score as well.
   */
  assign: (previous: boolean) => AssignmentStep;
  /** The training rows; `everyRow` says whether every row is on the GPU. */
  training: TrainingRows;
  /** The rows' source, streamed when they are not all on the GPU. */
  source: RowSource | null;
}

/**
 * The result of a run with centroids `cents` and iteration stats `stats`: the final
 * assignment of every row (in memory or streamed; none with `finalAssignment: false`, the
 * objective then the last iteration's), the centroids read back.
 */
export async function finalResult(
  gpu: Gpu,
  cents: CentroidStore,
  stats: KMeansIterationStats[],
  a: FinalPassArgs,
): Promise<KMeansResult> {
  const c = a.config, variant = a.kernel, onLog = c.onLog, assignment = a.assignment;
  const d = a.training.cols, n = a.training.dataRows;
  if (!c.finalAssignment) {
    // The caller assigns the rows itself (pseudoLabels' top-l search gives the top-1 too).
    const centroids = await readCentroids(gpu, cents, d);
    const objective = stats.at(-1)?.objective ?? NaN;
    const none = new Uint32Array(0);
    return {
      centroids,
      assignments: none,
      counts: none,
      objective,
      stats,
      kernel: variant,
      assignment,
      assignmentCheck: null,
      initSeconds: 0,
    };
  }
  // All rows on the GPU (a Matrix, or files with no sample drawn): assign them in place.
  const all = a.training.everyRow;
  if (all) {
    const step = a.assign(all.out === a.training.out);
    const r = await finalPass(gpu, all.matrix, all.out, cents, stats, a, step);
    await c.onAssignments?.(r.assignments, 0);
    if (c.keepAssignments === false) r.assignments = new Uint32Array(0);
    return r;
  }
  const t0 = performance.now();
  let last = t0;
  const weights = c.weights;
  const { assignments, counts, objective } = await streamAssign(gpu, {
    assign: a.assign(false),
    source: a.source!,
    cents,
    spherical: c.spherical,
    f16: c.f16,
    batchRows: c.batchRows,
    weight: weights ? (row) => weights.w[row]! : undefined,
    keep: c.keepAssignments,
    onAssignments: c.onAssignments,
    onBatch: (done, seconds) => {
      const now = performance.now();
      if (now - last < 2000 && done < n) return;
      last = now;
      const eta = (seconds / done) * (n - done);
      onLog?.(
        `Assigning: ${done} / ${n} rows (${(100 * done / n).toFixed(1)}%), ${
          Math.round(done / Math.max(seconds, 1e-9))
        } rows/s, ETA ${eta.toFixed(1)}s`,
      );
    },
  });
  const centroids = await readCentroids(gpu, cents, d);
  return {
    centroids,
    assignments,
    counts,
    objective,
    stats,
    kernel: variant,
    assignment,
    assignmentCheck: null,
    initSeconds: 0,
  };
}

/** The final pass over rows all on the GPU: assignments, counts, objective, centroids. */
async function finalPass(
  gpu: Gpu,
  full: GpuMatrix,
  out: AssignOutputs,
  cents: CentroidStore,
  stats: KMeansIterationStats[],
  a: FinalPassArgs,
  step: AssignmentStep,
): Promise<KMeansResult> {
  const d = a.training.cols, weights = a.config.weights;
  const enc = gpu.device.createCommandEncoder();
  step(gpu, full, cents, out, enc);
  const reads = [
    ...full.chunks.map((c, i) => ({ buffer: out.idx[i]!, bytes: c.rows * 4 })),
    ...full.chunks.map((c, i) => ({ buffer: out.score[i]!, bytes: c.rows * 4 })),
    ...cents.chunks.map((c) => ({ buffer: c.f32, bytes: c.rows * cents.dp * 4 })),
  ];
  const parts = await readBack(gpu, reads, enc);
  const nc = full.chunks.length;
  const assignments = new Uint32Array(full.rows);
  const counts = new Uint32Array(cents.k);
  let objective = 0;
  full.chunks.forEach((c, i) => {
    const idxs = new Uint32Array(parts[i]!);
    for (const a of idxs) counts[a]!++;
    assignments.set(idxs, c.rowStart);
    const scores = new Float32Array(parts[nc + i]!);
    if (weights) {
      scores.forEach((v, r) => objective += weights.w[c.rowStart + r]! * v);
    } else for (const v of scores) objective += v;
  });
  const data = new Float32Array(cents.k * d);
  cents.chunks.forEach((c, j) => {
    const v = new Float32Array(parts[2 * nc + j]!);
    for (let r = 0; r < c.rows; r++) {
      data.set(v.subarray(r * cents.dp, r * cents.dp + d), (c.kBase + r) * d);
    }
  });
  return {
    centroids: { data, rows: cents.k, cols: d },
    assignments,
    counts,
    objective,
    stats,
    kernel: a.kernel,
    assignment: a.assignment,
    assignmentCheck: null,
    initSeconds: 0,
  };
}
