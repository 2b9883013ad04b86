// Private: kmeans()'s options checked, in a fixed order (the first bad one is the one named),
// with every default taken from DEFAULT_KMEANS_OPTIONS, into the one struct the stages read.
import type { Matrix } from "../matrix/matrix.ts";
import {
  DEFAULT_KMEANS_OPTIONS,
  type KMeansAssign,
  type KMeansIterationStats,
  type KMeansOptions,
  type KMeansVariant,
} from "./kmeans_options.ts";
import { checkInt } from "./_validate.ts";
import { loadWeights, type RowWeights } from "./_weights.ts";
import { checkInit, type InitMethod } from "./_init.ts";
import { checkKmeansAssign } from "./assignment_choice.ts";

/** {@linkcode KMeansOptions} checked, every default filled in. */
export interface KMeansConfig {
  /** Centroids, in `[1, n]`. */
  k: number;
  niter: number;
  nredo: number;
  seed: number;
  maxPointsPerCentroid: number;
  batchRows: number;
  /** Cosine (spherical) rather than l2. */
  spherical: boolean;
  f16: boolean;
  tolerance: number;
  /** A method, or given `k × d` centroids (checked). */
  init: InitMethod | Matrix;
  /**
   * The requested kernel design as given (defaulted), not checked here: it is checked when
   * the kernel is chosen, and a resumed run takes its checkpoint's kernel instead.
   */
  variant: KMeansVariant;
  autotune: boolean | undefined;
  /** The assignment step asked for (checked). */
  assign: KMeansAssign;
  /** Cells probed per row with IVF (an integer ≥ 1), or undefined for the default. */
  nprobe: number | undefined;
  /** Row weights, loaded and checked; undefined when every row weighs 1. */
  weights: RowWeights | undefined;
  finalAssignment: boolean;
  /** `keepAssignments`: only `false` drops the in-memory pass's assignments. */
  keepAssignments: boolean;
  /** Where and how often to checkpoint, or null. */
  checkpoint: { path: string; every: number } | null;
  resume: boolean;
  onIteration: ((stats: KMeansIterationStats) => void) | undefined;
  onLog: ((message: string) => void) | undefined;
  onAssignments: KMeansOptions["onAssignments"];
}

/**
 * Checks `options` for `n × d` rows (the metric and the options object itself are checked
 * before the input) and fills in the defaults; loads the weights when they are a path.
 */
export async function resolveOptions(
  options: KMeansOptions,
  n: number,
  d: number,
  spherical: boolean,
): Promise<KMeansConfig> {
  const D = DEFAULT_KMEANS_OPTIONS;
  const k = checkInt("k", options.k, 1, n);
  const niter = checkInt("niter", options.niter ?? D.niter, 0);
  const nredo = checkInt("nredo", options.nredo ?? D.nredo, 1);
  const seed = checkInt("seed", options.seed ?? D.seed, 0, 2 ** 32 - 1);
  const maxPpc = checkInt(
    "maxPointsPerCentroid",
    options.maxPointsPerCentroid ?? D.maxPointsPerCentroid,
    1,
  );
  const batchRows = checkInt("batchRows", options.batchRows ?? D.batchRows, 1);
  const finalAssignment = options.finalAssignment ?? true;
  if (typeof finalAssignment !== "boolean") {
    throw new TypeError(`Expected finalAssignment to be a boolean but found ${finalAssignment}`);
  }
  if (!finalAssignment && options.onAssignments) {
    throw new RangeError(
      "Expected onAssignments without finalAssignment: false (no final assignment is computed)",
    );
  }
  const tolerance = options.tolerance ?? D.tolerance;
  if (typeof tolerance !== "number" || !(tolerance >= 0)) {
    throw new RangeError(`Expected tolerance to be a number ≥ 0 but found ${tolerance}`);
  }
  const init = checkInit(options.init ?? D.init, k, d, spherical);
  const f16 = options.f16 ?? D.f16;
  const assign = checkKmeansAssign(options.assign ?? D.assign);
  const nprobe = options.nprobe === undefined ? undefined : checkInt("nprobe", options.nprobe, 1);
  if (nprobe !== undefined && assign === "exact") {
    throw new RangeError(
      `Expected nprobe only with assign "ivf" or "auto" but found assign "exact" and nprobe ${nprobe}`,
    );
  }
  const weights = options.weights === undefined ? undefined : await loadWeights(options.weights, n);
  const ck = options.checkpoint;
  if (ck !== undefined && (ck === null || typeof ck !== "object" || typeof ck.path !== "string")) {
    throw new TypeError(
      `Expected checkpoint to be { path: string, every?: number } but found ${ck}`,
    );
  }
  const checkpoint = ck
    ? { path: ck.path, every: checkInt("checkpoint.every", ck.every ?? D.checkpointEvery, 1) }
    : null;
  if (options.resume && !ck) {
    throw new RangeError("Expected a checkpoint path to resume from but found none");
  }
  return {
    k,
    niter,
    nredo,
    seed,
    maxPointsPerCentroid: maxPpc,
    batchRows,
    spherical,
    f16,
    tolerance,
    init,
    variant: options.variant ?? D.variant,
    autotune: options.autotune,
    assign,
    nprobe,
    weights,
    finalAssignment,
    keepAssignments: options.keepAssignments ?? true,
    checkpoint,
    resume: Boolean(options.resume),
    onIteration: options.onIteration,
    onLog: options.onLog,
    onAssignments: options.onAssignments,
  };
}
