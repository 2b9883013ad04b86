import type { Gpu } from "../gpu/gpu.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import { buildCenterIndex, type CenterIndex, type CenterStore } from "./center_index.ts";
import { type IvfAssignOutputs, recordIvfAssign } from "./ivf_assign.ts";

/**
 * Options of {@linkcode createIvfAssignmentStep}: the index (cells, Lloyd, seed) and the
 * search (nprobe, batches, previous assignment).
 *
 * @example Usage
 * ```ts ignore
 * const step = createIvfAssignmentStep({ metric: "cosine", nprobe: 16 });
 * ```
 */
export interface IvfAssignmentStepOptions {
  /** k-means' metric. @default {"cosine"} */
  metric?: "cosine" | "l2";
  /** Cells probed per row. @default {ivfDefaults({ k, cells }).nprobe} */
  nprobe?: number;
  /** Cells of the index. @default {round(√K)} */
  cells?: number;
  /** Lloyd iterations over the centroids per rebuild. @default {10} */
  iterations?: number;
  /** Lloyd trains on at most this many centroids per cell. @default {64} */
  samplePerCell?: number;
  /** Seed of the index (the same every rebuild, so a resumed run rebuilds the same index). @default {1234} */
  seed?: number;
  /** Rows per GPU batch. @default {262144} */
  batchRows?: number;
  /**
   * Also score the centroid `out.idx` already holds for each row (k-means: the last
   * iteration's): no row ends worse off than staying. The result then depends on `out.idx`
   * as well as the centroids, so a run resumed from a checkpoint must restore it to end
   * bit-identical. @default {false}
   */
  withPrevious?: boolean;
  /**
   * `"every-call"`: each call first rebuilds the index from the centroids as they are when
   * the encoder runs (k-means' iterations move them); `"manual"`: the caller rebuilds
   * (`step.index.rebuild(encoder)`), e.g. once before a final pass streamed in batches.
   * @default {"every-call"}
   */
  rebuild?: "every-call" | "manual";
}

/**
 * An assignment step with k-means' seam signature (src/kmeans/assignment_step.ts
 * `AssignmentStep`: record the assignment of `rows` to `cents` into `enc`), backed by an
 * IVF index over the centroid store, built on the first call and kept for that store.
 *
 * @example Usage
 * ```ts ignore
 * const step = createIvfAssignmentStep({ nprobe: 16 });
 * step(gpu, rows, cents, out, encoder); // in place of the exact step
 * step.destroy();
 * ```
 */
export interface IvfAssignmentStep {
  (
    gpu: Gpu,
    rows: GpuMatrix,
    cents: CenterStore,
    out: IvfAssignOutputs,
    enc: GPUCommandEncoder,
  ): void;
  /** The index over the last centroid store seen (undefined before the first call). */
  readonly index: CenterIndex | undefined;
  /** Frees the index. */
  destroy(): void;
}

/**
 * Makes an approximate assignment step for k-means: per call, the IVF index over the
 * centroids is rebuilt on the GPU (same seed every time: deterministic, and it only depends
 * on the centroids) and every row is assigned through it ({@linkcode recordIvfAssign}),
 * all recorded into the caller's encoder: no submit, no readback. Same outputs, scores and
 * tie rule as the exact step; `nprobe = cells` gives the exact step's bits.
 *
 * @param options Metric, index and search settings ({@linkcode IvfAssignmentStepOptions}).
 * @returns The step; call `destroy()` when the run ends.
 *
 * @example Usage
 * ```ts ignore
 * const step = createIvfAssignmentStep({ metric: "cosine" });
 * const enc = gpu.device.createCommandEncoder();
 * step(gpu, rows, cents, out, enc);
 * ```
 */
export function createIvfAssignmentStep(
  options: IvfAssignmentStepOptions = {},
): IvfAssignmentStep {
  let index: CenterIndex | undefined;
  let store: CenterStore | undefined;
  const step = ((gpu, rows, cents, out, enc) => {
    if (cents !== store) {
      index?.destroy();
      store = cents;
      index = buildCenterIndex(gpu, cents, {
        metric: options.metric ?? "cosine",
        build: false,
        ...(options.cells !== undefined ? { cells: Math.min(options.cells, cents.k) } : {}),
        ...(options.iterations !== undefined ? { iterations: options.iterations } : {}),
        ...(options.samplePerCell !== undefined ? { samplePerCell: options.samplePerCell } : {}),
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
      });
      if (options.rebuild === "manual") index.rebuild(enc);
    }
    if (options.rebuild !== "manual") index!.rebuild(enc);
    recordIvfAssign(gpu, rows, index!, out, {
      encoder: enc,
      ...(options.nprobe !== undefined ? { nprobe: Math.min(options.nprobe, index!.cells) } : {}),
      ...(options.batchRows !== undefined ? { batchRows: options.batchRows } : {}),
      withPrevious: options.withPrevious ?? false,
    });
  }) as IvfAssignmentStep;
  Object.defineProperty(step, "index", { get: () => index });
  step.destroy = () => {
    index?.destroy();
    index = undefined;
    store = undefined;
  };
  return step;
}
