import type { Matrix } from "../matrix/matrix.ts";
import type {
  KMeansAssign,
  KMeansAssignment,
  KMeansAssignmentCheck,
} from "./assignment_options.ts";

export {
  KMEANS_ASSIGNS,
  type KMeansAssign,
  type KMeansAssignment,
  type KMeansAssignmentCheck,
} from "./assignment_options.ts";

/**
 * Which assignment kernel design to run.
 *
 * @example Usage
 * ```ts ignore
 * await kmeans(gpu, x, { k: 100, variant: "tiled" });
 * ```
 */
export type KMeansVariant = "auto" | "registers" | "tiled";

/**
 * Every {@linkcode KMeansVariant}, in the order messages list them.
 *
 * @example Usage
 * ```ts ignore
 * console.log(KMEANS_VARIANTS.join(" | ")); // auto | registers | tiled
 * ```
 */
export const KMEANS_VARIANTS: readonly KMeansVariant[] = ["auto", "registers", "tiled"];

/**
 * Checks a kernel design given as the `variant` option, or on the command line.
 *
 * @param value The value given.
 * @param flag The command-line flag it came from (e.g. `"--variant"`): the message then names
 * the flag and lists the values unquoted. Absent for the `variant` option.
 * @returns `value`, typed.
 * @throws {RangeError} Unless `value` is one of {@linkcode KMEANS_VARIANTS}.
 *
 * @example Usage
 * ```ts ignore
 * checkKmeansVariant("tiled"); // "tiled"
 * checkKmeansVariant("fast", "--variant"); // RangeError: Expected --variant to be auto, registers or tiled but found fast
 * ```
 */
export function checkKmeansVariant(value: unknown, flag?: string): KMeansVariant {
  const known = KMEANS_VARIANTS as readonly unknown[];
  if (known.includes(value)) return value as KMeansVariant;
  const list = (q: (v: string) => string) =>
    `${KMEANS_VARIANTS.slice(0, -1).map(q).join(", ")} or ${q(KMEANS_VARIANTS.at(-1)!)}`;
  throw new RangeError(
    flag === undefined
      ? `Expected variant to be ${list((v) => JSON.stringify(v))} but found ${
        JSON.stringify(value)
      }`
      : `Expected ${flag} to be ${list((v) => v)} but found ${value}`,
  );
}

/**
 * The assignment kernel a k-means run used and how it was chosen (`KMeansResult.kernel`, also
 * stored in checkpoints and the cluster command's manifests).
 *
 * @example Usage
 * ```ts ignore
 * const { kernel } = await kmeans(gpu, x, { k: 100 });
 * console.log(kernel.variant, kernel.rows, kernel.source); // e.g. "registers" 8 "cache"
 * ```
 */
export interface KMeansKernelChoice {
  /** Kernel design: rows in registers, or workgroup-memory tiles. */
  variant: "registers" | "tiled";
  /** Rows each invocation of the register kernel holds; 0 for "tiled". */
  rows: number;
  /**
   * "requested": the caller named the variant; "tuned": timed now on this adapter;
   * "cache": a timing stored earlier for this adapter; "default": the heuristic choice,
   * untimed (autotuning disabled, or a single candidate).
   */
  source: "requested" | "tuned" | "cache" | "default";
  /** Milliseconds of the chosen kernel on the tuning problem, or null when untimed. */
  ms: number | null;
}

/**
 * Similarity of k-means: `"cosine"` (spherical k-means, MLCD's choice: rows and centroids
 * L2-normalised, objective = sum of cosine similarities) or `"l2"` (plain k-means on squared
 * L2 distance, objective = inertia).
 *
 * @example Usage
 * ```ts ignore
 * await kmeans(gpu, x, { k: 100, metric: "l2" });
 * ```
 */
export type KMeansMetric = "cosine" | "l2";

/**
 * Statistics of one Lloyd iteration, faiss-style.
 *
 * @example Usage
 * ```ts ignore
 * await kmeans(gpu, x, { k: 10, onIteration: (s) => console.log(s.iteration, s.objective, s.nsplit) });
 * ```
 */
export interface KMeansIterationStats {
  /** Iteration number, from 0. */
  iteration: number;
  /**
   * Objective of this iteration's assignment (training rows, previous centroids):
   * sum of cosine similarities for `metric: "cosine"`, else the sum of squared L2 distances.
   */
  objective: number;
  /** Seconds since the start of this run (redo), cumulative. */
  time: number;
  /** Seconds of this iteration's GPU work (assignment + update + one readback). */
  timeSearch: number;
  /** `k · Σ size² / n²` over the training rows; 1 means perfectly balanced. */
  imbalanceFactor: number;
  /** Empty clusters re-seeded by splitting the largest in this iteration. */
  nsplit: number;
  /** Estimated seconds left for this run's remaining iterations (mean iteration time so far). */
  eta: number;
}

/**
 * Options for {@linkcode kmeans}.
 *
 * @example Usage
 * ```ts ignore
 * const options: KMeansOptions = { k: 1000, niter: 25, metric: "cosine", seed: 1234 };
 * ```
 */
export interface KMeansOptions {
  /** Number of centroids, an integer in `[1, x.rows]`. */
  k: number;
  /** Lloyd iterations per run. @default {25} */
  niter?: number;
  /** Runs with different seeds; the one with the best final objective is kept. @default {1} */
  nredo?: number;
  /**
   * `"cosine"`: spherical k-means (MLCD's choice), inputs and centroids L2-normalised,
   * objective = sum of cosine similarities. `"l2"`: plain k-means, objective = inertia.
   * @default {"cosine"}
   */
  metric?: KMeansMetric;
  /** Seed of every random choice (subsample, initialisation). @default {1234} */
  seed?: number;
  /**
   * Initialisation: `"auto"` (`chooseInit`'s rule: k-means|| while its host reduction is
   * small, 2·k²·d ≤ 2^31, random rows above, both on the GPU), `"kmeans||"` (Bahmani et al.'s
   * parallel D² oversampling on the GPU, then the candidates reduced to k), `"kmeans++"` (on
   * the host, on a sample of max(4k, 1000) training rows: quadratic in k), `"random"` (k
   * random rows, drawn on the host), or given `k × d` centroids (normalised for
   * `metric: "cosine"`). Weighted rows weigh in the D² draws. Progress goes to `onLog`.
   * @default {"auto"}
   */
  init?: "auto" | "kmeans||" | "kmeans++" | "random" | Matrix;
  /**
   * The assignment step of the iterations and the final pass (see {@linkcode KMeansAssign}):
   * "exact", "ivf" (approximate: a row may miss its nearest centroid; the objective printed
   * and returned is always the true score of the centroid chosen) or "auto".
   * @default {"auto"}
   */
  assign?: KMeansAssign;
  /**
   * Cells each row probes with the IVF assignment, an integer ≥ 1 (at most the cells:
   * `nprobe ≥ cells` scores every centroid, the exact assignment bit for bit). Data without
   * cluster structure needs more (≈ cells / 4 for the objective within 0.6 %); not with
   * `assign: "exact"`.
   * @default {⌈cells / 16⌉ within [8, 16], with cells = round(√k) (ivfDefaults)}
   */
  nprobe?: number;
  /** Train on a seeded subsample of `k × maxPointsPerCentroid` rows when `x` has more. @default {256} */
  maxPointsPerCentroid?: number;
  /** Called after every iteration (progress reporting). @default {undefined} */
  onIteration?: (stats: KMeansIterationStats) => void;
  /** Informational messages (e.g. "sampling 256000 of 1000000 rows"). @default {undefined} */
  onLog?: (message: string) => void;
  /** Stop early when the relative objective change falls to this or below; 0 never stops early. @default {0} */
  tolerance?: number;
  /**
   * Store rows and centroids as packed f16 (accumulation stays f32); faster on bandwidth-
   * or load-bound adapters, scores move by up to ~4e-3. Needs no `shader-f16` feature.
   * @default {false}
   */
  f16?: boolean;
  /**
   * Assignment kernel: "registers" (rows held in registers; best on CPU adapters such as
   * lavapipe), "tiled" (workgroup-memory tiles; best on real GPUs), "auto" picks per
   * adapter: the candidates are timed once on a small synthetic problem and the winner is
   * cached per adapter (see {@linkcode KMeansOptions.autotune}).
   * @default {"auto"}
   */
  variant?: KMeansVariant;
  /**
   * Let `variant: "auto"` time its candidate kernels (once per adapter and row width;
   * cached in `$MLCD_CACHE_DIR`, `$XDG_CACHE_HOME/mlcd` or `~/.cache/mlcd`). When false,
   * "auto" takes the heuristic choice untimed.
   * @default {true unless the environment sets MLCD_AUTOTUNE=0}
   */
  autotune?: boolean;
  /**
   * One weight per row (finite, ≥ 0, not all 0), or the path of a 1-D `.npy` holding them
   * (float32/float64, or uint32 counts, read exactly):
   * the update step takes weighted means and the objective is weighted (a part centroid
   * standing for its members has its member count as weight). Integer weights below 2^32
   * are exact: weight w acts like the row repeated w times. Empty-cluster splits still
   * follow member counts.
   * @default {undefined (every row weighs 1)}
   */
  weights?: Float32Array | Float64Array | Uint32Array | string;
  /**
   * Embedding column of Arrow files when `x` lists files.
   * @default {the first list column}
   */
  column?: string;
  /**
   * Rows per batch of the streamed final assignment when `x` is files or a row source
   * (also bounded by the storage binding limit).
   * @default {65536}
   */
  batchRows?: number;
  /**
   * Return every row's assignment. `false` returns an empty array instead, so that a run over
   * files holds no per-row state at all (the objective is still computed over all rows;
   * the CLI streams `--assignments` to disk through `onAssignments` instead).
   * @default {true}
   */
  keepAssignments?: boolean;
  /**
   * Run the final pass that assigns every row to the final centroids. `false` skips it, for a
   * caller that assigns the rows itself (`pseudoLabels` takes the top-1 from its top-l search):
   * `assignments` and `counts` are then empty, and `objective` is the last iteration's (its
   * training rows against the centroids before the last update; NaN with `niter: 0`), which
   * also picks the best of `nredo` runs. Not with `onAssignments`.
   * @default {true}
   */
  finalAssignment?: boolean;
  /**
   * Called with the final assignments as they are computed, in row order: `assignments[i]` is
   * row `rowStart + i`'s centroid, and the calls cover rows `0 … n-1` once, contiguously (one
   * call per streamed batch, or one call with all rows when they are on the GPU). Awaited
   * before the next batch, so a writer can append each batch to a file and hold none of them.
   * @default {undefined}
   */
  onAssignments?: (assignments: Uint32Array, rowStart: number) => void | Promise<void>;
  /**
   * Write the run's state to `path` atomically every `every` iterations and when the
   * iterations end (centroids exactly as on the GPU, iteration, pending splits, stats).
   * @default {undefined (no checkpoints); every: 5}
   */
  checkpoint?: { path: string; every?: number };
  /**
   * Continue from `checkpoint.path` when it exists (a checkpoint of another run is
   * refused, naming the field that differs); the result equals an uninterrupted run's.
   * Without a file there, the run starts from the beginning.
   * @default {false}
   */
  resume?: boolean;
}

/**
 * Result of {@linkcode kmeans}.
 *
 * @example Usage
 * ```ts ignore
 * const { centroids, assignments, objective, stats } = await kmeans(gpu, x, { k: 10 });
 * ```
 */
export interface KMeansResult {
  /** `k × d` centroids (unit rows for `metric: "cosine"`). */
  centroids: Matrix;
  /**
   * Nearest centroid of every input row, computed with the final centroids (empty with
   * `keepAssignments: false`).
   */
  assignments: Uint32Array;
  /**
   * Members of each centroid over all rows in the final assignment (`k` counts summing to n;
   * unweighted), kept even with `keepAssignments: false`: what a part centroid stands for.
   */
  counts: Uint32Array;
  /** Final objective over all rows: sum of cosines (`"cosine"`) or inertia (`"l2"`). */
  objective: number;
  /** Per-iteration statistics of the kept run. */
  stats: KMeansIterationStats[];
  /** The assignment kernel used and how it was chosen (requested, tuned, cached, default). */
  kernel: KMeansKernelChoice;
  /** The assignment step used (exact or IVF, with its cells and nprobe) and how it was chosen. */
  assignment: KMeansAssignment;
  /**
   * With the IVF assignment and a final pass: its recall and objective loss against exact
   * search on 1000 seeded input rows; null otherwise.
   */
  assignmentCheck: KMeansAssignmentCheck | null;
  /**
   * Seconds this call spent choosing initial centroids, over all its runs (`nredo`); 0 when it
   * resumed past the initialisation. With the whole call's time it gives the init's share.
   */
  initSeconds: number;
}

/**
 * Options for {@linkcode assignNearest}.
 *
 * @example Usage
 * ```ts ignore
 * await assignNearest(gpu, x, centroids, { metric: "l2", f16: true });
 * ```
 */
export interface AssignOptions {
  /**
   * Score by cosine of L2-normalised rows (`"cosine"`) or by squared L2 distance (`"l2"`).
   * @default {"cosine"}
   */
  metric?: KMeansMetric;
  /** Packed f16 storage, f32 accumulation. @default {false} */
  f16?: boolean;
  /** Kernel design, see {@linkcode KMeansOptions.variant}. @default {"auto"} */
  variant?: KMeansVariant;
  /** See {@linkcode KMeansOptions.autotune}. @default {true unless MLCD_AUTOTUNE=0} */
  autotune?: boolean;
}

/**
 * The defaults of every {@linkcode KMeansOptions} field that has one: `kmeans()` reads them,
 * and so do `pseudoLabels` and the `cluster` command's flags, so each default is stated once.
 *
 * @example Usage
 * ```ts ignore
 * console.log(DEFAULT_KMEANS_OPTIONS.niter); // 25
 * ```
 */
export const DEFAULT_KMEANS_OPTIONS = {
  niter: 25,
  nredo: 1,
  metric: "cosine",
  seed: 1234,
  init: "auto",
  maxPointsPerCentroid: 256,
  tolerance: 0,
  f16: false,
  variant: "auto",
  assign: "auto",
  batchRows: 65536,
  checkpointEvery: 5,
} as const;
