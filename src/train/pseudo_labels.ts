// MLCD steps 2–3: spherical k-means into C clusters, then every row's top-l nearest centers.
import type { Gpu } from "../gpu/gpu.ts";
import type { Matrix } from "../matrix/matrix.ts";
import { type GpuMatrix, useGpuMatrix } from "../gpu/gpu_matrix.ts";
import { kmeans } from "../kmeans/kmeans.ts";
import { DEFAULT_KMEANS_OPTIONS, type KMeansIterationStats } from "../kmeans/kmeans_options.ts";
import { topk } from "../topk/topk.ts";

/**
 * The k-means defaults of {@linkcode pseudoLabels}: {@linkcode DEFAULT_KMEANS_OPTIONS} with
 * 20 iterations instead of 25.
 */
const PSEUDO_LABEL_KMEANS_DEFAULTS = { ...DEFAULT_KMEANS_OPTIONS, niter: 20 } as const;

/** Options of {@linkcode pseudoLabels}. */
export interface PseudoLabelOptions {
  /** Number of clusters C. */
  classes: number;
  /** Positive labels per row (top-l nearest centers), in [1, 64]. @default {8} */
  l?: number;
  /** k-means iterations. @default {20} */
  niter?: number;
  /** k-means seed. @default {1234} */
  seed?: number;
  /** k-means initialisation (see `KMeansOptions.init`). @default {"auto"} */
  init?: "auto" | "kmeans||" | "kmeans++" | "random";
  /** k-means progress callback. @default {undefined} */
  onIteration?: (s: KMeansIterationStats) => void;
}

/** Result of {@linkcode pseudoLabels}. */
export interface PseudoLabels {
  /** `classes × cols` unit-norm centroids. */
  centroids: Matrix;
  /**
   * Hard assignment of every row: its nearest centroid, the first column of `indices` (k-means
   * skips its own final assignment pass; the top-l search computes the top-1 once).
   */
  assignments: Uint32Array;
  /**
   * `rows × l` positive class ids (centroid indices), nearest first: the trainer's
   * `positives`.
   */
  indices: Uint32Array;
  /** `rows × l` cosine similarities matching `indices`. */
  scores: Float32Array;
  /** The k-means objective over all rows: the sum of every row's cosine to its nearest centroid. */
  objective: number;
}

/**
 * Clusters `features` with spherical k-means on the GPU and assigns every row its `l` most
 * cosine-similar centroids as positive labels (MLCD's multi-label assignment).
 *
 * @param gpu The GPU context.
 * @param features Rows to cluster (e.g. embeddings, or raw pixels for MNIST), on the host
 * (uploaded once, L2-normalised on the GPU, and shared by k-means and the top-l search) or
 * already on the GPU as a `GpuMatrix`.
 * @param options See {@linkcode PseudoLabelOptions}.
 * @returns Centroids, hard assignments and the `rows × l` positives (`indices`, `scores`).
 *
 * @example Usage
 * ```ts ignore
 * const { indices: positives } = await pseudoLabels(gpu, x, { classes: 1000, l: 8 });
 * ```
 */
export async function pseudoLabels(
  gpu: Gpu,
  features: Matrix | GpuMatrix,
  options: PseudoLabelOptions,
): Promise<PseudoLabels> {
  const l = options.l ?? 8;
  if (!Number.isInteger(l) || l < 1 || l > Math.min(64, options.classes)) {
    throw new RangeError(
      `Expected l to be an integer in [1, ${Math.min(64, options.classes)}] but found ${l}`,
    );
  }
  // One upload: k-means clusters these rows in place and the top-l search reads them as its
  // queries (f32, stride a multiple of 4, normalised: the layout both kernels take).
  // A GpuMatrix that is not normalised yet (e.g. deno task train's raw inputs) is re-packed
  // once on the GPU here rather than once by each kernel.
  const lease = useGpuMatrix(gpu, features, { normalize: true, label: "features" });
  const x = lease.matrix;
  let km, indices, scores;
  try {
    km = await kmeans(gpu, x, {
      k: options.classes,
      niter: options.niter ?? PSEUDO_LABEL_KMEANS_DEFAULTS.niter,
      seed: options.seed ?? PSEUDO_LABEL_KMEANS_DEFAULTS.seed,
      metric: "cosine",
      init: options.init ?? PSEUDO_LABEL_KMEANS_DEFAULTS.init,
      finalAssignment: false, // the top-l search below gives every row's top-1
      ...(options.onIteration ? { onIteration: options.onIteration } : {}),
    });
    ({ indices, scores } = await topk(gpu, x, km.centroids, { k: l, metric: "cosine" }));
  } finally {
    lease.release();
  }
  const n = indices.length / l;
  const assignments = new Uint32Array(n);
  let objective = 0;
  for (let i = 0; i < n; i++) {
    assignments[i] = indices[i * l]!;
    objective += scores[i * l]!;
  }
  return { centroids: km.centroids, assignments, indices, scores, objective };
}
